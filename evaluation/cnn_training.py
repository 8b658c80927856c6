"""Density-CNN training curves and accuracy against the mass ratio over seeds.

Lang et al., arXiv:2402.16244, Figs. 11-12; ``docs/twobody.md`` §5-6.

Protocol (two atoms in a hard-wall trap, units hbar = L = mu = 1; images = ``|psi(x1, x2)|^2`` on the P x P cell
grid scaled to [0, 1], ``modeling.density_cnn.density_images``):

* Train ``density-cnn`` with every seed of ``PARAMS["seeds"]`` through ``ctx.resources.train("density-cnn",
  seed=s)`` on the ``twobody-train`` dataset (the resources' training preset, ``modeling.train.TRAIN_PRESETS``:
  ``mini`` = 8 epochs of Adam, lr 1e-3, batch 32; default training mass ratios 1/3, 1/2, 3/4, 1; best epoch by
  validation accuracy). The seed changes the initialisation, the batch order and dropout; the data split is fixed.
* Fig. 11: per-epoch train / validation loss and accuracy of the first seed, and its per-step training loss.
* Fig. 12: accuracy of every seed's net on every mass ratio of the ``twobody`` dataset. States the nets never saw:
  for a training mass ratio only the **test split** of the training dataset (the ``twobody-train`` role; at mini
  it is the same dataset as ``twobody``; at paper the two differ, and only the training dataset's test rows are
  certainly unseen), for every other mass ratio **every row** of the ``twobody`` dataset (all splits). Band =
  min / max over seeds, line = seed mean; integrable ratios 1/3 and 1 marked. The images of both datasets must have
  the model's size (``ValueError`` otherwise).
* The reference checkpoint ``ctx.resources.model("density-cnn")`` (seed 0, the one the other experiments use) is
  evaluated again on the test split of its training mass ratios (the value in its meta is only cross-checked).

Metrics: ``cnn_validation_accuracy`` (seed mean of the best-epoch validation accuracy), ``cnn_test_accuracy`` (the
reference checkpoint, recomputed), the seed min / max of the test accuracy, the mean accuracy over the unseen mass
ratios (all, below 1/3, between 1/3 and 1) and next to the integrable points (unseen ratios within
``near_window`` of 1/3 or 1). Files: ``cnn-training_curves.png`` + ``.json``, ``cnn-training_accuracy_vs_eta.png``
+ ``.csv``.
"""

from __future__ import annotations

import numpy as np
import torch

from .core import ETA_TOL, INTEGRABLE, Metric
from .core import metric as _metric
from .plotting import INTEGRABLE_COLOR, NONINTEGRABLE_COLOR, subplots

NAME = "cnn-training"
TITLE = "Density-CNN training curves and accuracy against eta over seeds (Figs. 11-12)"
METRICS = (
    Metric("cnn_validation_accuracy", "seed-mean best-epoch validation accuracy"),
    Metric("cnn_test_accuracy", "test accuracy of the reference checkpoint (seed 0)"),
    Metric("cnn_test_accuracy_seed_min", "smallest test accuracy over the seeds"),
    Metric("cnn_test_accuracy_seed_max", "largest test accuracy over the seeds"),
    Metric("cnn_accuracy_unseen_mean", "seed-mean accuracy over the ratios not trained on"),
    Metric("cnn_accuracy_unseen_below_1_3", "the same below eta = 1/3"),
    Metric("cnn_accuracy_unseen_between", "the same between eta = 1/3 and 1"),
    Metric("cnn_accuracy_near_integrable_mean", "seed-mean accuracy near the integrable ratios"),
    Metric("cnn_accuracy_near_integrable_min", "the smallest such accuracy"),
)

PARAMS = {
    "tiny": {"seeds": [0, 1], "near_window": 0.05},
    "mini": {"seeds": [0, 1, 2], "near_window": 0.02},
    "paper": {"seeds": [0, 1, 2, 3, 4], "near_window": 0.02},
}



# -- pure helpers -------------------------------------------------------------------------------------------------
def contains_eta(etas, eta: float) -> bool:
    """Whether ``eta`` is one of ``etas`` (to :data:`ETA_TOL`)."""
    return any(abs(float(e) - float(eta)) <= ETA_TOL for e in etas)


