"""The measured scenario table of ``docs/phenomena.md``, read from ``summary.json`` files.

``python -m immunotwin.scenarios.table DIR`` walks DIR (for example the slow suite's
``--basetemp``, or folders written by ``immunotwin scenario NAME --out``) for ``summary.json``
files and prints one markdown row per figure, with the counts inside (all, and unfitted).
Where a scenario was run more than once under DIR, the first file in path order is used.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path


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


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else argv
    if len(args) != 1 or not Path(args[0]).is_dir():
        print("usage: python -m immunotwin.scenarios.table DIR  (a folder holding summary.json files)", file=sys.stderr)
        return 2
    summaries = collect(Path(args[0]))
    if not summaries:
        print(f"no scenario summary.json under {args[0]}", file=sys.stderr)
        return 2
    sys.stdout.write(markdown(summaries))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
