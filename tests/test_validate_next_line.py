"""The next-line rows of ``immunotwin validate`` on hand-made patients, and the strict JSON of the rows."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd

from immunotwin.validate import next_line_rows, rows_json


def _arm(name: str, next_line: list[float], os_months: list[float], os_event: list[bool]) -> pd.DataFrame:
    return pd.DataFrame({"arm": name, "status": "ok", "next_line_months": next_line, "os_months": os_months,
                         "os_event": os_event})


def test_next_line_rows_read_the_median_and_the_survivors() -> None:
    # ipilimumab: 12 patients alive at 60 months, six given a next line at 2, 4, ..., 12 months: Kaplan-Meier reaches
    # 0.5 at the sixth start (12 months; outside 8.0 +- 25%), and half the survivors were never treated
    ipi = _arm("ipilimumab", [2.0 * k for k in range(1, 7)] + [np.nan] * 6, [60.0] * 12, [False] * 12)
    # the combination: nobody treated, everyone alive at 60 months: median not reached, as published (inside)
    combo = _arm("nivolumab + ipilimumab", [np.nan] * 12, [60.0] * 12, [False] * 12)
    # nivolumab: nobody treated, 12 deaths at 30 months: censored by death, not reached against 25.2 (outside)
    nivo = _arm("nivolumab", [np.nan] * 12, [30.0] * 12, [True] * 12)
    rows = {(r.check.split(",")[0].split(" (")[0], r.group): r for r in next_line_rows(pd.concat([ipi, combo, nivo]))}
    med = rows[("months to next-line therapy", "ipilimumab")]
    assert med.simulated == 12.0 and med.published == 8.0 and not med.inside and med.fitted
    assert rows[("months to next-line therapy", "nivolumab + ipilimumab")].inside
    assert not rows[("months to next-line therapy", "nivolumab + ipilimumab")].fitted
    nv = rows[("months to next-line therapy", "nivolumab")]
    assert nv.simulated == np.inf and not nv.inside
    surv = rows[("alive at 5 years and never given next-line therapy", "ipilimumab")]
    assert surv.simulated == 0.5 and surv.inside  # 6 of 12 survivors untreated, against 0.45 +- 0.10
    assert ("alive at 5 years and never given next-line therapy", "nivolumab") not in rows  # no survivors
    text = rows_json(list(rows.values()))
    back = json.loads(text, parse_constant=lambda c: (_ for _ in ()).throw(ValueError(c)))  # strict: no Infinity/NaN
    assert any(r["simulated"] is None for r in back) and all(r["lo"] is None for r in back)


def test_next_line_bor_reads_recist_from_the_progression_scan() -> None:
    """By hand: a patient progresses at day 84 (60 mm, 1 new lesion) and starts next-line therapy that day. From
    that scan as baseline, 40 mm at day 126 and 38 mm at day 168 are a partial response (<= 0.7 x 60 = 42 mm),
    confirmed 6 weeks later; the new lesion seen before the start does not count again. The same scans with a second
    new lesion at day 126 are progression; no scan after the start is not evaluable; no next line is ""."""
    from immunotwin.clinic.outcomes import next_line_bor

    scans = [(-14.0, 50.0, 0), (0.0, 50.0, 0), (42.0, 45.0, 0), (84.0, 60.0, 1), (126.0, 40.0, 1), (168.0, 38.0, 1)]
    assert next_line_bor(scans, 84.0, 0.0, True) == "PR"
    worse = scans[:4] + [(126.0, 40.0, 2), (168.0, 38.0, 2)]
    assert next_line_bor(worse, 84.0, 0.0, True) == "PD"
    # a single 40 mm scan: unconfirmed, and 42 days is long enough for stable disease
    assert next_line_bor(scans[:5], 84.0, 0.0, True) == "SD"
    assert next_line_bor(scans[:5], 84.0, 0.0, False) == "PR"
    assert next_line_bor(scans[:4], 84.0, 0.0, True) == "NE"
    assert next_line_bor(scans, np.nan, 0.0, True) == ""


def test_second_line_nivolumab_row_counts_braf_wild_type_patients_given_it() -> None:
    from immunotwin.validate import second_line_nivolumab_rows

    # 30 BRAF wild-type patients given the next line after ipilimumab, 9 responding (0.30, inside 0.27 +- 0.10);
    # BRAF-mutant ones (given BRAF/MEK inhibitors) and untreated ones are left out whatever their response
    wt = pd.DataFrame({"arm": "ipilimumab", "status": "ok", "next_line_months": 6.0, "braf_v600": False,
                       "next_line_bor": ["PR"] * 7 + ["CR"] * 2 + ["SD"] * 11 + ["PD"] * 10})
    mut = wt.assign(braf_v600=True, next_line_bor="PR")
    none = wt.assign(next_line_months=np.nan, next_line_bor="")
    (row,) = second_line_nivolumab_rows(pd.concat([wt, mut, none]))
    assert row.simulated == 0.3 and row.inside and not row.fitted and "n=30" in row.check
    (low,) = second_line_nivolumab_rows(pd.concat([wt.assign(next_line_bor="SD"), mut]))
    assert low.simulated == 0.0 and not low.inside


def test_second_line_row_reads_the_confirmed_response_and_names_the_unconfirmed() -> None:
    from immunotwin.validate import second_line_nivolumab_rows

    # 30 BRAF wild-type patients: 9 respond unconfirmed (0.30), 3 of them confirmed (0.10, outside 0.27 +- 0.10);
    # the row reads the confirmed column and gives the unconfirmed reading in its band's text
    wt = pd.DataFrame({"arm": "ipilimumab", "status": "ok", "next_line_months": 6.0, "braf_v600": False,
                       "next_line_bor": ["PR"] * 9 + ["SD"] * 21,
                       "next_line_bor_confirmed": ["PR"] * 3 + ["SD"] * 27})
    (row,) = second_line_nivolumab_rows(wt)
    assert row.simulated == 0.1 and not row.inside and "confirmed ORR" in row.check
    assert "unconfirmed: 0.3" in row.criterion
