"""Robustness of the density CNN to FGSM, PGD and the quantum perturbation, original against hardened net.

The hardened net is the adversarially trained one (Lang et al., arXiv:2402.16244, Figs. 14-16, Eqs. 17-18;
``docs/twobody.md`` §7 (adversarial)).

Protocol (two atoms in a hard-wall trap, units hbar = L = mu = 1; images = ``|psi(x1, x2)|^2`` on the P x P grid
scaled to [0, 1], ``modeling.density_cnn.density_images``):

* Nets: the shipped paper checkpoints ``ctx.resources.model("density-cnn", shipped=True)`` (original) and
  ``ctx.resources.model("density-cnn-adv", shipped=True)`` (hardened: trained on clean + FGSM (eps uniform in
  [0, 0.05]) + quantum-perturbed (eps uniform in [0, 0.5]) samples); this experiment only evaluates trained nets,
  so ``mini`` uses them too (the ``tiny`` test preset its own). Both are evaluated on the **test split** of their
  training dataset (``twobody-shipped``: ``qchaos/twobody-paper-cnn``) restricted to their training mass ratios
  (from the checkpoints' meta; they must agree).
* FGSM (Eq. 17) and PGD (L-infinity, ``steps`` signed-gradient steps of size 2.5 eps / steps from a uniform random
  start, seed 0) on the images (``modeling.attacks.fgsm`` / ``PGD``), eps on the grid ``fgsm_eps`` (image units,
  images in [0, 1]; each net is attacked through its own gradients — white box).
* Quantum perturbation (Eq. 18) on the wavefunctions, ``psi' = (psi + eps phi) / ||psi + eps phi||`` with the
  partner ``phi`` = the state of the other class, same g, nearest level number (ties: nearest eta, then smaller
  eta, then lower level; ``modeling.attacks.PartnerBank``) among **all loaded states** of the dataset (every split,
  the training mass ratios) — the rule the checkpoints' recorded ``quantum_accuracy`` uses; eps on the grid
  ``quantum_eps``; the density is recomputed from ``psi'``. It does not depend on the net, so both nets see the same
  perturbed states.
* Accuracies for all / integrable / non-integrable test states at every eps. At eps = 0 every attack returns its
  input unchanged, so these equal the clean accuracies.
* Breaking point: the eps at which the original net's accuracy (all states) first drops below ``threshold`` (0.9),
  linearly interpolated on the grid; when the clean accuracy is already below it, 90% of the clean accuracy is used
  instead (stated in the description); if the curve never drops below, the grid maximum (a lower bound, stated).

Metrics (target keys): ``fgsm_hardened_minus_original`` (accuracy difference at the largest FGSM eps),
``quantum_hardened_minus_original_integrable`` (integrable states, largest quantum eps), ``quantum_to_fgsm_eps_ratio``
(breaking eps of the quantum perturbation over that of FGSM); plus the clean accuracies, the accuracies at eps = 0
and at the largest eps of every attack and net. Files: ``robustness_gradient.png`` + ``.csv`` (Figs. 14-15),
``robustness_quantum.png`` + ``.csv`` (Fig. 16), ``robustness_examples.png`` + ``.json`` (one integrable state:
clean, FGSM, PGD and quantum-perturbed densities with both nets' confidences).
"""

from __future__ import annotations

import numpy as np
import torch

from modeling.density_cnn import density_images
from qchaos.errors import ParameterError

from .core import Metric
from .core import metric as _metric
from .plotting import INTEGRABLE_COLOR, NONINTEGRABLE_COLOR, subplots

