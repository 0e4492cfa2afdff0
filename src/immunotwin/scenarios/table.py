"""The measured scenario table of ``docs/phenomena.md``, read from ``summary.json`` files.

``python -m immunotwin.scenarios.table DIR [--figure PNG]`` walks DIR (for example the slow suite's
``--basetemp``, or folders written by ``immunotwin scenario NAME --out``) for ``summary.json``
files and prints one markdown row per figure, with the counts inside (all, and unfitted).
Where a scenario was run more than once under DIR, the first file in path order is used.
``--figure`` also draws every figure with a published value as simulated / published
(:mod:`immunotwin.report.validation_figure`), its 95% CI as a bar, fitted and unfitted apart.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pandas as pd


def _num(x: float | None) -> str:
    return "—" if x is None else f"{x:.3g}"


def collect(root: Path) -> list[dict]:
    """One summary per scenario name (the first in path order)."""
    seen: dict[str, dict] = {}
    for f in sorted(root.rglob("summary.json")):
        try:
            doc = json.loads(f.read_text())
        except (OSError, ValueError):
            continue
        if isinstance(doc, dict) and "scenario" in doc and "figures" in doc:
            seen.setdefault(str(doc["scenario"]), doc)
    return [seen[k] for k in sorted(seen)]


def markdown(summaries: list[dict]) -> str:
    rows = ["| scenario | figure | simulated | published | band | inside | |", "|---|---|---|---|---|---|---|"]
    n = inside = unfitted = unfitted_inside = 0
    for doc in summaries:
        for f in doc["figures"]:
            lo, hi = f.get("band") or (None, None)
            ok = bool(f.get("inside"))
            rows.append(f"| {doc['scenario']} | {f['name']} | {_num(f.get('simulated'))} | {_num(f.get('published'))} "
                        f"| {_num(lo)}–{_num(hi)} | {'yes' if ok else 'no'} | {'fitted' if f.get('fitted') else ''} |")
            n += 1
            inside += ok
            if not f.get("fitted"):
                unfitted += 1
                unfitted_inside += ok
    head = f"{inside} of {n} figures are inside their bands; of the {unfitted} unfitted ones, {unfitted_inside}."
    return head + "\n\n" + "\n".join(rows) + "\n"


def frame(summaries: list[dict]) -> pd.DataFrame:
    """The figures as rows of the validation table's shape (check, group, published, simulated, lo, hi,
    criterion, inside, fitted, source): group is the scenario, lo-hi the simulated value's 95% CI."""
    nan = float("nan")
    rows = []
    for doc in summaries:
        for f in doc["figures"]:
            lo, hi = f.get("ci95") or (nan, nan)
            band = f.get("band") or (None, None)
            rows.append({"check": f["name"], "group": doc["scenario"],
                         "published": nan if f.get("published") is None else float(f["published"]),
                         "simulated": nan if f.get("simulated") is None else float(f["simulated"]),
                         "lo": nan if lo is None else float(lo), "hi": nan if hi is None else float(hi),
                         "band_lo": nan if band[0] is None else float(band[0]),
                         "band_hi": nan if band[1] is None else float(band[1]),
                         "criterion": f"band {_num(band[0])}–{_num(band[1])}", "inside": bool(f.get("inside")),
                         "fitted": bool(f.get("fitted")), "source": str(f.get("source", ""))})
    return pd.DataFrame(rows)


def main(argv: list[str] | None = None) -> int:
    args = list(sys.argv[1:] if argv is None else argv)
    png = None
    if "--figure" in args:
        i = args.index("--figure")
        png = Path(args[i + 1]) if i + 1 < len(args) else None
        del args[i:i + 2]
        if png is None or not png.parent.is_dir():
            print("--figure needs a PNG path in an existing folder", file=sys.stderr)
            return 2
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m immunotwin.scenarios.table DIR [--figure PNG]  (a folder holding summary.json files)",
              file=sys.stderr)
        return 2
    summaries = collect(Path(args[0]))
    if not summaries:
        print(f"no scenario summary.json under {args[0]}", file=sys.stderr)
        return 2
    sys.stdout.write(markdown(summaries))
    if png is not None:
        from ..report.validation_figure import write_png

        write_png(frame(summaries), png, interval="95% CI of the simulated value", what="figures")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
