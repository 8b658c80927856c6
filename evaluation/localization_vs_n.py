"""Past the paper: localization of tribaker resonances against N towards the semiclassical limit.

Closed vs partially open map (the open question of Montes et al., arXiv:2406.00363: is there more localization in
the open map, and how does it evolve as N grows? ``docs/tribaker.md`` §2-4, §9-12).

Units: the map's Hilbert-space dimension is N = 1/(2 pi hbar) (semiclassical limit N -> infinity); the norm ratio
mu of a Husimi / LR image is 1 for a coherent state and N/2 for the uniform distribution (``docs/tribaker.md``
§4), so mu / (N/2) is in (0, 1].

Protocol:

* Model: the reference checkpoint ``ctx.resources.model("quantum-net")`` (seed 0, trained on both maps of the
  ``tribaker`` dataset, N = N0 .. N_max, only the ``per_side`` lowest- and highest-mu states per N); its coherent
  layer is evaluated at any N with O(S^2 N) per state (never the N x N lattice).
* Grid: the ``N_values`` of the points' generation preset (``largeN-mini`` up to 1920, ``largeN`` up to 6000,
  from the trained range on; tiny: 30, 48), closed R = 1 and open R = ``open_reflectivity``.
* Points: one parameter point (N, R) of the resumable Dask sweep of that dataset's store
  (:func:`generation.build.build`, as ``qchaos generate tribaker --preset largeN``; ``workers`` / ``scheduler``
  spread the points); the experiment then publishes the store as the ``tribaker-largeN`` corpus. Computed by
  :func:`generation.tribaker.generate.compute_sampled_point` without the full eigendecomposition: all N eigenvalues
  (parity-sector Hessenberg), ``m = min(sample, N)`` resonances sampled uniformly in |z|-rank with right and left
  vectors (``m = N``: every resonance, as the dense path), their LR norm ratios (streamed FFT route), the k
  longest-lived (Arnoldi) and the k natural-decay resonances (|z|^2 closest to the classical escape factor
  (2 + R)/3) with the Jensen-Shannon distances of their cell measures (M x M, M = ``bins``) to the classical
  measures from the Ulam operator (LR vs invariant measure; Husimi of R vs natural measure). Memory per point:
  ~3 (N/2)^2 complex (< 1 GB at N = 6000) plus 64 MiB chunks (N = 3000: 0.4 GB peak RSS).
* Per point and map: the net's class of every sampled resonance (argmax; class 0 = localized); fractions
  f = (called localized) / m with binomial errors sqrt(f (1 - f) / m) (the rank sample is stratified, so this is
  an upper bound on the sampling error); the longer-lived subset = |z| at or above the ``long_lived_quantile``
  quantile of ALL N |z| (the whole spectrum for the closed map); the norm-ratio baseline (mu/(N/2) below the
  threshold t fitted per map on the training rows, :func:`fit_threshold`) and the mean mu/(N/2).
* Trends: weighted least-squares lines against ln N with standard errors (:func:`trend_fit`): the fractions and
  their open - closed difference (weights 1/err^2), mean mu/(N/2), and ln(JS distance) (power laws N^b). The
  verdict compares the open - closed difference (mean over the grid +- standard error, and its slope) with zero
  at two standard errors.

Writes ``localization-vs-n.png`` (fractions; mean mu/(N/2); JS distances, against N) and its data
``localization-vs-n.csv`` (one row per N and map), ``localization-vs-n_thresholds.json`` and
``localization-vs-n_fits.json``.
"""

from __future__ import annotations

import numpy as np
import torch

from qchaos.errors import ParameterError

from .core import Metric
from .plotting import CLOSED_COLOR, OPEN_COLOR, subplots

