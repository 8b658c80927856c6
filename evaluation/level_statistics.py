"""Level spacings, Brody fits and the critical line omega_c = 0 against the mass ratio.

Lang et al., arXiv:2402.16244, Figs. 4-8 and the abstract; ``docs/twobody.md`` §4, §8.

System: two atoms in the unit hard-wall box, units hbar = L = mu = 1. Data: the ``spectra`` config of the
``twobody`` role dataset (one row per mass ratio eta at one g: the lowest levels over both parities, energies
Richardson-extrapolated by the generator, with ``parity`` 0 even / 1 odd, ``level`` the 1-based rank over both
parities, ``label`` 1 for the integrable eta = 1/3 and 1).

Protocol (``generation.spectra``, the paper's recipe):

* Two regimes of the first ``levels`` levels (None = every level of the dataset): **both** parities mixed (the
  headline: the spec's reading of the interacting statistics, Fig. 6, which gives the omega_c = 0 separation at
  g = 10) and **odd** parity only (the odd levels among them, Figs. 4-5).
* Unfolding: 6th-order polynomial fit of the staircase; spacings normalised to mean 1 (``spectra.spacings``).
* Brody parameter omega from the least-squares fit of the density histogram on [0, max s] with
  ``default_bins(n)`` bins (floor(sqrt(n)/10)*10, at least 10: the paper's 30/50/70 bins for 1000/3000/5000 levels)
  (``fit_brody_hist``), and, binning-free, the maximum-likelihood fit (``fit_brody_mle``, spacings floored at 1e-8).
* Mean gap ratio <r> of the raw levels (no unfolding): Poisson 2 ln 2 - 1 = 0.386, GOE 0.531.
* Fine scans (Fig. 8): omega (both parities, histogram fit) for the eta inside ``fine_windows`` with the first
  ``fine_levels`` levels each (bins again default_bins(n)).

Verdict rule: omega < 0 means integrable (the critical line omega_c = 0).

Metrics: ``omega_eta_1_3``, ``omega_eta_1`` (headline regime, histogram fit), ``omega_nonintegrable_min``,
``omega_critical_line_separation`` (fraction of eta on the right side of omega = 0), the MLE and odd-parity
counterparts, ``mean_r_integrable`` / ``mean_r_nonintegrable``. Files: ``level-statistics_spacings.png`` (+ .json),
``level-statistics_omega.png`` (+ .csv), ``level-statistics_fine.png`` (+ .csv).
"""

from __future__ import annotations

import numpy as np

from qchaos.errors import ParameterError

from .core import ETA_TOL, Metric
from .core import metric as _metric
from .plotting import INTEGRABLE_COLOR, NONINTEGRABLE_COLOR, subplots

NAME = "level-statistics"
TITLE = "Level spacings, Brody fits and omega against eta (Figs. 4-8)"
METRICS = (
    Metric("omega_eta_1_3", "Brody omega at eta = 1/3, both parities"),
    Metric("omega_eta_1", "Brody omega at eta = 1, both parities"),
    Metric("omega_nonintegrable_min", "smallest Brody omega of the non-integrable ratios"),
    Metric("omega_nonintegrable_mean", "mean Brody omega of the non-integrable ratios"),
    Metric("omega_critical_line_separation", "ratios on the right side of omega_c = 0 (integrable below)"),
    Metric("omega_mle_eta_1_3", "maximum-likelihood omega at eta = 1/3"),
    Metric("omega_mle_eta_1", "maximum-likelihood omega at eta = 1"),
    Metric("omega_mle_nonintegrable_min", "smallest maximum-likelihood omega of the non-integrable ratios"),
    Metric("omega_mle_separation", "ratios on the right side of omega_c = 0 by the maximum-likelihood fit"),
    Metric("omega_odd_eta_1_3", "omega at eta = 1/3, odd parity only"),
    Metric("omega_odd_eta_1", "omega at eta = 1, odd parity only"),
    Metric("omega_odd_separation", "ratios on the right side of omega_c = 0, odd parity only"),
    Metric("omega_odd_nonintegrable_mean", "mean odd-parity omega of the non-integrable ratios"),
    Metric("mean_r_integrable", "mean spacing ratio <r> of the integrable ratios (Poisson: 0.386)"),
    Metric("mean_r_nonintegrable", "mean spacing ratio <r> of the non-integrable ratios (GOE: 0.531)"),
    Metric("omega_fine_eta_{eta}_{levels}_levels", "omega of the fine scan at one integrable ratio and level count"),
)

