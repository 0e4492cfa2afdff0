"""Virtual trials: resume after SIGKILL, chunk-size invariance, twin design, bad specs, query/export."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest

from immunotwin.cli import main

SPEC = """
name = "small test trial"
seed = 5
follow_up = "9 months"
design = "{design}"
control = "ipilimumab"

[population]
cancer = "melanoma"
size_per_arm = {n}

[[arm]]
name = "nivolumab"
  [[arm.drug]]
  name = "nivolumab"
  dose = "3 mg/kg"
  every = "2 weeks"

[[arm]]
name = "ipilimumab"
  [[arm.drug]]
  name = "ipilimumab"
  dose = "3 mg/kg"
  every = "3 weeks"
  doses = 4
"""


def write_spec(tmp: Path, n: int = 24, design: str = "parallel", name: str = "spec.toml") -> Path:
    f = tmp / name
    f.write_text(SPEC.format(n=n, design=design))
    return f


@pytest.fixture(scope="module")
def reference_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    tmp = tmp_path_factory.mktemp("trial")
    spec = write_spec(tmp)
    assert main(["trial", str(spec), "--out", str(tmp / "ref"), "--chunk-size", "24", "--quiet"]) == 0
    return tmp / "ref"


def test_outputs_and_summary(reference_run: Path) -> None:
    s = json.loads((reference_run / "summary.json").read_text())
    assert set(s["arms"]) == {"nivolumab", "ipilimumab"} and s["seed"] == 5
    assert s["arms"]["nivolumab"]["n"] == 24
    assert "nivolumab vs ipilimumab" in s["comparisons"]
    p = pd.read_parquet(reference_run / "patients.parquet")
    assert len(p) == 48 and p.groupby("arm").size().tolist() == [24, 24]
    html = (reference_run / "report.html").read_text()
    assert "small test trial" in html and "<img" in html
    v = pd.read_parquet(reference_run / "visits.parquet")
    assert set(v["patient"]) == set(range(24))


def test_ct_reads_residue_and_scar_pet_reads_viable_tumour(reference_run: Path) -> None:
    # Each scan keeps two readings of the same lesions with the same measurement error: CT (sld_mm: viable tumour,
    # resorbing residue and scar) and what a PET would show (sld_viable_mm: viable tumour only).
    v = pd.read_parquet(reference_run / "visits.parquet")
    s = v[v["scan"].astype(bool) & v["sld_mm"].notna()]
    assert len(s) > 100 and s["sld_viable_mm"].notna().all()
    assert (s["sld_mm"] >= s["sld_viable_mm"] - 1e-9).all()
    treated = s[s["day"] > 0]
    assert (treated["sld_mm"] > treated["sld_viable_mm"] + 1e-9).any()  # killed tumour leaves a measured mass
    pre = s[s["day"] < 0]  # the pre-treatment scan, where the simulation starts: nothing killed yet
    assert len(pre) == 48 and (pre["sld_mm"] == pre["sld_viable_mm"]).all()


def test_same_seed_any_chunk_size(reference_run: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    assert main(["trial", str(spec), "--out", str(tmp_path / "c7"), "--chunk-size", "7", "--quiet"]) == 0
    pd.testing.assert_frame_equal(pd.read_parquet(reference_run / "patients.parquet"),
                                  pd.read_parquet(tmp_path / "c7/patients.parquet"), check_exact=True)


@pytest.mark.slow
def test_single_patient_chunks_equal_batched(reference_run: Path, tmp_path: Path) -> None:
    # A patient alone in its batch stops the clinic loop when it dies; exposure averages and management
    # state must not depend on that (found with chunk sizes 1 and 2).
    from immunotwin.spec import load_spec
    from immunotwin.trial import ChunkId, simulate_chunk

    spec = load_spec(write_spec(tmp_path))
    ref = pd.read_parquet(reference_run / "patients.parquet")
    alone = pd.concat([simulate_chunk(spec, ChunkId(a, i, i + 1), visits=False)[0]
                       for a in range(2) for i in range(24)], ignore_index=True)
    assert (alone["status"] == "ok").all() and (alone["os_event"]).any()  # some die within follow-up
    pd.testing.assert_frame_equal(ref, alone, check_exact=True)


def test_resume_after_sigkill(reference_run: Path, tmp_path: Path) -> None:
    spec = write_spec(tmp_path)
    out = tmp_path / "killed"
    cmd = [sys.executable, "-m", "immunotwin", "trial", str(spec), "--out", str(out), "--chunk-size", "4", "--quiet"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.time() + 300
    while time.time() < deadline:
        man = out / "manifest.json"
        if man.exists() and len(json.loads(man.read_text())["done"]) >= 1:
            break
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    done = json.loads((out / "manifest.json").read_text())["done"]
    assert 1 <= len(done) < 12, "kill came after the run finished; the test needs a partial run"
    assert not (out / "patients.parquet").exists()
    assert subprocess.run(cmd, capture_output=True).returncode == 0
    pd.testing.assert_frame_equal(pd.read_parquet(reference_run / "patients.parquet"),
                                  pd.read_parquet(out / "patients.parquet"), check_exact=True)


def test_other_spec_on_existing_dir_refused(reference_run: Path, tmp_path: Path,
                                             capsys: pytest.CaptureFixture[str]) -> None:
    other = write_spec(tmp_path, n=10)
    assert main(["trial", str(other), "--out", str(reference_run), "--quiet"]) == 2
    assert "another spec" in capsys.readouterr().err


def test_twin_arms_share_patients(tmp_path: Path) -> None:
    spec = write_spec(tmp_path, n=8, design="twin")
    assert main(["trial", str(spec), "--out", str(tmp_path / "twin"), "--quiet", "--visits", "none"]) == 0
    p = pd.read_parquet(tmp_path / "twin/patients.parquet")
    a, b = (p[p["arm"] == arm].reset_index(drop=True) for arm in ("nivolumab", "ipilimumab"))
    for col in ("age", "sex", "weight_kg", "sld0_mm", "tmb", "pdl1_tps"):
        pd.testing.assert_series_equal(a[col], b[col])
    assert not (tmp_path / "twin/visits.parquet").exists()


BAD = {
    "unknown key": ("seedd = 3\n", "seedd"),
    "unknown drug": ('  name = "nivolumab"\n  dose', '  name = "nivolumabb"\n  dose'),
    "negative dose": ('dose = "3 mg/kg"', 'dose = "-3 mg/kg"'),
    "unknown unit": ('dose = "3 mg/kg"', 'dose = "3 mg/kgg"'),
    "size beyond limits": ("size_per_arm = 24", "size_per_arm = 100000000"),
}


@pytest.mark.parametrize("case", sorted(BAD))
def test_malformed_specs_exit_2_no_output(case: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    text = SPEC.format(n=24, design="parallel")
    old, new = BAD[case]
    text = (new + text) if case == "unknown key" else text.replace(old, new, 1)
    f = tmp_path / "bad.toml"
    f.write_text(text)
    out = tmp_path / "out"
    assert main(["trial", str(f), "--out", str(out), "--quiet"]) == 2
    err = capsys.readouterr().err
    assert "error:" in err
    assert not out.exists()
    assert main(["check", str(f)]) == 2


def test_missing_arm(tmp_path: Path) -> None:
    text = SPEC.format(n=24, design="parallel").split("[[arm]]")[0].replace('control = "ipilimumab"\n', "")
    f = tmp_path / "noarm.toml"
    f.write_text(text)
    assert main(["trial", str(f), "--out", str(tmp_path / "o"), "--quiet"]) == 2
    assert not (tmp_path / "o").exists()


def test_query_and_adam_export(reference_run: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["query", str(reference_run), "SELECT arm, count(*) AS n FROM patients GROUP BY arm ORDER BY arm"]) == 0
    assert "ipilimumab" in capsys.readouterr().out
    assert main(["export", str(reference_run), "--format", "adam"]) == 0
    adtte = pd.read_csv(reference_run / "adam/adtte.csv")
    assert set(adtte["PARAMCD"]) >= {"OS", "PFS"} and set(adtte["CNSR"]) <= {0, 1}
    adsl = pd.read_csv(reference_run / "adam/adsl.csv")
    assert len(adsl) == 48 and adsl["USUBJID"].is_unique


def test_arm_next_line_therapy_reaches_only_its_arm() -> None:
    """Twin arms of the same ipilimumab patients, one with its own next-line nivolumab for every progressing patient:
    patients who never progress read identically in both arms, and nivolumab reaches the blood only in that arm,
    only after the patient's progression."""
    import numpy as np

    from immunotwin.spec import parse_spec
    from immunotwin.trial import ChunkId, simulate_chunk

    ipi = '  [[arm.drug]]\n  name = "ipilimumab"\n  dose = "3 mg/kg"\n  every = "3 weeks"\n  doses = 4\n'
    own = ('  [arm.post_progression]\n  fraction = 1.0\n    [[arm.post_progression.drug]]\n    name = "nivolumab"\n'
           '    dose = "3 mg/kg"\n    every = "2 weeks"\n')
    text = ('name = "next line"\nseed = 3\nfollow_up = "9 months"\ndesign = "twin"\n[population]\ncancer = "melanoma"\n'
            'size_per_arm = 16\n[[arm]]\nname = "with"\n' + ipi + own + '[[arm]]\nname = "without"\n' + ipi)
    spec = parse_spec(text)
    (pw, vw), (po, vo) = (simulate_chunk(spec, ChunkId(a, 0, 16)) for a in (0, 1))
    progressed = (pw["pfs_event"].astype(bool) & (pw["pfs_months"] < pw["os_months"])).to_numpy()
    assert progressed.any() and not progressed.all()
    steady = ~progressed
    for col in ("os_months", "os_event", "bor", "pfs_months"):
        assert np.array_equal(pw[col].to_numpy()[steady], po[col].to_numpy()[steady]), col
    assert (vo["c_pd1"].fillna(0) == 0).all()
    on = vw[vw["c_pd1"].fillna(0) > 0]
    assert len(on) and set(on["patient"]) <= set(pw["patient"][progressed])
    first = on.groupby("patient")["day"].min()
    pfs_day = pw.set_index("patient")["pfs_months"] * 30.4375
    assert (first >= pfs_day.reindex(first.index) - 1e-6).all()


