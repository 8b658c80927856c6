"""Time to an integrability verdict on one mass ratio: the density CNN on eigenstates against level statistics
(Lang et al., arXiv:2402.16244: the trained CNN is "much faster" than the level-statistics analysis).

System: two atoms in the unit hard-wall box, units hbar = L = mu = 1, contact interaction g (the g of the density
model's training dataset, ``twobody-train`` role). For every eta of ``etas`` (any 0 < eta <= 1, not necessarily in
a dataset), both routes start from nothing but (eta, g) and end with a verdict:

* **Route A (CNN).** The eigenstates of the model's level window [lo, hi], at the resolution P of its training
  images, exactly as the generator makes them (``generation/twobody/generate.py``): ``solve_spectrum(eta, g, hi,
  basis_factor)`` without Richardson extrapolation (the images need eigenvectors of the basis, not extrapolated
  energies; the level numbers need the spectrum up to hi), ``eigenstates(spec, lo, hi)``, ``fix_sign``,
  ``wavefunction_images(basis, ., P)``, ``density_images``; then the reference ``density-cnn`` checkpoint
  (``ctx.resources.model``) classifies every state. Verdict: integrable if the majority of the states is
  classified integrable; the mean integrable confidence is reported too. Stages: eigensolve, images, inference.
* **Route B (level statistics).** The converged spectrum with as many levels as the statistics need,
  ``solve_spectrum(eta, g, stat_levels, basis_factor)`` (``basis_factor`` of ``PARAMS``, Richardson-extrapolated,
  as the dataset's spectra), both parities mixed, unfolding + Brody histogram fit with floor(sqrt(n)/10)*10 bins
  (``generation.spectra``). Verdict: integrable if omega < 0 (the critical line omega_c = 0). Stages: eigensolve, fit.

Window, P and g are read from the training dataset itself (its ``wavefunctions`` rows: ``level`` range, ``psi``
shape, ``g``), ``basis_factor`` from the generation config in its manifest (8 for the paper-scale images). Timing:
``time.perf_counter`` per stage, one process, the machine's default threads for both routes, the two routes
interleaved in every repeat (A B A B ...) and the fastest repeat of each route kept; one untimed warm-up of both
routes on a small problem first (imports, caches). The model is loaded before timing (a trained CNN is at hand;
its training is not counted) and so is nothing else: route A's cost includes the eigenvectors it needs.

Metrics: ``verdict_speedup`` = (sum over eta of route B time) / (sum of route A time) (> 1: the CNN is faster),
per-eta times and ratios, ``cnn_verdict_correct`` / ``stats_verdict_correct`` (fraction of eta with the right
verdict), the CNN's mean integrable confidence and omega per eta. Files: ``verdict-time.png`` + ``.csv``.
"""

from __future__ import annotations

import time

import numpy as np

from .plotting import subplots

NAME = "verdict-time"
TITLE = "Time to a verdict on one eta: CNN on eigenstates vs level statistics"
PARAMS = {
    "tiny": {"etas": ["1/3", 0.5], "stat_levels": 80, "basis_factor": 2.0, "repeats": 1},
    "mini": {"etas": ["1/3", 0.5], "stat_levels": 400, "basis_factor": 2.0, "repeats": 2},
    "paper": {"etas": ["1/3", 0.6, 1], "stat_levels": 1000, "basis_factor": 2.0, "repeats": 3},
}

STAGE_COLORS = {"eigensolve": "tab:gray", "images": "tab:orange", "inference": "tab:blue", "fit": "tab:green"}


# ------------------------------------------------------------------------------------------------ helpers
def dataset_window(repo_id: str, source: str) -> dict:
    """The image setup of a two-atom training dataset: ``{"g", "window": (lo, hi), "image_size", "basis_factor"}``
    from its ``wavefunctions`` rows (every split: the stored level range, the psi shape, the single g) and, for the
    basis size, the generation config in its manifest (else the generator's default 2)."""
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
        raise ValueError(f"dataset {repo_id}: its images have several g {sorted(gs)}; one is needed")
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


def route_cnn(model, eta, g: float, window: tuple[int, int], image_size: int, basis_factor: float) -> dict:
    """Route A: eigenstates of the window -> density images -> CNN verdict; seconds per stage."""
    import torch

    from generation.twobody.images import fix_sign, wavefunction_images
    from generation.twobody.spectrum import eigenstates, solve_spectrum
    from modeling.density_cnn import density_images

    lo, hi = window
    t0 = time.perf_counter()
    spec = solve_spectrum(eta, g, hi, basis_factor=basis_factor, extrapolate=False)
    _, basis, vectors = eigenstates(spec, lo, hi)
    t1 = time.perf_counter()
    images = density_images(torch.from_numpy(wavefunction_images(basis, fix_sign(vectors), image_size)))
    t2 = time.perf_counter()
    proba = model.predict_proba(images).double().numpy()
    t3 = time.perf_counter()
    return {"stages": {"eigensolve": t1 - t0, "images": t2 - t1, "inference": t3 - t2}, "states": len(images),
            **cnn_verdict(proba)}