NAME = "localization-vs-n"
TITLE = "Past the paper: fraction of resonances called localized against N, closed vs open"
_COMMON = {"open_reflectivity": 0.2, "long_lived_quantile": 0.5, "min_abs_z": 0.0, "scheduler": None}
METRICS = (
    Metric("frac_localized_{map}_maxN", "fraction of resonances the net calls localized at the largest N"),
    Metric("frac_localized_open_long_maxN", "the same for the open map's longer-lived half"),
    Metric("baseline_frac_{map}_maxN", "fraction below the norm-ratio threshold at the largest N"),
    Metric("slope_{map}_per_lnN", "d(fraction)/d ln N of the net's calls, unweighted"),
    Metric("slope_{map}_per_lnN_weighted", "the same, inverse-variance weighted fit"),
    Metric("more_localization_open", "open minus closed fraction called localized, mean over N"),
    Metric("more_localization_open_weighted", "the same, inverse-variance weighted mean"),
    Metric("more_localization_open_slope_per_lnN", "d(open - closed fraction)/d ln N, weighted"),
    Metric("more_localization_open_long", "the same with the open map's longer-lived half"),
    Metric("baseline_more_localization_open", "open minus closed for the norm-ratio baseline"),
    Metric("mean_mu_scaled_{map}_maxN", "mean norm ratio mu / (N/2) at the largest N"),
    Metric("js_natural_open_maxN", "JS distance of the natural-decay resonances' Husimi functions to the natural "
           "measure at the largest N"),
    Metric("js_natural_open_exponent", "b in JS ~ N^b, natural-decay resonances, open map"),
    Metric("js_leading_open_exponent", "b in JS ~ N^b, LR of the longest-lived resonances, open map"),
)

PARAMS = {
    # the points are a tribaker dataset's store (generation.build.build, as `qchaos generate tribaker --preset P`):
    # "points" names the generation preset, "overrides" changes it (a custom store under the runs folder)
    # every resonance (m = N), in-process: the test preset
    "tiny": {**_COMMON, "points": "largeN-mini", "overrides": {"N_values": (30, 48), "sample": 48, "leading": 4,
                                                                "bins": 9, "image_size": 8}, "workers": 0},
    # N <= 1200 took 134 s on 2 loaded cores (65 s sweep + net calls); N = 1920 adds ~2 min (benchmarks/tribaker.py)
    "mini": {**_COMMON, "points": "largeN-mini", "overrides": {}, "workers": 2},
    # ~15-45 min and < 2 GB per N = 6000 point on one core (N = 3000 measured: 196-329 s, 0.4 GB; at most 1.3-2.2
    # core-hours in all, benchmarks/tribaker.py); spread the points with a Dask scheduler. The store is the
    # qchaos/tribaker-largeN corpus, published by the experiment.
    "paper": {**_COMMON, "points": "largeN", "overrides": {}, "workers": 2},
}
"""Per preset: the generation preset of the points (``generation.presets.TRIBAKER_PRESETS``), its overrides, the
open map's R and the sweep's workers. The closed map (R = 1) and ``open_reflectivity`` must be reflectivities of the
points' config."""

CORPUS_ROLE = "tribaker-largeN"
"""The dataset role (``evaluation.resources.DATASET_ROLES``) whose store holds the points without overrides; the
experiment publishes it, so the corpus is exactly what the report shows."""


def n_grid(N0: int, stop: int, step: int) -> list[int]:
    """N0, N0 + step, ... <= stop (every value a multiple of 3 when N0 and step are)."""
    if step < 3 or step % 3 or N0 % 3:
        raise ParameterError(f"N0 = {N0}, N_step = {step}: both must be multiples of 3 (step >= 3)")
    return list(range(int(N0), int(stop) + 1, int(step)))


