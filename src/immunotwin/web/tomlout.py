"""A small TOML writer for the documents the server builds (trial specs, one patient).

Structured JSON from a client is written out as TOML text and read back by the package's
own parsers (:func:`immunotwin.spec.parse_spec`, :func:`immunotwin.spec.parse_patient`), so
a run started from the page is exactly the run ``immunotwin trial SPEC.toml`` would make,
and its spec can be downloaded and rerun from the command line.

Supported values: strings, booleans, integers, finite floats, arrays of those, tables
(dicts) and arrays of tables (lists of dicts).
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from typing import Any

__all__ = ["dumps"]

_BARE_KEY = re.compile(r"^[A-Za-z0-9_-]+$")
_ESCAPES = {'"': '\\"', "\\": "\\\\", "\b": "\\b", "\t": "\\t", "\n": "\\n", "\f": "\\f", "\r": "\\r"}


def _string(text: str) -> str:
    out = []
    for ch in text:
        if ch in _ESCAPES:
            out.append(_ESCAPES[ch])
        elif ord(ch) < 0x20 or ord(ch) == 0x7F:
            out.append(f"\\u{ord(ch):04x}")
        elif 0xD800 <= ord(ch) <= 0xDFFF:  # lone surrogate: not valid in TOML (UTF-8)
            out.append("\ufffd")
        else:
            out.append(ch)
    return '"' + "".join(out) + '"'


def _key(key: str) -> str:
    return key if _BARE_KEY.match(key) else _string(key)


def _scalar(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise ValueError(f"cannot write the non-finite number {value!r} to TOML")
        return repr(value)
    if isinstance(value, str):
        return _string(value)
    if isinstance(value, Sequence):
        return "[" + ", ".join(_scalar(v) for v in value) + "]"
    raise TypeError(f"cannot write {type(value).__name__} to TOML")


def _is_table_array(value: Any) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, Mapping) for v in value)


def _emit(table: Mapping[str, Any], prefix: str, lines: list[str]) -> None:
    scalars = [(k, v) for k, v in table.items() if not isinstance(v, Mapping) and not _is_table_array(v)]
    for k, v in scalars:
        lines.append(f"{_key(k)} = {_scalar(v)}")
    for k, v in table.items():
        path = f"{prefix}.{_key(k)}" if prefix else _key(k)
        if isinstance(v, Mapping):
            lines.append("")
            lines.append(f"[{path}]")
            _emit(v, path, lines)
        elif _is_table_array(v):
            for item in v:
                lines.append("")
                lines.append(f"[[{path}]]")
                _emit(item, path, lines)


def dumps(doc: Mapping[str, Any]) -> str:
    """TOML text for ``doc`` (``None`` values must have been dropped by the caller)."""
    lines: list[str] = []
    _emit(doc, "", lines)
    return "\n".join(lines).strip("\n") + "\n"
