"""Readouts on a constructed patients table whose answers are known by construction."""

from __future__ import annotations

import json
import math

import numpy as np
import pandas as pd
import pytest

from immunotwin.model.organs import IRAES
from immunotwin.readouts import subgroups, summarize, twin_summary, wilson
from immunotwin.survival import km_median

ARMS = ["combo", "mono", "control"]
# (CR, PR, SD, PD, NE) counts per 40 patients
BOR_COUNTS = {"combo": (6, 14, 8, 10, 2), "mono": (4, 10, 10, 14, 2), "control": (1, 5, 10, 22, 2)}
PFS_SCALE = {"combo": 14.0, "mono": 9.0, "control": 3.0}


def make_patients(arms: list[str] | None = None, n: int = 40, seed: int = 1,
                  bor_counts: dict[str, tuple[int, ...]] | None = None,
                  scale: dict[str, float] | None = None, follow_up: float = 60.0) -> pd.DataFrame:
    """A patients table with every schema column; outcomes set per arm, times exponential."""
    arms = arms or ARMS
    bor_counts = bor_counts or BOR_COUNTS
    scale = scale or PFS_SCALE
    rng = np.random.default_rng(seed)
    frames = []
    for ai, arm in enumerate(arms):
        counts = bor_counts.get(arm, (0, 0, 0, n, 0))
        bor = np.repeat(["CR", "PR", "SD", "PD", "NE"], counts)[:n]
        bor = np.concatenate([bor, np.repeat("PD", n - bor.size)])
        s = scale.get(arm, 5.0)
        pfs = rng.exponential(s, n)
        os_ = pfs + rng.exponential(2 * s, n)
        d = pd.DataFrame({
            "arm": arm, "arm_index": ai, "patient": np.arange(n), "status": "ok", "status_reason": "",
            "age": np.linspace(40, 85, n), "weight_kg": 75.0, "height_cm": 172.0,
            "sex": np.where(np.arange(n) % 2, "F", "M"), "ecog": np.arange(n) % 2,
            "ldh_uln": np.linspace(0.5, 2.0, n), "pdl1_tps": np.linspace(0.0, 0.6, n),
            "tmb": 10.0, "n_met_sites": 2, "brain_mets": False, "liver_mets": np.arange(n) % 3 == 0,
            "m_stage": np.array(["M1a", "M1b", "M1c", "M0"])[np.arange(n) % 4], "prior_chemo": False,
            "preexisting_ai": "", "sld0_mm": 80.0, "bor": bor, "criteria": "recist1.1",
            "best_pct_change": np.select([bor == "CR", bor == "PR", bor == "SD", bor == "PD"],
                                         [-100.0, -50.0, -5.0, 35.0], np.nan),
            "dor_months": np.where(np.isin(bor, ["CR", "PR"]), pfs, np.nan),
            "dor_event": np.isin(bor, ["CR", "PR"]) & (pfs < follow_up),
            "pfs_months": np.minimum(pfs, follow_up), "pfs_event": pfs < follow_up,
            "os_months": np.minimum(os_, follow_up), "os_event": os_ < follow_up,
            "death_cause": np.where(os_ < follow_up, "tumour", ""),
            "hpd": np.array(["yes", "no", "no", "NE"])[np.arange(n) % 4], "tgr_ref": 5.0, "tgr_exp": 10.0,
        })
        for j, name in enumerate(IRAES):
            g = ((np.arange(n) + j) % 6).clip(0, 4) if name == "colitis" else np.zeros(n, int)
            d[f"irae_{name}_grade"] = g
            d[f"irae_{name}_onset_weeks"] = np.where(g >= 1, 4.0 + np.arange(n) % 5, np.nan)
            d[f"irae_{name}_onset3_weeks"] = np.where(g >= 3, 8.0, np.nan)
            d[f"irae_{name}_resolved"] = g >= 1
        d["any_irae_grade"] = d[[f"irae_{k}_grade" for k in IRAES]].max(axis=1)
        d["steroids"] = d["any_irae_grade"] >= 2
        d["steroid_start_weeks"] = np.where(d["steroids"], 9.0, np.nan)
        d["second_line"] = False
        d["discontinued"] = np.where(d["any_irae_grade"] >= 3, "toxicity", "progression")
        d["discontinued_weeks"] = 10.0
        d["rechallenged"] = False
        d["cavg_pd1"] = np.linspace(10, 60, n) if arm != "control" else np.nan
        d["cmin_pd1"] = d["cavg_pd1"] / 2
        d["cavg_ctla4"] = np.linspace(5, 20, n) if arm != "mono" else np.nan
        d["cmin_ctla4"] = d["cavg_ctla4"] / 2
        frames.append(d)
    return pd.concat(frames, ignore_index=True)