PARAMS = {
    "tiny": {"levels": None, "hist_etas": [1 / 3, 1.0, 0.5, 0.75], "fine_windows": [[0.30, 0.37], [0.95, 1.0]],
             "fine_levels": [40, 80]},
    "mini": {"levels": None, "hist_etas": [1 / 3, 1.0, 0.5, 0.75], "fine_windows": [[0.30, 0.37], [0.95, 1.0]],
             "fine_levels": [200, 400]},
    "paper": {"levels": 1000, "hist_etas": [1 / 3, 1.0, 0.5, 0.75], "fine_windows": [[0.30, 0.37], [0.95, 1.0]],
              "fine_levels": [1000, 3000, 5000]},
}

REGIMES = {"both": "both parities mixed", "odd": "odd parity only"}


# ------------------------------------------------------------------------------------------------ pure helpers
def select_levels(energy, parity, level, n_levels: int | None, regime: str) -> np.ndarray:
    """Energies of the first ``n_levels`` levels (rank over both parities; None = all) in one regime.

    Args:
        energy, parity, level: arrays (k,) of one spectrum (parity 0 even / 1 odd, level 1-based).
        regime: ``"both"`` (all of them) or ``"odd"`` / ``"even"`` (that parity among them).

    Returns the selected energies (ascending), shape (k',).
    """
    energy, parity, level = (np.asarray(a) for a in (energy, parity, level))
    keep = np.ones(energy.size, bool) if n_levels is None else level <= n_levels
    if regime in ("odd", "even"):
        keep &= parity == (1 if regime == "odd" else 0)
    elif regime != "both":
        raise ParameterError(f"regime = {regime!r}: must be 'both', 'odd' or 'even'")
    return np.sort(np.asarray(energy, dtype=float)[keep])


def level_stats(energies) -> dict:
    """Spacing statistics of one spectrum (energies (n,), any order).

    Returns ``{"n", "bins", "omega", "omega_err", "omega_mle", "mean_r", "s"}``: the number of levels, the histogram
    bins (the paper's ``default_bins(n)``), the Brody omega of the histogram fit and its standard error, the MLE
    omega, the mean gap ratio <r> and the unfolded spacings ``s`` (n - 1,) (mean 1).
    """
    from generation.spectra import fit_brody_hist, fit_brody_mle, mean_gap_ratio, spacings

    e = np.asarray(energies, dtype=float)
    s = spacings(e)
    hist = fit_brody_hist(s)
    return {"n": int(e.size), "bins": hist.bins, "omega": hist.omega, "omega_err": hist.stderr,
            "omega_mle": fit_brody_mle(s).omega, "mean_r": mean_gap_ratio(e), "s": s}


def separation_fraction(omega, integrable) -> float:
    """Fraction of points on the right side of the critical line omega_c = 0.

    The right side is omega < 0 for the integrable ones (``integrable`` True), omega > 0 for the others.
    ``omega``, ``integrable``: arrays (k,), k >= 1.
    """
    omega, integrable = np.asarray(omega, dtype=float), np.asarray(integrable, dtype=bool)
    if omega.size == 0:
        raise ParameterError("omega: need at least one point")
    right = np.where(integrable, omega < 0, omega > 0)
    return float(right.mean())


def _close(values, target) -> np.ndarray:
    return np.abs(np.asarray(values, dtype=float) - float(target)) <= ETA_TOL


