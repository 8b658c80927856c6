"""The two-atom Hamiltonian of one parity block as a diagonal plus a low-rank update.

``H = D + g U W U^T`` (``docs/twobody.md`` §11 (low rank)) with ``D = diag(E0)`` (dim,), ``U`` (dim, F) two entries +-1 per row and
``W = diag(w)`` (F,). Everything here is O(dim) or O(F^3) per call, never O(dim^2):

* ``matvec``: ``H x``;
* ``schur(s)``: ``S(s) = (g W)^-1 + U^T (D - s)^-1 U`` (F, F);
* ``count_below(s)``: the exact number of eigenvalues of H below s (Sylvester inertia of the bordered matrix:
  ``#{E0 < s} - #{negative eigenvalues of S(s)}`` for g > 0, ``#{E0 < s} + #{positive eigenvalues of S(s)}``
  for g < 0);
* ``shift_invert(s)``: ``(H - s)^-1`` as a LinearOperator through the Woodbury identity, O(dim + F^2) per vector;
* ``horizontal``: the exact g-independent eigenvectors (degenerate E0 groups whose traces cancel on x1 = x2).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

import numpy as np
import scipy.linalg as sla
import scipy.sparse as sp
import scipy.sparse.linalg as spla

from qchaos.errors import ParameterError

from .basis import Basis

_POLE_RTOL = 1e-9


@dataclass(frozen=True)
class Horizontal:
    """Exact g-independent eigenvectors of one block.

    Attributes:
        energy: (h,) eigenvalues (= E0 of their degenerate group), ascending.
        vectors: sparse (dim, h) orthonormal columns, each supported on one degenerate group, with U^T v = 0.
    """

    energy: np.ndarray
    vectors: sp.csc_matrix


class BlockHamiltonian:
    """``H = diag(e0) + g U W U^T`` for one parity block (or any sub-basis closed under the interaction).

    Args:
        basis: the block's basis (``Basis.block(...)``); the basis must be a single parity block.
        g: contact interaction strength (units hbar = L = mu = 1).
    """

    def __init__(self, basis: Basis, g: float):
        if basis.dim and np.unique(basis.parity).size > 1:
            raise ParameterError("basis: BlockHamiltonian needs a single parity block (use Basis.block)")
        if not np.isfinite(g):
            raise ParameterError(f"g = {g}: the interaction strength must be a finite number")
        self.basis = basis
        self.g = float(g)
        self.d = basis.e0
        self.cols = basis.trace_columns
        self.w = basis.weights
        self.F = self.w.size

    @property
    def dim(self) -> int:
        return self.basis.dim

    # -- dense and matrix-free products ---------------------------------------------------------------------------
    def dense(self) -> np.ndarray:
        """H as a dense float64 (dim, dim) array (for small blocks and baselines)."""
        h = (self.g * self.basis.interaction()).toarray()
        h[np.diag_indices(self.dim)] += self.d
        return h

    @cached_property
    def _u(self) -> sp.csr_matrix:
        return self.basis.trace_matrix()

    @cached_property
    def _ut(self) -> sp.csr_matrix:
        return self._u.T.tocsr()

    def trace_coeffs(self, x: np.ndarray) -> np.ndarray:
        """``U^T x`` for x of shape (dim,) or (dim, k) -> (F,) or (F, k)."""
        return self._ut @ x

    def expand(self, c: np.ndarray) -> np.ndarray:
        """``U c`` for c of shape (F,) or (F, k) -> (dim,) or (dim, k)."""
        return self._u @ c

    def matvec(self, x: np.ndarray) -> np.ndarray:
        """``H x`` in O(dim) for x of shape (dim,) or (dim, k)."""
        wc = self.trace_coeffs(x) * (self.g * self.w).reshape((-1,) + (1,) * (x.ndim - 1))
        return self.d.reshape((-1,) + (1,) * (x.ndim - 1)) * x + self.expand(wc)

    # -- Schur complement, counting and shift-invert --------------------------------------------------------------
    def _check_shift(self, s: float) -> None:
        if self.dim and np.min(np.abs(self.d - s)) <= _POLE_RTOL * max(1.0, abs(s)):
            raise ValueError(f"shift s = {s} coincides with a non-interacting energy (pole of S(s)); move it")

    def schur(self, s: float) -> np.ndarray:
        """``S(s) = (g W)^-1 + U^T (D - s)^-1 U``, symmetric (F, F). Requires g != 0 and s not in E0."""
        self._check_shift(s)
        r = 1.0 / (self.d - s)
        c0, c1 = self.cols[:, 0], self.cols[:, 1]
        F = self.F
        flat = np.concatenate([c0 * F + c0, c1 * F + c1, c0 * F + c1, c1 * F + c0])
        vals = np.concatenate([r, r, -r, -r])
        S = np.bincount(flat, weights=vals, minlength=F * F).reshape(F, F)
        S[np.diag_indices(F)] += 1.0 / (self.g * self.w)
        return S

    def count_below(self, s: float) -> int:
        """Exact number of eigenvalues of H strictly below s (s must not be an E0 or an eigenvalue of H)."""
        n0 = int(np.searchsorted(self.d, s))
        if self.g == 0.0:
            return n0
        mu = np.linalg.eigvalsh(self.schur(s))
        return n0 - int(np.sum(mu < 0)) if self.g > 0 else n0 + int(np.sum(mu > 0))

    def shift_invert(self, s: float, project: sp.spmatrix | None = None) -> spla.LinearOperator:
        """The operator ``(H - s)^-1`` via Woodbury.

        With ``project`` (sparse orthonormal columns Q) the operator is ``P (H - s)^-1 P`` with ``P = 1 - Q Q^T``
        (Q must span an invariant subspace of H).
        """
        dinv = (1.0 / (self.d - s))[:, None]
        lu = None if self.g == 0.0 else sla.lu_factor(self.schur(s), check_finite=False)
        q = qt = None
        if project is not None and project.shape[1]:
            q, qt = project.tocsr(), project.T.tocsr()  # built once: the operator runs thousands of times

        def apply(x):
            x = np.asarray(x, dtype=np.float64).reshape(self.dim, -1)
            if q is not None:
                x = x - q @ (qt @ x)
            y = dinv * x
            if lu is not None:
                y -= dinv * self.expand(sla.lu_solve(lu, self.trace_coeffs(y), check_finite=False))
            if q is not None:  # Q is invariant, so once is exact; twice keeps rounding out of the deflated space
                y -= q @ (qt @ y)
            return y

        return spla.LinearOperator((self.dim, self.dim), matvec=apply, matmat=apply, dtype=np.float64)

    # -- exact g-independent states -------------------------------------------------------------------------------
    @cached_property
    def horizontal(self) -> Horizontal:
        """Eigenvectors that do not feel the interaction.

        Within each degenerate E0 group, the null space of the group's rows of U (their diagonal traces cancel).
        Exact for every g (D6 triples at eta = 1/3, exchange-antisymmetric states at eta = 1).
        """
        d = self.d
        if self.dim < 2:
            return Horizontal(np.zeros(0), sp.csc_matrix((self.dim, 0)))
        new = np.concatenate([[True], np.diff(d) > 1e-12 * d[1:]])
        starts = np.flatnonzero(new)
        sizes = np.diff(np.append(starts, self.dim))
        energies, rows, cols, vals = [], [], [], []
        for start, size in zip(starts[sizes > 1], sizes[sizes > 1]):
            idx = np.arange(start, start + size)
            used, local = np.unique(self.cols[idx], return_inverse=True)  # only the group's own frequencies
            local = local.reshape(size, 2)
            block = np.zeros((size, used.size))
            block[np.arange(size), local[:, 0]] += 1.0
            block[np.arange(size), local[:, 1]] -= 1.0
            null = sla.null_space(block.T)
            for k in range(null.shape[1]):
                v = null[:, k]
                keep = np.abs(v) > 1e-14
                rows.append(idx[keep])
                vals.append(v[keep])
                cols.append(np.full(keep.sum(), len(energies)))
                energies.append(d[start])
        if not energies:
            return Horizontal(np.zeros(0), sp.csc_matrix((self.dim, 0)))
        q = sp.csc_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(cols))), shape=(self.dim, len(energies))
        )
        return Horizontal(np.asarray(energies), q)