def summ(p: pd.DataFrame, arms: list[str] | None = None, control: str = "control") -> dict:
    arms = arms or list(dict.fromkeys(p["arm"]))
    return summarize(p, name="t", seed=3, version="0", spec_sha256="abc", arm_order=arms, control=control)


def test_wilson_hand_value() -> None:
    lo, hi = wilson(5, 10)
    assert lo == pytest.approx(0.2366, abs=5e-5) and hi == pytest.approx(0.7634, abs=5e-5)
    assert wilson(0, 0) == (None, None)
    assert wilson(0, 10)[0] == 0.0 and wilson(10, 10)[1] == 1.0


def test_response_rates_exact() -> None:
    s = summ(make_patients())
    for arm, (cr, pr, sd, _pd, _ne) in BOR_COUNTS.items():
        a = s["arms"][arm]
        assert a["n"] == 40 and a["failed"] == 0
        assert a["orr"] == (cr + pr) / 40
        assert a["cr_rate"] == cr / 40
        assert a["dcr"] == (cr + pr + sd) / 40
        lo, hi = a["ci95"]["orr"]
        assert lo < a["orr"] < hi
        assert a["hpd_rate"] == pytest.approx(10 / 30)  # yes/no/no/NE pattern


def test_failed_patients_count_in_n_only() -> None:
    p = make_patients()
    idx = p.index[(p["arm"] == "combo") & (p["bor"] == "CR")][:2]
    p.loc[idx, ["status", "bor", "pfs_months", "os_months"]] = ["failed", "NE", np.nan, np.nan]
    a = summ(p)["arms"]["combo"]
    assert a["n"] == 40 and a["failed"] == 2
    assert a["cr_rate"] == 4 / 40


def test_medians_match_km_and_not_reached() -> None:
    p = make_patients()
    s = summ(p)
    for arm in ARMS:
        d = p[p["arm"] == arm]
        assert s["arms"][arm]["median_pfs_months"] == km_median(d["pfs_months"], d["pfs_event"])
        assert s["arms"][arm]["median_os_months"] == km_median(d["os_months"], d["os_event"])
        r = d[d["bor"].isin(["CR", "PR"])]
        assert s["arms"][arm]["median_dor_months"] == km_median(r["dor_months"], r["dor_event"])
    # all censored -> not reached, None with None CI limits; landmark past follow-up -> None
    q = make_patients(follow_up=0.5)
    q["os_event"] = False
    q["pfs_event"] = False
    a = summ(q)["arms"]["combo"]
    assert a["median_os_months"] is None and a["median_pfs_months"] is None
    assert a["ci95"]["median_os_months"] == [None, None]
    assert a["os_rate"]["60"] is None


def test_summary_shape_and_json() -> None:
    s = summ(make_patients())
    text = json.dumps(s, allow_nan=False)
    back = json.loads(text)
    assert list(back) == ["name", "seed", "version", "spec_sha256", "arms", "comparisons"]
    assert list(back["arms"]) == ARMS
    a = back["arms"]["combo"]
    assert set(a["pfs_rate"]) == {"6", "12", "24"} and set(a["os_rate"]) == {"12", "24", "36", "60"}
    assert list(a["irae"]["by_organ"]) == list(IRAES)
    assert set(back["comparisons"]) == {"combo vs control", "mono vs control"}
    for c in back["comparisons"].values():
        assert {"hr_os", "hr_pfs", "p_logrank_os", "p_logrank_pfs", "hr_os_ci", "hr_pfs_ci"} <= set(c)


def test_irae_rates_exact() -> None:
    p = make_patients()
    a = summ(p)["arms"]["combo"]
    g = (np.arange(40) + 1) % 6  # colitis pattern (j = 1), clipped at 4
    g = g.clip(0, 4)
    assert a["irae"]["any_grade"] == (g >= 1).mean()
    assert a["irae"]["grade3plus"] == (g >= 3).mean()
    assert a["irae"]["discontinued"] == (g >= 3).mean()
    assert a["irae"]["steroids"] == (g >= 2).mean()
    assert a["irae"]["fatal"] == 0.0
    assert a["irae"]["by_organ"]["colitis"]["median_onset_weeks"] == float(np.median((4.0 + np.arange(40) % 5)[g >= 1]))
    assert a["irae"]["by_organ"]["hepatitis"] == {"any_grade": 0.0, "grade3plus": 0.0, "median_onset_weeks": None}
    assert "hypothyroidism" not in a["irae"]  # the synthetic table has no hypothyroidism column