def scan_plan(scan_etas, train_etas) -> list[tuple[float, bool]]:
    """The mass ratios of the eta scan, sorted, each flagged when it is a training ratio.

    The union of ``scan_etas`` and ``train_etas`` (duplicates within :data:`ETA_TOL` merged), each with ``True``
    when it is a training ratio (then only its test rows count).
    """
    out: list[float] = []
    for e in sorted(float(x) for x in list(scan_etas) + list(train_etas)):
        if not out or abs(e - out[-1]) > ETA_TOL:
            out.append(e)
    return [(e, contains_eta(train_etas, e)) for e in out]


def distance_to_integrable(eta: float) -> float:
    """``min(|eta - 1/3|, |eta - 1|)``."""
    return min(abs(float(eta) - v) for v in INTEGRABLE)


def near_integrable_mask(etas, seen, window: float) -> np.ndarray:
    """Unseen (``seen`` False) mass ratios with ``0 < distance_to_integrable <= window``; bool array like ``etas``."""
    d = np.array([distance_to_integrable(e) for e in etas])
    return (~np.asarray(seen, dtype=bool)) & (d > ETA_TOL) & (d <= window + ETA_TOL)


def band(values: np.ndarray) -> dict:
    """Seed statistics of ``values`` (n_seeds, n_eta): ``{"mean", "min", "max"}`` arrays (n_eta,)."""
    v = np.asarray(values, dtype=np.float64)
    return {"mean": v.mean(axis=0), "min": v.min(axis=0), "max": v.max(axis=0)}


def accuracy_of(model, images: torch.Tensor, labels: torch.Tensor) -> float:
    """Fraction of ``images`` (n, P, P) the model assigns to ``labels`` (n,).

    Argmax of the logits; NaN for no images. Computed in the model's prediction batches, on the images' device.
    """
    from modeling.train import evaluate

    return float(evaluate(model, images, labels, batch_size=model.predict_batch_size,
                          device=images.device)["accuracy"])


# -- data ---------------------------------------------------------------------------------------------------------
def split_etas(table) -> np.ndarray:
    """The mass ratios (column ``eta``) of one loaded ``wavefunctions`` split."""
    return np.asarray(table.data.table.column("eta").to_numpy(), dtype=np.float64)


def image_size_of(table) -> int:
    """P of the ``psi`` images of a loaded ``wavefunctions`` split."""
    return int(table.features["psi"].shape[-1])


def check_image_size(model, tables: dict, what: str) -> None:
    """``ValueError`` when the images of ``tables`` (name -> split) do not have the model's size."""
    for name, table in tables.items():
        size = image_size_of(table)
        if size != model.image_size:
            raise ValueError(f"{what} split {name}: images are {size} x {size}, the density CNN takes "
                             f"{model.image_size} x {model.image_size}; use datasets of the same image_size for "
                             "the twobody and twobody-train roles")


def eta_rows(tables: dict, eta: float) -> tuple[torch.Tensor, torch.Tensor]:
    """Density images (n, P, P) and labels (n,) of every row with mass ratio ``eta`` in ``tables`` (splits)."""
    from modeling.data import twobody_tensors

    parts = [twobody_tensors(t, [eta]) for t in tables.values()]
    parts = [p for p in parts if len(p)]
    if not parts:
        return torch.empty(0), torch.empty(0, dtype=torch.int64)
    return torch.cat([p.images for p in parts]), torch.cat([p.label for p in parts])


def load_scan(ctx):
    """The ``twobody`` dataset (every split) and the test split of ``twobody-train``: ``(scan, train_test)``.

    Both are dicts of split name -> loaded ``wavefunctions`` table.
    """
    from modeling.data import load_table

    src = ctx.resources.source
    scan = dict(load_table(ctx.resources.dataset("twobody-images"), "wavefunctions", source=src))
    train_test = {"test": load_table(ctx.resources.dataset("twobody-train"), "wavefunctions", "test", source=src)}
    return scan, train_test