def fit_threshold(x, label) -> tuple[float, float]:
    """Threshold on x separating class 0 (localized, x < t) from class 1 (x >= t), and its training accuracy.

    Candidates: the midpoints between consecutive distinct sorted x, plus one below the smallest and one above the
    largest; the best training accuracy wins, ties to the smallest threshold.
    """
    x = np.asarray(x, dtype=np.float64)
    y = np.asarray(label)
    if x.size == 0 or x.size != y.size:
        raise ValueError(f"x, label: need equal, non-zero lengths ({x.size}, {y.size})")
    u = np.unique(x)
    cand = np.concatenate([[u[0] - 1.0], (u[:-1] + u[1:]) / 2, [u[-1] + 1.0]])
    acc = ((x[None, :] < cand[:, None]) == (y[None, :] == 0)).mean(axis=1)
    best = int(np.argmax(acc))  # first maximum = smallest threshold
    return float(cand[best]), float(acc[best])


def binomial_fraction(flags) -> tuple[float, float, int]:
    """(f, sqrt(f (1 - f) / n), n) of a boolean array; (NaN, NaN, 0) when empty."""
    a = np.asarray(flags, dtype=bool)
    n = int(a.size)
    if n == 0:
        return float("nan"), float("nan"), 0
    f = float(a.mean())
    return f, float(np.sqrt(f * (1 - f) / n)), n


def long_lived(z, quantile: float) -> np.ndarray:
    """Mask of the resonances with |z| >= the ``quantile`` quantile of |z| (all of them when every |z| is equal)."""
    a = np.abs(np.asarray(z))
    return a >= np.quantile(a, quantile) - 1e-12


def log_slope(N, f) -> float:
    """Slope of the least-squares line f = a + b ln N (NaN with fewer than 2 finite points)."""
    N, f = np.asarray(N, float), np.asarray(f, float)
    ok = np.isfinite(f)
    if ok.sum() < 2:
        return float("nan")
    return float(np.polyfit(np.log(N[ok]), f[ok], 1)[0])


def classify_spectrum(model, N: int, R: float, min_abs_z: float = 0.0) -> dict:
    """All resonances of ``tribaker(N, R)`` with |z| > ``min_abs_z``, classified by the net.

    Returns |z| (n,), mu / (N/2) (n,), and net says localized (n,) bool.
    """
    from generation.tribaker.generate import norm_ratios
    from generation.tribaker.resonances import resonances
    from modeling.coherent_layer import pack_resonances

    res = resonances(N, R)
    keep = np.abs(res.z) > min_abs_z
    right, left = res.right[:, keep], res.left[:, keep]
    mu = norm_ratios(right, left)
    x = pack_resonances(right.T, None if R == 1.0 else left.T)
    with torch.no_grad():
        pred = model.predict_proba(x).argmax(dim=1).cpu().numpy()
    return {"abs_z": np.abs(res.z[keep]), "x": mu / (N / 2), "localized": pred == 0}


def trend_fit(N, y, err=None) -> dict:
    """Least-squares line ``y = a + b ln N``: slope b, its standard error, intercept a and the points used.

    With ``err`` (standard errors of y; zeros are raised to the smallest positive one, or 1 if none) the fit is
    weighted by 1/err^2 and the slope error is the propagated one, scaled up by sqrt(chi^2/dof) when the scatter
    exceeds the error bars; without, ordinary least squares with the residual standard error. NaN slope with
    fewer than 2 finite points, NaN error with fewer than 3 (unweighted).
    """
    x, y = np.log(np.asarray(N, float)), np.asarray(y, float)
    ok = np.isfinite(y) & np.isfinite(x)
    out = {"slope": float("nan"), "slope_err": float("nan"), "intercept": float("nan"), "points": int(ok.sum())}
    if ok.sum() < 2:
        return out
    x, y = x[ok], y[ok]
    if err is not None:
        e = np.asarray(err, float)[ok]
        pos = e[np.isfinite(e) & (e > 0)]
        e = np.where(np.isfinite(e) & (e > 0), e, pos.min() if pos.size else 1.0)
        w = 1.0 / e**2
    else:
        w = np.ones_like(x)
    X = np.stack([np.ones_like(x), x], axis=1)
    cov = np.linalg.pinv(X.T @ (w[:, None] * X))
    a, b = cov @ (X.T @ (w * y))
    dof = x.size - 2
    chi2 = float(np.sum(w * (y - a - b * x) ** 2))
    if err is not None:
        scale = max(1.0, chi2 / dof) if dof > 0 else 1.0
    else:
        scale = chi2 / dof if dof > 0 else float("nan")
    out.update(slope=float(b), slope_err=float(np.sqrt(cov[1, 1] * scale)), intercept=float(a))
    return out


