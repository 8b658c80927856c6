"""Time to a reliable integrability verdict: the density CNN on eigenstates against level statistics.

Lang et al., arXiv:2402.16244: the trained CNN reaches a verdict in "a much shorter computation time" than the
level-statistics analysis.

System: two atoms in the unit hard-wall box, units hbar = L = mu = 1, contact interaction g = the g of the density
CNN's training images. Both routes start from nothing but (eta, g) and end with a verdict; what is compared is the
cost of a verdict that is *right*, so each route gets the smallest amount of data that makes it reliable:

* **Route A (CNN), n states.** The eigenstates of levels lo .. lo + n - 1 (lo: the first level of the CNN's training
  window), at the resolution P and the basis size of its training images, exactly as the generator makes them
  (``generation/twobody/generate.py``): the raw levels up to lo + n - 1 and the window's eigenvectors in the
  ``basis_factor`` basis, from one diagonalisation per parity block (``window_states``: the states of
  ``solve_spectrum(..., extrapolate=False)`` + ``eigenstates``, without the generator's convergence report of the
  top level, since the raw levels only rank the states), ``fix_sign``, ``wavefunction_images``,
  ``density_images``; then the CNN (loaded before timing: a trained net is at hand) classifies every state.
  Verdict: integrable when the majority of the n states is called integrable (``cnn_verdict``; the mean
  integrable confidence is recorded too).
* **Route B (level statistics), n levels.** The n lowest converged levels (the default one-basis scheme),
  ``solve_spectrum(eta, g, n, basis_factor)``, both parities mixed, unfolding and the Brody histogram fit with the
  paper's bins (``generation.spectra``). Verdict: integrable when omega < 0 (the critical line omega_c = 0).

Protocol. For every count n of each route's grid (``cnn_states``, ``stat_levels``) and every mass ratio of the
held-out set ``etas`` (non-integrable ratios the CNN never saw, and the two integrable ratios, whose states in the
window it saw only in part), the route runs from scratch and is timed (``time.perf_counter``, one process, the
machine's default threads, routes interleaved, fastest of ``repeats``; one untimed warm-up first). Reliability of a
count = the fraction of held-out ratios with the right verdict; cost = the mean wall time of one verdict. The
reliable count n* of a route is the smallest count from which every larger count of its grid is right on every
held-out ratio (``reliable_count``). ``verdict_speedup`` = cost of route B at n*_B over cost of route A at n*_A
(equal reliability: both always right on the held-out set); undefined (NaN, stated) when a route never gets there
within its grid.

Metrics: ``verdict_speedup``, the reliable counts and their costs, the reliability of each route at its smallest
count. Files: ``verdict-time.png`` (cost against reliability, both routes) + ``verdict-time.csv`` (one row per
route, count and eta: seconds per stage, verdict, confidence or omega).
"""

from __future__ import annotations

import time

import numpy as np

from qchaos.errors import ParameterError

from .core import Metric
from .core import metric as _metric
from .plotting import INTEGRABLE_COLOR, NONINTEGRABLE_COLOR, subplots

NAME = "verdict-time"
TITLE = "Time to a reliable verdict: CNN on eigenstates vs level statistics, cost against reliability"
METRICS = (
    Metric("verdict_speedup", "cost of a reliable level-statistics verdict over that of a reliable CNN verdict"),
    Metric("verdict_speedup_lower_bound", "a lower bound of it when level statistics never became reliable",
           optional=True),
    Metric("cnn_reliable_states", "smallest number of eigenstates from which the CNN is always right"),
    Metric("stats_reliable_levels", "smallest number of levels from which the Brody fit is always right"),
    Metric("cnn_reliable_seconds", "wall time of a CNN verdict at its reliable count", "s"),
    Metric("stats_reliable_seconds", "wall time of a level-statistics verdict at its reliable count", "s"),
    Metric("cnn_reliability_at_1_state", "fraction of held-out ratios right with one eigenstate"),
    Metric("stats_reliability_at_min_levels", "fraction of held-out ratios right with the fewest levels"),
)

PARAMS = {
    "tiny": {"etas": ["1/3", 0.5], "cnn_states": [1, 4], "stat_levels": [30, 80], "basis_factor": 2.0,
             "repeats": 1},
    "mini": {"etas": [0.2, "1/3", 0.4, 0.6, 0.9, 1], "cnn_states": [1, 2, 4, 8, 16],
             "stat_levels": [50, 100, 200, 400, 800, 1600], "basis_factor": 2.0, "repeats": 2},
    "paper": {"etas": [0.1, 0.2, 0.3, "1/3", 0.4, 0.6, 0.8, 0.9, 1], "cnn_states": [1, 2, 4, 8, 16, 32, 64],
              "stat_levels": [25, 50, 100, 200, 400, 800, 1600, 3200], "basis_factor": 2.0, "repeats": 2},
}

