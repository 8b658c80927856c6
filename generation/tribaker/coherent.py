"""Torus coherent states, Husimi functions and the LR (left-right) phase-space representation.

Conventions (``docs/tribaker.md`` §3 (coherent states)):

* ``2 pi hbar = 1/N``; antiperiodic boundary conditions ``chi_q = chi_p = 1/2``; position basis
  ``q_j = (j + 1/2)/N``, ``j = 0 .. N-1``; state vectors ``psi_j = <q_j|psi>`` on the **last** axis, leading axes
  are a batch.
* Coherent state centred at ``(q0, p0)`` on the unit torus, symmetric width ``sigma_q = sigma_p = (4 pi N)^-1/2``::

      <q_j|q0,p0> = A sum_nu (-1)^nu exp(-pi N (q_j + nu - q0)^2 + 2 pi i N p0 (q_j + nu))

  with ``A`` fixed numerically (``||.|| = 1``). The ``(-1)^nu`` is what the antiperiodic conditions require.
  Centres are taken modulo 1 (a shift by one period changes only a global phase).
* Phase-space lattice ``q_a = (a + 1/2)/N``, ``p_b = (b + 1/2)/N``; images have index order ``[..., a (q), b (p)]``
  and shape ``(..., N, N)``. On it the resolution of identity is exact: ``sum_ab |<q_a,p_b|psi>|^2 = N ||psi||^2``.
* Husimi ``H(q, p) = |<q,p|psi>|^2``; LR representation ``h(q, p) = |<q,p|R><L|q,p>| / |<L|R>|`` (equal to the
  Husimi function when ``L = R`` is normalized).

Two routes to the overlaps ``<q,p|psi>``:

* :func:`lattice_overlaps` — on the N x N lattice, a short-time Fourier transform: ``<q_a,p_b|psi> =
  A e^{-i pi (b+1/2)/N} FFT_j[ w_a(j) e^{-i pi j/N} psi_j ]_b`` with the real periodized Gaussian window
  ``w_a(j) = sum_nu exp(-pi N ((j - a)/N + nu)^2)``; O(N^2 log N) per state.
* :func:`overlaps` — at arbitrary (off-lattice) centres, with the explicit formula (dense coherent-state matrix,
  O(K N) per state for K centres).
"""

from __future__ import annotations

import numpy as np
import scipy.fft

from qchaos.errors import ParameterError

from .propagator import check_positive_int

__all__ = [
    "n_images",
    "coherent_states",
    "overlaps",
    "lattice_overlaps",
    "husimi",
    "lr_representation",
    "grid_centres",
    "husimi_on_grid",
    "lr_on_grid",
    "resample",
]

_CHUNK_BYTES = 64 * 2**20  # working memory per chunk of the batched lattice transforms
_CS_CHUNK = 2**19  # elements (centres x N) per chunk when building coherent states
_NEGLIGIBLE = 69.0  # skip a periodic image when exp(-pi N d^2) < exp(-69) ~ 1e-30 for every element


def n_images(N: int) -> int:
    """Number ``n`` of periodic images ``nu = -n .. n`` kept in the coherent-state sums.

    For ``|q - q0| < 1`` the omitted images lie at distance ``>= n`` while the nearest lies within 1/2, so they are
    below ``exp(-pi N (n^2 - 1/4)) < 1e-20`` relative when ``n^2 > 14.7/N + 1/4``. At least 2 (``n = 2`` for
    ``N >= 9``, more for smaller N).
    """
    n = check_positive_int(N)
    return max(2, int(np.ceil(np.sqrt(14.7 / n + 0.25))))


def _flat_centres(q0, p0) -> tuple[np.ndarray, np.ndarray, tuple[int, ...]]:
    q0, p0 = np.broadcast_arrays(np.asarray(q0, dtype=np.float64), np.asarray(p0, dtype=np.float64))
    if not (np.all(np.isfinite(q0)) and np.all(np.isfinite(p0))):
        raise ValueError("q0, p0: coherent-state centres must be finite numbers (taken modulo 1)")
    return np.mod(q0.ravel(), 1.0), np.mod(p0.ravel(), 1.0), q0.shape