NAME = "robustness"
TITLE = "Robustness to FGSM, PGD and the quantum perturbation, original vs hardened (Figs. 14-16)"
METRICS = (
    Metric("fgsm_hardened_minus_original", "hardened minus original accuracy under FGSM at the largest eps"),
    Metric("quantum_hardened_minus_original_integrable", "hardened minus original accuracy on integrable states "
           "under the quantum perturbation at the largest eps"),
    Metric("quantum_to_fgsm_eps_ratio", "eps at which the quantum perturbation breaks the original net over "
           "that of FGSM"),
    Metric("fgsm_breaking_eps", "FGSM eps where the original net drops below the threshold"),
    Metric("quantum_breaking_eps", "quantum eps where the original net drops below the threshold"),
    Metric("fgsm_hardened_minus_original_grid_mean", "hardened minus original FGSM accuracy, mean over eps"),
    Metric("quantum_hardened_minus_original_integrable_grid_mean", "the same for the quantum perturbation on "
           "integrable states"),
    Metric("clean_accuracy_{net}", "accuracy of one net on the unperturbed test states"),
    Metric("{attack}_accuracy_{net}_eps0", "accuracy of one net under one attack at eps = 0"),
    Metric("{attack}_accuracy_{net}_max_eps", "accuracy of one net under one attack at the largest eps"),
    Metric("quantum_accuracy_{net}_{group}_max_eps", "the same on the integrable or non-integrable states"),
)

PARAMS = {
    "tiny": {"fgsm_eps": [0.0, 0.025, 0.05], "quantum_eps": [0.0, 0.25, 0.5], "pgd_steps": 2, "threshold": 0.9,
             "batch_size": 128},
    "mini": {"fgsm_eps": [round(0.01 * i, 4) for i in range(6)], "quantum_eps": [round(0.1 * i, 4) for i in range(6)],
             "pgd_steps": 5, "threshold": 0.9, "batch_size": 128, "max_states": 200},
    "paper": {"fgsm_eps": [round(0.005 * i, 4) for i in range(11)], "quantum_eps": [round(0.05 * i, 4)
                                                                                    for i in range(11)],
              "pgd_steps": 20, "threshold": 0.9, "batch_size": 128},
}
"""``max_states``: evaluate on that many test states (drawn at random from the test split, seed 0; all when absent)."""

NETS = {"original": "density-cnn", "hardened": "density-cnn-adv"}
"""Net name -> model kind of its reference checkpoint."""

GROUPS = ("all", "integrable", "non-integrable")
NET_STYLE = {"original": dict(color=NONINTEGRABLE_COLOR, marker="o"), "hardened": dict(color=INTEGRABLE_COLOR,
                                                                                       marker="s")}


# -- pure helpers -------------------------------------------------------------------------------------------------
def group_accuracies(pred: torch.Tensor, labels: torch.Tensor) -> dict:
    """Accuracy of predictions ``pred`` (n,) against ``labels`` (n,) for all, integrable and non-integrable states.

    Labels: 1 integrable, 0 non-integrable. NaN for an empty group.
    """
    right = (pred == labels).double()
    out = {}
    for g, mask in zip(GROUPS, (torch.ones_like(labels, dtype=torch.bool), labels == 1, labels == 0)):
        out[g] = float(right[mask].mean()) if bool(mask.any()) else float("nan")
    return out


def crossing_eps(eps, acc, threshold: float) -> tuple[float, bool]:
    """The eps where ``acc`` (on the increasing grid ``eps``) first drops below ``threshold``.

    Linearly interpolated between the last grid point at or above and the first below; ``(eps*, True)``.
    ``(eps[0], True)`` if the first point is already below; ``(eps[-1], False)`` if it never drops below (a lower
    bound).
    """
    eps, acc = np.asarray(eps, dtype=np.float64), np.asarray(acc, dtype=np.float64)
    below = np.flatnonzero(acc < threshold)
    if below.size == 0:
        return float(eps[-1]), False
    k = int(below[0])
    if k == 0:
        return float(eps[0]), True
    e0, e1, a0, a1 = eps[k - 1], eps[k], acc[k - 1], acc[k]
    return float(e0 + (a0 - threshold) / (a0 - a1) * (e1 - e0)), True


def breaking_threshold(clean: float, threshold: float) -> tuple[float, bool]:
    """``(threshold, False)`` when the clean accuracy is above it, else ``(0.9 * clean, True)`` (relative)."""
    if clean > threshold:
        return float(threshold), False
    return 0.9 * float(clean), True


@torch.no_grad()
def predict(model, images: torch.Tensor, batch_size: int = 128) -> torch.Tensor:
    """Predicted classes (n,) of density images (n, P, P)."""
    return model.predict_proba(images, batch_size).argmax(dim=1)


