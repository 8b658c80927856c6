"""Converged spectra and eigenstates of the two-atom problem, with level numbers, parities and labels.

The contact interaction makes exact diagonalisation (ED) converge slowly: the error of every level falls like
``dim^(-1/2)`` (``docs/twobody.md`` §11 (low rank)). :func:`solve_spectrum` converges the energies by one of two schemes
(``docs/spectra.md``):

* ``"effective"`` (default): one basis of ``basis_factor`` states per level; the states above its cutoff are
  eliminated exactly through the energy-dependent coupling ``G(E)`` (``effective.py``) and the non-linear problem
  ``E = lambda_k(H_eff(E))`` is solved by interpolation over ``GRID_POINTS`` dense solves per parity block. Error
  estimate: the change from two to three grid points. Checked against the Bethe ansatz (eta = 1/3, g = 10, 5000
  levels, basis_factor 1.5): max relative error 1.9e-6, against 3.7e-3 for the raw ED of a 2x basis.
* ``"richardson"``: two nested bases, ``d`` and ``4 d`` states, ``E = 2 E(4d) - E(d)`` with the error estimate
  ``|E - E(4d)|`` (2e-5 at 5000 levels, g = 10, basis_factor 2): the reference and fallback.

The raw, variational (upper-bound) values of the basis are always kept in ``raw``. Exact g-independent
("horizontal") levels are detected structurally and never extrapolated; both schemes pair the k-th non-horizontal
level of the raw ED with the k-th converged non-horizontal level.

Level numbers: 1-based rank of the energy over both parities; exact ties are ordered by the non-interacting label
(n, m) used as a tie key: the k-th product state of the level's parity block. That is the adiabatic label for
non-integrable eta; at the integrable ratios levels cross and the Bethe ansatz (``bethe.py``) gives the true labels.

Eigenvectors (:func:`eigenstates`) come from the ``d``-state basis and converge more slowly than the extrapolated
energies: at g = 100, eta = 1/3, levels ~1000, 2 states per level give overlaps of 0.72-0.99 with an 8x basis
(the truncated contact interaction breaks integrability and mixes near-degenerate levels); 8 states per level agree
with 16 to >= 0.9993. Exactly degenerate eigenspaces are rotated onto a canonical basis
(:func:`resolve_degeneracies`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qchaos.errors import ParameterError

from .basis import (
    PARITIES,
    Basis,
    basis_by_count,
    check_count,
    check_g,
    check_min_eta,
    parse_eta,
    rank_levels,
    tie_groups,
)
from .effective import Elimination, self_consistent
from .eigensolve import METHODS, block_eigh, dense_eigvalsh
from .hamiltonian import BlockHamiltonian

MIN_BASIS = 1600
"""Smallest basis (both parities) ever used: below it ED costs nothing and few-level requests still converge."""

LEVEL_TIE_RTOL = 1e-10
"""Computed levels closer than this (relative) are ties for the level numbering, ordered by (n, m)."""

DEGENERACY_RTOL = 1e-9
"""Levels of one parity block closer than this (relative) form one degenerate eigenspace (looser than
``LEVEL_TIE_RTOL``: it must hold the eigenvalues of a degenerate group as the slicing solver returns them)."""

RICHARDSON_FACTOR = 4
"""Ratio of the two basis sizes used for extrapolation (error ~ dim^-1/2 => E = 2 E(4d) - E(d))."""

SCHEMES = ("effective", "richardson")
"""Convergence schemes of :func:`solve_spectrum`: one basis with the eliminated high-energy states
(``effective.py``, default) or Richardson over bases d and 4 d (the reference and fallback)."""

GRID_POINTS = 3
"""Energies E_j at which ``H_eff(E_j)`` is diagonalised (scheme "effective"): 0, E_top / 2, E_top."""


def parse_parity(parity: str) -> tuple[int, ...]:
    """Block codes for ``"even"``, ``"odd"`` or ``"both"``."""
    if parity == "both":
        return (0, 1)
    if parity not in PARITIES:
        raise ParameterError(f"parity = {parity!r}: must be 'even', 'odd' or 'both'")
    return (PARITIES[parity],)


@dataclass(frozen=True)
class Spectrum:
    """The lowest levels of H for one (eta, g), both or one parity, ascending in energy.

    Energies in units hbar = L = mu = 1. Arrays have shape (k,).

    Attributes:
        energy: best estimate (converged by the scheme when ``extrapolated``, else the raw ED values).
        raw: variational ED eigenvalues in the basis of ``basis_size`` states (upper bounds).
        error: estimated absolute error of ``energy``: scheme "effective" the change from 2 to 3 grid energies
            (above the worst true error, 3-10x, against the Bethe ansatz); scheme "richardson" |E - E(4d)|
            (NaN when not extrapolated). For Richardson, against the Bethe
            ansatz it bounds the true error for non-integrable eta and moderate g; in integrable spectra, levels
            that cross between the two bases can make it optimistic at strong g (use a larger basis_factor).
        parity: 0 even, 1 odd.  level: 1-based level number over both parities.
        n, m: non-interacting label each level connects to.  block_index: 0-based index in its parity block.
        horizontal: exact g-independent level (detected from the null space of the diagonal traces).
        top_rel_error: estimated relative error of the highest non-horizontal level (Richardson: of its raw value,
            from the 4x basis; effective: of its converged value; NaN for a raw solve with ``top_check=False``).
    """

    eta: float
    g: float
    energy: np.ndarray
    raw: np.ndarray
    error: np.ndarray
    parity: np.ndarray
    level: np.ndarray
    n: np.ndarray
    m: np.ndarray
    block_index: np.ndarray
    horizontal: np.ndarray
    basis_size: int
    e_cut: float
    extrapolated: bool
    top_rel_error: float

    def __len__(self) -> int:
        return int(self.energy.size)

    def select(self, parity: int) -> "Spectrum":
        """The levels of one parity block (level numbers are kept)."""
        sel = self.parity == parity
        arrays = {k: getattr(self, k)[sel] for k in ("energy", "raw", "error", "parity", "level", "n", "m",
                                                     "block_index", "horizontal")}
        return Spectrum(self.eta, self.g, basis_size=self.basis_size, e_cut=self.e_cut,
                        extrapolated=self.extrapolated, top_rel_error=self.top_rel_error, **arrays)


def near_exact(energy: np.ndarray, exact: np.ndarray, rtol: float = 1e-9) -> np.ndarray:
    """Which ``energy`` (k,) equal one of the values ``exact`` (h,, any order) to ``rtol * max(|E|, 1)``: bool (k,)."""
    energy = np.asarray(energy, dtype=float)
    exact = np.sort(np.asarray(exact, dtype=float))
    if exact.size == 0:
        return np.zeros(energy.shape, bool)
    j = np.searchsorted(exact, energy)
    hi, lo = np.clip(j, 0, exact.size - 1), np.clip(j - 1, 0, exact.size - 1)
    near = np.minimum(np.abs(exact[hi] - energy), np.abs(exact[lo] - energy))
    return near <= rtol * np.maximum(np.abs(energy), 1.0)


def _is_horizontal(ham: BlockHamiltonian, e: np.ndarray) -> np.ndarray:
    """Which levels ``e`` of a block are its exact g-independent ("horizontal") levels (none at g = 0)."""
    if ham.g == 0.0:
        return np.zeros(np.shape(e), bool)
    return near_exact(e, ham.horizontal.energy)


def _partners(ham: BlockHamiltonian, free_all: np.ndarray, free: np.ndarray, seed: int = 0) -> np.ndarray:
    """Eigenvalues of the larger basis ``ham`` paired with the smaller basis's non-horizontal levels.

    ``free_all``: block indices (small basis) of all non-horizontal levels in ascending order; ``free``: the subset
    wanted. Horizontal levels are exact in both bases and a level converging from above may drop below one of them,
    so the k-th non-horizontal level of one basis is paired with the k-th non-horizontal level of the other.
    """
    rank = np.searchsorted(free_all, free)  # position among non-horizontal levels
    how = "slice" if ham.dim > 1200 else "dense"
    # the partner of rank r has block index >= r in the larger basis: start there
    k_lo = int(rank.min()) if how == "slice" else 0
    k_hi = int(rank.max()) + 10
    while True:
        e = block_eigh(ham, k_lo, min(k_hi, ham.dim), method=how, seed=seed)[0]
        free_e = e[~_is_horizontal(ham, e)]
        n_below = k_lo - int(np.sum(ham.horizontal.energy < e[0]))  # non-horizontal levels below index k_lo
        if free_e.size >= int(rank.max()) + 1 - n_below or k_hi >= ham.dim:
            return free_e[rank - n_below]
        k_hi += max(20, k_hi // 10)


def _lowest_per_block(blocks, n_levels, method, seed, keep: dict | None = None):
    """Lowest eigenvalues of both blocks such that their union holds the n_levels lowest; code -> energies.

    ``keep``: a dict that receives, per code, ``(energies (k,), eigenvectors (dim, k))`` (solved together).
    """
    want = {c: min(blocks[c].dim, int(np.ceil(0.55 * n_levels)) + 20) for c in blocks}
    vec = keep is not None
    got, vecs = {}, {}
    for c in blocks:
        got[c], vecs[c] = block_eigh(blocks[c], 0, want[c], vectors=vec, method=method, seed=seed)
    while True:
        merged = np.sort(np.concatenate(list(got.values())))
        if merged.size < n_levels:
            raise ParameterError(f"levels = {n_levels}: more than the {merged.size} states of the basis")
        top = merged[n_levels - 1]
        short = [c for c in blocks if want[c] < blocks[c].dim and got[c][-1] <= top]
        if not short:
            if vec:
                keep.update({c: (got[c], vecs[c]) for c in blocks})
            return got
        for c in short:
            extra = min(blocks[c].dim, want[c] + max(50, want[c] // 4))
            e, v = block_eigh(blocks[c], want[c], extra, vectors=vec, method=method, seed=seed)
            got[c] = np.concatenate([got[c], e])
            vecs[c] = np.concatenate([vecs[c], v], axis=1) if vec else None
            want[c] = extra


def _levels_below(ham: BlockHamiltonian, energy: float, method: str, seed: int) -> np.ndarray:
    """All eigenvalues of one block up to ``energy`` (exact count, then the eigenvalues)."""
    s = energy * (1 + 1e-9) + 1e-9
    while np.min(np.abs(ham.d - s)) <= 1e-9 * abs(s):  # never count on a pole of S(s)
        s *= 1 + 1e-8
    k = min(ham.count_below(s), ham.dim)
    return block_eigh(ham, 0, k, method=method, seed=seed)[0]


def _rank_and_keep(energy: np.ndarray, a: dict, codes, n_levels: int):
    """Rank the computed levels and choose the ``n_levels`` kept.

    Returns the level numbers (1-based ranks over both parities, ties by (n, m)) of every computed level, the
    indices of the ``n_levels`` lowest of the requested parities ``codes``, and the index of the highest
    non-horizontal one kept (the level whose error is reported as ``top_rel_error``). ``a``: the per-level columns
    n, m, parity, horizontal.
    """
    order = rank_levels(energy, a["n"], a["m"], rtol=LEVEL_TIE_RTOL)
    level = np.empty(order.size, np.int64)
    level[order] = np.arange(1, order.size + 1)
    keep = order[:n_levels] if len(codes) == 2 else order[a["parity"][order] == codes[0]][:n_levels]
    free_keep = keep[~a["horizontal"][keep]]
    return level, keep, (free_keep[-1] if free_keep.size else keep[-1])


MAX_G = 1e8
"""Largest accepted interaction strength for exact diagonalisation: beyond it the levels no longer change visibly
(hard-core limit; 1e6 and 1e8 agree to ~1e-6 relative at 10 levels) and the eigensolver's slicing breaks down."""


