"""Past the paper: the fraction of tribaker resonances the quantum-layer net calls localized, against N, closed vs
partially open map (the open question of Montes et al., arXiv:2406.00363: is there more localization in the open
map, and how does it evolve towards the semiclassical limit? ``tribaker.md`` §2-4, §9).

Units: the map's Hilbert-space dimension is N = 1/(2 pi hbar) (semiclassical limit N -> infinity); the norm ratio
mu of a Husimi / LR image is 1 for a coherent state and N/2 for the uniform distribution (``tribaker.md`` §4), so
mu / (N/2) is in (0, 1].

Protocol:

* Model: the reference checkpoint ``ctx.resources.model("quantum-net")`` (seed 0, trained on both maps of the
  ``tribaker`` dataset, N = N0 .. N_max, only the ``per_side`` lowest- and highest-mu states per N).
* Grid: N = N0, N0 + ``N_step``, ..., up to ``N_stop`` (N0 read from the dataset; ``N_step`` a multiple of 3), i.e.
  from the trained range to well beyond it.
* Per N and map (closed R = 1; open R = ``open_reflectivity``), as the generator does
  (:func:`generation.tribaker.generate.compute_point`): ALL N resonances of ``U = tribaker(N, R)``
  (:func:`generation.tribaker.resonances.resonances`: closed = complex Schur vectors, L = R; open = right and left
  eigenvectors with <L_j|R_k> = delta_jk), those with |z| > ``min_abs_z`` kept (0: every one, as the dataset; with
  R > 0 no z vanishes), their norm ratios mu (:func:`generation.tribaker.generate.norm_ratios`, N x N lattice), and
  the net's class of every one (packed by :func:`modeling.coherent_layer.pack_resonances`, argmax of the logits;
  class 0 = localized).
* Long-lived subset (open map): the resonances with |z| at or above the ``long_lived_quantile`` quantile of |z|
  at that N (0.5: the longer-lived half), since the short-lived ones dominate the counts; for the closed map every
  |z| = 1 and the subset is the whole spectrum.
* Fractions: f = (number called localized) / n with binomial error bars sqrt(f (1 - f) / n) (0 at f = 0 or 1).
* Norm-ratio baseline: per map, one threshold t on x = mu / (N/2) fitted on the dataset's training rows of that map
  (:func:`fit_threshold`: among the midpoints between consecutive sorted x, the one that classifies the training
  rows best as "localized iff x < t"; ties to the smallest); per N, the fraction of resonances with
  mu / (N/2) < t and the mean of mu / (N/2).

Metrics (no targets): the net's and the baseline's fractions at the largest N (closed, open, open long-lived), the
slope d f / d ln N of a least-squares line through the net's fractions, and ``more_localization_open`` (the net's
open minus closed fraction, averaged over the grid; > 0: more states called localized in the open map).

Writes ``localization-vs-n.png`` (fraction localized vs N; mean mu/(N/2) vs N; trained N range shaded) and its
data ``localization-vs-n.csv`` (one row per N and map) and ``localization-vs-n_thresholds.json``.
"""

from __future__ import annotations

import numpy as np
import torch

from .plotting import CLOSED_COLOR, OPEN_COLOR, subplots

NAME = "localization-vs-n"
TITLE = "Past the paper: fraction of resonances called localized against N, closed vs open"
PARAMS = {
    "tiny": {"N_stop": 48, "N_step": 18, "open_reflectivity": 0.2, "long_lived_quantile": 0.5, "min_abs_z": 0.0},
    "mini": {"N_stop": 198, "N_step": 12, "open_reflectivity": 0.2, "long_lived_quantile": 0.5, "min_abs_z": 0.0},
    "paper": {"N_stop": 600, "N_step": 30, "open_reflectivity": 0.2, "long_lived_quantile": 0.5, "min_abs_z": 0.0},
}


def n_grid(N0: int, stop: int, step: int) -> list[int]:
    """N0, N0 + step, ... <= stop (every value a multiple of 3 when N0 and step are)."""
    if step < 3 or step % 3 or N0 % 3:
        raise ValueError(f"N0 = {N0}, N_step = {step}: both must be multiples of 3 (step >= 3)")
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
    """All resonances of ``tribaker(N, R)`` with |z| > ``min_abs_z``: |z| (n,), mu / (N/2) (n,), net says
    localized (n,) bool."""
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