def gradient_curve(model, attack, images, labels, eps_grid, batch_size: int = 128) -> list[dict]:
    """Group accuracies of ``model`` on ``attack(model, x, y, eps)`` images for every eps of ``eps_grid``."""
    from modeling.attacks import batched_attack

    out = []
    for eps in eps_grid:
        adv = batched_attack(attack, model, images, labels, float(eps), batch_size)
        out.append(group_accuracies(predict(model, adv, batch_size), labels))
    return out


def quantum_images(attack, psi, labels, partners, eps_grid) -> list[torch.Tensor]:
    """Density images of the quantum-perturbed states (Eq. 18) for every eps of ``eps_grid``."""
    return [density_images(attack(None, psi, labels, float(eps), partners=partners)) for eps in eps_grid]


# -- data ---------------------------------------------------------------------------------------------------------
def training_etas(models: dict) -> tuple:
    """The training mass ratios recorded in the checkpoints' meta (must be the same for every net)."""
    etas = {name: tuple(round(float(e), 9) for e in m.get_meta().get("training", {}).get("etas") or ())
            for name, m in models.items()}
    if len(set(etas.values())) != 1 or not next(iter(etas.values())):
        raise ValueError(f"the reference checkpoints were trained on different / unknown mass ratios: {etas}; "
                         "retrain them on the same dataset selection")
    return next(iter(etas.values()))


def subsample(data, n: int | None, seed: int = 0):
    """``(data restricted, kept positions)``: ``n`` rows of ``data`` (``TwobodyData``) drawn at random.

    Drawn without replacement with ``numpy.random.default_rng(seed)``, kept in their published order (all rows when
    ``n`` is None or larger).
    """
    import dataclasses

    if n is None or n >= len(data):
        return data, np.arange(len(data))
    keep = np.sort(np.random.default_rng(seed).choice(len(data), size=int(n), replace=False))
    idx = torch.from_numpy(keep)
    return dataclasses.replace(data, **{f.name: getattr(data, f.name)[idx] for f in dataclasses.fields(data)
                                        if f.name != "rows"}, rows=np.asarray(data.rows)[keep]), keep


def load_states(ctx, etas):
    """Every split of the nets' training dataset restricted to ``etas``: ``(test, bank)``.

    The dataset is ``ctx.resources.model_role(..., shipped=True)`` (the shipped checkpoints' ``twobody-shipped`` at
    mini and paper). Returns the test split (``TwobodyData``) and a ``PartnerBank`` of all loaded states (the test
    states are its rows ``bank.rows_of["test"]``).
    """
    from modeling.attacks import PartnerBank
    from modeling.data import load_twobody

    repo = ctx.resources.dataset(ctx.resources.model_role(NETS["original"], shipped=True))
    data = load_twobody(repo, None, etas, source=ctx.resources.source)
    if "test" not in data or len(data["test"]) == 0:
        raise ParameterError(f"dataset {repo}: no test rows with eta in {etas}")
    return data["test"], PartnerBank.from_parts(data)


# -- figures ------------------------------------------------------------------------------------------------------
def _curve(ax, eps, curves, net, group, **kw):
    style = dict(NET_STYLE[net])
    style.update(kw)
    ax.plot(eps, [c[group] for c in curves], ms=4, label=f"{net}", **style)


