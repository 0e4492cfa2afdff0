"""The cancer- and drug-level fits' helpers: one organ's element of a per-organ parameter, and the severity metric."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from immunotwin.calibrate_cancers import METRICS, PARAM_TARGETS, organ_severity, with_value
from immunotwin.model import core
from immunotwin.model.organs import INDEX


def test_with_value_replaces_one_organ_only() -> None:
    before = core.PARAM_INDEX["damage_rate"].value
    after = {p.name: p for p in with_value(core.PARAMS, "damage_rate.colitis", 0.0123)}["damage_rate"].value
    assert after[INDEX["colitis"]] == 0.0123
    keep = np.arange(len(before)) != INDEX["colitis"]
    assert np.array_equal(after[keep], before[keep])
    # a scalar parameter takes the plain name
    assert {p.name: p for p in with_value(core.PARAMS, "nk_kill", 0.5)}["nk_kill"].value == 0.5


@pytest.mark.parametrize("key, message", [("damage_rate.spleen", "unknown organ"), ("nk_kill.colitis", "not a per-organ"),
                                          ("no_such_thing", "no parameter")])
def test_with_value_names_the_bad_key(key: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        with_value(core.PARAMS, key, 1.0)


def test_organ_severity_by_hand() -> None:
    # 5 patients ran with a skin irAE (grades 1, 2, 3, 4, 1), 2 ran without, 1 failed with grade 4: severity 2/5.
    p = pd.DataFrame({"status": ["ok"] * 7 + ["failed"], "irae_dermatitis_grade": [1, 2, 3, 4, 1, 0, np.nan, 4]})
    assert organ_severity(p, "dermatitis") == pytest.approx(0.4)
    assert METRICS["severity.dermatitis"](p) == pytest.approx(0.4)
    assert np.isnan(organ_severity(p.assign(irae_dermatitis_grade=0), "dermatitis"))


def test_severity_targets_come_from_the_counts() -> None:
    from immunotwin.reference import load

    ref = load("scenario_refs")["ipilimumab_organ_severity"]
    # the skin and gut targets pool MDX010-20's two ipilimumab arms
    arms = ref["mdx010_20_arms"]
    for organ in ("dermatitis", "colitis"):
        assert ref[organ]["any"] == sum(arms[a][organ][0] for a in ("ipilimumab", "ipilimumab + gp100"))
        assert ref[organ]["grade3plus"] == sum(arms[a][organ][1] for a in ("ipilimumab", "ipilimumab + gp100"))
    for key, (spec, _, path, metric, _) in PARAM_TARGETS.items():
        if metric.startswith("severity."):
            organ = key.partition(".")[2]
            assert spec == "cancer-vaccine" and path[1] == organ and metric == f"severity.{organ}"
            assert ref[organ]["severity"] == pytest.approx(ref[organ]["grade3plus"] / ref[organ]["any"])


def test_fitted_organ_elements_are_applied(monkeypatch: pytest.MonkeyPatch) -> None:
    # _apply_drug_fit sets only the fitted organs' elements of a per-organ parameter and says so in its source.
    import json

    fit = {"params": {"damage_rate.colitis": {"value": 0.05, "target_orr": 0.2, "source": "S", "spec": "x",
                                              "metric": "severity.colitis"}}}

    class F:
        def is_file(self) -> bool:
            return True

        def read_text(self) -> str:
            return json.dumps(fit)

    class R:
        def joinpath(self, _: str) -> F:
            return F()

    monkeypatch.setattr("importlib.resources.files", lambda _: R())
    base = {p.name: p for p in core.all_params()}["damage_rate"]
    got = {p.name: p for p in core._apply_drug_fit(core.all_params())}["damage_rate"]
    assert got.value[INDEX["colitis"]] == 0.05
    keep = np.arange(len(base.value)) != INDEX["colitis"]
    assert np.array_equal(got.value[keep], base.value[keep])
    assert "colitis irAEs reaching grade >= 3 0.2 of S" in got.source and not got.assumed