# ------------------------------------------------------------------------------------------------ data
def load_spectra(ctx, role: str = "twobody") -> list[dict]:
    """Rows of the ``spectra`` config of the dataset of ``role``, ascending eta.

    ``role``: ``twobody`` (the coarse scan) or ``twobody-fine`` (the fine scans, more levels). Each row holds eta,
    g, label and the level arrays as numpy.
    """
    from modeling.data import load_table

    ds = load_table(ctx.resources.dataset(role), "spectra", "train", source=ctx.resources.source)
    table = ds.data.table
    rows = []
    for i in range(table.num_rows):
        row = {k: table.column(k)[i].as_py() for k in ("eta", "g", "label", "energy", "parity", "level")}
        rows.append({"eta": float(row["eta"]), "g": float(row["g"]), "label": int(row["label"]),
                     "energy": np.asarray(row["energy"], dtype=np.float64),
                     "parity": np.asarray(row["parity"], dtype=np.int8),
                     "level": np.asarray(row["level"], dtype=np.int64)})
    return sorted(rows, key=lambda r: r["eta"])


def scan(rows: list[dict], n_levels: int | None) -> list[dict]:
    """Per eta: label, g and the statistics of both regimes (``both_*``, ``odd_*`` keys, without spacings)."""
    out = []
    for r in rows:
        rec = {"eta": r["eta"], "g": r["g"], "label": r["label"]}
        for regime in REGIMES:
            st = level_stats(select_levels(r["energy"], r["parity"], r["level"], n_levels, regime))
            rec.update({f"{regime}_{k}": v for k, v in st.items() if k != "s"})
        out.append(rec)
    return out


# ------------------------------------------------------------------------------------------------ figures
def _fig_spacings(ctx, rows, p) -> None:
    from generation.spectra import brody_pdf

    chosen = [r for e in p["hist_etas"] for r in rows if _close(r["eta"], e)]
    if not chosen:
        raise ParameterError(f"hist_etas = {p['hist_etas']}: none of them is in the dataset")
    fig, axes = subplots(len(REGIMES), len(chosen), width=3.2, height=2.6, sharex=True)
    x = np.linspace(1e-3, 4.0, 300)
    data = []
    for i, regime in enumerate(REGIMES):
        for j, r in enumerate(chosen):
            st = level_stats(select_levels(r["energy"], r["parity"], r["level"], p["levels"], regime))
            dens, edges = np.histogram(st["s"], bins=st["bins"], range=(0.0, st["s"].max()), density=True)
            ax = axes[i, j]
            color = INTEGRABLE_COLOR if r["label"] else NONINTEGRABLE_COLOR
            ax.stairs(dens, edges, fill=True, alpha=0.35, color=color, label=f"{st['n']} levels, {st['bins']} bins")
            ax.plot(x, brody_pdf(x, st["omega"]), color=color, lw=1.5, label=rf"Brody $\omega = {st['omega']:+.2f}$")
            ax.plot(x, np.exp(-x), "k:", lw=0.9, label="Poisson")
            ax.plot(x, 0.5 * np.pi * x * np.exp(-0.25 * np.pi * x**2), "k--", lw=0.9, label="Wigner")
            ax.set_xlim(0, 4)
            ax.set_ylim(0, max(1.6, 1.1 * float(dens.max())) if dens.size else 1.6)
            ax.set_title(rf"$\eta = {_eta_text(r['eta'])}$, {REGIMES[regime]}", fontsize=8)
            ax.legend(fontsize=6)
            if i == len(REGIMES) - 1:
                ax.set_xlabel("unfolded spacing $s$ (mean level spacing)")
            if j == 0:
                ax.set_ylabel("$P(s)$")
            data.append({"eta": r["eta"], "regime": regime, "n_levels": st["n"], "bins": st["bins"],
                         "omega": st["omega"], "omega_err": st["omega_err"], "density": dens, "edges": edges})
    g = chosen[0]["g"]
    ctx.save_figure(fig, "spacings", f"Figs. 4-6: unfolded nearest-neighbour spacing histograms at g = {g:g} with "
                    "their Brody fits (histogram least squares, floor(sqrt(n)/10)*10 bins), Poisson (dotted) and "
                    "Wigner (dashed); top: both parities mixed, bottom: odd parity only. Blue: integrable eta, "
                    "red: non-integrable.")
    ctx.save_data(data, "spacings")