def check_max_g(g: float) -> float:
    """``g`` unless above :data:`MAX_G` (``ParameterError`` naming ``g``, the bound and the alternative)."""
    from qchaos.errors import ParameterError

    if g > MAX_G:
        raise ParameterError(f"g = {g:g}: must be <= {MAX_G:g} for exact diagonalisation (larger g give the hard-core "
                             "limit's levels and break the eigensolver; at eta = 1/3 or 1 use the Bethe ansatz, "
                             "`qchaos twobody bethe`)")
    return g


MAX_BASIS_FACTOR = 1000.0
"""Largest accepted ``basis_factor`` (basis states per level); the memory bound usually binds first."""


def spectrum_memory(n_levels: int, basis_factor: float = 2.0, parity: str = "both", *, extrapolate: bool = True,
                    scheme: str = "effective") -> float:
    """Estimated peak memory of :func:`solve_spectrum` (bytes), from the sizes alone (nothing is allocated).

    The basis has ``d = basis_factor * n_levels`` states (twice that for one parity), each parity block ~ d/2.
    Scheme ``"effective"``: dense ``H_eff`` of each block, its eigenvalue copy and LAPACK work space, ~6 d^2
    bytes (measured: 150 MB at d = 6000). Raw / ``"richardson"``: banded blocks solved by spectrum slicing (dense
    only up to 1200 states), linear in the (4x for Richardson) basis. Basis enumeration: ~400 bytes per state.
    """
    per_parity = 2 if parity in ("even", "odd", 0, 1) else 1
    d = max(float(MIN_BASIS), np.ceil(float(basis_factor) * float(n_levels) * per_parity))
    estimate = 400.0 * d
    if extrapolate and scheme == "effective":
        return estimate + 6.0 * d * d
    big = 4.0 * d if extrapolate else d
    return estimate + 1.5e3 * big + 24.0 * min(big / 2, 1200.0) ** 2


