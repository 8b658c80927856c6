"""Integrability confidence against the mass ratio of a density CNN trained on eta = 1 and one non-integrable ratio.

Lang et al., arXiv:2402.16244, Fig. 13 and the abstract's 98.78% at eta = 1/3; ``docs/twobody.md`` §6 (CNN).

Protocol (two atoms in a hard-wall trap, units hbar = L = mu = 1; images = ``|psi(x1, x2)|^2`` on the P x P grid
scaled to [0, 1]):

* Train ``density-cnn`` on **eta = 1** (integrable) and **eta = 0.5** (non-integrable; the paper does not give its
  non-integrable ratio, 0.5 is our choice) only: ``ctx.resources.train("density-cnn", seed=s, etas=(0.5, 1.0))``
  for every seed of ``PARAMS["seeds"]`` (training preset of the resources; best epoch by validation accuracy on the
  same two ratios).
* Confidence = mean softmax probability of the class "integrable" (its logit index read from the model's
  ``classes`` and checked against the dataset's ``label`` ClassLabel names) over the states of each mass ratio of
  the ``twobody`` dataset: every row for eta not in {0.5, 1} (never seen), the test rows of the training dataset
  (``twobody-train``) for 0.5 and 1. Band = min / max over seeds, line = seed mean.

Metrics: ``confidence_eta_1_3`` (seed mean at eta = 1/3; paper 98.78%, a ratio never seen in training), the value
of each seed, the seed spread, the confidence at the non-integrable ratio nearest to 1/3 (not a training ratio) and
the mean confidence over the unseen non-integrable ratios. Files: ``confidence.png`` + ``confidence.csv``.
"""

from __future__ import annotations

import numpy as np

from generation.presets import is_integrable
from qchaos.errors import ParameterError

from .cnn_training import _train_seeds, band, load_scan, plot_scan, scan_eta
from .core import ETA_TOL, INTEGRABLE, Metric

NAME = "confidence"
TITLE = "Integrability confidence against eta of a net trained on eta = 1 and one non-integrable ratio (Fig. 13)"
METRICS = (
    Metric("confidence_eta_1_3", "seed-mean P(integrable) at eta = 1/3 of a net trained without it"),
    Metric("confidence_eta_1_3_seed_min", "smallest over the seeds"),
    Metric("confidence_eta_1_3_seed_max", "largest over the seeds"),
    Metric("confidence_eta_1_3_seed{seed}", "P(integrable) at eta = 1/3 of one seed"),
    Metric("confidence_nearest_nonintegrable_to_1_3", "seed-mean confidence at the unseen non-integrable ratio "
           "nearest to 1/3 (ideal: 0)", optional=True),
    Metric("confidence_eta_1_3_minus_neighbours", "confidence at 1/3 minus that at its unseen neighbours",
           optional=True),
    Metric("confidence_unseen_nonintegrable_mean", "seed-mean confidence over the unseen non-integrable ratios",
           optional=True),
)

PARAMS = {
    "tiny": {"seeds": [0, 1], "train_etas": [0.5, 1.0]},
    "mini": {"seeds": [0, 1, 2], "train_etas": [0.5, 1.0]},
    "paper": {"seeds": [0, 1, 2, 3, 4], "train_etas": [0.5, 1.0]},
}

PAPER_CONFIDENCE_1_3 = 0.9878
"""The abstract's integrability confidence at eta = 1/3."""


def integrable_index(model_classes, label_names) -> int:
    """Logit index of the class "integrable".

    Its position in the model's ``classes``, which must name the classes in the dataset's ``label`` order
    (``ValueError`` otherwise).
    """
    model_classes, label_names = list(model_classes), list(label_names)
    if model_classes != label_names or "integrable" not in model_classes:
        raise ValueError(f"model classes {model_classes} do not match the dataset's label names {label_names}; "
                         "cannot tell which output is 'integrable'")
    return model_classes.index("integrable")


def p_integrable(index: int):
    """A scan statistic: the mean probability of class ``index`` over the images of one mass ratio."""

    def stat(model, images, labels) -> float:
        return float(model.predict_proba(images)[:, index].double().mean())

    return stat


def nearest_unseen(etas, seen, target: float, label_of, side: str | None = None) -> int | None:
    """Index of the unseen, non-integrable mass ratio nearest to ``target``, or None if there is none.

    Unseen: ``seen`` False; non-integrable: ``label_of(eta) == 0``. Ties go to the smaller eta; only ratios below /
    above ``target`` count for ``side="below"`` / ``"above"``.
    """
    best = None
    for i, (e, s) in enumerate(zip(etas, seen)):
        if s or label_of(e) != 0 or abs(e - target) <= ETA_TOL:
            continue
        if (side == "below" and e > target) or (side == "above" and e < target):
            continue
        key = (abs(e - target), e)
        if best is None or key < best[0]:
            best = (key, i)
    return None if best is None else best[1]


def is_integrable_eta(eta: float) -> int:
    """1 for eta = 1/3 or 1 (to 1e-9), else 0 — the dataset's labels."""
    return int(is_integrable(eta))


def _label_names(ctx, scan_tables: dict | None = None) -> list:
    """The ``label`` ClassLabel names of the ``twobody`` dataset's test split.

    ``scan_tables``: its splits when already loaded, ``load_scan(ctx)[0]``.
    """
    from modeling.data import load_table

    if scan_tables is not None and "test" in scan_tables:
        table = scan_tables["test"]
    else:
        table = load_table(ctx.resources.dataset("twobody-images"), "wavefunctions", "test",
                           source=ctx.resources.source)
    return list(table.features["label"].names)