def test_next_line_drugs_follow_the_tumours_braf_status() -> None:
    """Next-line therapy by biomarker (``when``): of the patients who progress, BRAF wild-type ones get nivolumab and
    BRAF V600-mutant ones dabrafenib + trametinib, so nivolumab reaches only wild-type patients, after progression."""

    from immunotwin.spec import parse_spec
    from immunotwin.trial import ChunkId, simulate_chunk

    ipi = '  [[arm.drug]]\n  name = "ipilimumab"\n  dose = "3 mg/kg"\n  every = "3 weeks"\n  doses = 4\n'
    own = ('  [arm.post_progression]\n  fraction = 1.0\n'
           '    [[arm.post_progression.drug]]\n    name = "nivolumab"\n    dose = "3 mg/kg"\n    every = "2 weeks"\n'
           '    when = "braf_wild_type"\n'
           '    [[arm.post_progression.drug]]\n    name = "dabrafenib"\n    dose = "150 mg"\n    every = "12 hours"\n'
           '    when = "braf_v600"\n'
           '    [[arm.post_progression.drug]]\n    name = "trametinib"\n    dose = "2 mg"\n    every = "1 day"\n'
           '    when = "braf_v600"\n')
    text = ('name = "next line by BRAF"\nseed = 4\nfollow_up = "9 months"\ndesign = "twin"\n[population]\n'
            'cancer = "melanoma"\nsize_per_arm = 24\nbraf_v600_fraction = 0.5\n[[arm]]\nname = "with"\n' + ipi + own)
    p, v = simulate_chunk(parse_spec(text), ChunkId(0, 0, 24))
    progressed = (p["pfs_event"].astype(bool) & (p["pfs_months"] < p["os_months"])).to_numpy()
    braf = p["braf_v600"].to_numpy(bool)
    assert (progressed & braf).any() and (progressed & ~braf).any()
    on = set(v.loc[v["c_pd1"].fillna(0) > 0, "patient"])
    assert on and on <= set(p["patient"][progressed & ~braf])


