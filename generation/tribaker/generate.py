"""One parameter point (N, R) of the tribaker dataset: all resonances and norm ratios, the selected states.

``compute_point(params)`` is the Dask task. Output tables of a point:

* ``spectrum/*`` (N,), all resonances sorted by |z| descending: ``z`` complex128, ``decay`` = -2 ln|z|,
  ``norm_ratio`` mu of the LR representation (Husimi for the closed map) on the N x N lattice (1 for a coherent
  state, N/2 for the uniform distribution).
* ``states/*`` (2 S,), the S lowest-mu (label 0, localized) then the S highest-mu (label 1, non-localized)
  resonances: ``right``, ``left`` complex128 (2 S, N) in the position basis q_j = (j + 1/2)/N (||R|| = 1,
  <L|R> = 1; closed map: L = R), ``z``, ``norm_ratio``, ``label`` int8, ``index`` into ``spectrum``, and
  ``image`` float32 (2 S, P, P): the exact LR/Husimi function at the cell centres ((a + 1/2)/P, (b + 1/2)/P),
  index order [state, q, p], for inspection.
"""

from __future__ import annotations

import numpy as np

from ..store import PointResult
from .coherent import lr_on_grid, lr_representation
from .norm_ratio import norm_ratio
from .resonances import resonances

_CHUNK_BYTES = 256 * 2**20


def norm_ratios(right: np.ndarray, left: np.ndarray) -> np.ndarray:
    """mu of the LR representation of every column pair (N, k) -> (k,), in chunks bounding memory to ~256 MB."""
    n, k = right.shape
    step = max(1, _CHUNK_BYTES // (8 * n * n))
    out = np.empty(k)
    for s in range(0, k, step):
        h = lr_representation(right[:, s:s + step].T, left[:, s:s + step].T)
        out[s:s + step] = norm_ratio(h, n)
    return out


def select_states(mu: np.ndarray, per_side: int, eligible: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Indices of the ``per_side`` lowest-mu then ``per_side`` highest-mu states, and their labels (0 then 1).

    Ties in mu are broken by index (stable sort). ``eligible`` (bool mask) restricts the candidates.
    """
    idx = np.flatnonzero(np.ones(mu.size, bool) if eligible is None else eligible)
    if 2 * per_side > idx.size:
        raise ValueError(f"per_side = {per_side}: needs 2 * per_side <= {idx.size} eligible resonances "
                         f"(at most N/2 per side)")
    order = idx[np.argsort(mu[idx], kind="stable")]
    chosen = np.concatenate([order[:per_side], order[-per_side:]])
    return chosen, np.repeat(np.array([0, 1], np.int8), per_side)


def compute_point(params: dict) -> PointResult:
    """Compute one (N, R) point; ``params`` as produced by ``TribakerConfig.points()``."""
    N, R, S = params["N"], params["R"], params["per_side"]
    res = resonances(N, R)
    mu = norm_ratios(res.right, res.left)
    eligible = np.abs(res.z) > params.get("min_abs_z", 0.0)
    chosen, label = select_states(mu, S, eligible)
    right, left = res.right[:, chosen].T, res.left[:, chosen].T
    image = lr_on_grid(right, left, params["image_size"]).astype(np.float32)
    arrays = {
        "spectrum/z": res.z, "spectrum/decay": res.decay, "spectrum/norm_ratio": mu,
        "states/right": np.ascontiguousarray(right), "states/left": np.ascontiguousarray(left),
        "states/z": res.z[chosen], "states/norm_ratio": mu[chosen], "states/label": label,
        "states/index": chosen.astype(np.int32), "states/image": image,
    }
    attrs = {"N": int(N), "R": float(R), "closed": bool(R == 1.0), "per_side": int(S),
             "mu_localized_max": float(mu[chosen[:S]].max()), "mu_delocalized_min": float(mu[chosen[S:]].min())}
    return PointResult(arrays, attrs)