def _row(N: int, R: float, spec: dict, t: float, quantile: float) -> dict:
    ll = long_lived(spec["abs_z"], quantile)
    f, e, n = binomial_fraction(spec["localized"])
    fl, el, nl = binomial_fraction(spec["localized"][ll])
    fb, eb, _ = binomial_fraction(spec["x"] < t)
    fbl, ebl, _ = binomial_fraction(spec["x"][ll] < t)
    return {"N": N, "R": R, "n": n, "frac_net": f, "err_net": e, "n_long": nl, "frac_net_long": fl, "err_net_long": el,
            "frac_base": fb, "err_base": eb, "frac_base_long": fbl, "err_base_long": ebl,
            "mean_mu_scaled": float(spec["x"].mean()), "mean_mu_scaled_long": float(spec["x"][ll].mean()),
            "min_abs_z": float(spec["abs_z"].min()), "median_abs_z": float(np.median(spec["abs_z"]))}


def _thresholds(ctx, repo: str, maps: dict, train=None) -> dict:
    """Per map: the norm-ratio threshold fitted on the training rows (:func:`fit_threshold`); ``train``: the loaded
    training split of ``repo`` (loaded here when None)."""
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
            raise ValueError(f"dataset {repo}: no training row with R = {r:g}")
        thr, acc = fit_threshold(x[sel], y[sel])
        out[which] = {"R": r, "threshold": thr, "train_accuracy": acc, "rows": int(sel.sum())}
    return out


def _figure(ctx, rows: list[dict], maps: dict, thr: dict, trained: tuple[int, int]) -> None:
    fig, axes = subplots(1, 2, width=5.0, height=3.8)
    a, b = axes[0, 0], axes[0, 1]
    for ax in (a, b):
        ax.axvspan(*trained, color="0.92", label=f"trained N = {trained[0]}..{trained[1]}")
    for which, R in maps.items():
        color = CLOSED_COLOR if which == "closed" else OPEN_COLOR
        sel = [r for r in rows if r["R"] == R]
        N = [r["N"] for r in sel]
        name = "closed" if which == "closed" else f"open R = {R:g}"
        a.errorbar(N, [r["frac_net"] for r in sel], [r["err_net"] for r in sel], fmt="o-", color=color, ms=4,
                   capsize=2, label=f"net, {name}")
        a.plot(N, [r["frac_base"] for r in sel], "s:", color=color, ms=3, label=f"norm ratio < t, {name}")
        b.plot(N, [r["mean_mu_scaled"] for r in sel], "o-", color=color, ms=4, label=name)
        b.axhline(thr[which]["threshold"], color=color, ls="--", lw=0.8, label=f"t, {name}")
        if which != "closed":
            a.errorbar(N, [r["frac_net_long"] for r in sel], [r["err_net_long"] for r in sel], fmt="^--", color=color,
                       ms=4, capsize=2, alpha=0.7, label=f"net, {name}, longer-lived half")
            b.plot(N, [r["mean_mu_scaled_long"] for r in sel], "^--", color=color, ms=4, alpha=0.7,
                   label=f"{name}, longer-lived half")
    a.set_xlabel("Hilbert-space dimension N = 1/(2 pi hbar)")
    a.set_ylabel("fraction of resonances called localized")
    a.set_ylim(-0.02, 1.02)
    a.legend(fontsize=6)
    b.set_xlabel("Hilbert-space dimension N = 1/(2 pi hbar)")
    b.set_ylabel("mean norm ratio mu / (N/2)")
    b.legend(fontsize=6)
    ctx.save_figure(fig, "", "Left: fraction of ALL resonances at each N that the reference net classifies as "
                    "localized (error bars: binomial standard error), closed vs open map, with the open map's "
                    "longer-lived half, and the norm-ratio baseline (mu/(N/2) below the threshold t fitted on the "
                    "training rows). Right: mean mu/(N/2) (1 = uniform, 2/N = coherent state) and the thresholds. "
                    "Grey: the N range the net was trained on.")