def test_hypothyroidism_block_by_hand() -> None:
    # The combination arm's patients get hypothyroidism grades 0, 1, 2, 0, 1, 2, ... by row, onset week 6 at grade 1
    # and week 10 at grade 2; the shares are over the patients who ran (failed ones are not counted).
    p = make_patients()
    combo = p["arm"] == "combo"
    h = np.where(combo, np.arange(len(p)) % 3, 0)
    p["hypothyroidism_grade"] = h
    p["hypothyroidism_onset_weeks"] = np.where(h == 1, 6.0, np.where(h == 2, 10.0, np.nan))
    a = summ(p)["arms"]["combo"]
    ok = p[combo & (p["status"] == "ok")]
    hh = ok["hypothyroidism_grade"]
    assert a["irae"]["hypothyroidism"]["any_grade"] == pytest.approx((hh >= 1).mean())
    assert a["irae"]["hypothyroidism"]["thyroid_hormone"] == pytest.approx((hh >= 2).mean())
    assert a["irae"]["hypothyroidism"]["median_onset_weeks"] == float(np.median(
        ok.loc[hh >= 1, "hypothyroidism_onset_weeks"]))
    assert 0 < a["irae"]["hypothyroidism"]["thyroid_hormone"] < a["irae"]["hypothyroidism"]["any_grade"]


def test_vitiligo_block_by_hand() -> None:
    # The combination arm's patients get vitiligo grades 0, 0, 1, 2, 0, 0, 1, 2, ... by row, first seen at week 8 or 20.
    p = make_patients()
    combo = p["arm"] == "combo"
    v = np.where(combo, np.array([0, 0, 1, 2])[np.arange(len(p)) % 4], 0)
    p["vitiligo_grade"] = v
    p["vitiligo_onset_weeks"] = np.where(v == 1, 8.0, np.where(v == 2, 20.0, np.nan))
    s = summ(p)["arms"]
    ok = p[combo & (p["status"] == "ok")]
    vv = ok["vitiligo_grade"]
    block = s["combo"]["irae"]["vitiligo"]
    assert block["any_grade"] == pytest.approx((vv >= 1).mean())
    assert block["over_10pct_bsa"] == pytest.approx((vv >= 2).mean())
    assert block["median_onset_weeks"] == float(np.median(ok.loc[vv >= 1, "vitiligo_onset_weeks"]))
    others = [a for a in s if a != "combo"]
    assert others and all(s[a]["irae"]["vitiligo"]["any_grade"] == 0.0 for a in others)


def test_hazard_ratios() -> None:
    p = make_patients(arms=["x", "y"], scale={"x": 6.0, "y": 6.0}, n=80)
    y = p[p["arm"] == "x"].copy()
    y["arm"] = "y"
    same = pd.concat([p[p["arm"] == "x"], y], ignore_index=True)
    c = summ(same, control="y")["comparisons"]["x vs y"]
    assert c["hr_os"] == pytest.approx(1.0, abs=1e-6) and c["p_logrank_os"] == pytest.approx(1.0)
    better = make_patients(arms=["good", "bad"], scale={"good": 20.0, "bad": 2.0}, n=80)
    c = summ(better, control="bad")["comparisons"]["good vs bad"]
    assert c["hr_os"] < 1 and c["hr_pfs"] < 1 and c["hr_os_ci"][1] < 1 and c["p_logrank_pfs"] < 0.001


def test_twin_summary_counts() -> None:
    p = make_patients(arms=["a", "b"], bor_counts={"a": (0, 20, 0, 20, 0), "b": (0, 10, 0, 30, 0)})
    t = twin_summary(p, ["a", "b"])["pairs"]["a vs b"]
    assert t["n_paired"] == 40
    assert t["counts"] == {"both": 10, "only_a": 10, "only_b": 0, "neither": 20}
    diff = p[p["arm"] == "a"]["os_months"].to_numpy() - p[p["arm"] == "b"]["os_months"].to_numpy()
    assert t["median_os_diff_months"] == pytest.approx(float(np.median(diff)))
    json.dumps(t, allow_nan=False)


def test_subgroups_table() -> None:
    sub = subgroups(make_patients(n=80), "control", ARMS)
    assert list(sub.columns) == ["subgroup", "level", "arm", "n", "hr_os", "lo", "hi"]
    assert set(sub["arm"]) == {"combo", "mono"}
    assert {"PD-L1 >= 5%", "PD-L1 < 5%", "LDH > ULN", "LDH <= ULN", "age >= 65", "age < 65", "M1c"} <= set(sub["level"])
    pd_hi = sub[(sub["arm"] == "combo") & (sub["level"] == "PD-L1 >= 5%")].iloc[0]
    p = make_patients(n=80)
    assert pd_hi["n"] == int(((p["pdl1_tps"] >= 0.05) & p["arm"].isin(["combo", "control"])).sum())
    allrow = sub[(sub["arm"] == "combo") & (sub["level"] == "all")].iloc[0]
    assert allrow["hr_os"] < 1 and math.isfinite(allrow["lo"])