def coherent_states(N, q0, p0) -> np.ndarray:
    """Normalized torus coherent states ``<q_j|q0,p0>`` for many centres at once.

    Parameters:
        N: positive integer dimension (``2 pi hbar = 1/N``).
        q0, p0: centres, broadcast together to a shape ``S`` (scalars, (K,), (S1, S2), ...); taken modulo 1.

    Returns:
        complex128 array of shape ``S + (N,)`` (``(K, N)`` for K centres), unit norm along the last axis.
    """
    n = check_positive_int(N)
    q0, p0, shape = _flat_centres(q0, p0)
    q = (np.arange(n, dtype=np.float64) + 0.5) / n
    jh = np.arange(n, dtype=np.float64) + 0.5
    nimg = n_images(n)
    out = np.empty((q0.size, n), dtype=np.complex128)
    step = max(1, _CS_CHUNK // n)
    for start in range(0, q0.size, step):  # chunks of centres keep the temporaries in cache
        sl = slice(start, min(start + step, q0.size))
        # 2 pi N p0 (q_j + nu) = 2 pi [p0 (j + 1/2) + nu N p0]; with (-1)^nu the nu-part is nu (frac(N p0) + 1/2)
        ph = np.exp(2j * np.pi * (np.mod(n * p0[sl], 1.0) + 0.5))[:, None]
        d = q[None, :] - q0[sl, None]
        acc = np.zeros(d.shape, dtype=np.complex128)
        for nu in range(-nimg, nimg + 1):
            dn = d + nu
            if np.pi * n * np.min(np.abs(dn)) ** 2 > _NEGLIGIBLE:  # image contributes < 1e-30 everywhere
                continue
            acc += np.exp(-np.pi * n * dn * dn) * ph**nu
        acc *= np.exp(2j * np.pi * np.mod(p0[sl, None] * jh[None, :], 1.0))
        acc /= np.linalg.norm(acc, axis=1, keepdims=True)
        out[sl] = acc
    return out.reshape(*shape, n)


def _as_states(psi, name: str = "psi") -> np.ndarray:
    x = np.asarray(psi, dtype=np.complex128)
    if x.ndim == 0 or x.shape[-1] < 1:
        raise ParameterError(f"{name}: must have shape (..., N) with N >= 1 (position amplitudes on the last axis)")
    return x


def overlaps(psi, q0, p0) -> np.ndarray:
    """Exact overlaps ``<q0,p0|psi>`` at arbitrary centres (explicit coherent states, dense matrix route).

    Parameters:
        psi: states, shape (..., N).
        q0, p0: centres, broadcast to a shape ``S``; modulo 1.

    Returns:
        complex128 of shape ``psi.shape[:-1] + S``. Costs O(K N) per state for K centres plus building the
        (K, N) coherent-state matrix once.
    """
    x = _as_states(psi)
    cs = coherent_states(x.shape[-1], q0, p0)
    return np.tensordot(x, cs.conj(), axes=([-1], [-1]))


def _lattice_window(n: int) -> np.ndarray:
    """Normalized circulant window ``A w_a(j)``, float64 (N, N) [a, j]."""
    q = (np.arange(n, dtype=np.float64) + 0.5) / n
    nimg = n_images(n)
    w = np.zeros((n, n))
    for nu in range(-nimg, nimg + 1):
        d = q[None, :] + nu - q[:, None]
        w += np.exp(-np.pi * n * d * d)
    return w / np.linalg.norm(w[0])


def _lattice_chunks(*states: np.ndarray):
    """Yield ``(slice, (C1, ...))`` with ``C = <q_a,p_b|psi>`` of shape (chunk, N, N) for each input.

    The inputs have equal shapes (..., N); their flattened batches are cut into the same chunks.
    """
    n = states[0].shape[-1]
    flats = [x.reshape(-1, n) for x in states]
    w = _lattice_window(n)
    k = np.arange(n, dtype=np.float64)
    pre = np.exp(-1j * np.pi * k / n)
    post = np.exp(-1j * np.pi * (k + 0.5) / n)
    total = flats[0].shape[0]
    step = max(1, _CHUNK_BYTES // (16 * n * n * len(flats)))
    for start in range(0, total, step):
        sl = slice(start, min(start + step, total))
        cs = []
        for flat in flats:
            y = flat[sl] * pre  # (c, j)
            c = scipy.fft.fft(w[None, :, :] * y[:, None, :], axis=-1)  # (c, a, b)
            c *= post
            cs.append(c)
        yield sl, cs


def lattice_overlaps(psi) -> np.ndarray:
    """Overlaps ``<q_a,p_b|psi>`` on the N x N lattice by FFT (short-time Fourier transform), O(N^2 log N)/state.

    Parameters:
        psi: states, shape (..., N), N = psi.shape[-1] any positive integer.

    Returns:
        complex128 of shape (..., N, N), index order [..., a (q_a = (a+1/2)/N), b (p_b = (b+1/2)/N)]. Equal (phases
        included) to :func:`overlaps` at the lattice centres.
    """
    x = _as_states(psi)
    n = x.shape[-1]
    out = np.empty((int(np.prod(x.shape[:-1], dtype=np.int64)), n, n), dtype=np.complex128)
    for sl, (c,) in _lattice_chunks(x):
        out[sl] = c
    return out.reshape(*x.shape[:-1], n, n)


def husimi(psi) -> np.ndarray:
    """Husimi function ``|<q_a,p_b|psi>|^2`` on the N x N lattice (FFT route), float64 (..., N, N) [q, p].

    Batched over leading axes of ``psi`` (..., N); not normalized beyond ``sum = N ||psi||^2``.
    """
    x = _as_states(psi)
    n = x.shape[-1]
    out = np.empty((int(np.prod(x.shape[:-1], dtype=np.int64)), n, n), dtype=np.float64)
    for sl, (c,) in _lattice_chunks(x):
        out[sl] = c.real**2 + c.imag**2
    return out.reshape(*x.shape[:-1], n, n)


def _lr_check(right, left) -> tuple[np.ndarray, np.ndarray]:
    r = _as_states(right, "right")
    l = _as_states(left, "left")
    if r.shape[-1] != l.shape[-1]:
        raise ValueError(f"right, left: last axes (N) differ: {r.shape[-1]} != {l.shape[-1]}")
    r, l = np.broadcast_arrays(r, l)
    return r, l


def lr_representation(right, left) -> np.ndarray:
    """LR representation ``h(q_a, p_b) = |<q,p|R><L|q,p>| / |<L|R>|`` on the N x N lattice (FFT route).

    Parameters:
        right, left: right and left eigenvectors with the position index on the **last** axis, shape (..., N),
            broadcast together (for :class:`~generation.tribaker.resonances.Resonances` pass ``res.right.T``,
            ``res.left.T``). Any normalization; the result is invariant under rescaling either vector.

    Returns:
        float64 (..., N, N) [q, p]; equals :func:`husimi` for ``L = R``, ``||R|| = 1``.
    """
    r, l = _lr_check(right, left)
    n = r.shape[-1]
    lead = r.shape[:-1]
    s = np.abs(np.einsum("...j,...j->...", l.conj(), r)).reshape(-1)
    out = np.empty((s.size, n, n), dtype=np.float64)
    for sl, (cr, cl) in _lattice_chunks(r, l):
        out[sl] = np.abs(cr * cl.conj()) / s[sl, None, None]
    return out.reshape(*lead, n, n)


def grid_centres(S) -> np.ndarray:
    """Cell centres ``(s + 1/2)/S``, float64 (S,), of an S x S phase-space grid (``S = N``: the lattice)."""
    s = check_positive_int(S, "S")
    return (np.arange(s, dtype=np.float64) + 0.5) / s


def husimi_on_grid(psi, S) -> np.ndarray:
    """Exact Husimi function at the S x S cell centres ``((s+1/2)/S, (t+1/2)/S)``, float64 (..., S, S) [q, p].

    Uses the explicit coherent states (off-lattice for S != N), O(S^2 N) per state. For ``S = N`` it equals
    :func:`husimi`.
    """
    g = grid_centres(S)
    c = overlaps(psi, g[:, None], g[None, :])
    return c.real**2 + c.imag**2


def lr_on_grid(right, left, S) -> np.ndarray:
    """Exact LR representation at the S x S cell centres, float64 (..., S, S) [q, p]; see :func:`lr_representation`.

    O(S^2 N) per state; the coherent states are built in chunks of grid rows, so memory does not grow with S^2 N.
    """
    r, l = _lr_check(right, left)
    g = grid_centres(S)
    s = np.abs(np.einsum("...j,...j->...", l.conj(), r))
    n = r.shape[-1]
    out = np.empty(r.shape[:-1] + (g.size, g.size))
    step = max(1, 8 * _CS_CHUNK // (n * g.size))  # q-rows of centres per chunk: (rows S, N) states <= ~64 MB
    for a in range(0, g.size, step):  # memory bounded at any N (the whole S^2 x N matrix is 0.4 GB at N=6000)
        rows = g[a:a + step, None]
        cr = overlaps(r, rows, g[None, :])
        cl = overlaps(l, rows, g[None, :])
        out[..., a:a + step, :] = np.abs(cr * cl.conj()) / s[..., None, None]
    return out


def _fourier_kernel(n: int, s: int) -> np.ndarray:
    """Periodic trigonometric interpolation matrix (s, n) from points (a+1/2)/n to (t+1/2)/s.

    Band ``|m| <= K/2`` with ``K = min(n, s)``; for even K the two Nyquist terms get weight 1/2 (a real cosine),
    so the kernel is real and ``n == s`` gives the identity.
    """
    kband = min(n, s)
    d = grid_centres(s)[:, None] - grid_centres(n)[None, :]
    ker = np.ones_like(d)
    for m in range(1, (kband - 1) // 2 + 1):
        ker += 2.0 * np.cos(2.0 * np.pi * m * d)
    if kband % 2 == 0:
        ker += np.cos(np.pi * kband * d)
    return ker / n


def _bilinear_kernel(n: int, s: int) -> np.ndarray:
    """Periodic linear interpolation matrix (s, n) from points (a+1/2)/n to (t+1/2)/s."""
    u = grid_centres(s) * n - 0.5  # fractional lattice index of each target
    a0 = np.floor(u).astype(np.int64)
    f = u - a0
    ker = np.zeros((s, n))
    rows = np.arange(s)
    np.add.at(ker, (rows, np.mod(a0, n)), 1.0 - f)
    np.add.at(ker, (rows, np.mod(a0 + 1, n)), f)
    return ker


def resample(image, S, method: str = "fourier") -> np.ndarray:
    """Resample lattice images (..., M, M) on the torus to a fixed S x S grid (for inspection / CNN input).

    Input samples sit at ``(a + 1/2)/M`` (the N x N lattice when M = N), outputs at ``(t + 1/2)/S``, index order
    [..., q, p] kept; separable, applied as ``K image K^T`` with an (S, M) kernel ``K``.

    Methods:
        ``"fourier"`` (default): periodic trigonometric interpolation with band ``|m| <= min(M, S)/2`` (half
            weight on even Nyquist terms). Exact for band-limited images; a Husimi function's Fourier
            coefficients decay as ``exp(-pi (m^2 + n^2)/(2N))``, so upsampling is accurate to ~``exp(-pi N/8)``
            and downsampling (S < M) is the L2-best low-pass projection (smoothing, may ring slightly negative).
            LR images (moduli of complex products) are not band-limited: use :func:`lr_on_grid` for exact
            values at the grid centres.
        ``"bilinear"``: periodic bilinear interpolation between the four nearest lattice points; keeps values
            within [min, max] of the input but aliases when S < M.

    Both methods return the input unchanged when S = M. Returns float64 (..., S, S) for real input.
    """
    img = np.asarray(image)
    if img.ndim < 2 or img.shape[-1] != img.shape[-2]:
        raise ParameterError(f"image: must have shape (..., M, M), got {img.shape}")
    m = img.shape[-1]
    s = check_positive_int(S, "S")
    if method == "fourier":
        ker = _fourier_kernel(m, s)
    elif method == "bilinear":
        ker = _bilinear_kernel(m, s)
    else:
        raise ParameterError(f"method = {method!r}: must be 'fourier' or 'bilinear'")
    if not np.iscomplexobj(img):
        img = img.astype(np.float64, copy=False)
    return np.einsum("sa,...ab,tb->...st", ker, img, ker, optimize=True)