def scan_eta(ctx, models: list, train_etas, stat, what: str = "eta scan", tables=None) -> dict:
    """``stat(model, images, labels) -> float`` of every model on every mass ratio of :func:`scan_plan`.

    Rows: test rows of ``twobody-train`` for a training ratio, every row of ``twobody`` otherwise (``tables``: the
    :func:`load_scan` result when already loaded). Returns ``{"eta", "seen" (bool), "n" (rows per eta), "values"
    (n_models, n_eta)}`` as numpy arrays (mass ratios without rows dropped).
    """
    scan, train_test = load_scan(ctx) if tables is None else tables
    for m in models:
        check_image_size(m, scan, f"dataset {ctx.resources.dataset('twobody-images')}")
        check_image_size(m, train_test, f"dataset {ctx.resources.dataset('twobody-train')}")
    scan_etas = np.unique(np.concatenate([split_etas(t) for t in scan.values()]))
    plan = scan_plan(scan_etas, train_etas)
    etas, seen, counts, values = [], [], [], []
    for eta, is_train in ctx.bar(plan, desc=what, unit="eta"):
        images, labels = eta_rows(train_test if is_train else scan, eta)
        if len(labels) == 0:
            continue
        etas.append(eta)
        seen.append(is_train)
        counts.append(len(labels))
        values.append([stat(m, images, labels) for m in models])
    return {"eta": np.array(etas), "seen": np.array(seen, dtype=bool), "n": np.array(counts),
            "values": np.array(values, dtype=np.float64).T.reshape(len(models), len(etas))}


def reference_test_accuracy(ctx, model, test_table=None) -> tuple[float, int]:
    """Accuracy of ``model`` on the test split of ``twobody-train``, and the number of test rows.

    The split is restricted to the model's training mass ratios (from its meta). ``test_table``: that split when
    already loaded (``load_scan(ctx)[1]["test"]``).
    """
    from modeling.data import load_twobody, twobody_tensors
    from modeling.train import evaluate

    etas = model.get_meta().get("training", {}).get("etas")
    if test_table is None:
        test = load_twobody(ctx.resources.dataset("twobody-train"), "test", etas, source=ctx.resources.source)
    else:
        test = twobody_tensors(test_table, etas)
    if test.image_size != model.image_size:
        raise ValueError(f"reference density-cnn takes {model.image_size} x {model.image_size} images, the test "
                         f"split has {test.image_size} x {test.image_size}")
    return float(evaluate(model, test.images, test.label)["accuracy"]), len(test)


# -- figures ------------------------------------------------------------------------------------------------------
def mark_integrable(ax) -> None:
    """Dashed vertical lines at the integrable mass ratios 1/3 and 1."""
    for i, v in enumerate(INTEGRABLE):
        ax.axvline(v, color="0.5", ls="--", lw=0.9, label="integrable eta (1/3, 1)" if i == 0 else None)


def plot_curves(history: list, steps: list, seed: int):
    """Fig. 11: loss (per step and per epoch) and accuracy per epoch of one training run."""
    fig, axes = subplots(1, 2, width=4.6)
    ax_loss, ax_acc = axes[0]
    per_epoch = history[0]["steps"]
    ep = [h["epoch"] for h in history]
    ax_loss.plot([s["step"] / per_epoch for s in steps], [s["loss"] for s in steps], color="0.7", lw=0.8,
                 label="training loss per step")
    ax_loss.plot(ep, [h["train_loss"] for h in history], "o-", label="training (epoch mean)")
    ax_loss.plot(ep, [h["validation_loss"] for h in history], "s-", label="validation")
    ax_loss.set(xlabel="epoch", ylabel="cross-entropy loss", title=f"loss (seed {seed})")
    ax_acc.plot(ep, [h["train_accuracy"] for h in history], "o-", label="training")
    ax_acc.plot(ep, [h["validation_accuracy"] for h in history], "s-", label="validation")
    ax_acc.set(xlabel="epoch", ylabel="accuracy", title=f"accuracy (seed {seed})", ylim=(0, 1.02))
    for ax in (ax_loss, ax_acc):
        ax.legend(fontsize=8)
        ax.grid(alpha=0.3)
    return fig


