"""Eigenvalues and eigenvectors of one parity block by index range: dense LAPACK/torch, or spectrum slicing.

Spectrum slicing (``method="slice"``) uses the structure ``H = D + g U W U^T`` (``docs/twobody.md`` §11 (low rank)):

1. slice boundaries are placed between distinct non-interacting energies (never on a pole of S(s)), and the exact
   Sylvester count of eigenvalues below each boundary tells how many eigenvalues every slice holds;
2. the exact g-independent ("horizontal") eigenvectors are deflated analytically;
3. each slice is solved by ARPACK Lanczos in shift-invert mode with the O(dim + F^2) Woodbury operator, and the
   number found is checked against the count: a slice is never silently incomplete.

Cost: O(dim * F) setup, O(dim * window) per eigenvalue, against O(dim^3) for dense diagonalisation.
Block indices ``k`` are 0-based positions in the block's ascending spectrum.
"""

from __future__ import annotations

import os
from functools import cache

import numpy as np
import scipy.linalg as sla
import scipy.sparse.linalg as spla

from qchaos.errors import ParameterError

from .hamiltonian import BlockHamiltonian

METHODS = ("auto", "dense", "slice", "torch")
_DENSE_DIM = 1200


@cache
def _torch_cuda():
    """torch, if a CUDA device is present (probed once per process), else None.

    torch is imported only when the machine shows an NVIDIA device, so CPU-only workers do not pay its import.
    """
    if not (os.path.exists("/dev/nvidiactl") or os.environ.get("CUDA_VISIBLE_DEVICES")):
        return None
    try:
        import torch
    except ImportError:  # pragma: no cover - torch is a dependency, but the physics does not need it
        return None
    return torch if torch.cuda.is_available() else None


def dense_eigh(ham: BlockHamiltonian, k_lo: int, k_hi: int, vectors: bool = False):
    """Block eigenpairs ``k_lo <= k < k_hi`` by dense diagonalisation (torch on a GPU when present, else LAPACK).

    Returns ``(energies (k_hi-k_lo,), vectors (dim, k_hi-k_lo) or None)``.
    """
    h = ham.dense()
    torch = _torch_cuda()
    if torch is not None:
        t = torch.as_tensor(h, device="cuda")
        if vectors:
            e, v = torch.linalg.eigh(t)
            return e[k_lo:k_hi].cpu().numpy(), v[:, k_lo:k_hi].cpu().numpy()
        return torch.linalg.eigvalsh(t)[k_lo:k_hi].cpu().numpy(), None
    if vectors:
        e, v = sla.eigh(h, subset_by_index=[k_lo, k_hi - 1], driver="evr", check_finite=False)
        return e, v
    if k_hi - k_lo > 0.3 * ham.dim:
        return sla.eigvalsh(h, driver="evd", check_finite=False)[k_lo:k_hi], None
    return sla.eigvalsh(h, subset_by_index=[k_lo, k_hi - 1], driver="evr", check_finite=False), None


def torch_eigvalsh(h: np.ndarray) -> np.ndarray:
    """All eigenvalues (ascending) of a dense symmetric float64 array by ``torch.linalg.eigvalsh``.

    Computed in double precision: on the GPU when CUDA is available, else on the CPU (the same code path, for checks
    and benchmarks). Raises ``EnvironmentFault`` when torch is not installed.
    """
    try:
        import torch
    except ImportError as exc:  # pragma: no cover - torch is a dependency of the project
        from qchaos.errors import EnvironmentFault
        raise EnvironmentFault("method = 'torch': torch is not installed (pip install torch)") from exc
    device = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.linalg.eigvalsh(torch.as_tensor(h, dtype=torch.float64, device=device)).cpu().numpy()


def dense_eigvalsh(h: np.ndarray, k: int, torch: bool = False) -> np.ndarray:
    """The ``k`` lowest eigenvalues of a dense symmetric (dim, dim) float64 array, ascending, shape (k,).

    LAPACK (``evd`` for most of the spectrum, ``evr`` for a few), or torch double precision with ``torch=True``
    (:func:`torch_eigvalsh`; also picked by ``block_eigh`` when a CUDA device is present).
    """
    if torch:
        return torch_eigvalsh(h)[:k]
    if k > 0.3 * h.shape[0]:
        return sla.eigvalsh(h, driver="evd", check_finite=False, overwrite_a=True)[:k]
    return sla.eigvalsh(h, subset_by_index=[0, k - 1], driver="evr", check_finite=False, overwrite_a=True)