def _eta_text(eta: float) -> str:
    return "1/3" if abs(eta - 1 / 3) < ETA_TOL else f"{eta:g}"


def _fig_omega(ctx, stats) -> None:
    from generation.spectra import GOE_R, POISSON_R

    eta = np.array([s["eta"] for s in stats])
    integ = np.array([s["label"] == 1 for s in stats])
    fig, axes = subplots(1, 2, width=4.6, height=3.4)
    ax = axes[0, 0]
    ax.plot(eta, [s["both_omega"] for s in stats], "-o", ms=3, color="k", lw=1, label="both parities, histogram fit")
    ax.plot(eta, [s["both_omega_mle"] for s in stats], "s", ms=3, mfc="none", color="0.4",
            label="both parities, MLE")
    ax.plot(eta, [s["odd_omega"] for s in stats], "-", lw=0.8, color="tab:olive", alpha=0.8,
            label="odd parity only, histogram fit")
    ax.plot(eta[integ], [s["both_omega"] for s in stats if s["label"] == 1], "*", ms=12, color=INTEGRABLE_COLOR,
            label="integrable eta (1/3, 1)")
    ax.axhline(0.0, color=NONINTEGRABLE_COLOR, lw=1, ls="--", label=r"critical line $\omega_c = 0$")
    ax.set_xlabel(r"mass ratio $\eta = m_1/m_2$")
    ax.set_ylabel(r"Brody parameter $\omega$")
    ax.legend(fontsize=6)
    ax = axes[0, 1]
    ax.plot(eta, [s["both_mean_r"] for s in stats], "-o", ms=3, color="k", lw=1, label="both parities")
    ax.plot(eta, [s["odd_mean_r"] for s in stats], "-", lw=0.8, color="tab:olive", label="odd parity only")
    ax.plot(eta[integ], [s["both_mean_r"] for s in stats if s["label"] == 1], "*", ms=12, color=INTEGRABLE_COLOR,
            label="integrable eta")
    ax.axhline(POISSON_R, color="k", ls=":", lw=1, label=rf"Poisson {POISSON_R:.3f}")
    ax.axhline(GOE_R, color="k", ls="--", lw=1, label=rf"GOE {GOE_R:.3f}")
    ax.set_xlabel(r"mass ratio $\eta = m_1/m_2$")
    ax.set_ylabel(r"mean gap ratio $\langle r \rangle$")
    ax.legend(fontsize=6)
    n = stats[0]["both_n"]
    ctx.save_figure(fig, "omega", f"Fig. 7: Brody omega (left) and mean gap ratio <r> (right) against eta, first "
                    f"{n} levels at g = {stats[0]['g']:g}; black: both parities mixed (headline), olive: odd parity "
                    "only. Stars: the integrable ratios; dashed red: the critical line omega_c = 0.")
    ctx.save_data(stats, "omega", fmt="csv")