STAGE_COLORS = {"eigensolve": "tab:gray", "images": "tab:orange", "inference": "tab:blue", "fit": "tab:green"}
ROUTES = {"cnn": "A: density CNN (states)", "stats": "B: level statistics (levels)"}


# ------------------------------------------------------------------------------------------------ helpers
def dataset_window(repo_id: str, source: str) -> dict:
    """The image setup of a two-atom training dataset: ``{"g", "window": (lo, hi), "image_size", "basis_factor"}``.

    Read from its ``wavefunctions`` rows (every split: the stored level range, the psi shape, the single g) and, for
    the basis size, the generation config in its manifest (else the generator's default 2).
    """
    from generation.presets import TwobodyConfig
    from modeling.data import dataset_info, load_table

    splits = load_table(repo_id, "wavefunctions", None, source=source)
    levels, gs, size = [], set(), None
    for part in splits.values():
        table = part.data.table
        levels.append(np.asarray(table.column("level").to_numpy()))
        gs |= set(np.unique(table.column("g").to_numpy()).tolist())
        size = int(part.features["psi"].shape[-1])
    if len(gs) != 1:
        raise ParameterError(f"dataset {repo_id}: its images have several g {sorted(gs)}; one is needed")
    lv = np.concatenate(levels)
    config = dataset_info(repo_id).get("config") or {}
    return {"g": float(gs.pop()), "window": (int(lv.min()), int(lv.max())), "image_size": size,
            "basis_factor": float(config.get("basis_factor", TwobodyConfig.basis_factor))}


def cnn_verdict(proba) -> dict:
    """Verdict from per-state softmax confidences ``proba`` (n, 2) (column 1 = integrable): majority vote.

    Returns ``{"integrable": bool (more than half of the states called integrable), "fraction": that share,
    "confidence": mean integrable probability}``.
    """
    p = np.asarray(proba, dtype=float)
    frac = float(np.mean(p[:, 1] > 0.5))
    return {"integrable": frac > 0.5, "fraction": frac, "confidence": float(p[:, 1].mean())}


def reliable_count(counts, correct) -> int | None:
    """The smallest count from which the route is right on every held-out ratio at every larger count of the grid.

    Args:
        counts: increasing counts (k,) of one route (states or levels).
        correct: bool array (k, n_eta): verdict right at count i for ratio j.

    Returns that count, or None when the largest count is not always right.
    """
    counts = [int(c) for c in counts]
    ok = np.asarray(correct, dtype=bool).all(axis=1)
    if ok.shape[0] != len(counts):
        raise ParameterError(f"correct: {ok.shape[0]} rows for {len(counts)} counts")
    if any(b <= a for a, b in zip(counts, counts[1:])):
        raise ParameterError(f"counts = {counts}: must be strictly increasing")
    if not ok.size or not ok[-1]:
        return None
    i = len(ok) - 1
    while i > 0 and ok[i - 1]:
        i -= 1
    return counts[i]


def route_cnn(model, eta, g: float, lo: int, n_states: int, image_size: int, basis_factor: float) -> dict:
    """Route A: eigenstates of levels lo .. lo + n_states - 1 -> density images -> CNN verdict; seconds per stage."""
    import torch

    from generation.twobody.images import fix_sign, wavefunction_images
    from generation.twobody.spectrum import window_states
    from modeling.density_cnn import density_images

    hi = lo + n_states - 1
    t0 = time.perf_counter()
    _, _, basis, vectors = window_states(eta, g, lo, hi, basis_factor=basis_factor)
    t1 = time.perf_counter()
    images = density_images(torch.from_numpy(wavefunction_images(basis, fix_sign(vectors), image_size)))
    t2 = time.perf_counter()
    proba = model.predict_proba(images).double().numpy()
    t3 = time.perf_counter()
    return {"stages": {"eigensolve": t1 - t0, "images": t2 - t1, "inference": t3 - t2}, "count": len(images),
            **cnn_verdict(proba)}


def route_statistics(eta, g: float, n_levels: int, basis_factor: float) -> dict:
    """Route B: converged spectrum -> unfolded spacings -> Brody histogram fit.

    Verdict: integrable when omega < 0; seconds per stage.
    """
    from generation.spectra import fit_brody_hist, spacings
    from generation.twobody.spectrum import solve_spectrum

    t0 = time.perf_counter()
    spec = solve_spectrum(eta, g, n_levels, basis_factor=basis_factor)
    t1 = time.perf_counter()
    fit = fit_brody_hist(spacings(spec.energy))  # the paper's bins, default_bins(levels)
    t2 = time.perf_counter()
    return {"stages": {"eigensolve": t1 - t0, "fit": t2 - t1}, "count": len(spec), "omega": fit.omega,
            "integrable": bool(fit.omega < 0)}