class _Slicer:
    """Boundaries between distinct E0 values and the exact counts below them."""

    def __init__(self, ham: BlockHamiltonian):
        self.ham = ham
        d = ham.d
        # candidate boundaries: midpoints of gaps between consecutive distinct E0 (plus one below and one above)
        gap = np.flatnonzero(np.diff(d) > 1e-9 * d[1:]) + 1  # index of the first state above each gap
        self.gap_index = np.concatenate([[0], gap, [ham.dim]])
        upper = d[-1] + abs(ham.g) * self._vmax() + 1.0
        self.points = np.concatenate([[d[0] - 1.0], 0.5 * (d[gap - 1] + d[gap]), [upper]])
        self._counts: dict[int, int] = {0: 0, len(self.points) - 1: ham.dim}

    def _vmax(self) -> float:
        """Largest eigenvalue of V = U W U^T (an upper bound of the interaction energy per unit g)."""
        ham = self.ham
        u = ham._u
        gram = (u.T @ u).toarray() * np.sqrt(np.outer(ham.w, ham.w))
        return float(np.linalg.eigvalsh(gram)[-1])

    def count(self, i: int) -> int:
        if i not in self._counts:
            self._counts[i] = self.ham.count_below(self.points[i])
        return self._counts[i]

    def search(self, k: int, below: bool) -> int:
        """Boundary index i: the largest with count <= k (below=True) or the smallest with count >= k."""
        lo, hi = 0, len(self.points) - 1
        while hi - lo > 1:
            mid = (lo + hi) // 2
            c = self.count(mid)
            if (c <= k) if below else (c < k):
                lo = mid
            else:
                hi = mid
        return lo if below else hi


def _solve_slice(ham, s_lo, s_hi, n_expect, horizontal, vectors, seed, tol=1e-10, ncv_factor=3.0):
    """Eigenpairs of H in [s_lo, s_hi) that are not horizontal; n_expect of them (from the counts)."""
    if n_expect == 0:
        return np.zeros(0), (np.zeros((ham.dim, 0)) if vectors else None)
    dim_eff = ham.dim - horizontal.energy.size
    d = ham.d
    # shift: the midpoint of the widest E0 gap near the slice centre (keeps the Woodbury factor well conditioned)
    centre = 0.5 * (s_lo + s_hi)
    j = np.clip(np.searchsorted(d, centre), 1, ham.dim - 1)
    cand = np.arange(max(1, j - 3), min(ham.dim, j + 4))
    widths = d[cand] - d[cand - 1]
    pick = cand[np.argmax(widths)]
    sigma = 0.5 * (d[pick - 1] + d[pick]) if s_lo < d[pick - 1] and d[pick] < s_hi else centre
    if np.min(np.abs(d - sigma)) < 1e-9 * max(1.0, abs(sigma)):
        sigma = centre + 1e-3 * (s_hi - s_lo)
    q = horizontal.vectors if horizontal.energy.size else None
    op = ham.shift_invert(sigma, project=q)
    a = spla.LinearOperator((ham.dim, ham.dim), matvec=ham.matvec, dtype=np.float64)
    rng = np.random.default_rng(seed)
    nev = n_expect + 6
    for attempt in range(4):
        nev = min(nev, dim_eff - 1)
        v0 = rng.standard_normal(ham.dim)
        if q is not None:
            v0 -= q @ (q.T @ v0)
        ncv = min(dim_eff, max(int(ncv_factor * nev) + 1, nev + 24))
        # tol is relative on 1/(E - sigma): 1e-10 gives energies to ~1e-12 relative (checked against dense)
        out = spla.eigsh(a, k=nev, sigma=sigma, which="LM", OPinv=op, v0=v0, ncv=ncv, tol=tol,
                         return_eigenvectors=vectors)
        e, v = out if vectors else (out, None)
        keep = (e >= s_lo) & (e < s_hi)
        if keep.sum() == n_expect:
            order = np.argsort(e[keep])
            return e[keep][order], (v[:, keep][:, order] if vectors else None)
        nev = nev + n_expect + 8
    raise RuntimeError(
        f"spectrum slicing found {int(keep.sum())} of {n_expect} eigenvalues in [{s_lo}, {s_hi}); "
        "use method='dense' for this block"
    )