def plot_scan(scan: dict, stats: dict, n_seeds: int, ylabel: str, title: str, *, chance: float | None = None,
              legend: str = "lower left"):
    """Fig. 12 / 13 style: a seed band (min / max) and mean against eta, training ratios and 1/3, 1 marked."""
    fig, axes = subplots(1, 1, width=6.4, height=3.6)
    ax = axes[0, 0]
    eta, seen = scan["eta"], scan["seen"]
    ax.fill_between(eta, stats["min"], stats["max"], color=NONINTEGRABLE_COLOR, alpha=0.25, lw=0,
                    label=f"min / max over {n_seeds} seeds")
    ax.plot(eta, stats["mean"], "-", color=NONINTEGRABLE_COLOR, lw=1.2, label="seed mean")
    ax.plot(eta[~seen], stats["mean"][~seen], "o", color=NONINTEGRABLE_COLOR, ms=3.5, label="unseen mass ratio")
    ax.plot(eta[seen], stats["mean"][seen], "D", mfc="none", color=INTEGRABLE_COLOR, ms=7,
            label="training mass ratio (test rows)")
    mark_integrable(ax)
    if chance is not None:
        ax.axhline(chance, color="k", lw=0.8, ls=":", label=f"{chance:g}")
    ax.set(xlabel="mass ratio eta = m1 / m2", ylabel=ylabel, title=title, ylim=(-0.02, 1.04), xlim=(0, 1.02))
    ax.legend(fontsize=7, loc=legend)
    ax.grid(alpha=0.3)
    return fig


# -- the experiment -----------------------------------------------------------------------------------------------
def _train_seeds(ctx, seeds, **overrides) -> list:
    runs = []
    for s in seeds:
        ctx.log(f"training density-cnn, seed {s}" + (f", {overrides}" if overrides else ""))
        runs.append(ctx.resources.train("density-cnn", seed=int(s), **overrides))
    return runs


def _fmt_etas(etas) -> str:
    return ", ".join(f"{e:.4g}" for e in etas) or "none"