def fastest(runs: list[dict]) -> dict:
    """The run with the smallest total time (sum of its ``stages``), with ``seconds`` = that total."""
    best = min(runs, key=lambda r: sum(r["stages"].values()))
    return {**best, "seconds": float(sum(best["stages"].values()))}


def curve(rows: list[dict], route: str, counts) -> dict:
    """Per count of ``route``: ``{"count", "seconds" (mean over eta), "reliability", "correct" (k, n_eta)}``."""
    etas = sorted({r["eta"] for r in rows})
    correct = np.zeros((len(counts), len(etas)), bool)
    seconds = np.zeros(len(counts))
    for i, c in enumerate(counts):
        sel = {r["eta"]: r for r in rows if r["route"] == route and r["count"] == c}
        correct[i] = [sel[e]["correct"] for e in etas]
        seconds[i] = np.mean([sel[e]["seconds"] for e in etas])
    return {"count": np.asarray(counts), "seconds": seconds, "reliability": correct.mean(axis=1), "correct": correct}


# ------------------------------------------------------------------------------------------------ run
def _figure(ctx, curves: dict, reliable: dict, setup: dict, etas) -> None:
    fig, axes = subplots(1, 1, width=6.0, height=3.8)
    ax = axes[0, 0]
    for route, color in (("cnn", INTEGRABLE_COLOR), ("stats", NONINTEGRABLE_COLOR)):
        c = curves[route]
        ax.plot(c["seconds"], c["reliability"], "o-", color=color, label=ROUTES[route])
        for x, y, n in zip(c["seconds"], c["reliability"], c["count"]):
            ax.annotate(str(int(n)), (x, y), textcoords="offset points", xytext=(3, -9), fontsize=6, color=color)
        if reliable[route] is not None:
            i = list(c["count"]).index(reliable[route])
            ax.axvline(c["seconds"][i], color=color, ls=":", lw=0.9)
    ax.set_xscale("log")
    ax.set(xlabel="wall time of one verdict from (eta, g) (s)", ylabel="reliability (fraction of held-out eta right)",
           ylim=(-0.03, 1.05), title=f"cost against reliability (g = {setup['g']:g})")
    ax.legend(fontsize=7, loc="lower right")
    ax.grid(alpha=0.3, which="both")
    lo = setup["window"][0]
    ctx.save_figure(fig, "", "Time to an integrability verdict against its reliability on the held-out mass ratios "
                    f"{', '.join(str(e) for e in etas)}. A: n eigenstates from level {lo} at "
                    f"{setup['image_size']}^2 pixels ({setup['basis_factor']:g} basis states per level) and the "
                    "density CNN (majority vote); B: the n lowest converged levels and a Brody fit "
                    "(omega < 0 = integrable). Labels: n. Dotted: the smallest n that is right on every held-out "
                    "ratio from there on.")