def weighted_mean(y, err) -> tuple[float, float]:
    """Inverse-variance weighted mean of y and its standard error (zero errors raised as in :func:`trend_fit`)."""
    y, e = np.asarray(y, float), np.asarray(err, float)
    ok = np.isfinite(y)
    if not ok.any():
        return float("nan"), float("nan")
    y, e = y[ok], e[ok]
    pos = e[np.isfinite(e) & (e > 0)]
    e = np.where(np.isfinite(e) & (e > 0), e, pos.min() if pos.size else 1.0)
    w = 1.0 / e**2
    return float(np.sum(w * y) / np.sum(w)), float(1.0 / np.sqrt(np.sum(w)))


def _row(N: int, R: float, point: dict, localized: np.ndarray, t: float, quantile: float) -> dict:
    """One CSV row from a computed sweep point (``point``: arrays and attrs) and the net's calls on its sample."""
    abs_all = np.abs(point["eigen/z"])
    abs_z = np.abs(point["states/z"])
    x = point["states/norm_ratio"] / (N / 2)
    ll = abs_z >= np.quantile(abs_all, quantile) - 1e-12
    f, e, n = binomial_fraction(localized)
    fl, el, nl = binomial_fraction(localized[ll])
    fb, eb, _ = binomial_fraction(x < t)
    fbl, ebl, _ = binomial_fraction(x[ll] < t)
    a = point["attrs"]
    return {"N": N, "R": R, "n": n, "n_all": int(abs_all.size), "frac_net": f, "err_net": e, "n_long": nl,
            "frac_net_long": fl, "err_net_long": el, "frac_base": fb, "err_base": eb, "frac_base_long": fbl,
            "err_base_long": ebl, "mean_mu_scaled": float(x.mean()),
            "err_mu_scaled": float(x.std(ddof=1) / np.sqrt(x.size)) if x.size > 1 else float("nan"),
            "mean_mu_scaled_long": float(x[ll].mean()) if ll.any() else float("nan"),
            "min_abs_z": float(abs_all.min()), "median_abs_z": float(np.median(abs_all)),
            "leading_abs_z": float(np.abs(point["leading/z"]).max()),
            "js_leading_lr": a["leading_js_lr_invariant_mean"], "js_natural_lr": a["natural_js_lr_invariant_mean"],
            "js_natural_husimi": a["natural_js_husimi_natural_mean"],
            "js_natural_husimi_of_mean": a["natural_js_husimi_natural_of_mean"]}


def _thresholds(ctx, repo: str, maps: dict, train=None) -> dict:
    """Per map: the norm-ratio threshold fitted on the training rows (:func:`fit_threshold`).

    ``train``: the loaded training split of ``repo`` (loaded here when None).
    """
    if train is None:
        from modeling.data import load_table

        train = load_table(repo, "resonances", "train", source=ctx.resources.source)
    t = train.data.table
    N = np.asarray(t.column("N").to_numpy(), float)
    R = np.asarray(t.column("R").to_numpy(), float)
    x = np.asarray(t.column("norm_ratio").to_numpy(), float) / (N / 2)
    y = np.asarray(t.column("label").to_numpy())
    out = {}
    for which, r in maps.items():
        sel = np.abs(R - r) <= 1e-9
        if not sel.any():
            raise ParameterError(f"dataset {repo}: no training row with R = {r:g}")
        thr, acc = fit_threshold(x[sel], y[sel])
        out[which] = {"R": r, "threshold": thr, "train_accuracy": acc, "rows": int(sel.sum())}
    return out


