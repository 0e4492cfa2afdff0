"""The validation table as a figure: each row's simulated value over its published one.

Rows are drawn on one log axis of simulated / published so that rates, months and hazard ratios sit side by side:
1 is agreement, and a 95% prediction interval (replicate trials at the real trial's size), where the row has one,
is drawn as a bar in the same ratio; where the table gives a row's band as numbers (columns ``band_lo``,
``band_hi``: the scenario figures have them) it is drawn behind, in light blue, as the scenario reports draw it
(``scenarios.core.comparison_plot``, one scenario at a time). Fitted rows (calibration targets: agreement there is not validation) and
unfitted rows (validation) are in separate panels; a row is green when it is inside its own criterion (its band
is in the table) and red when not. Rows that compare an order or a sign ("sign: ...", "rho > ...") have no
published value to divide by, and a median not reached (infinite) or a value at 0 has no ratio: both are counted
apart in the panel's title instead.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

INSIDE, OUTSIDE, BAND = "#1a7f37", "#d1432f", "#9ecae1"
_LABEL_CHARS = 78


def drawable(df: pd.DataFrame) -> pd.Series:
    """Rows with a published value to divide by: not an order or sign check, both values positive and finite."""
    crit = df["criterion"].astype(str)
    pub, sim = df["published"].astype(float), df["simulated"].astype(float)
    return ~crit.str.startswith(("sign", "rho")) & (pub > 0) & (sim > 0) & np.isfinite(pub) & np.isfinite(sim)


def _label(row: pd.Series) -> str:
    text = f"{row['check']} · {row['group']}"
    return text if len(text) <= _LABEL_CHARS else text[:_LABEL_CHARS - 1] + "…"


def validation_figure(df: pd.DataFrame, *, interval: str = "95% prediction interval at the trial's size",
                      what: str = "rows") -> Figure | str:
    """Two panels (fitted, unfitted) of simulated / published on a log axis. ``interval`` names what the bars
    (``lo``-``hi``) are; ``what`` names the rows in the titles. Each row's marker carries ``gid`` "fitted|i" or
    "unfitted|i", i its index in ``df`` (tests read them)."""
    ok = drawable(df)
    order_sign = df["criterion"].astype(str).str.startswith(("sign", "rho"))
    panels = [(f, df[(df["fitted"] == f) & ok], (int(((df["fitted"] == f) & ~ok & order_sign).sum()),
                                                  int(((df["fitted"] == f) & ~ok & ~order_sign).sum())))
              for f in (True, False)]
    panels = [p for p in panels if len(p[1])]
    if not panels:
        return "No row with a published value: no validation figure."
    heights = [max(len(sub), 3) for _, sub, _ in panels]
    fig = Figure(figsize=(11, 1.6 + 0.2 * sum(heights)), layout="constrained")
    axes = fig.subplots(len(panels), 1, height_ratios=heights, squeeze=False, sharex=True)[:, 0]
    shown = np.concatenate([df.loc[sub.index, c].to_numpy(float) / sub["published"].to_numpy(float)
                            for _, sub, _ in panels for c in ("simulated", "lo", "hi", "band_lo", "band_hi")
                            if c in df])
    shown = shown[np.isfinite(shown) & (shown > 0)]
    ticks = [t for t in (0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50) if shown.min() / 1.3 <= t <= shown.max() * 1.3]
    for ax, (fitted, sub, skipped) in zip(axes, panels, strict=True):
        pub = sub["published"].to_numpy(float)
        ratio = sub["simulated"].to_numpy(float) / pub
        y = np.arange(len(sub))
        for j, (i, row) in enumerate(sub.iterrows()):
            colour = INSIDE if row["inside"] else OUTSIDE
            blo, bhi = float(row.get("band_lo", np.nan)), float(row.get("band_hi", np.nan))
            if np.isfinite(blo) and np.isfinite(bhi) and bhi > 0:
                ax.plot([max(blo, 1e-3 * pub[j]) / pub[j], bhi / pub[j]], [y[j], y[j]], color=BAND, lw=7,
                        solid_capstyle="butt", alpha=0.8, gid=f"band|{i}")
            lo, hi = float(row["lo"]), float(row["hi"])
            if np.isfinite(lo) and np.isfinite(hi) and lo > 0:
                ax.plot([lo / pub[j], hi / pub[j]], [y[j], y[j]], color=colour, lw=2, alpha=0.45)
            ax.plot([ratio[j]], [y[j]], "o", color=colour, ms=5, gid=f"{'fitted' if fitted else 'unfitted'}|{i}")
        ax.axvline(1.0, color="0.3", lw=1)
        ax.set_xscale("log")
        ax.set_xticks(ticks, [f"{t:g}" for t in ticks])
        ax.set_xlim(shown.min() / 1.3, shown.max() * 1.3)
        ax.set_yticks(y, [_label(r) for _, r in sub.iterrows()], fontsize=7)
        ax.invert_yaxis()
        ax.grid(axis="x", alpha=0.3)
        inside = int(sub["inside"].sum())
        kind = f"Fitted {what} (calibration targets)" if fitted else f"Unfitted {what} (validation)"
        parts = [f"{skipped[0]} order or sign"] if skipped[0] else []
        parts += [f"{skipped[1]} not reached or not positive"] if skipped[1] else []
        note = f"\nnot drawn (no ratio): {', '.join(parts)}" if parts else ""
        ax.set_title(f"{kind}: {inside} of {len(sub)} drawn inside their criterion (green){note}", fontsize=10)
    has_band = "band_lo" in df and np.isfinite(df["band_lo"].astype(float)).any()
    band_text = "; light blue: the figure's band" if has_band else ""
    axes[-1].set_xlabel(f"simulated / published (log scale; bar: {interval}{band_text})")
    return fig


def write_png(df: pd.DataFrame, path: Path, **kwargs: Any) -> bool:
    """:func:`validation_figure` of ``df`` (``kwargs`` passed on) saved as a PNG at ``path``; False, and nothing
    written, when no row can be drawn."""
    fig = validation_figure(df, **kwargs)
    if isinstance(fig, str):
        return False
    FigureCanvasAgg(fig)
    fig.savefig(path, dpi=100)
    return True