def check_spectrum_size(n_levels: int, basis_factor: float, parity: str = "both", *, extrapolate: bool = True,
                        scheme: str = "effective", name: str = "levels") -> None:
    """Refuse a :func:`solve_spectrum` call that would not fit the memory limit.

    ``ParameterError`` naming ``levels`` (``name``) and ``basis_factor``, the estimate and the accepted range if
    :func:`solve_spectrum` would need more memory than :func:`qchaos.limits.max_bytes`.
    """
    from qchaos.limits import check_memory, largest_accepted, max_bytes

    def need(n):
        return spectrum_memory(n, basis_factor, parity, extrapolate=extrapolate, scheme=scheme)

    estimate = need(n_levels)
    if not estimate <= max_bytes():
        top = largest_accepted(need, hi=max(int(n_levels), 1))
        check_memory(estimate, f"{name} = {n_levels}, basis_factor = {basis_factor:g}",
                     f"--{name} or --basis-factor", subject="the solve",
                     accepted=f"{name} <= {top} at basis_factor = {basis_factor:g}" if top else
                     f"a smaller basis_factor (at {basis_factor:g} not even 1 level fits)")


def solve_spectrum(eta, g: float, n_levels: int, parity: str = "both", *, basis_factor: float = 2.0,
                   extrapolate: bool = True, method: str = "auto", seed: int = 0, scheme: str = "effective",
                   client=None, top_check: bool = True, _vectors: dict | None = None) -> Spectrum:
    """The ``n_levels`` lowest levels (over both parities, or of one parity block).

    Level numbers always rank over both parities, so with a single parity the other block is solved too, up to
    the energy of the highest level asked for.

    Args:
        eta: mass ratio m_light/m_heavy, 0 < eta <= 1 (number or fraction string such as ``"1/3"``).
        g: contact interaction strength, >= 0.
        n_levels: number of levels wanted.
        parity: ``"both"``, ``"even"`` or ``"odd"``.
        basis_factor: basis size per level wanted (per block for a single parity); >= 1.25. The basis
            has at least ``MIN_BASIS`` states.
        extrapolate: converge the energies by ``scheme`` (default); else raw ED, and only the top level is checked
            in a 4x basis (``top_rel_error``).
        method: eigen-solver, see :func:`generation.twobody.eigensolve.block_eigh`.
        seed: seed of the Lanczos start vectors (results agree to ~1e-12 for any seed).
        scheme: how ``extrapolate`` converges the energies: ``"effective"`` (default; one basis, the states above
            the cutoff eliminated exactly through the energy-dependent coupling G(E), see ``effective.py``;
            dense diagonalisation of each parity block at ``GRID_POINTS`` energies, error estimate = change from
            the two-point to the three-point self-consistent solution) or ``"richardson"`` (bases d and 4 d).
        client: a ``dask.distributed.Client``: the independent dense solves of scheme "effective" (one per parity
            block and grid energy) run as tasks on its workers; results are bit-for-bit those of one process with
            the workers' BLAS thread count. ``None``: in this process. Ignored by scheme "richardson".
        top_check: with ``extrapolate=False``, estimate the relative error of the top level from its partner in a
            4x basis (``top_rel_error``; the most expensive part of a raw solve of a few hundred levels). False
            skips that solve (``top_rel_error`` NaN): for callers that only need the raw levels or the
            eigenstates of a window. Ignored when extrapolating.
        _vectors: internal (:func:`window_states`): a dict that receives each block's raw levels and eigenvectors,
            solved together (raw solve of both parities only).
    """
    from qchaos.errors import ParameterError

    eta = check_min_eta(parse_eta(eta))
    g = check_max_g(check_g(g))
    n_levels = check_count(n_levels, "levels")
    codes = parse_parity(parity)
    if method not in METHODS:
        raise ParameterError(f"method = {method!r}: must be one of {METHODS}")
    if isinstance(basis_factor, bool) or not isinstance(basis_factor, (int, float, np.integer, np.floating)):
        raise ParameterError(f"basis_factor = {basis_factor!r}: must be a number in [1.25, {MAX_BASIS_FACTOR:g}]")
    if not basis_factor >= 1.25:
        raise ParameterError(f"basis_factor = {basis_factor}: must be >= 1.25 (basis states per level wanted)")
    if not basis_factor <= MAX_BASIS_FACTOR:
        raise ParameterError(f"basis_factor = {basis_factor}: must be a finite number <= {MAX_BASIS_FACTOR:g} (basis "
                             "states per level wanted; 2 converges, images need 8)")
    if scheme not in SCHEMES:
        raise ParameterError(f"scheme = {scheme!r}: must be one of {SCHEMES}")
    if not isinstance(extrapolate, (bool, np.bool_)):  # 'no' would be truthy
        raise ParameterError(f"extrapolate = {extrapolate!r}: must be True or False")
    if isinstance(seed, (bool, np.bool_)) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2**32:
        raise ParameterError(f"seed = {seed!r}: must be an integer in [0, 2**32)")
    if not isinstance(top_check, (bool, np.bool_)):
        raise ParameterError(f"top_check = {top_check!r}: must be True or False")
    check_spectrum_size(n_levels, float(basis_factor), parity, extrapolate=bool(extrapolate) and g != 0.0,
                        scheme=scheme)
    basis = spectrum_basis(eta, n_levels, basis_factor, len(codes))
    if scheme == "effective" and extrapolate and g != 0.0:
        return _solve_effective(basis, g, n_levels, codes, method, client)
    blocks = {c: BlockHamiltonian(basis.block(c), g) for c in (0, 1)}
    if len(codes) == 2:
        raw = _lowest_per_block(blocks, n_levels, method, seed, keep=None if extrapolate else _vectors)
        cut = np.sort(np.concatenate([raw[0], raw[1]]))[n_levels - 1]
    else:
        (c,) = codes
        if n_levels > blocks[c].dim:
            raise ParameterError(f"levels = {n_levels}: more than the {blocks[c].dim} states of the basis")
        raw = {c: block_eigh(blocks[c], 0, n_levels, method=method, seed=seed)[0]}
        cut = raw[c][-1]
        raw[1 - c] = _levels_below(blocks[1 - c], cut, method, seed)

    hz = {c: _is_horizontal(blocks[c], raw[c]) for c in (0, 1)}
    wanted = {c: (raw[c] <= cut) if c in codes else np.zeros(raw[c].size, bool) for c in (0, 1)}
    big_raw = {c: np.full(raw[c].size, np.nan) for c in (0, 1)}
    if g != 0.0:
        top_code = None
        if not extrapolate:  # only the highest non-horizontal level asked for, for the convergence report
            cand = [(raw[c][~hz[c] & wanted[c]].max(), c) for c in codes if np.any(~hz[c] & wanted[c])]
            top_code = max(cand)[1] if cand and top_check else None
        big = basis_by_count(eta, RICHARDSON_FACTOR * basis.dim) if extrapolate or top_code is not None else None
        for c in (0, 1):
            # extrapolation lowers energies: pair every computed level, not only those below the raw cut
            free = np.flatnonzero(~hz[c])
            if not extrapolate:
                free = np.flatnonzero(~hz[c] & wanted[c])
                free = free[-1:] if c == top_code else free[:0]
            if free.size:
                big_raw[c][free] = _partners(BlockHamiltonian(big.block(c), g), np.flatnonzero(~hz[c]), free, seed)
            big_raw[c][hz[c]] = raw[c][hz[c]]

    cols = {k: [] for k in ("raw", "big", "parity", "n", "m", "block_index", "horizontal")}
    for c in (0, 1):
        k = raw[c].size
        cols["raw"].append(raw[c])
        cols["big"].append(big_raw[c])
        cols["parity"].append(np.full(k, c, np.int8))
        cols["n"].append(blocks[c].basis.n[:k])
        cols["m"].append(blocks[c].basis.m[:k])
        cols["block_index"].append(np.arange(k, dtype=np.int64))
        cols["horizontal"].append(hz[c])
    a = {k: np.concatenate(v) for k, v in cols.items()}
    if extrapolate and g != 0.0:
        energy = RICHARDSON_FACTOR // 2 * a["big"] - a["raw"]  # 2 E(4d) - E(d); exact for horizontal levels
        error = np.abs(energy - a["big"])
    else:
        energy, error = a["raw"], np.full(a["raw"].size, np.nan if g != 0.0 else 0.0)
    # the other parity's levels beyond the requested block are not all computed: rank only what is complete
    level, keep, top = _rank_and_keep(np.where(np.isnan(energy), a["raw"], energy), a, codes, n_levels)
    top_err = float(2 * abs(a["raw"][top] - a["big"][top]) / abs(a["raw"][top])) if g else 0.0  # NaN: not checked
    out = {k: v[keep] for k, v in a.items() if k != "big"}
    return Spectrum(eta=eta, g=g, energy=energy[keep], error=error[keep], level=level[keep],
                    basis_size=basis.dim, e_cut=basis.e_cut, extrapolated=bool(extrapolate and g != 0.0),
                    top_rel_error=top_err, **out)