def slice_eigh(ham: BlockHamiltonian, k_lo: int, k_hi: int, vectors: bool = False, window: int = 20,
               seed: int = 0):
    """Block eigenpairs ``k_lo <= k < k_hi`` by spectrum slicing (see module docstring).

    Args:
        window: target number of eigenvalues per slice (Lanczos cost per eigenvalue grows with it).
        seed: seed of the Lanczos start vectors (results agree to ~1e-12 for any seed).

    Returns ``(energies (k_hi-k_lo,), vectors (dim, k_hi-k_lo) or None)``. Only valid for g >= 0.
    """
    if ham.g < 0:
        raise ParameterError(f"g = {ham.g}: spectrum slicing supports g >= 0; use method='dense'")
    sl = _Slicer(ham)
    i_lo, i_hi = sl.search(k_lo, below=True), sl.search(k_hi, below=False)
    # interior boundaries roughly every `window` eigenvalues (E0 index as a proxy), refined where crowded
    gi = sl.gap_index
    targets = np.arange(gi[i_lo] + window, gi[i_hi], window)
    bounds = sorted({i_lo, i_hi, *np.searchsorted(gi, targets).tolist()})
    bounds = [b for b in bounds if i_lo <= b <= i_hi]
    hz = ham.horizontal
    energies, vecs = [], []
    stack = list(zip(bounds[:-1], bounds[1:]))[::-1]
    while stack:
        a, b = stack.pop()
        n_all = sl.count(b) - sl.count(a)
        s_lo, s_hi = sl.points[a], sl.points[b]
        in_h = (hz.energy >= s_lo) & (hz.energy < s_hi)
        n_expect = n_all - int(in_h.sum())
        if n_expect > 2 * window and b - a > 1:
            mid = (a + b) // 2
            stack.extend([(mid, b), (a, mid)])
            continue
        e, v = _solve_slice(ham, s_lo, s_hi, n_expect, hz, vectors, seed + a)
        if in_h.any():
            e = np.concatenate([e, hz.energy[in_h]])
            if vectors:
                v = np.concatenate([v, hz.vectors[:, np.flatnonzero(in_h)].toarray()], axis=1)
            order = np.argsort(e, kind="stable")
            e = e[order]
            v = v[:, order] if vectors else v
        energies.append(e)
        if vectors:
            vecs.append(v)
    e = np.concatenate(energies)
    first = sl.count(i_lo)
    sel = slice(k_lo - first, k_hi - first)
    return e[sel], (np.concatenate(vecs, axis=1)[:, sel] if vectors else None)


def block_eigh(ham: BlockHamiltonian, k_lo: int, k_hi: int, vectors: bool = False, method: str = "auto",
               seed: int = 0):
    """Eigenpairs ``k_lo <= k < k_hi`` of one block, ascending.

    ``method``: ``"dense"`` (LAPACK, or torch on a GPU when present), ``"slice"`` (low-rank spectrum slicing) or
    ``"auto"`` (dense for small blocks or when most of the spectrum is wanted, slicing otherwise).
    Returns ``(energies (k,), vectors (dim, k) or None)``.
    """
    if method not in METHODS:
        raise ParameterError(f"method = {method!r}: must be one of {METHODS}")
    if not 0 <= k_lo <= k_hi <= ham.dim:
        raise ValueError(f"level range [{k_lo}, {k_hi}) is outside the block's 0..{ham.dim} levels")
    if k_hi == k_lo:
        return np.zeros(0), (np.zeros((ham.dim, 0)) if vectors else None)
    if ham.g == 0.0:
        e = ham.d[k_lo:k_hi].copy()
        if not vectors:
            return e, None
        v = np.zeros((ham.dim, k_hi - k_lo))
        v[np.arange(k_lo, k_hi), np.arange(k_hi - k_lo)] = 1.0
        return e, v
    if method == "auto":
        dense = ham.dim <= _DENSE_DIM or ham.g < 0 or _torch_cuda() is not None
        method = "dense" if dense else "slice"
    if method == "torch" and not vectors:
        return torch_eigvalsh(ham.dense())[k_lo:k_hi], None
    if method in ("dense", "torch"):
        return dense_eigh(ham, k_lo, k_hi, vectors)
    return slice_eigh(ham, k_lo, k_hi, vectors, seed=seed)