def route_statistics(eta, g: float, n_levels: int, basis_factor: float) -> dict:
    """Route B: converged spectrum -> unfolded spacings -> Brody histogram fit; verdict omega < 0; seconds per
    stage."""
    from generation.spectra import fit_brody_hist, spacings
    from generation.twobody.spectrum import solve_spectrum

    t0 = time.perf_counter()
    spec = solve_spectrum(eta, g, n_levels, basis_factor=basis_factor)
    t1 = time.perf_counter()
    fit = fit_brody_hist(spacings(spec.energy))  # the paper's bins, default_bins(levels)
    t2 = time.perf_counter()
    return {"stages": {"eigensolve": t1 - t0, "fit": t2 - t1}, "levels": len(spec), "omega": fit.omega,
            "integrable": fit.omega < 0}


def fastest(runs: list[dict]) -> dict:
    """The run with the smallest total time (sum of its ``stages``), with ``seconds`` = that total."""
    best = min(runs, key=lambda r: sum(r["stages"].values()))
    return {**best, "seconds": float(sum(best["stages"].values()))}


# ------------------------------------------------------------------------------------------------ run
def _figure(ctx, rows: list[dict], setup: dict, p) -> None:
    fig, axes = subplots(1, 1, width=1.6 + 1.6 * len(rows), height=3.6)
    ax = axes[0, 0]
    labels, x = [], 0
    seen = set()
    for r in rows:
        for route, key in (("A: CNN", "cnn"), ("B: statistics", "stats")):
            bottom = 0.0
            for stage, sec in r[f"{key}_stages"].items():
                ax.bar(x, sec, bottom=bottom, color=STAGE_COLORS[stage], width=0.7,
                       label=stage if stage not in seen else None)
                seen.add(stage)
                bottom += sec
            ax.text(x, bottom, f"{bottom:.2f} s", ha="center", va="bottom", fontsize=7)
            labels.append(f"{route}\neta = {r['eta_text']}")
            x += 1
    ax.set_xticks(range(len(labels)), labels, fontsize=7)
    ax.set_ylabel("wall time (s)")
    lo, hi = setup["window"]
    ax.set_title(f"time to a verdict (g = {setup['g']:g})", fontsize=9)
    ax.legend(fontsize=7, title="stage", title_fontsize=7)
    ctx.save_figure(fig, "", f"Time to an integrability verdict per mass ratio, split into stages (fastest of "
                    f"{p['repeats']} repeats). A: eigenstates of levels {lo}-{hi} at {setup['image_size']}^2 pixels "
                    f"and the density CNN (majority vote); B: the {p['stat_levels']} lowest Richardson-extrapolated "
                    "levels and a Brody fit (omega < 0 = integrable).")
    ctx.save_data([{k: v for k, v in r.items() if not k.endswith("_stages")} for r in rows], "", fmt="csv")


