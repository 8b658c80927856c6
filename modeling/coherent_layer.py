"""The "quantum" layer of ``QuantumLocalizationNet``: coherent-state kernels with trainable phase-space centres.

See ``docs/tribaker.md`` §3, §6.1, Eq. 7.

Kernels are torus coherent states (antiperiodic, symmetric width, ``2 pi hbar = 1/N``), built in torch so they are
differentiable in their centres ``(q_k, p_k)``::

    <q_j|q_k,p_k> = A sum_nu (-1)^nu exp(-pi N (q_j + nu - q_k)^2 + 2 pi i N p_k (q_j + nu)),   q_j = (j + 1/2)/N

(``nu = -n..n`` with ``n = generation.tribaker.coherent.n_images(N)`` (2 for N >= 9, more below), images that
contribute less than ``exp(-69)`` everywhere skipped, ``A`` normalizing; centres taken modulo 1). This is the
generator's :func:`generation.tribaker.coherent.coherent_states`, phases included, in float64.

For one sample with right / left vectors ``R, L`` of dimension N the layer returns, for every kernel k,

    C_k[psi] = sum_j conj(<q_j|q_k,p_k>) psi_j = <q_k,p_k|psi>          (Eq. 7)
    out_k   = |C_k[R] conj(C_k[L])| / |<L|R>|                            (c_k = C_k[R] C_k[L]^*, activation |.|)

i.e. the LR representation ``h(q_k, p_k)`` at the kernel centres (the Husimi function when ``L = R``, unit norm);
it does not depend on the normalization of R or L. The kernels of each distinct N in a batch are built once per
forward pass (batches may mix N).

Packed input format (one tensor for a batch; :func:`pack_resonances` builds it): complex (B, N_max + 1, 2),
column 0 = ``R``, column 1 = ``L`` (position amplitudes ``<q_j|.>``, zero-padded beyond the sample's N), last row
= ``(N, N)`` (the sample's dimension, a positive multiple of 3, ``N <= N_max``). Closed map: both columns = psi.
Any number of rows works as long as each sample's N fits.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn as nn
from torch.utils.checkpoint import checkpoint

from generation.tribaker.coherent import n_images
from qchaos.errors import ParameterError

__all__ = ["coherent_states", "pack_resonances", "unpack_dimensions", "CoherentStateLayer"]

_NEGLIGIBLE = 69.0  # as in generation.tribaker.coherent: skip an image below exp(-69) ~ 1e-30 everywhere


def coherent_states(N: int, q: torch.Tensor, p: torch.Tensor) -> torch.Tensor:
    """Normalized torus coherent states ``<q_j|q_k,p_k>``, complex128 (K, N), differentiable in ``q``, ``p``.

    Parameters:
        N: dimension (positive integer).
        q, p: centres (K,) (any real values; taken modulo 1), converted to float64.
    """
    n = int(N)
    if n < 1:
        raise ParameterError(f"N = {N}: must be a positive integer")
    q0 = torch.remainder(q.to(torch.float64), 1.0)
    p0 = torch.remainder(p.to(torch.float64), 1.0)
    dev = q0.device
    jh = torch.arange(n, dtype=torch.float64, device=dev) + 0.5
    d = jh[None, :] / n - q0[:, None]  # (K, N), in (-1, 1)
    theta = 2 * math.pi * (torch.remainder(n * p0, 1.0) + 0.5)  # (-1)^nu exp(2 pi i nu N p0) = exp(i nu theta)
    nimg = n_images(n)
    with torch.no_grad():
        dmin = [float((d + nu).abs().min()) for nu in range(-nimg, nimg + 1)]
    re = torch.zeros_like(d)
    im = torch.zeros_like(d)
    for nu, m in zip(range(-nimg, nimg + 1), dmin):
        if math.pi * n * m * m > _NEGLIGIBLE:
            continue
        dn = d + nu
        gauss = torch.exp(-math.pi * n * dn * dn)
        if nu == 0:
            re = re + gauss
        else:
            ang = (nu * theta)[:, None]
            re = re + gauss * torch.cos(ang)
            im = im + gauss * torch.sin(ang)
    phase = 2 * math.pi * torch.remainder(p0[:, None] * jh[None, :], 1.0)  # 2 pi p0 (j + 1/2)
    c, s = torch.cos(phase), torch.sin(phase)
    kr, ki = re * c - im * s, re * s + im * c
    norm = torch.sqrt((kr * kr + ki * ki).sum(dim=1, keepdim=True))
    return torch.complex(kr / norm, ki / norm)


def pack_resonances(right, left=None, n_max: int | None = None) -> torch.Tensor:
    """Build the packed input (B, n_max + 1, 2) complex128 from per-sample vectors.

    Parameters:
        right: a sequence of B complex vectors (length N_b, each a positive multiple of 3) — or a complex array
            (B, N) when all N are equal.
        left: the matching left vectors (same lengths); None for the closed map (L = R).
        n_max: rows before the last (default: the largest N); every N must be <= n_max.
    """
    rights = [torch.as_tensor(np.asarray(r)).to(torch.complex128).reshape(-1) for r in right]
    lefts = rights if left is None else [torch.as_tensor(np.asarray(v)).to(torch.complex128).reshape(-1)
                                         for v in left]
    if len(lefts) != len(rights):
        raise ValueError(f"right, left: {len(rights)} right vectors but {len(lefts)} left vectors")
    if not rights:
        raise ParameterError("right: no samples")
    dims = [r.shape[0] for r in rights]
    for i, (r, v) in enumerate(zip(rights, lefts)):
        if v.shape[0] != r.shape[0]:
            raise ParameterError(f"sample {i}: right has N = {r.shape[0]} but left has {v.shape[0]} amplitudes")
        if r.shape[0] < 3 or r.shape[0] % 3:
            raise ParameterError(f"sample {i}: N = {r.shape[0]}: must be a positive multiple of 3 (tribaker map)")
    top = max(dims) if n_max is None else int(n_max)
    if max(dims) > top:
        raise ParameterError(f"n_max = {n_max}: smaller than the largest N = {max(dims)}")
    out = torch.zeros((len(rights), top + 1, 2), dtype=torch.complex128)
    for i, (r, v) in enumerate(zip(rights, lefts)):
        out[i, :r.shape[0], 0] = r
        out[i, :r.shape[0], 1] = v
        out[i, top, :] = r.shape[0]
    return out


def unpack_dimensions(x: torch.Tensor) -> torch.Tensor:
    """Check a packed batch (B, rows, 2) and return each sample's N as int64 (B,).

    ``ValueError`` (naming the sample) for: not a complex (B, rows, 2) tensor; an N in the last row that is not a
    positive integer multiple of 3 or does not fit in ``rows - 1``.
    """
    if not isinstance(x, torch.Tensor) or not x.is_complex():
        raise ParameterError("input: must be a complex tensor (B, N_max + 1, 2) (columns R and L, last row N); build "
                         "it with modeling.coherent_layer.pack_resonances or modeling.data.collate_resonances")
    if x.ndim != 3 or x.shape[2] != 2 or x.shape[1] < 4:
        raise ParameterError(f"input: must have shape (B, N_max + 1, 2) with columns R, L and the last row holding N; "
                         f"got {tuple(x.shape)}")
    raw = x[:, -1, 0].detach()
    n = raw.real.round()
    rows = x.shape[1] - 1
    bad = (raw.imag != 0) | (raw.real != n) | (n < 3) | (n > rows) | (torch.remainder(n, 3) != 0)
    if bool(bad.any()):
        i = int(torch.nonzero(bad)[0])
        v = raw[i]
        val = f"{v.real.item():g}" if v.imag == 0 else f"{complex(v.item())}"
        raise ValueError(f"input sample {i}: N = {val} (last row): must be a positive multiple of 3 (tribaker map) "
                         f"and <= N_max = {rows} (the rows above the last)")
    return n.to(torch.int64)


class CoherentStateLayer(nn.Module):
    """K = S x S coherent-state kernels with trainable centres; packed (B, rows, 2) -> LR images (B, S, S) float64.

    Parameters:
        grid_size: S; the centres start on the cell centres ``((a + 1/2)/S, (b + 1/2)/S)``, output index order
            ``[a (q), b (p)]`` as the generator's images (``S = N`` gives the N x N lattice).
        checkpointing: recompute each N's kernels in the backward pass instead of storing their intermediates
            (memory O(K N) instead of ~10x that; same values and gradients).

    Without gradients (inference) and when ``N K`` exceeds :attr:`chunk_elements` (2^22, e.g. N > 1024 for
    S = 64), the kernels are built in chunks of centres: any N works with memory ~10 x 2^22 doubles (~0.3 GB) and
    cost O(S^2 N) per state (the kernels of a chunk are shared by the whole batch), never the N x N lattice.

    Parameters ``q``, ``p``: float64 (S*S,), centre ``k = a S + b``.
    """

    chunk_elements = 2**22  # centres x N per kernel chunk in large-N inference (class attribute, not saved)
    cache_elements = 2**25  # centres x N of the inference kernels kept between calls (512 MiB of complex128)

    def __init__(self, grid_size: int = 32, checkpointing: bool = True):
        super().__init__()
        s = int(grid_size)
        if s != grid_size or s < 1:
            raise ParameterError(f"grid_size = {grid_size!r}: must be a positive integer")
        self.grid_size = s
        self.checkpointing = bool(checkpointing)
        g = (torch.arange(s, dtype=torch.float64) + 0.5) / s
        self.q = nn.Parameter(g.repeat_interleave(s).clone())
        self.p = nn.Parameter(g.repeat(s).clone())

    def centres(self) -> tuple[torch.Tensor, torch.Tensor]:
        """Current centres modulo 1, each (S, S) [a, b]."""
        s = self.grid_size
        return (torch.remainder(self.q.detach(), 1.0).view(s, s), torch.remainder(self.p.detach(), 1.0).view(s, s))

    def kernels(self, N: int) -> torch.Tensor:
        """The coherent states of the centres for dimension N, complex128 (S*S, N)."""
        return coherent_states(N, self.q, self.p)

    @staticmethod
    def _lr(N: int, q, p, r, l):
        return CoherentStateLayer._lr_from(coherent_states(N, q, p).conj().transpose(0, 1), r, l)

    @staticmethod
    def _lr_from(k, r, l):
        """LR values (b, K) of the states ``r``, ``l`` (b, N) on the conjugated kernels ``k`` (N, K)."""
        cr, cl = r @ k, l @ k  # (b, K): <q_k,p_k|R>, <q_k,p_k|L>
        s = torch.abs((l.conj() * r).sum(dim=1, keepdim=True))
        return torch.abs(cr * cl.conj()) / s

    def _inference_kernels(self, N: int) -> torch.Tensor:
        """The conjugated kernels (N, K) of dimension N for inference, kept while the centres do not change.

        Evaluating a dataset calls the layer once per batch and N; the kernels depend only on N and the centres,
        so they are built once per N (bit-identical to building them again) until an optimiser step changes the
        centres (their version counters); at most :attr:`cache_elements` entries are kept.
        """
        key = (self.q._version, self.p._version, self.q.data_ptr(), self.p.data_ptr())
        cache = self.__dict__.setdefault("_kernel_cache", {"key": None, "size": 0, "kernels": {}})
        if cache["key"] != key:
            cache.update(key=key, size=0, kernels={})
        if N in cache["kernels"]:
            return cache["kernels"][N]
        k = coherent_states(N, self.q, self.p).conj().transpose(0, 1)
        if cache["size"] + k.numel() <= self.cache_elements:  # full: computed each time, as without a cache
            cache["kernels"][N] = k
            cache["size"] += k.numel()
        return k

    @staticmethod
    def _lr_chunked(N: int, q, p, r, l, centres: int):
        """:meth:`_lr` with the K centres in chunks of ``centres`` (no autograd graph kept).

        Memory O(centres N) instead of ~10 K N doubles, the same O(K N) operations per state.
        """
        s = torch.abs((l.conj() * r).sum(dim=1, keepdim=True))
        parts = []
        for c in range(0, q.shape[0], centres):
            k = coherent_states(N, q[c:c + centres], p[c:c + centres]).conj().transpose(0, 1)
            parts.append(torch.abs((r @ k) * (l @ k).conj()) / s)
        return torch.cat(parts, dim=1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """LR images (B, S, S) float64 of a packed batch ``x`` (B, rows, 2) complex (see the module docstring)."""
        dims = unpack_dimensions(x)
        xb = x.to(torch.complex128)
        s = self.grid_size
        out = torch.empty((x.shape[0], s * s), dtype=torch.float64, device=x.device)
        for N in torch.unique(dims).tolist():
            idx = torch.nonzero(dims == N).reshape(-1)
            r, l = xb[idx, :N, 0], xb[idx, :N, 1]
            if bool(torch.any((l.conj() * r).sum(dim=1) == 0)):
                raise ParameterError(f"input: a sample with N = {N} has <L|R> = 0 (or zero vectors); the LR "
                                 "representation needs <L|R> != 0")
            grad = torch.is_grad_enabled() and (self.q.requires_grad or xb.requires_grad)
            if self.checkpointing and grad:
                h = checkpoint(self._lr, N, self.q, self.p, r, l, use_reentrant=False)
            elif not grad and N * self.q.shape[0] > self.chunk_elements:  # large N, inference: bounded memory
                h = self._lr_chunked(N, self.q, self.p, r, l, max(1, self.chunk_elements // N))
            elif not grad:
                h = self._lr_from(self._inference_kernels(N), r, l)
            else:
                h = self._lr(N, self.q, self.p, r, l)
            out = out.index_copy(0, idx.to(out.device), h)
        return out.view(x.shape[0], s, s)

    def extra_repr(self) -> str:
        return f"grid_size={self.grid_size}, kernels={self.grid_size ** 2}"