def run(ctx) -> dict:
    from generation.presets import is_integrable
    from generation.twobody.basis import parse_eta
    from modeling.density_cnn import DensityCNN

    p = ctx.params
    model = ctx.resources.model("density-cnn", shipped=True)
    if not isinstance(model, DensityCNN):
        raise TypeError(f"density-cnn checkpoint: expected a DensityCNN, got {type(model).__name__}")
    repo = ctx.resources.dataset(ctx.resources.model_role("density-cnn", shipped=True))
    setup = dataset_window(repo, ctx.resources.source)
    if tuple(model.input_shape[-2:]) != (setup["image_size"],) * 2:
        raise ValueError(f"density-cnn expects {tuple(model.input_shape[-2:])} images, its dataset {repo} has "
                         f"{setup['image_size']}")
    g, lo, size, bf = setup["g"], setup["window"][0], setup["image_size"], setup["basis_factor"]
    cnn_counts, stat_counts = [int(n) for n in p["cnn_states"]], [int(n) for n in p["stat_levels"]]
    ctx.log(f"g = {g:g}; A: states from level {lo} at {size}x{size}, n = {cnn_counts}; B: levels n = {stat_counts}; "
            "warm-up")
    route_cnn(model, 0.45, g, 1, 4, size, bf)
    route_statistics(0.45, g, 40, p["basis_factor"])

    rows = []
    jobs = [(eta, route, n) for eta in p["etas"] for route, counts in (("cnn", cnn_counts), ("stats", stat_counts))
            for n in counts]
    for eta, route, n in ctx.bar(jobs, desc="verdicts"):
        runs = [route_cnn(model, eta, g, lo, n, size, bf) if route == "cnn"
                else route_statistics(eta, g, n, p["basis_factor"]) for _ in range(int(p["repeats"]))]
        best = fastest(runs)
        truth = is_integrable(parse_eta(eta))
        rows.append({"route": route, "count": n, "eta": parse_eta(eta), "eta_text": str(eta), "integrable": truth,
                     "verdict": best["integrable"], "correct": best["integrable"] == truth,
                     "seconds": best["seconds"], "confidence": best.get("confidence"),
                     "fraction_integrable": best.get("fraction"), "omega": best.get("omega"),
                     **{f"{k}_seconds": best["stages"].get(k) for k in STAGE_COLORS}})
    curves = {"cnn": curve(rows, "cnn", cnn_counts), "stats": curve(rows, "stats", stat_counts)}
    reliable = {r: reliable_count(curves[r]["count"], curves[r]["correct"]) for r in curves}
    cost = {r: (float(curves[r]["seconds"][list(curves[r]["count"]).index(reliable[r])])
                if reliable[r] is not None else float("nan")) for r in curves}
    _figure(ctx, curves, reliable, setup, p["etas"])
    ctx.save_data(rows, "", fmt="csv")

    speedup = cost["stats"] / cost["cnn"]
    m = {
        "verdict_speedup": _metric(speedup, "cost of a reliable level-statistics verdict over that of a reliable CNN "
                                   f"verdict (mean seconds per held-out eta at n*_B = {reliable['stats']} levels "
                                   f"and n*_A = {reliable['cnn']} states)"),
        "cnn_reliable_states": _metric(reliable["cnn"], "smallest number of eigenstates from which the CNN majority "
                                       "vote is right on every held-out eta (None: not within the grid)"),
        "stats_reliable_levels": _metric(reliable["stats"], "smallest number of levels from which omega < 0 <=> "
                                         "integrable is right on every held-out eta (None: not within the grid)"),
        "cnn_reliable_seconds": _metric(cost["cnn"], "mean wall time of a CNN verdict at its reliable count (s)"),
        "stats_reliable_seconds": _metric(cost["stats"], "mean wall time of a level-statistics verdict at its "
                                          "reliable count (s)"),
        "cnn_reliability_at_1_state": _metric(curves["cnn"]["reliability"][0], f"fraction of held-out eta right "
                                              f"with {cnn_counts[0]} state(s)"),
        "stats_reliability_at_min_levels": _metric(curves["stats"]["reliability"][0], f"fraction of held-out eta "
                                                   f"right with {stat_counts[0]} levels"),
    }
    if reliable["cnn"] is not None and reliable["stats"] is not None:
        verdict = (f"At equal reliability (right on all {len(p['etas'])} held-out mass ratios) the CNN needs "
                   f"{reliable['cnn']} eigenstate(s) from level {lo} ({cost['cnn']:.2f} s per verdict) and the level "
                   f"statistics {reliable['stats']} levels ({cost['stats']:.2f} s): the CNN is {speedup:.1f}x "
                   f"{'faster' if speedup > 1 else 'slower'}.")
    else:
        missing = [ROUTES[r] for r in reliable if reliable[r] is None]
        verdict = (f"{' and '.join(missing)} never became reliable within its grid, so the ratio at equal "
                   "reliability is undefined here.")
        if reliable["cnn"] is not None:  # B was still wrong somewhere at its largest count: a lower bound
            bound = float(curves["stats"]["seconds"][-1]) / cost["cnn"]
            m["verdict_speedup_lower_bound"] = _metric(
                bound, f"cost of level statistics at its largest count ({stat_counts[-1]} levels, still wrong on "
                "some held-out eta) over that of a reliable CNN verdict: the speed-up at equal reliability is larger")
            verdict += (f" The CNN is reliable from {reliable['cnn']} state(s) ({cost['cnn']:.2f} s per verdict); level "
                        f"statistics with {stat_counts[-1]} levels ({curves['stats']['seconds'][-1]:.2f} s) are still "
                        f"wrong on some held-out ratio (reliability {curves['stats']['reliability'][-1]:.2f}), so the "
                        f"speed-up at equal reliability exceeds {bound:.1f}x.")
    summary = (verdict + f" Both start from nothing but (eta, g = {g:g}): the CNN's cost is the eigenvectors of a "
               f"window starting at level {lo} ({bf:g} basis states per level), the statistics' cost many converged "
               "eigenvalues (solve_spectrum's default one-basis scheme); the CNN verdict needs few states because every "
               "highly excited state carries the signature, while a Brody fit needs enough spacings to tell Poisson "
               "from Wigner near omega = 0.")
    return {"metrics": m, "summary": summary}