def _block_levels(block: Basis, g: float, e_cut: float, energy, k: int, method: str) -> np.ndarray:
    """Task: the ``k`` lowest eigenvalues of one block's raw H (``energy`` None) or of ``H_eff(energy)``."""
    h = BlockHamiltonian(block, g).dense() if energy is None else Elimination(block, g, e_cut).dense(energy)
    return dense_eigvalsh(h, k, torch=method == "torch")


def _run(tasks: list[tuple], client) -> list[np.ndarray]:
    """Run ``_block_levels`` tasks in this process or on the workers of a Dask client (results in task order)."""
    if client is None:
        return [_block_levels(*t) for t in tasks]
    futures = [client.submit(_block_levels, *t, pure=False) for t in tasks]
    return client.gather(futures)


def _solve_effective(basis: Basis, g: float, n_levels: int, codes: tuple[int, ...], method: str,
                     client) -> Spectrum:
    """Scheme "effective" of :func:`solve_spectrum` (one basis, self-consistent effective interaction)."""
    blocks = {c: basis.block(c) for c in (0, 1)}
    raw_all = dict(zip((0, 1), _run([(blocks[c], g, basis.e_cut, None, blocks[c].dim, method) for c in (0, 1)],
                                    client)))
    if len(codes) == 2:
        merged = np.sort(np.concatenate([raw_all[0], raw_all[1]]))
        if merged.size < n_levels:
            raise ParameterError(f"levels = {n_levels}: more than the {merged.size} states of the basis")
        cut = merged[n_levels - 1]
    else:
        (c,) = codes
        if n_levels > blocks[c].dim:
            raise ParameterError(f"levels = {n_levels}: more than the {blocks[c].dim} states of the basis")
        cut = raw_all[c][n_levels - 1]
    # converged levels lie below their raw (variational) values: keep every raw level up to a margin above the cut
    k = {c: max(1, int(np.searchsorted(raw_all[c], cut * 1.02 + 1.0, side="right"))) for c in (0, 1)}
    raw = {c: raw_all[c][:k[c]] for c in (0, 1)}
    e_q = min(Elimination(blocks[c], g, basis.e_cut).e_q for c in (0, 1))
    top = min(max(raw[0][-1], raw[1][-1]), 0.999 * e_q)
    grid = np.linspace(0.0, top, GRID_POINTS)
    tasks = [(blocks[c], g, basis.e_cut, float(e), k[c], method) for c in (0, 1) for e in grid]
    lam = _run(tasks, client)
    energy, error, hz, paired, index = {}, {}, {}, {}, {}
    for i, c in enumerate((0, 1)):
        # horizontal levels are exact in every H_eff; the others move with E and may pass them, so the ordered
        # non-horizontal levels are interpolated alone and the exact horizontal ones put back
        ham = BlockHamiltonian(blocks[c], g)
        free = [e[~_is_horizontal(ham, e)] for e in lam[i * GRID_POINTS:(i + 1) * GRID_POINTS]]
        n_free = min(f.size for f in free)
        lam_c = np.array([f[:n_free] for f in free])
        e_free = self_consistent(grid, lam_c)
        err_free = np.abs(e_free - self_consistent(grid[[0, -1]], lam_c[[0, -1]]))
        h = ham.horizontal.energy
        h = h[h <= raw[c][-1] * (1 + 1e-12)]  # exact, complete up to the block's highest raw level
        e_all = np.concatenate([e_free, h])
        order = np.argsort(e_all, kind="stable")
        energy[c] = e_all[order]
        error[c] = np.concatenate([err_free, np.zeros(h.size)])[order]
        hz[c] = np.concatenate([np.zeros(e_free.size, bool), np.ones(h.size, bool)])[order]
        # the raw level paired with the k-th converged non-horizontal level is the k-th raw non-horizontal one
        # (horizontal ones with themselves); block_index is the paired raw level's index (its ED eigenvector)
        hz_raw = _is_horizontal(ham, raw[c])
        free_idx, h_idx = np.flatnonzero(~hz_raw), np.flatnonzero(hz_raw)
        paired[c] = np.full(energy[c].size, np.nan)
        index[c] = np.arange(energy[c].size, dtype=np.int64)  # beyond the raw levels: position (not asked for)
        for mask, idx in ((~hz[c], free_idx), (hz[c], h_idx)):
            m = min(int(mask.sum()), idx.size)
            paired[c][np.flatnonzero(mask)[:m]] = raw[c][idx[:m]]
            index[c][np.flatnonzero(mask)[:m]] = idx[:m]
    raw = paired
    return _assemble(basis, g, n_levels, codes, raw, energy, error, hz, index)


