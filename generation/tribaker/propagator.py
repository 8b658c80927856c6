"""Quantum and classical tribaker map, closed (R = 1) or with a partially reflecting opening (0 <= R < 1).

Conventions (``docs/tribaker.md`` §1-2):

* Phase space is the unit torus, Hilbert-space dimension ``N = 1/(2 pi hbar)``, i.e. ``2 pi hbar = 1/N``;
  ``N`` must be a positive multiple of 3 for the map (three blocks of size ``N/3``).
* Antiperiodic boundary conditions, Floquet angles ``chi_q = chi_p = 1/2``: position and momentum bases
  ``|q_j> = |(j + 1/2)/N>``, ``|p_k> = |(k + 1/2)/N>``, ``j, k = 0 .. N-1``.
* Vectors are position amplitudes ``psi_j = <q_j|psi>`` on the **last** axis (leading axes are a batch).
* Discrete Fourier matrix ``(G_N)_{kj} = <p_k|q_j> = N^(-1/2) exp(-2 pi i (k + 1/2)(j + 1/2)/N)``: symmetric and
  unitary, ``G_N^-1 = G_N^H = conj(G_N)``.
* Closed map ``U_B = G_N^-1 diag(G_{N/3}, G_{N/3}, G_{N/3})`` (block diagonal, position representation).
* Opening: the middle strip ``O = {1/3 < q < 2/3}`` (indices ``N/3 <= j < 2N/3``) reflects the amplitude with
  ``sqrt(R)`` (the probability with ``R``): ``P_R = diag(1, sqrt(R) 1, 1)`` and ``U = U_B P_R``. ``R = 1`` is the
  closed unitary map, ``R = 0`` the fully open map ``G_N^* diag(G_{N/3}, 0, G_{N/3})``.

All functions are pure: arrays in, new arrays out, float64 / complex128.
"""

from __future__ import annotations

import numbers

import numpy as np
import scipy.fft

from qchaos.errors import ParameterError

__all__ = [
    "check_dimension",
    "check_reflectivity",
    "fourier_matrix",
    "tribaker",
    "apply_tribaker",
    "classical_map",
]