def plot_gradient(eps, curves: dict, threshold: float):
    """Figs. 14-15: accuracy (all states) against eps under FGSM and PGD, both nets."""
    fig, axes = subplots(1, 2, width=4.4)
    for ax, attack, title in zip(axes[0], ("fgsm", "pgd"), ("FGSM (Eq. 17)", "PGD")):
        for net in NETS:
            _curve(ax, eps, curves[attack][net], net, "all")
        ax.axhline(threshold, color="0.5", ls=":", lw=0.9, label=f"accuracy {threshold:g}")
        ax.set(xlabel="eps (image units, densities in [0, 1])", ylabel="accuracy (all test states)", title=title,
               ylim=(-0.02, 1.04))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def plot_quantum(eps, curves: dict):
    """Fig. 16: accuracy against the quantum-perturbation eps for all / integrable / non-integrable states."""
    fig, axes = subplots(1, 3, width=3.8)
    for ax, group in zip(axes[0], GROUPS):
        for net in NETS:
            _curve(ax, eps, curves[net], net, group)
        ax.set(xlabel="eps (Eq. 18, relative amplitude of the partner state)", ylabel="accuracy",
               title=f"{group} states", ylim=(-0.02, 1.04))
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def plot_examples(panels: list):
    """One integrable state: a row of density images (title: perturbation and both nets' P(integrable))."""
    fig, axes = subplots(1, len(panels), width=2.7, height=2.9)
    for ax, p in zip(axes[0], panels):
        im = ax.imshow(np.asarray(p["image"]).T, origin="lower", extent=(0, 1, 0, 1), cmap="magma", vmin=0, vmax=1)
        ax.set_title(f"{p['name']}\nP(int): orig {p['p_integrable']['original']:.2f}, "
                     f"hard {p['p_integrable']['hardened']:.2f}", fontsize=8)
        ax.set(xlabel="x1 (light atom, units of L)", ylabel="x2 (heavy atom, units of L)")
    fig.colorbar(im, ax=axes[0, -1], label="|psi|^2 / max", shrink=0.8)
    return fig


# -- the experiment -----------------------------------------------------------------------------------------------
def _example(models, attacks, test, index, partners, fgsm_max, quantum_max):
    """Clean / FGSM / PGD (both attacking the original net) / quantum images of test state ``index``."""
    x, y = test.images[index:index + 1], test.label[index:index + 1]
    orig = models["original"]
    images = [("clean", x), (f"FGSM eps={fgsm_max:g}", attacks["fgsm"](orig, x, y, fgsm_max)),
              (f"PGD eps={fgsm_max:g}", attacks["pgd"](orig, x, y, fgsm_max)),
              (f"quantum eps={quantum_max:g}",
               density_images(attacks["quantum"](None, test.psi[index:index + 1], y, quantum_max,
                                                 partners=partners[index:index + 1])))]
    return [{"name": name, "image": img[0],
             "p_integrable": {n: float(m.predict_proba(img)[0, m.classes.index("integrable")])
                              for n, m in models.items()}}
            for name, img in images]


