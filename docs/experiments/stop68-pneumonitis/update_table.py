"""Put a validation run's tables into docs/credibility.md and print the rows that changed.

    python docs/experiments/stop68-pneumonitis/update_table.py RUN_DIR [--write]

Replaces the section from '### Fitted figures' up to '## Reference figures checked' with RUN_DIR/validation.md, copies
RUN_DIR/validation.png to docs/validation.png (with --write), and lists rows added, removed or changed, keyed by
(check, group). Kept in the repository because the runs/ folder does not survive between sessions."""

import shutil
import sys
from pathlib import Path

DOC = Path(__file__).resolve().parents[2] / "credibility.md"
START, END = "### Fitted figures", "## Reference figures checked"


def rows(text: str) -> dict[tuple[str, str], list[str]]:
    out = {}
    for line in text.splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if line.startswith("| ") and len(cells) >= 8 and cells[0] not in ("check", "figure"):
            out[(cells[0], cells[1])] = cells[2:7]
    return out


def main() -> None:
    run = Path(sys.argv[1])
    doc = DOC.read_text()
    a, b = doc.index(START), doc.index(END)
    new = (run / "validation.md").read_text().rstrip() + "\n\n"
    old_rows, new_rows = rows(doc[a:b]), rows(new)
    for key in sorted(set(old_rows) | set(new_rows)):
        o, n = old_rows.get(key), new_rows.get(key)
        if o != n:
            print(f"{key[0]} [{key[1]}]\n   was {o}\n   now {n}")
    if "--write" in sys.argv:
        DOC.write_text(doc[:a] + new + doc[b:])
        shutil.copy(run / "validation.png", DOC.parent / "validation.png")
        print("written", DOC)


if __name__ == "__main__":
    main()