def run(ctx) -> dict:
    seeds = list(ctx.params["seeds"])
    train_etas = tuple(float(e) for e in ctx.params["train_etas"])
    models = [r.model for r in _train_seeds(ctx, seeds, etas=train_etas)]
    tables = load_scan(ctx)
    index = integrable_index(models[0].classes, _label_names(ctx, tables[0]))

    ctx.log("confidence against eta")
    scan = scan_eta(ctx, models, train_etas, p_integrable(index), "confidence vs eta", tables=tables)
    stats = band(scan["values"])
    eta = scan["eta"]
    fig = plot_scan(scan, stats, len(seeds), "confidence P(integrable)",
                    f"net trained on eta = {', '.join(f'{e:g}' for e in train_etas)}", chance=0.5,
                    legend="upper left")
    ctx.save_figure(fig, "", f"Fig. 13: mean softmax probability of 'integrable' per mass ratio of a density CNN "
                             f"trained only on eta = {', '.join(f'{e:g}' for e in train_etas)} (open diamonds: their "
                             f"test rows); every other ratio: all rows, never seen. Band = min / max over seeds "
                             f"{seeds}, line = mean; dotted: 0.5; dashed: the integrable ratios 1/3 and 1.")
    rows = {"eta": eta, "training_ratio": scan["seen"], "label": [is_integrable_eta(e) for e in eta],
            "n": scan["n"], "mean": stats["mean"], "min": stats["min"], "max": stats["max"]}
    rows.update({f"seed{s}": scan["values"][i] for i, s in enumerate(seeds)})
    ctx.save_data(rows, "", fmt="csv")

    at = np.flatnonzero(np.abs(eta - INTEGRABLE[0]) <= ETA_TOL)
    if at.size == 0:
        raise ParameterError(f"dataset {ctx.resources.dataset('twobody-images')}: has no eta = 1/3 rows; the confidence at 1/3 "
                         "is the experiment's result")
    k = int(at[0])
    per_seed = scan["values"][:, k]
    value = float(per_seed.mean())
    metrics = {
        "confidence_eta_1_3": {"value": value, "description": f"seed mean (seeds {seeds}) of the mean P(integrable) "
                                                              f"over the {int(scan['n'][k])} eta = 1/3 states"},
        "confidence_eta_1_3_seed_min": {"value": float(per_seed.min()), "description": "smallest over the seeds"},
        "confidence_eta_1_3_seed_max": {"value": float(per_seed.max()), "description": "largest over the seeds"},
    }
    metrics.update({f"confidence_eta_1_3_seed{s}": float(per_seed[i]) for i, s in enumerate(seeds)})
    near = nearest_unseen(eta, scan["seen"], INTEGRABLE[0], is_integrable_eta)
    text = ""
    if near is not None:
        metrics["confidence_nearest_nonintegrable_to_1_3"] = {
            "value": float(stats["mean"][near]),
            "description": f"seed-mean confidence at eta = {eta[near]:.4g}, the unseen non-integrable ratio "
                           "nearest to 1/3 (ideal: 0)"}
        text = (f" At the non-integrable eta = {eta[near]:.4g} next to 1/3 the confidence is "
                f"{stats['mean'][near]:.3f}: on average the net calls it "
                f"{'integrable (wrong)' if stats['mean'][near] > 0.5 else 'non-integrable (right)'}.")
    sides = [nearest_unseen(eta, scan["seen"], INTEGRABLE[0], is_integrable_eta, side) for side in ("below", "above")]
    sides = [i for i in sides if i is not None]
    if sides:
        metrics["confidence_eta_1_3_minus_neighbours"] = {
            "value": value - float(np.mean(stats["mean"][sides])),
            "description": "confidence at 1/3 minus the mean confidence at the nearest unseen non-integrable ratios "
                           f"on either side (eta = {', '.join(f'{eta[i]:.4g}' for i in sides)}); > 0: 1/3 stands "
                           "out as more integrable than its neighbours"}
        text += (" Confidence at 1/3 minus that at its unseen neighbours: "
                 f"{metrics['confidence_eta_1_3_minus_neighbours']['value']:+.3f}.")
    nonint = ~scan["seen"] & np.array([is_integrable_eta(e) == 0 for e in eta], dtype=bool)
    if nonint.any():
        metrics["confidence_unseen_nonintegrable_mean"] = {
            "value": float(stats["mean"][nonint].mean()),
            "description": f"seed-mean confidence averaged over the {int(nonint.sum())} unseen non-integrable ratios "
                           "(ideal: 0)"}
    ok = abs(value - PAPER_CONFIDENCE_1_3) <= 0.05
    summary = (f"A density CNN trained only on eta = {', '.join(f'{e:g}' for e in train_etas)} gives the never-seen "
               f"integrable ratio eta = 1/3 a mean integrability confidence of {value:.4f} (seeds "
               f"{per_seed.min():.4f}-{per_seed.max():.4f}); the paper reports 0.9878, "
               f"{'reproduced within 0.05' if ok else 'not reproduced within 0.05 at this training scale'}." + text)
    if nonint.any():
        summary += (f" Over the {int(nonint.sum())} unseen non-integrable ratios the mean confidence is "
                    f"{metrics['confidence_unseen_nonintegrable_mean']['value']:.3f}.")
    return {"metrics": metrics, "summary": summary}
