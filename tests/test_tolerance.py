"""How the two checkpoints' releases of an organ's autoreactive pool combine (model.tolerance, checkpoint_synergy).
Oracle: with the expansion ceiling lifted and a pool at its tolerised level, the pool's rate of change is linear in its
activation gain, so the increments that CTLA-4 and PD-1 blockade bring add exactly when the releases add (s = 0), and
with s = 1 their cross term is the product of the two increments over the unblocked gain."""

from __future__ import annotations

import jax.numpy as jnp
import numpy as np

from immunotwin.model import tolerance
from immunotwin.model.base import Ctx
from immunotwin.model.core import default_params


def _rate(block_ctla4: float, block_pd: float, synergy: float) -> np.ndarray:
    """d(autoreactive)/dt of every organ's pool at its tolerised level (A = 1), no damage, no tumour antigen."""
    p = {k: jnp.asarray(v, dtype=float) for k, v in default_params().items()}
    p["checkpoint_synergy"] = jnp.asarray(synergy)
    p["auto_expansion_max"] = jnp.asarray(1e9)  # no ceiling: the net expansion is r_A (G - 1)
    p["autoimmune_propensity"] = jnp.asarray(1.5)  # some organs above G = 1 and some below: both signs checked
    z12 = jnp.zeros(12)
    s = {"autoreactive": jnp.ones(12), "damage": z12, "function": jnp.ones(12), "autoantibody": z12,
         "melanocyte_loss": jnp.asarray(0.0), "depigmentation": jnp.asarray(0.0), "thyroxine": jnp.asarray(1.0),
         "treg_systemic": jnp.asarray(1.0)}
    sig = {"block_ctla4": jnp.asarray(block_ctla4), "block_pd": jnp.asarray(block_pd), "antigen": jnp.asarray(0.0),
           "act_tumour": jnp.asarray(0.0), "immsup": jnp.asarray(0.0), "il2_exo": jnp.asarray(0.0),
           "ifn_exo": jnp.asarray(0.0), "kill": p["baseline_kill"]}
    return np.asarray(tolerance._derivatives(Ctx(jnp.asarray(0.0), s, p, {}, sig))["autoreactive"])


def test_added_releases_add_exactly() -> None:
    none = _rate(0.0, 0.0, 0.0)
    c, pd = _rate(0.9, 0.0, 0.0) - none, _rate(0.0, 0.8, 0.0) - none
    assert np.all(c > 0) and np.all(pd > 0)  # each blockade alone raises every organ's gain
    np.testing.assert_allclose(_rate(0.9, 0.8, 0.0) - none, c + pd, rtol=1e-6)


def test_one_checkpoint_alone_does_not_see_the_synergy() -> None:
    for blocks in ((0.9, 0.0), (0.0, 0.8)):
        np.testing.assert_allclose(_rate(*blocks, 1.0), _rate(*blocks, 0.0), rtol=1e-12)


def test_the_shipped_product_form_adds_the_cross_term() -> None:
    assert float(default_params()["checkpoint_synergy"]) == 1.0  # iterations 1-13 (stop 43 tried 0, not installed)
    none = _rate(0.0, 0.0, 1.0)
    c, pd = _rate(0.9, 0.0, 1.0) - none, _rate(0.0, 0.8, 1.0) - none
    # dA/dt = K (G - 1) at A = 1, so K G_0 = rate(none) + K, and the cross term K G_0 c p = c_inc p_inc / (K G_0)
    k = float(default_params()["auto_expansion"]) / (1.0 + 1.0 / float(default_params()["auto_max"]))
    cross = c * pd / (none + k)
    np.testing.assert_allclose(_rate(0.9, 0.8, 1.0) - none, c + pd + cross, rtol=1e-6)
    assert np.all(cross > 0)
