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