def _as_int(value, name: str, accepted: str) -> int:
    """``value`` as a Python int, or ``ValueError`` naming ``name``, the value and ``accepted``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        if isinstance(value, numbers.Real) and not isinstance(value, bool) and float(value).is_integer():
            return int(value)
        raise ParameterError(f"{name} = {value!r}: must be {accepted}")
    return int(value)


def check_positive_int(N, name: str = "N") -> int:
    """Return ``N`` as an int if it is a positive integer, else raise ``ValueError`` naming ``name``."""
    accepted = "a positive integer (N >= 1)"
    n = _as_int(N, name, accepted)
    if n < 1:
        raise ParameterError(f"{name} = {N!r}: must be {accepted}")
    return n


def check_dimension(N) -> int:
    """Return ``N`` as an int if it is a valid tribaker dimension (positive multiple of 3).

    Raises ``ValueError`` naming ``N``, its value and the accepted range otherwise (``N = 31``, ``N = 0``,
    ``N = 4.5``, ...). Integral floats such as ``30.0`` are accepted.
    """
    accepted = "a positive integer multiple of 3 (N = 3, 6, 9, ...)"
    n = _as_int(N, "N", accepted)
    if n < 3 or n % 3:
        raise ParameterError(f"N = {N!r}: the Hilbert-space dimension must be {accepted}")
    return n


def check_reflectivity(R) -> float:
    """Return ``R`` as a float if ``0 <= R <= 1``, else raise ``ValueError`` naming ``R`` and the range."""
    try:
        r = float(R)
    except (TypeError, ValueError) as exc:
        raise ParameterError(f"R = {R!r}: the reflectivity must be a number with 0 <= R <= 1") from exc
    if not (0.0 <= r <= 1.0):  # also rejects NaN
        raise ParameterError(f"R = {R!r}: the reflectivity must satisfy 0 <= R <= 1 (R = 1 is the closed map)")
    return r


def fourier_matrix(N) -> np.ndarray:
    """Antiperiodic discrete Fourier matrix ``G_N``, complex128 of shape (N, N).

    ``(G_N)_{kj} = <p_k|q_j> = N^(-1/2) exp(-2 pi i (k + 1/2)(j + 1/2)/N)``, row index ``k`` (momentum), column
    index ``j`` (position). Symmetric and unitary. Any positive integer ``N`` is accepted (the map's blocks use
    ``N/3``).
    """
    n = check_positive_int(N)
    x = np.arange(n, dtype=np.float64) + 0.5
    # reduce the phase (k+1/2)(j+1/2)/N modulo 1 exactly-ish before multiplying by 2 pi (keeps ~1e-16 phases)
    phase = np.mod(np.outer(x, x), n) / n
    return np.exp(-2j * np.pi * phase) / np.sqrt(n)


def _opening_diag(N: int, R: float) -> np.ndarray:
    """Diagonal of ``P_R`` in the position basis, shape (N,): 1, sqrt(R) on ``N/3 <= j < 2N/3``, 1."""
    m = N // 3
    d = np.ones(N, dtype=np.float64)
    d[m : 2 * m] = np.sqrt(R)
    return d


def check_dense_size(n: int, matrices: float, subject: str) -> None:
    """Refuse an ``N`` whose dense ``N x N`` arrays would not fit the memory limit.

    ``ParameterError`` naming ``N``, the estimate and the largest accepted N if ``matrices`` dense complex
    ``N x N`` arrays (16 N^2 bytes each) need more memory than :func:`qchaos.limits.max_bytes`.
    """
    from qchaos.limits import check_memory, max_bytes

    estimate = matrices * 16.0 * float(n) ** 2
    if not estimate <= max_bytes():
        top = int((max_bytes() / (matrices * 16.0)) ** 0.5) // 3 * 3
        check_memory(estimate, f"N = {n}", "--N", subject=subject,
                     accepted=f"N <= {top} (dense, O(N^2) memory); for large N use the sampled resonances "
                              "(generation.tribaker.sampling, preset largeN)")


def tribaker(N, R=1.0) -> np.ndarray:
    """Dense tribaker propagator ``U = G_N^-1 diag(G_{N/3}, sqrt(R) G_{N/3}, G_{N/3})``, complex128 (N, N).

    Position representation, ``U[i, j] = <q_i|U|q_j>``, so ``psi' = U @ psi``. For ``R = 1`` this is the closed,
    unitary ``U_B``; for ``R < 1`` it is ``U_B P_R`` (projector applied first), with ``|z| <= 1``.

    Parameters:
        N: positive multiple of 3.
        R: reflectivity of the opening ``1/3 < q < 2/3``, ``0 <= R <= 1``.
    """
    n = check_dimension(N)
    r = check_reflectivity(R)
    check_dense_size(n, 4, "the dense propagator")  # U, G_N^-1, the phases and a block product
    m = n // 3
    g_inv = fourier_matrix(n).conj()  # G_N^-1 = conj(G_N) (symmetric)
    g = fourier_matrix(m)
    d = _opening_diag(n, r)
    u = np.empty((n, n), dtype=np.complex128)
    for b in range(3):
        blk = slice(b * m, (b + 1) * m)
        u[:, blk] = (g_inv[:, blk] @ g) * d[blk][None, :]
    return u


def _fourier_apply(x: np.ndarray, inverse: bool) -> np.ndarray:
    """``G_n x`` (or ``G_n^-1 x``) on the last axis of ``x`` by one FFT, O(n log n).

    ``(G x)_k = e^{-i pi (k+1/2)/n} FFT_ortho[e^{-i pi j/n} x_j]_k`` and the conjugate twiddles with the inverse FFT.
    """
    n = x.shape[-1]
    k = np.arange(n, dtype=np.float64)
    sign = 1.0 if inverse else -1.0
    pre = np.exp(sign * 1j * np.pi * k / n)
    post = np.exp(sign * 1j * np.pi * (k + 0.5) / n)
    if inverse:
        return scipy.fft.ifft(x * pre, axis=-1, norm="ortho") * post
    return scipy.fft.fft(x * pre, axis=-1, norm="ortho") * post


def apply_tribaker(psi, R=1.0, *, adjoint: bool = False) -> np.ndarray:
    """Apply the tribaker propagator (or its adjoint) matrix-free, O(N log N) per vector.

    ``U psi = G_N^-1 [G_{N/3} (psi_0), sqrt(R) G_{N/3} (psi_1), G_{N/3} (psi_2)]`` where ``psi_b`` are the three
    position blocks of length ``N/3``; every Fourier matrix is one FFT with antiperiodic twiddles. Equal to
    ``tribaker(N, R) @ psi`` to rounding (~1e-15).

    Parameters:
        psi: position amplitudes, shape (..., N) with N = psi.shape[-1] a positive multiple of 3; leading axes
            are a batch (a matrix of column vectors must be transposed: ``apply_tribaker(X.T, R).T``).
        R: reflectivity, ``0 <= R <= 1``.
        adjoint: apply ``U^H = P_R diag(G_{N/3}^H, ...) G_N`` instead (its eigenvectors are the left
            eigenvectors of ``U``).

    Returns:
        complex128 array of the same shape as ``psi``.
    """
    x = np.asarray(psi, dtype=np.complex128)
    if x.ndim == 0:
        raise ParameterError("psi: must have at least one axis (position index on the last axis)")
    n = check_dimension(x.shape[-1])
    r = check_reflectivity(R)
    m = n // 3
    d = _opening_diag(n, r)
    lead = x.shape[:-1]
    if not adjoint:
        y = _fourier_apply(x.reshape(*lead, 3, m), inverse=False).reshape(*lead, n) * d
        return _fourier_apply(y, inverse=True)
    y = _fourier_apply(x, inverse=False)
    return _fourier_apply(y.reshape(*lead, 3, m), inverse=True).reshape(*lead, n) * d


def classical_map(q, p) -> tuple[np.ndarray, np.ndarray]:
    """Classical tribaker map ``B(q, p) = (3q - k, (p + k)/3)`` with ``k = floor(3q)`` in {0, 1, 2}.

    Inputs are taken modulo 1 (points on the unit torus) and broadcast; returns float64 arrays ``(q', p')`` in
    ``[0, 1)``. Expansion by 3 in q, contraction by 1/3 in p (Lyapunov exponent ln 3). The opening
    ``1/3 < q < 2/3`` (k = 1) maps onto the horizontal strip ``1/3 < p' < 2/3``.
    """
    q = np.mod(np.asarray(q, dtype=np.float64), 1.0)
    p = np.mod(np.asarray(p, dtype=np.float64), 1.0)
    k = np.clip(np.floor(3.0 * q), 0.0, 2.0)
    q_new = np.mod(3.0 * q - k, 1.0)
    p_new = np.mod((p + k) / 3.0, 1.0)
    return q_new, p_new
