"""One patient's timeline as a figure: tumour, drugs, T cells, organ damage and grades, steroids."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from ..clinic.observe import VITILIGO_SEEN_BSA  # noqa: E402
from ..model.core import LAYOUT, ct_residue, tumour_cells  # noqa: E402
from ..model.organs import IRAES  # noqa: E402

if TYPE_CHECKING:
    from ..simulate import PatientRun


def plot_patient(run: PatientRun, path: Path) -> None:
    traj = run.clinic.trajectory
    assert traj is not None
    days = np.asarray(traj.day)
    ys = np.concatenate(traj.states, axis=1)[0]  # (T, size)
    v = run.visits
    weeks = days / 7.0
    fig, ax = plt.subplots(5, 1, figsize=(10, 13), sharex=True, gridspec_kw={"height_ratios": [3, 2, 2, 3, 1.4]})
    title = f"{run.cancer}: " + (" + ".join(sorted({d.name for d in run.regimen})) or "no treatment")
    fig.suptitle(f"immunotwin virtual patient — {title}\nresearch and education only; not for patient care", fontsize=11)

    scans = v[v["scan"]]
    a = ax[0]
    a.plot(scans["day"] / 7.0, scans["sld_mm"], "o-", color="k", label="observed SLD (mm)")
    if "sld_viable_mm" in scans and not np.allclose(scans["sld_viable_mm"], scans["sld_mm"], equal_nan=True):
        a.plot(scans["day"] / 7.0, scans["sld_viable_mm"], "s--", color="tab:purple", ms=4, lw=1,
               label="viable tumour only (a PET reading, mm)")
    base = scans.loc[scans["day"] == 0, "sld_mm"]
    if len(base):
        b = float(base.iloc[0])
        a.axhspan(0, 0.7 * b, color="tab:green", alpha=0.08, label="PR band (≤ −30%)")
        a.axhline(b, color="grey", lw=0.8, ls=":")
    for _, r in scans.iterrows():
        if r["response"]:
            a.annotate(r["response"], (r["day"] / 7.0, r["sld_mm"]), textcoords="offset points", xytext=(0, 6),
                       ha="center", fontsize=8)
    a2 = a.twinx()
    tum = tumour_cells(ys)
    a2.semilogy(weeks, tum, color="tab:red", alpha=0.6, label="tumour cells (1e9, hidden)")
    a2.semilogy(weeks, np.exp(LAYOUT.get(ys, "log_resistant")), color="tab:red", ls="--", alpha=0.5,
                label="resistant clone (1e9)")
    dead = ct_residue(ys)
    if np.any(dead > 1e-6):
        a2.semilogy(weeks, np.maximum(dead, 1e-9), color="tab:brown", ls=":", alpha=0.7,
                    label="debris + residue + scar (1e9 cell-equivalents, CT only)")
    a2.set_ylabel("tumour cells (1e9)")
    a.set_ylabel("sum of diameters (mm)")
    a.legend(loc="upper left", fontsize=8)
    a2.legend(loc="upper right", fontsize=8)

    a = ax[1]
    conc = LAYOUT.get(ys, "pk_central") / run.clinic.vc[0]
    for j, lab in enumerate(("anti-PD-1 (µg/mL)", "anti-CTLA-4 (µg/mL)", "anti-PD-L1 (µg/mL)")):
        if np.any(conc[:, j] > 0):
            a.plot(weeks, conc[:, j], label=lab)
    a.set_ylabel("serum concentration\n(µg/mL)")
    a.legend(fontsize=8, loc="upper right")

    a = ax[2]
    a.semilogy(weeks, np.maximum(LAYOUT.get(ys, "effector"), 1e-6), label="effector T cells (1e9)")
    a.semilogy(weeks, np.maximum(LAYOUT.get(ys, "exhausted"), 1e-6), label="exhausted T cells (1e9)")
    a.semilogy(weeks, np.maximum(LAYOUT.get(ys, "treg_tumour"), 1e-6), label="intratumoral Tregs (1e9)")
    a.semilogy(weeks, np.maximum(LAYOUT.get(ys, "memory"), 1e-6), label="memory T cells (1e9)")
    a.set_ylabel("T cells (1e9)")
    a.legend(fontsize=8, loc="lower right", ncol=2)

    a = ax[3]
    dmg = LAYOUT.get(ys, "damage")
    shown = [j for j, k in enumerate(IRAES) if dmg[:, j].max() > 0.02 or v[k].max() > 0]
    for j in shown:
        line, = a.plot(weeks, dmg[:, j], label=f"{IRAES[j]} damage")
        g = v[IRAES[j]].to_numpy()
        a.scatter(v["day"] / 7.0, np.where(g > 0, g / 4.0, np.nan), color=line.get_color(), marker="s", s=14)
    depig = 100.0 * LAYOUT.get(ys, "depigmentation")
    vitiligo_drawn = bool(depig.max() > 0.1)
    if vitiligo_drawn:  # vitiligo: melanocytes lost to the tumour-primed T cells (model.tolerance), as the skin shows it
        b = a.twinx()
        b.plot(weeks, depig, color="0.35", ls="--", label="vitiligo (% body surface, right)")
        b.axhline(VITILIGO_SEEN_BSA, color="0.35", ls=":", lw=0.8)
        b.set_ylabel("vitiligo (% body surface)\ndotted: first noticed")
        b.set_ylim(0.0, max(2.0 * VITILIGO_SEEN_BSA, 1.1 * float(depig.max())))
        b.legend(fontsize=8, loc="upper left")
    a.set_ylabel("organ damage (0-1)\nsquares: CTCAE grade / 4")
    a.set_ylim(-0.02, 1.05)
    if shown:
        a.legend(fontsize=8, loc="upper right", ncol=2)
    else:
        a.text(0.5, 0.85 if vitiligo_drawn else 0.5, "no organ damage", transform=a.transAxes, ha="center")

    a = ax[4]
    a.step(v["day"] / 7.0, v["steroid_mg"], where="post", color="tab:purple", label="prednisone-eq (mg/day)")
    dosed = v[v["dosed"] != ""]
    for _, r in dosed.iterrows():
        a.axvline(r["day"] / 7.0, color="tab:blue", alpha=0.25, lw=1)
    held = v[v["held"]]
    a.scatter(held["day"] / 7.0, np.zeros(len(held)), marker="x", color="tab:orange", label="dose held")
    a.set_ylabel("steroid\n(mg/day)")
    a.set_xlabel("weeks from first dose (blue lines: doses)")
    a.legend(fontsize=8, loc="upper right")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