def _figure(ctx, rows: list[dict], maps: dict, thr: dict, trained: tuple[int, int]) -> None:
    fig, axes = subplots(1, 3, width=5.0, height=3.8)
    a, b, c = axes[0, 0], axes[0, 1], axes[0, 2]
    for ax in (a, b, c):
        ax.axvspan(*trained, color="0.92", label=f"trained N = {trained[0]}..{trained[1]}")
        ax.set_xscale("log")
        ax.set_xlabel("Hilbert-space dimension N = 1/(2 pi hbar)")
    for which, R in maps.items():
        color = CLOSED_COLOR if which == "closed" else OPEN_COLOR
        sel = [r for r in rows if r["R"] == R]
        N = [r["N"] for r in sel]
        name = "closed" if which == "closed" else f"open R = {R:g}"
        a.errorbar(N, [r["frac_net"] for r in sel], [r["err_net"] for r in sel], fmt="o-", color=color, ms=4,
                   capsize=2, label=f"net, {name}")
        a.plot(N, [r["frac_base"] for r in sel], "s:", color=color, ms=3, label=f"norm ratio < t, {name}")
        b.errorbar(N, [r["mean_mu_scaled"] for r in sel], [r["err_mu_scaled"] for r in sel], fmt="o-", color=color,
                   ms=4, capsize=2, label=name)
        b.axhline(thr[which]["threshold"], color=color, ls="--", lw=0.8, label=f"t, {name}")
        c.plot(N, [r["js_natural_husimi"] for r in sel], "o-", color=color, ms=4,
               label=f"{name}: natural-decay states, Husimi(R) vs natural measure")
        c.plot(N, [r["js_natural_lr"] for r in sel], "v:", color=color, ms=4,
               label=f"{name}: natural-decay states, LR vs invariant measure")
        if which != "closed":
            a.errorbar(N, [r["frac_net_long"] for r in sel], [r["err_net_long"] for r in sel], fmt="^--", color=color,
                       ms=4, capsize=2, alpha=0.7, label=f"net, {name}, longer-lived half")
            b.plot(N, [r["mean_mu_scaled_long"] for r in sel], "^--", color=color, ms=4, alpha=0.7,
                   label=f"{name}, longer-lived half")
            c.plot(N, [r["js_leading_lr"] for r in sel], "^--", color=color, ms=4, alpha=0.7,
                   label=f"{name}: longest-lived states, LR vs invariant measure")
    a.set_ylabel("fraction of resonances called localized")
    a.set_ylim(-0.02, 1.02)
    a.legend(fontsize=5)
    b.set_ylabel("mean norm ratio mu / (N/2)")
    b.set_yscale("log")
    b.legend(fontsize=5)
    c.set_ylabel("Jensen-Shannon distance to the classical measure")
    c.set_yscale("log")
    c.legend(fontsize=5)
    ctx.save_figure(fig, "", "Left: fraction of the rank-uniform sample of resonances at each N that the reference "
                    "net classifies as localized (error bars: binomial standard error), closed vs open map, with the "
                    "open map's longer-lived half, and the norm-ratio baseline (mu/(N/2) below the threshold t fitted "
                    "on the training rows). Middle: mean mu/(N/2) (1 = uniform, 2/N = coherent state) and the "
                    "thresholds. Right: mean Jensen-Shannon distance of the cell measures of the k resonances at the "
                    "classical decay rate (and of the k longest-lived) to the classical measures of the Ulam operator. "
                    "Grey: the N range the net was trained on.")