def _fig_fine(ctx, rows, p) -> list[dict]:
    fine = []
    windows = p["fine_windows"]
    fig, axes = subplots(1, len(windows), width=4.0, height=3.2)
    for j, (lo, hi) in enumerate(windows):
        ax = axes[0, j]
        inside = [r for r in rows if lo - ETA_TOL <= r["eta"] <= hi + ETA_TOL]
        for n_levels in p["fine_levels"]:
            pts = []
            for r in inside:
                e = select_levels(r["energy"], r["parity"], r["level"], n_levels, "both")
                if e.size < n_levels:
                    continue  # the dataset has fewer levels than this scan asks for
                st = level_stats(e)
                pts.append((r["eta"], st["omega"]))
                fine.append({"window": f"{lo:g}-{hi:g}", "eta": r["eta"], "levels": n_levels, "bins": st["bins"],
                             "omega": st["omega"], "omega_err": st["omega_err"], "label": r["label"]})
            if pts:
                x, y = zip(*pts)
                ax.plot(x, y, "-o", ms=3, label=f"{n_levels} levels")
        for r in inside:
            if r["label"] == 1:
                ax.axvline(r["eta"], color=INTEGRABLE_COLOR, lw=0.8, alpha=0.5)
        ax.axhline(0.0, color=NONINTEGRABLE_COLOR, lw=1, ls="--", label=r"$\omega_c = 0$")
        ax.set_xlim(lo, hi)
        ax.set_xlabel(r"mass ratio $\eta$")
        ax.set_ylabel(r"Brody parameter $\omega$ (both parities)")
        ax.set_title(f"near eta = {'1/3' if lo < 0.5 else '1'}", fontsize=9)
        ax.legend(fontsize=7)
    ctx.save_figure(fig, "fine", "Fig. 8: Brody omega (both parities, histogram fit, floor(sqrt(n)/10)*10 bins) of "
                    "the mass ratios near the integrable points, for several numbers of levels; blue verticals: the "
                    "integrable ratios.")
    ctx.save_data(fine, "fine", fmt="csv")
    return fine


# ------------------------------------------------------------------------------------------------ run
def _fine_text(fine: list[dict], level_counts) -> str:
    """One sentence on the fine scans: the integrable omegas per number of levels."""
    integ = {n: [f["omega"] for f in sorted(fine, key=lambda f: f["eta"]) if f["levels"] == n and f["label"] == 1]
             for n in level_counts}
    integ = {n: v for n, v in integ.items() if v}
    if not integ:
        return ""
    text = "Fine scans, omega at the integrable ratios: " + "; ".join(
        f"{n} levels {', '.join(f'{w:+.2f}' for w in v)}" for n, v in integ.items()) + "."
    counts = sorted(integ)
    if max(integ[counts[0]]) >= 0 > max(integ[counts[-1]]):
        text += (f" With {counts[0]} levels the integrable points are not below omega_c = 0; they are with "
                 f"{counts[-1]} (the paper too finds omega more negative with more levels, Fig. 8).")
    return text


