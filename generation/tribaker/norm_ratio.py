"""Phase-space norm ratio (participation ratio in units of a coherent state), ``docs/tribaker.md`` §4 (norm ratio).

For a phase-space image ``h`` (Husimi or LR representation) on a grid,

    mu[h] = (||h||_1 / ||h||_2)^2 / (||h_cs||_1 / ||h_cs||_2)^2,      ||h||_g = (sum_grid |h|^g)^(1/g)

with ``h_cs`` the Husimi function of a coherent state (``2 pi hbar = 1/N``, width ``(4 pi N)^-1/2``). The reference
``(||h_cs||_1/||h_cs||_2)^2`` equals ``2N`` exactly on the N x N lattice ``((a+1/2)/N, (b+1/2)/N)`` and
``2 Mq Mp / N`` on an Mq x Mp grid of cell centres (up to exponentially small aliasing when the grid is coarser
than the coherent state). The **squared** ratio is used: ``mu = 1`` for a coherent state (anywhere on the torus),
``mu = N/2`` for the uniform distribution (the maximum), ``~N/4`` for random states. ``mu`` is invariant under
``h -> c h``.
"""

from __future__ import annotations

import numpy as np

from qchaos.errors import ParameterError

from .propagator import check_positive_int

__all__ = ["coherent_reference", "norm_ratio"]


def coherent_reference(N, Mq: int | None = None, Mp: int | None = None) -> float:
    """``(||h_cs||_1/||h_cs||_2)^2 = 2 Mq Mp / N`` for dimension N on an Mq x Mp grid (default the N x N lattice)."""
    n = check_positive_int(N)
    mq = n if Mq is None else check_positive_int(Mq, "Mq")
    mp = mq if Mp is None else check_positive_int(Mp, "Mp")
    return 2.0 * mq * mp / n


def norm_ratio(h, N=None) -> np.ndarray:
    """Squared, coherent-state normalized norm ratio of phase-space images.

    Parameters:
        h: images, shape (..., Mq, Mp) (index order [..., q, p]); the modulus ``|h|`` is used.
        N: Hilbert-space dimension the images belong to (sets the coherent-state width); default ``Mq``, i.e.
            the images are on the N x N lattice. Required when the grid is not square.

    Returns:
        float64 of shape ``h.shape[:-2]`` (a 0-d array for one image); ``nan`` for an all-zero image.
    """
    a = np.abs(np.asarray(h))
    if a.ndim < 2:
        raise ParameterError(f"h: must have shape (..., Mq, Mp), got {a.shape}")
    mq, mp = a.shape[-2:]
    if N is None:
        if mq != mp:
            raise ParameterError(f"N: must be given for a non-square grid {mq} x {mp}")
        N = mq
    ref = coherent_reference(N, mq, mp)
    a = a.astype(np.float64, copy=False)
    l1 = a.sum(axis=(-2, -1))
    l2sq = (a * a).sum(axis=(-2, -1))
    with np.errstate(divide="ignore", invalid="ignore"):
        return l1 * l1 / l2sq / ref