def _sweep(ctx, p: dict, maps: dict):
    """Compute (or resume) the experiment's (N, R) points; returns ``(store, config)``.

    The store of ``build("tribaker", p["points"])``, the same call as ``qchaos generate tribaker --preset <points>``
    (a custom store under the runs folder when ``p["overrides"]`` changes the preset).
    """
    from pathlib import Path

    from generation.build import build, resolve_config, store_path
    from generation.store import PointStore

    config, base = resolve_config("tribaker", p["points"], p["overrides"])
    missing = sorted(set(maps.values()) - set(config.reflectivities))
    if missing:
        raise ParameterError(f"open_reflectivity = {missing}: not a reflectivity of the points' config "
                             f"{list(config.reflectivities)}")
    out = None
    if config != base:
        out = Path(getattr(ctx.resources, "runs_dir", ctx.out)) / store_path("tribaker", p["points"], config, base)
    result = build("tribaker", p["points"], overrides=p["overrides"], out=out, workers=p.get("workers", 0),
                   scheduler=p.get("scheduler"), progress=ctx.progress)
    rep = result.report
    ctx.log(f"sweep {result.store}: {len(rep.computed)} points computed, {len(rep.skipped)} reused, "
            f"{rep.seconds:.1f} s")
    return PointStore.open(result.store, "tribaker", result.preset, config.to_dict()), config


def _publish_corpus(ctx, p: dict) -> str | None:
    """Publish the points' store as the ``tribaker-largeN`` dataset (its role at this preset).

    Only when the points are that preset's store unchanged and building is on. Returns the repo id (None: not
    published, logged why).
    """
    from .resources import DATASET_ROLES

    role = DATASET_ROLES[CORPUS_ROLE].get(ctx.preset)
    if p["overrides"] or role is None or role[1] != p["points"]:
        return None
    if not getattr(ctx.resources, "build", False):
        ctx.log(f"corpus not published (building is off): qchaos publish tribaker --preset {p['points']}")
        return None
    return ctx.resources.dataset(CORPUS_ROLE)


def _load_point(store, key: str) -> dict:
    names = ("eigen/z", "states/z", "states/norm_ratio", "states/right", "states/left", "leading/z")
    out = {n: store.read(key, n) for n in names}
    out["attrs"] = store.point_attrs(key)
    return out


def _classify(model, point: dict, R: float) -> np.ndarray:
    """The net's call (True = localized) on every sampled resonance of a point, batched."""
    from modeling.coherent_layer import pack_resonances

    right, left = point["states/right"], point["states/left"]
    calls = []
    step = 64
    with torch.no_grad():
        for i in range(0, right.shape[0], step):
            x = pack_resonances(right[i:i + step], None if R == 1.0 else left[i:i + step])
            calls.append(model.predict_proba(x).argmax(dim=1).cpu().numpy() == 0)
    return np.concatenate(calls)


def _verdict(diff: tuple, slope: dict) -> str:
    m, e = diff
    word = "more" if m > 2 * e else "less" if m < -2 * e else "the same (within 2 standard errors)"
    trend = slope["slope"]
    te = slope["slope_err"]
    tw = ("grows" if trend > 2 * te else "shrinks" if trend < -2 * te else "shows no significant trend") \
        if np.isfinite(te) else "has no measurable trend (too few N)"
    return f"{word} localization in the open map (open - closed {m:+.3f} +- {e:.3f}); the difference {tw} with N " \
           f"({trend:+.3f} +- {te:.3f} per unit ln N)"