def test_next_line_fraction_is_a_share_of_progressing_patients() -> None:
    """``fraction`` is the share of progressing patients given next-line therapy, one draw per patient: a chance
    renewed at every visit after progression (the behaviour before stop 51) treated nearly every progressing patient
    who lived to a second scan. Each treated patient starts at the scan that found the progression, and the summary's
    ``next_line`` block reads the share and the Kaplan-Meier median months to it."""
    import numpy as np

    from immunotwin.readouts import summarize
    from immunotwin.spec import parse_spec
    from immunotwin.survival import km_median
    from immunotwin.trial import ChunkId, simulate_chunk

    ipi = '  [[arm.drug]]\n  name = "ipilimumab"\n  dose = "3 mg/kg"\n  every = "3 weeks"\n  doses = 4\n'
    own = ('  [arm.post_progression]\n  fraction = 0.5\n    [[arm.post_progression.drug]]\n    name = "nivolumab"\n'
           '    dose = "3 mg/kg"\n    every = "2 weeks"\n')
    text = ('name = "next-line share"\nseed = 5\nfollow_up = "15 months"\n[assessment]\n'
            'imaging = [{ every = "6 weeks" }]\n[population]\ncancer = "melanoma"\nsize_per_arm = 80\n'
            '[[arm]]\nname = "ipi"\n' + ipi + own)
    p, _ = simulate_chunk(parse_spec(text), ChunkId(0, 0, 80))
    progressed = (p["pfs_event"].astype(bool) & (p["pfs_months"] < p["os_months"])).to_numpy()
    # progressed with at least two more scans alive: a renewed chance would have treated about 7 in 8 of them
    later = progressed & (p["os_months"] - p["pfs_months"] > 3.0).to_numpy()
    t = p["next_line_months"].to_numpy(float)
    given = ~np.isnan(t)
    assert later.sum() >= 30
    share, se = given[later].mean(), np.sqrt(0.25 / later.sum())
    assert abs(share - 0.5) <= 3 * se, (share, later.sum())
    assert not (given & ~progressed).any()
    pfs = p["pfs_months"].to_numpy(float)[given]
    assert (t[given] >= pfs - 1e-9).all() and np.mean(np.isclose(t[given], pfs)) >= 0.9  # a hold may delay it
    s = summarize(p, name="x", seed=5, version="t", spec_sha256="0", arm_order=["ipi"], control="ipi")
    block = s["arms"]["ipi"]["next_line"]
    assert block["share"] == given.mean()
    assert block["median_months_to"] == km_median(np.where(given, t, p["os_months"].to_numpy(float)), given)
    # response to the next line, RECIST from the progression scan: only patients given it have one
    nl_bor = p["next_line_bor"].astype(str).to_numpy()
    assert (nl_bor[~given] == "").all() and np.isin(nl_bor[given], ["CR", "PR", "SD", "PD", "NE"]).all()
    assert block["orr"] == np.isin(nl_bor[given], ["CR", "PR"]).mean()
    # the confirmed reading is never more responsive than the unconfirmed one, patient by patient
    conf = p["next_line_bor_confirmed"].astype(str).to_numpy()
    assert (conf[~given] == "").all() and not (np.isin(conf, ["CR", "PR"]) & ~np.isin(nl_bor, ["CR", "PR"])).any()