def _assemble(basis, g, n_levels, codes, raw, energy, error, hz, index):
    """Rank the per-block levels over both parities and keep the ``n_levels`` asked for (a ``Spectrum``).

    Per block c: ``raw``, ``energy``, ``error`` (k_c,), ``hz`` horizontal flags, ``index`` the block index of each
    level (its raw ED eigenvector, and its non-interacting label (n, m) as the tie key).
    """
    cols = {k: [] for k in ("raw", "energy", "error", "parity", "n", "m", "block_index", "horizontal")}
    for c in (0, 1):
        blk = basis.block(c)
        k = raw[c].size
        cols["raw"].append(raw[c])
        cols["energy"].append(energy[c])
        cols["error"].append(error[c])
        cols["parity"].append(np.full(k, c, np.int8))
        cols["n"].append(blk.n[index[c]])
        cols["m"].append(blk.m[index[c]])
        cols["block_index"].append(index[c])
        cols["horizontal"].append(hz[c])
    a = {k: np.concatenate(v) for k, v in cols.items()}
    level, keep, top = _rank_and_keep(a["energy"], a, codes, n_levels)
    top_error = float(a["error"][top] / abs(a["energy"][top])) if g else 0.0
    out = {k: v[keep] for k, v in a.items()}
    return Spectrum(eta=basis.eta, g=g, level=level[keep], basis_size=basis.dim, e_cut=basis.e_cut,
                    extrapolated=True, top_rel_error=top_error, **out)


