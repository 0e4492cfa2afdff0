"""A trial job in its own process: ``python -m immunotwin.web.worker RUN_DIR``.

Reads ``RUN_DIR/job.json`` (spec text, seed and size overrides, chunk size), runs
:func:`immunotwin.trial.run_trial` into ``RUN_DIR/trial`` exactly as ``immunotwin trial``
does, and reports on stdout, one JSON object a line: ``{"done": n, "total": m}`` as chunks
finish, ``{"error": "..."}`` on failure (exit code 1). A separate process keeps a failing
or runaway job away from the server, which can stop it at its time limit. It exits by
itself if the server that started it goes away.
"""

from __future__ import annotations

import json
import os
import sys
import traceback
from pathlib import Path


def _say(obj: dict[str, object]) -> None:
    sys.stdout.write(json.dumps(obj) + "\n")
    sys.stdout.flush()


def main(argv: list[str]) -> int:
    run_dir = Path(argv[0])
    parent = os.getppid()
    try:
        job = json.loads((run_dir / "job.json").read_text())
        from ..spec import parse_spec, with_overrides
        from ..trial import check_modelled, run_trial

        spec = parse_spec(job["spec_text"])
        spec = with_overrides(spec, size_per_arm=job.get("patients_per_arm"), seed=job.get("seed"))
        check_modelled(spec)

        def progress(done: int, total: int) -> None:
            if os.getppid() != parent:  # the server is gone: stop quietly
                os._exit(3)
            _say({"done": done, "total": total})

        run_trial(spec, run_dir / "trial", chunk_size=int(job.get("chunk_size", 64)), visits=True, progress=progress)
    except Exception as exc:  # report any failure, whatever its type, to the server
        traceback.print_exc(file=sys.stderr)
        _say({"error": f"{type(exc).__name__}: {exc}"})
        return 1
    _say({"finished": True})
    return 0


if __name__ == "__main__":  # pragma: no cover - run as a subprocess
    sys.exit(main(sys.argv[1:]))