def test_next_line_therapy_reaches_patients_stopped_for_toxicity() -> None:
    """Next-line therapy is a new course: a patient who stopped ipilimumab for toxicity and then progresses gets the
    next line like any other (before stop 51 the first line's permanent stop barred every later dose), and
    ``next_line_months`` counts a first dose given, not a course started."""

    from immunotwin.spec import parse_spec
    from immunotwin.trial import ChunkId, simulate_chunk

    ipi = '  [[arm.drug]]\n  name = "ipilimumab"\n  dose = "3 mg/kg"\n  every = "3 weeks"\n  doses = 4\n'
    own = ('  [arm.post_progression]\n  fraction = 1.0\n    [[arm.post_progression.drug]]\n    name = "nivolumab"\n'
           '    dose = "3 mg/kg"\n    every = "2 weeks"\n')
    text = ('name = "next line after a stop"\nseed = 5\nfollow_up = "15 months"\n[population]\ncancer = "melanoma"\n'
            'size_per_arm = 120\n[[arm]]\nname = "ipi"\n' + ipi + own)
    p, _ = simulate_chunk(parse_spec(text), ChunkId(0, 0, 120))
    progressed = (p["pfs_event"].astype(bool) & (p["pfs_months"] < p["os_months"])).to_numpy()
    stopped = (p["discontinued"] == "toxicity").to_numpy()
    given = p["next_line_months"].notna().to_numpy()
    assert (progressed & stopped).sum() >= 3
    assert given[progressed & stopped].mean() >= 0.5  # 11 of 15 here; 1 of 15 when the stop barred the next line
    # every progressing patient is started; only a hold for an irAE still active can keep the first dose back
    assert given[progressed].mean() >= 0.9 and not given[~progressed].any()