def run(ctx) -> dict:
    from modeling.data import load_table

    p = ctx.params
    maps = {"closed": 1.0, "open": float(p["open_reflectivity"])}
    model = ctx.resources.model("quantum-net")
    repo = ctx.resources.dataset("tribaker")
    train = load_table(repo, "resonances", "train", source=ctx.resources.source)
    Ns = np.asarray(train.data.table.column("N").to_numpy())
    trained = (int(Ns.min()), int(Ns.max()))
    store, config = _sweep(ctx, p, maps)
    grid = config.dimensions
    thr = _thresholds(ctx, repo, maps, train)
    ctx.log(f"N = {grid[0]}..{grid[-1]} ({len(grid)} values); thresholds " + ", ".join(
        f"{k} {v['threshold']:.3f} (train acc {v['train_accuracy']:.3f})" for k, v in thr.items()))
    rows = []
    for N in ctx.bar(grid, desc="N", unit="N"):
        for which, R in maps.items():
            point = _load_point(store, config.point_key(N, R))
            keep = np.abs(point["states/z"]) > p["min_abs_z"]
            point = {k: (v[keep] if k.startswith("states/") else v) for k, v in point.items()}
            localized = _classify(model, point, R)
            rows.append(_row(N, R, point, localized, thr[which]["threshold"], p["long_lived_quantile"]))
    ctx.save_data(rows, "", fmt="csv")
    ctx.save_data(thr, "thresholds")
    _figure(ctx, rows, maps, thr, trained)

    by = {w: [r for r in rows if r["R"] == R] for w, R in maps.items()}
    last = {w: v[-1] for w, v in by.items()}
    Nv = [r["N"] for r in by["closed"]]
    d_net = [o["frac_net"] - c["frac_net"] for o, c in zip(by["open"], by["closed"])]
    d_err = [float(np.hypot(o["err_net"], c["err_net"])) for o, c in zip(by["open"], by["closed"])]
    d_long = [o["frac_net_long"] - c["frac_net"] for o, c in zip(by["open"], by["closed"])]
    d_base = [o["frac_base"] - c["frac_base"] for o, c in zip(by["open"], by["closed"])]
    more, more_long, base_diff = float(np.mean(d_net)), float(np.mean(d_long)), float(np.mean(d_base))
    diff_w = weighted_mean(d_net, d_err)
    fits = {
        "frac_net": {w: trend_fit(Nv, [r["frac_net"] for r in v], [r["err_net"] for r in v]) for w, v in by.items()},
        "frac_net_open_minus_closed": trend_fit(Nv, d_net, d_err),
        "mean_mu_scaled_log": {w: trend_fit(Nv, np.log([r["mean_mu_scaled"] for r in v])) for w, v in by.items()},
        "js_natural_husimi_log": {w: trend_fit(Nv, np.log([r["js_natural_husimi"] for r in v])) for w, v in by.items()},
        "js_natural_lr_log": {w: trend_fit(Nv, np.log([r["js_natural_lr"] for r in v])) for w, v in by.items()},
        "js_leading_lr_log": {w: trend_fit(Nv, np.log([r["js_leading_lr"] for r in v])) for w, v in by.items()},
        "open_minus_closed_weighted_mean": {"value": diff_w[0], "err": diff_w[1]},
    }
    ctx.save_data(fits, "fits")
    corpus = _publish_corpus(ctx, p)
    slope = {w: log_slope(Nv, [r["frac_net"] for r in v]) for w, v in by.items()}
    Nl = grid[-1]
    f = fits["frac_net"]
    jsn = fits["js_natural_husimi_log"]["open"]
    jsl = fits["js_leading_lr_log"]["open"]

    def mt(value, description, err=None):
        out = {"value": value, "description": description}
        if err is not None:
            out["err"] = err
        return out

    metrics = {
        "frac_localized_closed_maxN": mt(last["closed"]["frac_net"], f"net, closed, N = {Nl}",
                                         last["closed"]["err_net"]),
        "frac_localized_open_maxN": mt(last["open"]["frac_net"], f"net, open, N = {Nl}", last["open"]["err_net"]),
        "frac_localized_open_long_maxN": mt(last["open"]["frac_net_long"],
                                            f"net, open, longer-lived half, N = {Nl}", last["open"]["err_net_long"]),
        "baseline_frac_closed_maxN": mt(last["closed"]["frac_base"], f"mu/(N/2) < t_closed, N = {Nl}"),
        "baseline_frac_open_maxN": mt(last["open"]["frac_base"], f"mu/(N/2) < t_open, N = {Nl}"),
        "slope_closed_per_lnN": mt(slope["closed"], "d(fraction)/d ln N, net, closed (unweighted)"),
        "slope_open_per_lnN": mt(slope["open"], "d(fraction)/d ln N, net, open (unweighted)"),
        "slope_closed_per_lnN_weighted": mt(f["closed"]["slope"], "the same, weighted fit",
                                            f["closed"]["slope_err"]),
        "slope_open_per_lnN_weighted": mt(f["open"]["slope"], "the same, weighted fit", f["open"]["slope_err"]),
        "more_localization_open": mt(more, "net: open minus closed fraction called localized, mean over N "
                                     "(> 0: more localization in the open map)"),
        "more_localization_open_weighted": mt(diff_w[0], "the same, inverse-variance weighted mean", diff_w[1]),
        "more_localization_open_slope_per_lnN": mt(fits["frac_net_open_minus_closed"]["slope"],
                                                   "d(open - closed fraction)/d ln N, weighted",
                                                   fits["frac_net_open_minus_closed"]["slope_err"]),
        "more_localization_open_long": mt(more_long, "the same with the open map's longer-lived half"),
        "baseline_more_localization_open": mt(base_diff, "the same for the norm-ratio baseline"),
        "mean_mu_scaled_closed_maxN": mt(last["closed"]["mean_mu_scaled"], f"N = {Nl}"),
        "mean_mu_scaled_open_maxN": mt(last["open"]["mean_mu_scaled"], f"N = {Nl}"),
        "js_natural_open_maxN": mt(last["open"]["js_natural_husimi"], f"JS(Husimi of the natural-decay resonances, "
                                   f"natural measure), mean over k, open, N = {Nl}"),
        "js_natural_open_exponent": mt(jsn["slope"], "b in JS ~ N^b (natural-decay resonances, open)",
                                       jsn["slope_err"]),
        "js_leading_open_exponent": mt(jsl["slope"], "b in JS ~ N^b (LR of the longest-lived resonances vs the "
                                       "invariant measure, open)", jsl["slope_err"]),
    }
    agree = "agrees in sign" if np.sign(base_diff) == np.sign(more) else "disagrees"
    summary = (
        f"Over N = {grid[0]}..{Nl} ({len(grid)} values, a rank-uniform sample of up to {config.sample} resonances "
        f"per N and map) the net finds {_verdict(diff_w, fits['frac_net_open_minus_closed'])}. At N = {Nl} the "
        f"fractions called localized are {last['closed']['frac_net']:.3f} +- {last['closed']['err_net']:.3f} "
        f"(closed) and {last['open']['frac_net']:.3f} +- {last['open']['err_net']:.3f} (open, R = "
        f"{maps['open']:g}); slopes {f['closed']['slope']:+.3f} +- {f['closed']['slope_err']:.3f} / "
        f"{f['open']['slope']:+.3f} +- {f['open']['slope_err']:.3f} per unit ln N. The norm-ratio baseline {agree} "
        f"(open - closed {base_diff:+.3f}). Classical limit: the Husimi functions of the resonances at the classical "
        f"decay rate approach the natural measure as N^({jsn['slope']:+.2f} +- {jsn['slope_err']:.2f}) (JS distance "
        f"{last['open']['js_natural_husimi']:.3f} at N = {Nl}), while the LR of the longest-lived ones scales as "
        f"N^({jsl['slope']:+.2f} +- {jsl['slope_err']:.2f}). Caveat: the net was trained only on the extreme states "
        f"of N = {trained[0]}..{trained[1]}, so its calls on the bulk and beyond the trained N are an extrapolation "
        "of that binary rule, not a measurement of localization."
        + (f" The points are published as `{corpus}` (`qchaos generate tribaker --preset {p['points']}` rebuilds "
           "them)." if corpus else ""))
    return {"metrics": metrics, "summary": summary}