def block_index_range(spectrum: Spectrum, level_lo: int, level_hi: int) -> dict[int, tuple[int, int]]:
    """Per parity block, the contiguous block-index range covering levels ``level_lo..level_hi`` (inclusive)."""
    sel = (spectrum.level >= level_lo) & (spectrum.level <= level_hi)
    out = {}
    for c in np.unique(spectrum.parity[sel]):
        idx = spectrum.block_index[sel & (spectrum.parity == c)]
        out[int(c)] = (int(idx.min()), int(idx.max()) + 1)
    return out


def degenerate_groups(energy: np.ndarray, rtol: float = DEGENERACY_RTOL) -> list[np.ndarray]:
    """Index runs of ascending ``energy`` whose neighbours differ by at most ``rtol * max(1, |E|)``."""
    groups = tie_groups(energy, rtol)
    if groups.size == 0:
        return []
    return np.split(np.arange(groups.size), np.flatnonzero(np.diff(groups)) + 1)


def tie_break_operator(block: Basis) -> np.ndarray:
    """Diagonal, in the product basis, of the operator that fixes eigenvectors inside a degenerate eigenspace.

    ``Q = T1 T2 / (pi^4 / (4 m1 m2)) = n^2 m^2``, the product of the two atoms' kinetic energies. For the states that
    do not feel the interaction, e.g. the exchange-antisymmetric states at eta = 1, whose degeneracies come from
    n^2 + m^2 = n'^2 + m'^2, Q commutes with H and its eigenvectors in the eigenspace are the Bethe-ansatz (free
    fermion) states sin(n pi x1) sin(m pi x2) - sin(m pi x1) sin(n pi x2). Shape (dim,), float64.
    """
    return (block.n.astype(np.float64) * block.m) ** 2