def run(ctx) -> dict:
    from modeling.attacks import FGSM, PGD, QuantumPerturbation

    p = ctx.params
    fgsm_grid, q_grid = [float(e) for e in p["fgsm_eps"]], [float(e) for e in p["quantum_eps"]]
    if fgsm_grid[0] != 0 or q_grid[0] != 0 or np.any(np.diff(fgsm_grid) <= 0) or np.any(np.diff(q_grid) <= 0):
        raise ValueError("fgsm_eps / quantum_eps: increasing grids starting at 0")
    bs = int(p["batch_size"])
    ctx.log("reference checkpoints: original and hardened")
    models = {net: ctx.resources.model(kind, shipped=True) for net, kind in NETS.items()}
    etas = training_etas(models)
    test, bank = load_states(ctx, etas)
    test, keep = subsample(test, p.get("max_states"))
    for net, m in models.items():
        if m.image_size != test.image_size:
            raise ValueError(f"{net} net takes {m.image_size} x {m.image_size} images, the dataset has "
                             f"{test.image_size} x {test.image_size}")
    attacks = {"fgsm": FGSM(), "pgd": PGD(steps=int(p["pgd_steps"]), seed=0), "quantum": QuantumPerturbation(bank)}
    partners = bank.partners(index=bank.rows_of["test"][keep])
    labels = test.label

    clean_pred = {net: predict(m, test.images, bs) for net, m in models.items()}
    clean = {net: group_accuracies(pred, labels) for net, pred in clean_pred.items()}
    curves: dict = {"fgsm": {}, "pgd": {}, "quantum": {}}
    for attack in ctx.bar(("fgsm", "pgd"), desc="gradient attacks"):
        for net, m in models.items():
            ctx.log(f"{attack} on the {net} net, {len(fgsm_grid)} eps")
            curves[attack][net] = gradient_curve(m, attacks[attack], test.images, labels, fgsm_grid, bs)
    ctx.log(f"quantum perturbation, {len(q_grid)} eps")
    q_images = quantum_images(attacks["quantum"], test.psi, labels, partners, q_grid)
    for net, m in models.items():
        curves["quantum"][net] = [group_accuracies(predict(m, img, bs), labels) for img in q_images]

    n_int, n_non = int((labels == 1).sum()), int((labels == 0).sum())
    ctx.save_figure(plot_gradient(fgsm_grid, curves, p["threshold"]), "gradient",
                    f"Figs. 14-15: accuracy on the {len(labels)} test states (eta = "
                    f"{', '.join(f'{e:.4g}' for e in etas)}) under FGSM and PGD ({p['pgd_steps']} steps) against eps "
                    "(image units, densities in [0, 1]), original vs adversarially hardened density CNN; each net "
                    "attacked through its own gradients.")
    rows = [{"attack": a, "net": net, "eps": e, "group": g, "accuracy": c[g]}
            for a in ("fgsm", "pgd") for net in NETS for e, c in zip(fgsm_grid, curves[a][net]) for g in GROUPS]
    ctx.save_data(rows, "gradient", fmt="csv")
    ctx.save_figure(plot_quantum(q_grid, curves["quantum"]), "quantum",
                    f"Fig. 16: accuracy under the quantum perturbation psi' = (psi + eps phi)/||psi + eps phi|| "
                    f"(phi: other class, same g, nearest level) against eps, for all ({len(labels)}), integrable "
                    f"({n_int}) and non-integrable ({n_non}) test states, original vs hardened net.")
    ctx.save_data([{"net": net, "eps": e, "group": g, "accuracy": c[g]} for net in NETS
                   for e, c in zip(q_grid, curves["quantum"][net]) for g in GROUPS], "quantum", fmt="csv")

    ok = torch.nonzero((labels == 1) & (clean_pred["original"] == 1)).flatten()
    candidates = ok if len(ok) else torch.nonzero(labels == 1).flatten()
    if len(candidates):
        index = int(candidates[0])
        panels = _example(models, attacks, test, index, partners, fgsm_grid[-1], q_grid[-1])
        ctx.save_figure(plot_examples(panels), "examples",
                        f"One integrable test state (eta = {float(test.eta[index]):.4g}, level "
                        f"{int(test.level[index])}): clean density, FGSM and PGD at eps = {fgsm_grid[-1]:g} "
                        f"(attacking the original net) and the quantum perturbation at eps = {q_grid[-1]:g}; "
                        "titles: P(integrable) of the original and the hardened net.")
        ctx.save_data({"eta": float(test.eta[index]), "level": int(test.level[index]), "panels": panels},
                      "examples")

    return summarize(curves, clean, fgsm_grid, q_grid, float(p["threshold"]), len(labels))