def run(ctx) -> dict:
    seeds = list(ctx.params["seeds"])
    runs = _train_seeds(ctx, seeds)
    train_etas = tuple(runs[0].log["etas"])
    val = np.array([r.metrics["accuracy"]["validation"] for r in runs])
    test = np.array([r.metrics["accuracy"]["test"] for r in runs])

    ctx.log("Fig. 11: training curves of seed %d" % seeds[0])
    first = runs[0]
    ctx.save_figure(plot_curves(first.history, first.log["steps"], seeds[0]), "curves",
                    f"Fig. 11: training (per step and epoch mean) and validation cross-entropy loss and accuracy per "
                    f"epoch of the density CNN, seed {seeds[0]}, training mass ratios {_fmt_etas(train_etas)}; best "
                    f"epoch {first.best_epoch} (by validation accuracy).")
    ctx.save_data({"seed": seeds[0], "best_epoch": first.best_epoch, "epochs": first.history,
                   "steps": first.log["steps"]}, "curves")

    ctx.log("Fig. 12: accuracy against eta")
    tables = load_scan(ctx)
    scan = scan_eta(ctx, [r.model for r in runs], train_etas, accuracy_of, "accuracy vs eta", tables=tables)
    stats = band(scan["values"])
    ctx.save_figure(plot_scan(scan, stats, len(seeds), "accuracy", "density CNN accuracy against the mass ratio"),
                    "accuracy_vs_eta",
                    f"Fig. 12: accuracy of the density CNN (trained on eta = {_fmt_etas(train_etas)}) on every mass "
                    f"ratio of {ctx.resources.dataset('twobody-images')}; band = min / max over seeds {seeds}, line = mean. "
                    "Training ratios (open diamonds): their test rows only; every other ratio: all rows (never "
                    "seen). Dashed: the integrable ratios 1/3 and 1.")
    rows = {"eta": scan["eta"], "training_ratio": scan["seen"], "n": scan["n"], "mean": stats["mean"],
            "min": stats["min"], "max": stats["max"]}
    rows.update({f"seed{s}": scan["values"][i] for i, s in enumerate(seeds)})
    ctx.save_data(rows, "accuracy_vs_eta", fmt="csv")

    ctx.log("reference checkpoint: test accuracy")
    ref = ctx.resources.model("density-cnn")
    ref_acc, n_test = reference_test_accuracy(ctx, ref, tables[1]["test"])
    meta_acc = ref.get_meta().get("metrics", {}).get("accuracy", {}).get("test")

    unseen = ~scan["seen"]
    below = unseen & (scan["eta"] < INTEGRABLE[0] - ETA_TOL)
    between = unseen & (scan["eta"] > INTEGRABLE[0] + ETA_TOL) & (scan["eta"] < INTEGRABLE[1] - ETA_TOL)
    near = near_integrable_mask(scan["eta"], scan["seen"], ctx.params["near_window"])
    mean = stats["mean"]

    def region(mask, text, fn=np.mean):
        return _metric(fn(mean[mask]) if mask.any() else float("nan"),
                       f"{text} (seed-mean accuracy; eta = {_fmt_etas(scan['eta'][mask])})")

    metrics = {
        "cnn_validation_accuracy": _metric(val.mean(), f"mean over seeds {seeds} of the best-epoch validation "
                                                       f"accuracy (per seed: {', '.join(f'{v:.4f}' for v in val)})"),
        "cnn_test_accuracy": _metric(ref_acc, f"reference checkpoint (seed 0) recomputed on the {n_test} test rows "
                                              f"of eta = {_fmt_etas(train_etas)} (its meta records {meta_acc})"),
        "cnn_test_accuracy_seed_min": _metric(test.min(), "smallest test accuracy over the seeds"),
        "cnn_test_accuracy_seed_max": _metric(test.max(), "largest test accuracy over the seeds"),
        "cnn_accuracy_unseen_mean": region(unseen, "mean over the mass ratios never seen in training"),
        "cnn_accuracy_unseen_below_1_3": region(below, "mean over the unseen ratios below 1/3"),
        "cnn_accuracy_unseen_between": region(between, "mean over the unseen ratios between 1/3 and 1"),
        "cnn_accuracy_near_integrable_mean": region(
            near, f"mean over the unseen ratios within {ctx.params['near_window']:g} of 1/3 or 1"),
        "cnn_accuracy_near_integrable_min": region(
            near, f"smallest over the unseen ratios within {ctx.params['near_window']:g} of 1/3 or 1", np.min),
    }
    worst = int(np.argmin(np.where(unseen, mean, np.inf))) if unseen.any() else None
    summary = (
        f"Over {len(seeds)} seeds the density CNN reaches a best-epoch validation accuracy of {val.mean():.3f} "
        f"(seed range {val.min():.3f}-{val.max():.3f}) and test accuracy {test.min():.3f}-{test.max():.3f}; the "
        f"reference checkpoint scores {ref_acc:.3f} on the test split (paper: ~0.99"
        f"{'' if ref_acc >= 0.99 else ', not reached at this training scale'}). ")
    if worst is not None:
        summary += (
            f"On the {int(unseen.sum())} never-seen mass ratios the seed-mean accuracy is "
            f"{mean[unseen].mean():.3f} (below 1/3: {metrics['cnn_accuracy_unseen_below_1_3']['value']:.3f}, "
            f"between 1/3 and 1: {metrics['cnn_accuracy_unseen_between']['value']:.3f}); the worst is "
            f"{mean[worst]:.3f} at eta = {scan['eta'][worst]:.4g} (distance "
            f"{distance_to_integrable(scan['eta'][worst]):.3g} to an integrable point). The paper reports high "
            "accuracy below 1/3, lower and fluctuating accuracy between 1/3 and 1 and drops next to the integrable "
            "points")
        if near.any():
            seen_drop = mean[near].mean() < mean[unseen].mean()
            summary += (f"; within {ctx.params['near_window']:g} of them the mean here is {mean[near].mean():.3f}, so "
                        f"the drops {'are' if seen_drop else 'are not'} reproduced")
        summary += "."
    return {"metrics": metrics, "summary": summary}