def run(ctx) -> dict:
    from generation.presets import is_integrable
    from generation.twobody.basis import parse_eta
    from modeling.density_cnn import DensityCNN  # imported before loading: the checkpoint loader needs the class

    p = ctx.params
    model = ctx.resources.model("density-cnn")
    if not isinstance(model, DensityCNN):
        raise TypeError(f"density-cnn checkpoint: expected a DensityCNN, got {type(model).__name__}")
    repo = ctx.resources.dataset("twobody-train")
    setup = dataset_window(repo, ctx.resources.source)
    if tuple(model.input_shape[-2:]) != (setup["image_size"],) * 2:
        raise ValueError(f"density-cnn expects {tuple(model.input_shape[-2:])} images, its dataset {repo} has "
                         f"{setup['image_size']}")
    g, window, size, bf = setup["g"], setup["window"], setup["image_size"], setup["basis_factor"]
    ctx.log(f"g = {g:g}, CNN window levels {window[0]}-{window[1]} at {size}x{size}; statistics on "
            f"{p['stat_levels']} levels; warm-up")
    route_cnn(model, 0.45, g, (1, 10), size, bf)
    route_statistics(0.45, g, 40, p["basis_factor"])

    rows = []
    for eta in ctx.bar(p["etas"], desc="verdicts"):
        runs_a, runs_b = [], []
        for _ in range(p["repeats"]):
            runs_a.append(route_cnn(model, eta, g, window, size, bf))
            runs_b.append(route_statistics(eta, g, p["stat_levels"], p["basis_factor"]))
        a, b = fastest(runs_a), fastest(runs_b)
        truth = is_integrable(parse_eta(eta))
        row = {"eta": parse_eta(eta), "eta_text": str(eta), "integrable": truth,
               "cnn_seconds": a["seconds"], "stats_seconds": b["seconds"], "ratio": b["seconds"] / a["seconds"],
               "cnn_verdict": a["integrable"], "cnn_correct": a["integrable"] == truth,
               "cnn_fraction_integrable": a["fraction"], "cnn_confidence": a["confidence"], "cnn_states": a["states"],
               "stats_verdict": b["integrable"], "stats_correct": b["integrable"] == truth, "omega": b["omega"],
               "stats_levels": b["levels"], "cnn_stages": a["stages"], "stats_stages": b["stages"]}
        row.update({f"cnn_{k}_seconds": v for k, v in a["stages"].items()})
        row.update({f"stats_{k}_seconds": v for k, v in b["stages"].items()})
        rows.append(row)
        ctx.log(f"eta = {eta}: CNN {a['seconds']:.2f} s ({'integrable' if a['integrable'] else 'non-integrable'}, "
                f"p_int {a['confidence']:.3f}), statistics {b['seconds']:.2f} s (omega {b['omega']:+.3f})")
    _figure(ctx, rows, setup, p)

    t_a, t_b = sum(r["cnn_seconds"] for r in rows), sum(r["stats_seconds"] for r in rows)
    m = {"verdict_speedup": {"value": t_b / t_a, "description": f"level-statistics time over CNN time, summed over "
                             f"eta {p['etas']}"},
         "cnn_verdict_correct": {"value": float(np.mean([r["cnn_correct"] for r in rows])),
                                 "description": "fraction of eta where the CNN majority vote is right"},
         "stats_verdict_correct": {"value": float(np.mean([r["stats_correct"] for r in rows])),
                                   "description": "fraction of eta where omega < 0 <=> integrable is right"},
         "cnn_seconds_total": {"value": t_a, "description": "route A wall time summed over eta (s)"},
         "stats_seconds_total": {"value": t_b, "description": "route B wall time summed over eta (s)"}}
    share = {f"{route}_{stage}": sum(r[f"{route}_stages"][stage] for r in rows) / total
             for route, total in (("cnn", t_a), ("stats", t_b)) for stage in rows[0][f"{route}_stages"]}
    m["cnn_eigensolve_share"] = {"value": share["cnn_eigensolve"],
                                 "description": "share of route A spent computing eigenstates"}
    for r in rows:
        tag = r["eta_text"].replace("/", "_").replace(".", "p")
        m[f"verdict_speedup_eta_{tag}"] = {"value": r["ratio"], "description": f"time B / time A at eta = "
                                           f"{r['eta_text']}"}
        m[f"cnn_confidence_eta_{tag}"] = {"value": r["cnn_confidence"], "description": f"mean integrable "
                                          f"confidence of the CNN at eta = {r['eta_text']}"}
        m[f"omega_eta_{tag}_verdict"] = {"value": r["omega"], "description": f"route B's Brody omega at eta = "
                                         f"{r['eta_text']} ({r['stats_levels']} levels)"}
    m["cnn_inference_share"] = {"value": share["cnn_inference"], "description": "share of route A spent in the CNN"}
    faster = "faster" if t_b > t_a else "slower"
    summary = (
        f"Route A (CNN) took {t_a:.2f} s and route B (level statistics) {t_b:.2f} s for {len(rows)} mass ratios "
        f"(verdict_speedup = {t_b / t_a:.2f}: the CNN verdict is {faster}); the CNN majority vote was right for "
        f"{m['cnn_verdict_correct']['value']:.0%} and omega < 0 for {m['stats_verdict_correct']['value']:.0%} of "
        f"them. Route A is {share['cnn_eigensolve']:.0%} eigensolve (the {rows[0]['cnn_states']} eigenvectors of "
        f"levels {window[0]}-{window[1]}), {share['cnn_images']:.0%} images and {share['cnn_inference']:.0%} "
        f"inference; route B is {share['stats_eigensolve']:.0%} eigensolve ({p['stat_levels']} Richardson-"
        f"extrapolated levels: a second, 4x larger basis) and {share['stats_fit']:.0%} Brody fit. Neither route is "
        "free: the CNN needs eigenvectors of a converged level window, the statistics many converged eigenvalues "
        "(no vectors), so the ratio measures two eigensolves, not the network against a fit; classifying images "
        "that are already at hand is what the CNN makes fast.")
    return {"metrics": m, "summary": summary}