def summarize(curves: dict, clean: dict, fgsm_grid, q_grid, threshold: float, n: int) -> dict:
    """Metrics and summary from the accuracy curves (``curves[attack][net]``: one group-accuracy dict per eps)."""
    thr, relative = breaking_threshold(clean["original"]["all"], threshold)
    e_fgsm, fgsm_crossed = crossing_eps(fgsm_grid, [c["all"] for c in curves["fgsm"]["original"]], thr)
    e_q, q_crossed = crossing_eps(q_grid, [c["all"] for c in curves["quantum"]["original"]], thr)
    thr_text = (f"accuracy {thr:.3f} (90% of its clean accuracy {clean['original']['all']:.3f}, since that is not "
                f"above {threshold:g})" if relative else f"accuracy {thr:g}")
    caveats = [f"{name} never brings it below that on the grid, so eps = {g[-1]:g} is only a lower bound"
               for name, crossed, g in (("FGSM", fgsm_crossed, fgsm_grid),
                                        ("the quantum perturbation", q_crossed, q_grid)) if not crossed]
    ratio = e_q / e_fgsm if e_fgsm > 0 else float("nan")

    def diff(attack, group, at=None):
        h = np.array([c[group] for c in curves[attack]["hardened"]])
        o = np.array([c[group] for c in curves[attack]["original"]])
        return float((h - o)[at]) if at is not None else float(np.mean(h - o))

    metrics = {
        "fgsm_hardened_minus_original": _metric(diff("fgsm", "all", -1), f"hardened minus original accuracy (all "
                                                f"test states) under FGSM at eps = {fgsm_grid[-1]:g}"),
        "quantum_hardened_minus_original_integrable": _metric(
            diff("quantum", "integrable", -1), f"hardened minus original accuracy on the integrable test states "
                                               f"under the quantum perturbation at eps = {q_grid[-1]:g}"),
        "quantum_to_fgsm_eps_ratio": _metric(ratio, f"eps where the original net first drops below {thr_text}: "
                                                    f"quantum {e_q:.4g} over FGSM {e_fgsm:.4g} (linear interpolation)"
                                                    + ("; " + "; ".join(caveats) if caveats else "")),
        "fgsm_breaking_eps": _metric(e_fgsm, f"FGSM eps where the original net drops below {thr_text}"),
        "quantum_breaking_eps": _metric(e_q, f"quantum eps where the original net drops below {thr_text}"),
        "fgsm_hardened_minus_original_grid_mean": _metric(diff("fgsm", "all"), "hardened minus original accuracy "
                                                          "(all states) under FGSM, averaged over the eps grid"),
        "quantum_hardened_minus_original_integrable_grid_mean": _metric(
            diff("quantum", "integrable"), "hardened minus original accuracy on the integrable states under the "
                                           "quantum perturbation, averaged over the eps grid"),
    }
    for net in NETS:
        metrics[f"clean_accuracy_{net}"] = _metric(clean[net]["all"], f"{net} net on the {n} test states")
        for attack, grid in (("fgsm", fgsm_grid), ("pgd", fgsm_grid), ("quantum", q_grid)):
            c = curves[attack][net]
            metrics[f"{attack}_accuracy_{net}_eps0"] = _metric(c[0]["all"], f"{net} net, {attack} at eps = 0 "
                                                                            "(equals the clean accuracy)")
            metrics[f"{attack}_accuracy_{net}_max_eps"] = _metric(c[-1]["all"], f"{net} net, {attack} at eps = "
                                                                                f"{grid[-1]:g}, all states")
        for g in ("integrable", "non-integrable"):
            metrics[f"quantum_accuracy_{net}_{g.replace('-', '')}_max_eps"] = _metric(
                curves["quantum"][net][-1][g], f"{net} net, quantum at eps = {q_grid[-1]:g}, {g} states")

    q_orig, q_hard = curves["quantum"]["original"][-1], curves["quantum"]["hardened"][-1]
    summary = (
        f"Clean test accuracy: original {clean['original']['all']:.3f}, hardened {clean['hardened']['all']:.3f}. "
        f"At FGSM eps = {fgsm_grid[-1]:g} the original falls to {curves['fgsm']['original'][-1]['all']:.3f} and the "
        f"hardened keeps {curves['fgsm']['hardened'][-1]['all']:.3f} (PGD: {curves['pgd']['original'][-1]['all']:.3f}"
        f" vs {curves['pgd']['hardened'][-1]['all']:.3f}). Under the quantum perturbation at eps = {q_grid[-1]:g} "
        f"the original keeps {q_orig['integrable']:.3f} of the integrable and {q_orig['non-integrable']:.3f} of the "
        f"non-integrable states (hardened: {q_hard['integrable']:.3f} / {q_hard['non-integrable']:.3f}; averaged over "
        f"the grid the hardened net is {diff('quantum', 'integrable'):+.3f} on integrable states), so the paper's "
        f"failure mainly on integrable states {'is' if q_orig['integrable'] < q_orig['non-integrable'] else 'is not'} "
        f"seen. Breaking point = the first eps where the original net falls below {thr_text}: quantum eps "
        f"{e_q:.3g}, FGSM eps {e_fgsm:.3g}, a ratio of {ratio:.3g} (paper: an order of magnitude)"
        f"{'; ' + '; '.join(caveats) if caveats else ''}.")
    return {"metrics": metrics, "summary": summary}
