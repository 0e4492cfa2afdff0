"""Reading a finished run: SQL over its tables (DuckDB) and CDISC ADaM-style export."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pandas as pd

from .model.organs import IRAES


def _need(dirpath: Path, name: str) -> Path:
    f = dirpath / name
    if not f.exists():
        raise FileNotFoundError(f"DIR: {dirpath} has no {name}; is it a finished immunotwin trial run?")
    return f


def query(dirpath: Path, sql: str) -> pd.DataFrame:
    """Run ``sql`` with views ``patients`` and ``visits`` (when present) over a run directory."""
    import duckdb

    con = duckdb.connect()
    con.execute(f"CREATE VIEW patients AS SELECT * FROM read_parquet('{_need(dirpath, 'patients.parquet').as_posix()}')")
    if (dirpath / "visits.parquet").exists():
        con.execute(f"CREATE VIEW visits AS SELECT * FROM read_parquet('{(dirpath / 'visits.parquet').as_posix()}')")
    try:
        return con.execute(sql).df()
    finally:
        con.close()


def export_adam(dirpath: Path, out: Path | None = None) -> list[Path]:
    """Write ADSL, ADTTE, ADRS and ADAE (CSV) following CDISC ADaM naming conventions.

    Time-to-event values are in months (AVALU), CNSR = 1 for censored (ADaM BDS convention).
    """
    p = pd.read_parquet(_need(dirpath, "patients.parquet"))
    summary = json.loads(_need(dirpath, "summary.json").read_text())
    out = out or dirpath / "adam"
    out.mkdir(parents=True, exist_ok=True)
    study = summary.get("name", "IMMUNOTWIN")
    usubjid = p["arm_index"].astype(str).str.zfill(2) + "-" + p["patient"].astype(str).str.zfill(7)
    adsl = pd.DataFrame({
        "STUDYID": study, "USUBJID": usubjid, "ARM": p["arm"], "TRT01P": p["arm"], "AGE": p["age"].round(1),
        "SEX": p["sex"], "WEIGHTBL": p["weight_kg"].round(1), "ECOGBL": p["ecog"], "LDHBL": p["ldh_uln"].round(2),
        "PDL1BL": p["pdl1_tps"].round(3), "TMBBL": p["tmb"].round(2), "MSTAGE": p["m_stage"],
        "ITTFL": "Y", "SAFFL": "Y", "DTHFL": np.where(p["os_event"], "Y", "N"), "DTHCAUS": p["death_cause"],
        "DCSREAS": p["discontinued"], "STATUS": p["status"],
    })
    tte = []
    for code, name, t, e in (("OS", "Overall survival", "os_months", "os_event"),
                             ("PFS", "Progression-free survival", "pfs_months", "pfs_event"),
                             ("DOR", "Duration of response", "dor_months", "dor_event")):
        sel = p[t].notna()
        tte.append(pd.DataFrame({"STUDYID": study, "USUBJID": usubjid[sel], "ARM": p.loc[sel, "arm"], "PARAMCD": code,
                                 "PARAM": name, "AVAL": p.loc[sel, t].round(4), "AVALU": "MONTHS",
                                 "CNSR": (~p.loc[sel, e].astype(bool)).astype(int)}))
    adtte = pd.concat(tte, ignore_index=True)
    adrs = pd.DataFrame({"STUDYID": study, "USUBJID": usubjid, "ARM": p["arm"], "PARAMCD": "BOR",
                         "PARAM": "Best overall response", "AVALC": p["bor"], "CRIT": p["criteria"]})
    ae = []
    for name in IRAES:
        g = p[f"irae_{name}_grade"]
        sel = g >= 1
        ae.append(pd.DataFrame({"STUDYID": study, "USUBJID": usubjid[sel], "ARM": p.loc[sel, "arm"],
                                "AEDECOD": name, "AETOXGR": g[sel],
                                "ASTDY": (p.loc[sel, f"irae_{name}_onset_weeks"] * 7).round(0),
                                "AESER": np.where(g[sel] >= 3, "Y", "N"),
                                "AEOUT": np.where(g[sel] >= 5, "FATAL",
                                                  np.where(p.loc[sel, f"irae_{name}_resolved"], "RECOVERED",
                                                           "NOT RECOVERED"))}))
    adae = pd.concat(ae, ignore_index=True)
    files = []
    for name, df in (("adsl", adsl), ("adtte", adtte), ("adrs", adrs), ("adae", adae)):
        f = out / f"{name}.csv"
        df.to_csv(f, index=False)
        files.append(f)
    return files