def resolve_degeneracies(energy: np.ndarray, vectors: np.ndarray, q: np.ndarray,
                         rtol: float = DEGENERACY_RTOL) -> np.ndarray:
    """Canonical eigenvectors inside each degenerate eigenspace: those diagonalising ``diag(q)`` there.

    A solver returns an arbitrary orthonormal basis of an exactly degenerate eigenspace (it depends on the method,
    the start vector and the BLAS), so the densities of such "eigenstates" would be arbitrary superpositions. Here
    each eigenspace is rotated onto the eigenvectors of the projected ``diag(q)`` (ascending q; see
    :func:`tie_break_operator`). Args: ``energy`` (k,) ascending, ``vectors`` (dim, k), ``q`` (dim,). Returns the
    new (dim, k) vectors (a copy); the energies are unchanged.
    """
    vectors = np.array(vectors, dtype=np.float64, copy=True)
    for group in degenerate_groups(energy, rtol):
        if group.size < 2:
            continue
        v = vectors[:, group]
        _, u = np.linalg.eigh(v.T @ (q[:, None] * v))
        vectors[:, group] = v @ u
    return vectors


def spectrum_basis(eta: float, n_levels: int, basis_factor: float, parities: int = 2) -> Basis:
    """The basis :func:`solve_spectrum` diagonalises for ``n_levels`` levels.

    ``basis_factor`` states per level wanted (per block when one parity is asked for, ``parities = 1``), at least
    ``MIN_BASIS`` states.
    """
    per_parity = 2 if parities == 1 else 1
    return basis_by_count(eta, max(MIN_BASIS, int(np.ceil(basis_factor * n_levels * per_parity))))