def run(ctx) -> dict:
    p = ctx.params
    ctx.log("loading the spectra config of the twobody dataset")
    rows = load_spectra(ctx)
    stats = scan(ctx.bar(rows, desc="Brody fits"), p["levels"])
    ctx.log(f"{len(stats)} mass ratios at g = {sorted({s['g'] for s in stats})}, {stats[0]['both_n']} levels each")
    _fig_spacings(ctx, rows, p)
    _fig_omega(ctx, stats)
    fine_rows = load_spectra(ctx, "twobody-fine")
    fine = _fig_fine(ctx, fine_rows, p)

    def at(eta, key):
        hit = [s[key] for s in stats if _close(s["eta"], eta)]
        if not hit:
            raise ParameterError(f"eta = {eta:g}: not in the dataset {ctx.resources.dataset('twobody')}")
        return hit[0]

    non = [s for s in stats if s["label"] == 0]
    integ = [s for s in stats if s["label"] == 1]
    n = stats[0]["both_n"]
    m = {
        "omega_eta_1_3": _metric(at(1 / 3, "both_omega"), f"Brody omega at eta = 1/3, both parities, {n} levels"),
        "omega_eta_1": _metric(at(1.0, "both_omega"), f"Brody omega at eta = 1, both parities, {n} levels"),
        "omega_nonintegrable_min": _metric(min(s["both_omega"] for s in non),
                                           f"smallest omega over the {len(non)} non-integrable eta (both parities)"),
        "omega_nonintegrable_mean": _metric(float(np.mean([s["both_omega"] for s in non])),
                                            "mean omega over the non-integrable eta (both parities)"),
        "omega_critical_line_separation": _metric(
            separation_fraction([s["both_omega"] for s in stats], [s["label"] == 1 for s in stats]),
            f"fraction of the {len(stats)} eta on the right side of omega = 0 (both parities, histogram fit)"),
        "omega_mle_eta_1_3": _metric(at(1 / 3, "both_omega_mle"), "maximum-likelihood omega at eta = 1/3"),
        "omega_mle_eta_1": _metric(at(1.0, "both_omega_mle"), "maximum-likelihood omega at eta = 1"),
        "omega_mle_nonintegrable_min": _metric(min(s["both_omega_mle"] for s in non),
                                               "smallest maximum-likelihood omega of the non-integrable eta"),
        "omega_mle_separation": _metric(
            separation_fraction([s["both_omega_mle"] for s in stats], [s["label"] == 1 for s in stats]),
            "the separation fraction with the maximum-likelihood omega"),
        "omega_odd_eta_1_3": _metric(at(1 / 3, "odd_omega"), "omega at eta = 1/3, odd parity only"),
        "omega_odd_eta_1": _metric(at(1.0, "odd_omega"), "omega at eta = 1, odd parity only"),
        "omega_odd_separation": _metric(
            separation_fraction([s["odd_omega"] for s in stats], [s["label"] == 1 for s in stats]),
            "the separation fraction with odd-parity levels only"),
        "omega_odd_nonintegrable_mean": _metric(float(np.mean([s["odd_omega"] for s in non])),
                                                "mean omega of the non-integrable eta, odd parity only"),
        "mean_r_integrable": _metric(float(np.mean([s["both_mean_r"] for s in integ])),
                                     "mean gap ratio <r> of the integrable eta (both parities; Poisson 0.386)"),
        "mean_r_nonintegrable": _metric(float(np.mean([s["both_mean_r"] for s in non])),
                                        "mean gap ratio <r> of the non-integrable eta (both parities; GOE 0.531)"),
    }
    for n_levels in p["fine_levels"]:
        for eta in (1 / 3, 1.0):
            hit = [f["omega"] for f in fine if f["levels"] == n_levels and _close(f["eta"], eta)]
            if hit:
                key = f"omega_fine_eta_{'1_3' if eta < 1 else '1'}_{n_levels}_levels"
                m[key] = _metric(hit[0], f"omega at eta = {_eta_text(eta)} with the first {n_levels} levels")
    sep = m["omega_critical_line_separation"]["value"]
    wrong = [f"{s['eta']:.4g}" for s in stats if (s["both_omega"] < 0) != (s["label"] == 1)]
    summary = (
        f"With both parities mixed ({n} levels, g = {stats[0]['g']:g}), the histogram Brody fit gives omega = "
        f"{m['omega_eta_1_3']['value']:+.3f} at eta = 1/3 and {m['omega_eta_1']['value']:+.3f} at eta = 1, against "
        f"{m['omega_nonintegrable_min']['value']:+.3f} .. {max(s['both_omega'] for s in non):+.3f} for the "
        f"{len(non)} non-integrable ratios: {sep:.0%} of the mass ratios lie on the paper's side of omega_c = 0"
        + (f" (wrong side: eta = {', '.join(wrong)})" if wrong else "") + ". "
        f"<r> is {m['mean_r_integrable']['value']:.3f} (integrable) against {m['mean_r_nonintegrable']['value']:.3f} "
        f"(non-integrable; Poisson 0.386, GOE 0.531). Odd parity alone gives omega = "
        f"{m['omega_odd_eta_1_3']['value']:+.3f} (1/3) and {m['omega_odd_eta_1']['value']:+.3f} (1) against a "
        f"non-integrable mean of {m['omega_odd_nonintegrable_mean']['value']:+.3f} (separation "
        f"{m['omega_odd_separation']['value']:.0%}). " + _fine_text(fine, p["fine_levels"]))
    return {"metrics": m, "summary": summary}
