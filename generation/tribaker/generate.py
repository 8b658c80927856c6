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

from qchaos.errors import ParameterError

from ..store import PointResult
from .classical import js_distance
from .coherent import lr_on_grid, lr_representation
from .norm_ratio import norm_ratio
from .resonances import resonances
from .summaries import lr_summaries

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
        raise ParameterError(f"per_side = {per_side}: needs 2 * per_side <= {idx.size} eligible resonances "
                         f"(at most N/2 per side)")
    order = idx[np.argsort(mu[idx], kind="stable")]
    chosen = np.concatenate([order[:per_side], order[-per_side:]])
    return chosen, np.repeat(np.array([0, 1], np.int8), per_side)


def _classical_summaries(group: str, res, R: float, bins: int, mu_nat, inv) -> tuple[dict, dict]:
    """Norm ratios, cell measures and JS distances of a set of resonances (streamed, :mod:`.summaries`)."""
    lr = lr_summaries(res.right.T, None if R == 1.0 else res.left.T, bins)
    hr = lr_summaries(res.right.T, None, bins)
    js_lr = js_distance(lr["coarse"], inv)
    js_h = js_distance(hr["coarse"], mu_nat)
    arrays = {f"{group}/z": res.z, f"{group}/index": np.asarray(res.index, np.int32),
              f"{group}/norm_ratio": lr["norm_ratio"], f"{group}/coarse": lr["coarse"].astype(np.float32),
              f"{group}/js_lr_invariant": js_lr, f"{group}/js_husimi_natural": js_h}
    attrs = {f"{group}_js_lr_invariant_mean": float(js_lr.mean()),
             f"{group}_js_husimi_natural_mean": float(js_h.mean()),
             f"{group}_js_lr_invariant_of_mean": float(js_distance(lr["coarse"].mean(axis=0), inv)),
             f"{group}_js_husimi_natural_of_mean": float(js_distance(hr["coarse"].mean(axis=0), mu_nat))}
    return arrays, attrs


def compute_sampled_point(params: dict) -> PointResult:
    """One (N, R) point at large N without the full eigendecomposition (``params["sample"] = m > 0``).

    Tables:

    * ``eigen/z`` (N,): all eigenvalues, |z| descending (:func:`.sampling.sector_eigenvalues`, no vectors).
    * ``spectrum/*`` (m,), ``m = min(sample, N)`` rounded down to even: the rank-uniform sample
      (:func:`.sampling.rank_sample`): ``z``, ``decay``, ``norm_ratio`` (LR on the N x N lattice, streamed),
      ``index`` = rank among all N.
    * ``states/*`` (m,): the same resonances as published rows: ``right``, ``left`` (m, N), ``z``, ``norm_ratio``,
      ``label`` (0 for the m/2 lowest mu of the sample, 1 for the m/2 highest), ``index`` (into ``spectrum``),
      ``image`` (m, P, P) exact LR at the P x P cell centres.
    * ``leading/*`` (k,): the k longest-lived (Arnoldi, :func:`.resonances.leading_resonances`; the closed map:
      the first k ranks); ``natural/*`` (k,): the k with ``|z|^2`` closest to the classical escape factor
      ``(2 + R)/3`` (:func:`.sampling.nearest_decay_ranks`). Each: ``z``, ``index``, ``norm_ratio``, ``coarse``
      (k, M, M) LR cell measure, ``js_lr_invariant`` (JS distance of the LR cell measure to the classical invariant
      measure) and ``js_husimi_natural`` (Husimi of R to the natural measure), with their means in the attrs.
    """
    from .classical import invariant_measure, natural_measure
    from .resonances import leading_resonances
    from .sampling import nearest_decay_ranks, rank_sample, sampled_resonances, sector_eigenvalues

    N, R = int(params["N"]), float(params["R"])
    m = min(int(params["sample"]), N - N % 2)  # even, at most N (m = N: every resonance)
    k, bins, P, seed = int(params["leading"]), int(params["bins"]), int(params["image_size"]), int(params["seed"])
    spec = sector_eigenvalues(N, R)
    z_all = spec[0]
    res = sampled_resonances(N, R, m, seed=seed, spectrum=spec)
    mu = lr_summaries(res.right.T, None if R == 1.0 else res.left.T)["norm_ratio"]
    chosen, label = select_states(mu, m // 2)
    mu_nat, gamma = natural_measure(bins, R)
    inv = invariant_measure(bins, R)
    if R < 1.0:
        lead = leading_resonances(N, R, k, seed=seed)
        lead = type(lead)(N=lead.N, R=lead.R, z=lead.z, right=lead.right, left=lead.left,
                          index=np.arange(k, dtype=np.int64))
    else:
        lead = sampled_resonances(N, R, ranks=rank_sample(N, k), seed=seed, spectrum=spec)
    nat = sampled_resonances(N, R, ranks=nearest_decay_ranks(z_all, gamma, k), seed=seed, spectrum=spec)
    del spec
    right, left = res.right[:, chosen].T, res.left[:, chosen].T
    image = lr_on_grid(right, left, P).astype(np.float32)
    with np.errstate(divide="ignore"):
        decay = -2.0 * np.log(np.abs(res.z))
    arrays = {
        "eigen/z": z_all,
        "spectrum/z": res.z, "spectrum/decay": decay, "spectrum/norm_ratio": mu,
        "spectrum/index": res.index.astype(np.int32),
        "states/right": np.ascontiguousarray(right), "states/left": np.ascontiguousarray(left),
        "states/z": res.z[chosen], "states/norm_ratio": mu[chosen], "states/label": label,
        "states/index": chosen.astype(np.int32), "states/image": image,
    }
    # "sampled": m, the resonances actually drawn (min(sample, N) rounded down to even); the parameters "sample" and
    # "per_side" are recorded as the config gives them (verified against it on every rerun)
    attrs = {"N": N, "R": R, "closed": bool(R == 1.0), "sampled": m, "classical_gamma": gamma,
             "mu_localized_max": float(mu[chosen[:m // 2]].max()),
             "mu_delocalized_min": float(mu[chosen[m // 2:]].min())}
    for group, rs in (("leading", lead), ("natural", nat)):
        a, t = _classical_summaries(group, rs, R, bins, mu_nat, inv)
        arrays.update(a)
        attrs.update(t)
    return PointResult(arrays, attrs)


def compute_point(params: dict) -> PointResult:
    """Compute one (N, R) point; ``params`` as produced by ``TribakerConfig.points()``.

    ``params["sample"] > 0`` (large-N presets): :func:`compute_sampled_point`; otherwise all N resonances by dense
    diagonalization (O(N^3), N x N vectors: the right choice up to N ~ 300, see ``docs/tribaker.md``).
    """
    if params.get("sample", 0):
        return compute_sampled_point(params)
    N, R, S = params["N"], params["R"], params["per_side"]
    res = resonances(N, R)
    mu = norm_ratios(res.right, res.left)
    min_abs_z = params.get("min_abs_z", 0.0)
    eligible = np.abs(res.z) > min_abs_z
    if 2 * S > int(eligible.sum()):
        from qchaos.errors import ParameterError

        raise ParameterError(f"min_abs_z = {min_abs_z:g}, per_side = {S}: only {int(eligible.sum())} of the {N} "
                             f"resonances at N = {N}, R = {R:g} have |z| > min_abs_z, 2 * per_side = {2 * S} are "
                             "needed; lower --min-abs-z or --per-side")
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