def eigenstates(spectrum: Spectrum, level_lo: int, level_hi: int, method: str = "auto", seed: int = 0,
                basis: Basis | None = None, _solved: dict | None = None):
    """Eigenvectors of levels ``level_lo..level_hi`` (inclusive, 1-based) of ``spectrum``.

    The vectors are those of the raw Hamiltonian in ``basis`` (default: the spectrum's own basis; a larger one, e.g.
    :func:`spectrum_basis` with more states per level, gives better converged vectors for levels whose energies a
    smaller basis already converges). Level ``l`` of parity ``c`` is the ``k``-th eigenvector of block ``c``,
    ``k = spectrum.block_index``: within one parity block the k-th raw eigenvalue decreases monotonically to the
    k-th exact one as the basis grows (Cauchy interlacing), so the index names the same state in every basis.

    Inside an exactly degenerate eigenspace the vectors are made canonical by :func:`resolve_degeneracies`
    (the eigenspace is always solved whole, also where it straddles the window's edge).

    Returns ``(rows, basis, vectors)``: ``rows`` indexes into ``spectrum`` (ascending level), ``basis`` the
    full-parity basis (``Basis``), and ``vectors`` (k, dim) float64 coefficients on that basis (zero on the other
    parity's states). Raises ValueError if the window is not inside the spectrum's levels, ``ParameterError`` if
    ``basis`` is smaller than the spectrum's or of another mass ratio. ``_solved``: internal (:func:`window_states`),
    code -> ``(energies (K,), eigenvectors (dim, K))`` of block levels 0..K-1 in the spectrum's own basis, used
    instead of a new solve where they cover the window.
    """
    n = len(spectrum)
    if not (1 <= level_lo <= level_hi <= n):
        raise ValueError(
            f"level window = [{level_lo}, {level_hi}]: must satisfy 1 <= lo <= hi <= {n} (the levels computed "
            f"and checked for convergence; ask for more levels)"
        )
    if basis is None:
        basis = basis_by_count(spectrum.eta, spectrum.basis_size)
    elif basis.dim < spectrum.basis_size or basis.eta != spectrum.eta:
        raise ParameterError(f"basis: {basis.dim} states at eta = {basis.eta}; the vectors need at least the "
                             f"spectrum's {spectrum.basis_size} states at eta = {spectrum.eta}")
    rows = np.flatnonzero((spectrum.level >= level_lo) & (spectrum.level <= level_hi))
    vectors = np.zeros((rows.size, basis.dim))
    for c, (k_lo, k_hi) in block_index_range(spectrum, level_lo, level_hi).items():
        block = basis.block(c)
        ham = BlockHamiltonian(block, spectrum.g)
        solved = _solved.get(c) if _solved is not None and basis.dim == spectrum.basis_size else None
        v = _block_states(ham, tie_break_operator(block), k_lo, k_hi, method, seed, solved)
        cols = np.flatnonzero(basis.parity == c)
        for j, r in enumerate(rows):
            if spectrum.parity[r] == c:
                vectors[j, cols] = v[:, spectrum.block_index[r] - k_lo]
    return rows, basis, vectors


def window_states(eta, g: float, level_lo: int, level_hi: int, *, basis_factor: float = 2.0, method: str = "auto",
                  seed: int = 0):
    """Raw ED levels 1..``level_hi`` and the eigenvectors of levels ``level_lo..level_hi``, one solve per block.

    The same levels and states as ``eigenstates(solve_spectrum(eta, g, level_hi, basis_factor=basis_factor,
    extrapolate=False, top_check=False), level_lo, level_hi)`` (vectors equal to rounding; degenerate eigenspaces
    resolved alike), in about half the time: each parity block is diagonalised once, for its lowest levels and
    their vectors together, where that pair of calls diagonalises it twice. For a few eigenstates from (eta, g),
    e.g. a quick verdict of the density CNN; energies are raw (variational, not converged).

    Args:
        eta, g, basis_factor, method, seed: as :func:`solve_spectrum` (``hbar = L = mu = 1``).
        level_lo, level_hi: the window, 1-based levels over both parities, ``1 <= level_lo <= level_hi``.

    Returns ``(spectrum, rows, basis, vectors)``: the raw :class:`Spectrum` of ``level_hi`` levels and the
    :func:`eigenstates` result for the window (``vectors`` (k, dim) float64 on ``basis``).
    """
    solved: dict = {}
    spec = solve_spectrum(eta, g, level_hi, basis_factor=basis_factor, extrapolate=False, method=method, seed=seed,
                          top_check=False, _vectors=solved)
    return (spec, *eigenstates(spec, level_lo, level_hi, method=method, seed=seed, _solved=solved))


def _block_states(ham: BlockHamiltonian, q: np.ndarray, k_lo: int, k_hi: int, method: str, seed: int,
                  solved: tuple | None = None) -> np.ndarray:
    """Vectors (dim, k_hi - k_lo) of block levels k_lo..k_hi-1, degenerate eigenspaces solved whole and resolved.

    ``solved``: ``(energies (K,), vectors (dim, K))`` of block levels 0..K-1 already at hand; used where they
    cover the range, else the range is solved.
    """
    pad = 4
    while True:
        a, b = max(0, k_lo - pad), min(ham.dim, k_hi + pad)
        if solved is not None and b <= solved[0].size:
            e, v = solved[0][a:b], solved[1][:, a:b]
        else:
            e, v = block_eigh(ham, a, b, vectors=True, method=method, seed=seed)
        groups = degenerate_groups(e)
        cut = (a > 0 and groups[0].size > 1 and groups[0][-1] >= k_lo - a) or \
              (b < ham.dim and groups[-1].size > 1 and groups[-1][0] < k_hi - a)
        if not cut or (a == 0 and b == ham.dim):
            return resolve_degeneracies(e, v, q)[:, k_lo - a:k_hi - a]
        pad *= 2


__all__ = ["Spectrum", "solve_spectrum", "spectrum_basis", "SCHEMES", "eigenstates", "window_states", "near_exact",
           "resolve_degeneracies", "degenerate_groups", "tie_break_operator", "rank_levels", "parse_parity", "Basis"]