def run(ctx) -> dict:
    from modeling.data import load_table

    p = ctx.params
    maps = {"closed": 1.0, "open": float(p["open_reflectivity"])}
    model = ctx.resources.model("quantum-net")
    repo = ctx.resources.dataset("tribaker")
    train = load_table(repo, "resonances", "train", source=ctx.resources.source)
    Ns = np.asarray(train.data.table.column("N").to_numpy())
    trained = (int(Ns.min()), int(Ns.max()))
    grid = n_grid(trained[0], p["N_stop"], p["N_step"])
    thr = _thresholds(ctx, repo, maps, train)
    ctx.log(f"N = {grid[0]}..{grid[-1]} ({len(grid)} values); thresholds " + ", ".join(
        f"{k} {v['threshold']:.3f} (train acc {v['train_accuracy']:.3f})" for k, v in thr.items()))
    rows = []
    for N in ctx.bar(grid, desc="N", unit="N"):
        for which, R in maps.items():
            spec = classify_spectrum(model, N, R, p["min_abs_z"])
            rows.append(_row(N, R, spec, thr[which]["threshold"], p["long_lived_quantile"]))
    ctx.save_data(rows, "", fmt="csv")
    ctx.save_data(thr, "thresholds")
    _figure(ctx, rows, maps, thr, trained)

    by = {w: [r for r in rows if r["R"] == R] for w, R in maps.items()}
    last = {w: v[-1] for w, v in by.items()}
    more = float(np.mean([o["frac_net"] - c["frac_net"] for o, c in zip(by["open"], by["closed"])]))
    more_long = float(np.mean([o["frac_net_long"] - c["frac_net"] for o, c in zip(by["open"], by["closed"])]))
    base_diff = float(np.mean([o["frac_base"] - c["frac_base"] for o, c in zip(by["open"], by["closed"])]))
    slope = {w: log_slope([r["N"] for r in v], [r["frac_net"] for r in v]) for w, v in by.items()}
    Nl = grid[-1]
    metrics = {
        "frac_localized_closed_maxN": {"value": last["closed"]["frac_net"], "description": f"net, closed, N = {Nl}"},
        "frac_localized_open_maxN": {"value": last["open"]["frac_net"], "description": f"net, open, N = {Nl}"},
        "frac_localized_open_long_maxN": {"value": last["open"]["frac_net_long"],
                                          "description": f"net, open, longer-lived half, N = {Nl}"},
        "baseline_frac_closed_maxN": {"value": last["closed"]["frac_base"],
                                      "description": f"mu/(N/2) < t_closed, N = {Nl}"},
        "baseline_frac_open_maxN": {"value": last["open"]["frac_base"], "description": f"mu/(N/2) < t_open, N = {Nl}"},
        "slope_closed_per_lnN": {"value": slope["closed"], "description": "d(fraction)/d ln N, net, closed"},
        "slope_open_per_lnN": {"value": slope["open"], "description": "d(fraction)/d ln N, net, open"},
        "more_localization_open": {"value": more, "description": "net: open minus closed fraction called localized, "
                                   "mean over N (> 0: more localization in the open map)"},
        "more_localization_open_long": {"value": more_long, "description": "the same with the open map's "
                                        "longer-lived half"},
        "baseline_more_localization_open": {"value": base_diff, "description": "the same for the norm-ratio baseline"},
        "mean_mu_scaled_closed_maxN": {"value": last["closed"]["mean_mu_scaled"], "description": f"N = {Nl}"},
        "mean_mu_scaled_open_maxN": {"value": last["open"]["mean_mu_scaled"], "description": f"N = {Nl}"},
    }
    verdict = "more" if more > 0 else "less" if more < 0 else "as much"
    agree = "agrees in sign" if np.sign(base_diff) == np.sign(more) else "disagrees"
    summary = (
        f"Over N = {grid[0]}..{Nl} ({len(grid)} values, all N resonances at each) the fraction the net calls localized "
        f"is on average {more:+.3f} higher in the open map (R = {maps['open']:g}) than in the closed one "
        f"({more_long:+.3f} for the open map's longer-lived half), i.e. {verdict} localization when the map is "
        f"opened; at N = {Nl} the fractions are {last['closed']['frac_net']:.3f} (closed) and "
        f"{last['open']['frac_net']:.3f} (open), with slopes {slope['closed']:+.3f} / {slope['open']:+.3f} per unit "
        f"ln N. The norm-ratio baseline (mu/(N/2) below the threshold fitted on the training rows) {agree}: open "
        f"minus closed {base_diff:+.3f}, fractions {last['closed']['frac_base']:.3f} / "
        f"{last['open']['frac_base']:.3f} at N = {Nl}. Caveat: the net was trained only on the extreme states "
        f"(lowest and highest mu) of N = {trained[0]}..{trained[1]}, so its calls on the bulk of the spectrum and "
        "beyond the trained N are an extrapolation of that binary rule, not a measurement of localization.")
    return {"metrics": metrics, "summary": summary}
