"""Wavefunctions of eigenstates on a uniform P x P grid, batched.

``psi(x1, x2) = sum_a c_a 2 sin(n_a pi x1) sin(m_a pi x2)`` on the cell centres ``x_i = (i + 1/2) / P``
(``docs/twobody.md`` §5 (CNN dataset)), evaluated for a batch of states as one matrix product ``psi_k = 2 S1^T C_k S2`` with
``S1[n, i] = sin(n pi x_i)``, ``S2[m, j] = sin(m pi x_j)`` and ``C_k[n, m]`` the coefficients of state k.

Index order of an image: ``psi[k, i, j] = psi_k(x1 = x_i, x2 = x_j)`` (rows: light atom, columns: heavy atom).
The continuum normalisation ``int |psi|^2 dx1 dx2 = 1`` gives ``mean(psi**2) ~= 1`` on the grid.
The probability density is ``psi**2``.
"""

from __future__ import annotations

import numpy as np

from qchaos.errors import ParameterError

from .basis import Basis


def grid(size: int) -> np.ndarray:
    """Cell-centre grid ``x_i = (i + 1/2) / size``, shape (size,)."""
    if isinstance(size, bool) or int(size) != size or size < 2:
        raise ParameterError(f"image_size = {size}: must be an integer >= 2")
    return (np.arange(int(size)) + 0.5) / int(size)


def fix_sign(vectors: np.ndarray) -> np.ndarray:
    """Deterministic sign of eigenvectors (rows).

    The largest-magnitude coefficient is made positive (among coefficients equal in size to 1e-6, the first one).
    """
    vectors = np.asarray(vectors)
    mag = np.abs(vectors)
    # the first coefficient within 1e-6 of the largest: robust to rounding when two are equal in size (eta = 1)
    first = np.argmax(mag >= (1 - 1e-6) * mag.max(axis=1, keepdims=True), axis=1)
    pivot = vectors[np.arange(vectors.shape[0]), first]
    return vectors * np.where(pivot < 0, -1.0, 1.0)[:, None]


def wavefunction_images(basis: Basis, coefficients: np.ndarray, size: int, chunk: int = 256,
                        dtype=np.float32) -> np.ndarray:
    """Signed wavefunctions on the size x size grid.

    Args:
        basis: the basis the coefficients refer to.
        coefficients: (k, dim) float64 eigenvector coefficients (rows are states).
        size: grid points per axis (P).
        chunk: states per batched product (bounds memory at chunk * n_max * m_max doubles).
    Returns:
        (k, size, size) array of psi values, index order [state, x1, x2].
    """
    x = grid(size)
    coefficients = np.atleast_2d(np.asarray(coefficients, dtype=np.float64))
    if coefficients.shape[1] != basis.dim:
        raise ParameterError(f"coefficients: expected {basis.dim} columns (the basis size), got {coefficients.shape[1]}")
    n_max, m_max = int(basis.n.max()), int(basis.m.max())
    s1 = np.sin(np.pi * np.outer(np.arange(1, n_max + 1), x))  # (n_max, P)
    s2 = np.sin(np.pi * np.outer(np.arange(1, m_max + 1), x))  # (m_max, P)
    out = np.empty((coefficients.shape[0], x.size, x.size), dtype=dtype)
    for start in range(0, coefficients.shape[0], chunk):
        c = coefficients[start:start + chunk]
        grid_c = np.zeros((c.shape[0], n_max, m_max))
        grid_c[:, basis.n - 1, basis.m - 1] = c
        out[start:start + chunk] = 2.0 * (s1.T @ grid_c @ s2)
    return out


def wavefunction_image_loop(basis: Basis, coefficients: np.ndarray, size: int) -> np.ndarray:
    """Reference implementation: one state and one basis function at a time (for tests and benchmarks only)."""
    x = grid(size)
    out = np.zeros((coefficients.shape[0], size, size))
    for k, c in enumerate(np.atleast_2d(coefficients)):
        for a in np.flatnonzero(c):
            out[k] += 2.0 * c[a] * np.outer(np.sin(basis.n[a] * np.pi * x), np.sin(basis.m[a] * np.pi * x))
    return out
