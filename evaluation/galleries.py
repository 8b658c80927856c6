"""Galleries of the quantum-layer net on the tribaker map.

Random states with predictions, activation maps of the first and last conv layers, and the learned coherent-state
centres (Montes et al., arXiv:2406.00363, Figs. 5-12; ``docs/tribaker.md`` §7.4).

Units: the map's Hilbert-space dimension is N = 1/(2 pi hbar); phase space is the unit torus (q, p) in [0, 1)^2.

Protocol:

* Model: the reference checkpoint ``ctx.resources.model("quantum-net")`` (trained with seed 0 on both maps of the
  ``tribaker`` dataset), eval mode, no gradients.
* Data: the validation split of the ``tribaker`` dataset, closed (R = 1) and open (R = ``open_reflectivity``) rows.
* (a) / (b), Figs. 5 and 9: ``gallery`` (9) states per map drawn without replacement by
  ``numpy.random.default_rng(seed)`` (fewer if the split has fewer), shown as the model's own input image
  ``model.images(x)`` (the coherent-state layer output at the learned centres divided by its mean: the Husimi
  function for the closed map, the LR representation for the open one), with N, the label and the predicted class
  with its softmax confidence in each title (green: correct, red: wrong).
* (c), Figs. 7-8 and 11-12: for the first localized and the first non-localized state of each gallery (from the
  whole split if the gallery lacks a class) the input image, and the ``top`` (9) channels of the first and of the
  last conv layer ranked by mean activation, recorded with forward hooks on the ReLU that follows each conv of
  ``model.features`` (post-activation maps; compact and alexnet heads alike).
* (d): the learned centres (q_k, p_k) modulo 1 against their initial lattice ((a + 1/2)/S, (b + 1/2)/S); the
  displacement of a centre is its distance on the torus (each coordinate difference wrapped into [-1/2, 1/2)).

Metrics: ``gallery_accuracy_closed`` / ``gallery_accuracy_open`` (fraction of the shown states classified
correctly; the paper: all 9), ``centre_displacement_mean`` / ``centre_displacement_max`` (torus units) and the same
in lattice spacings 1/S.

Writes ``galleries_closed.png`` / ``galleries_open.png`` (+ ``.json``: indices, N, labels, predictions, images),
``galleries_activations_closed.png`` / ``galleries_activations_open.png`` (+ ``.json``: channels, mean
activations, maps) and ``galleries_centres.png`` (+ ``.json``: initial and learned centres, displacements).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from qchaos.errors import ParameterError

from .core import Metric
from .plotting import OPEN_COLOR, plt, subplots

NAME = "galleries"
TITLE = "Galleries: states, predictions, activation maps and learned coherent-state centres (Figs. 5-12)"
METRICS = (
    Metric("gallery_accuracy_{map}", "fraction of the gallery states classified right, closed or open map"),
    Metric("gallery_states", "states shown (closed + open)"),
    Metric("centre_displacement_mean", "mean torus distance of the learned coherent-state centres from the lattice"),
    Metric("centre_displacement_max", "largest such distance (unit torus)"),
    Metric("centre_displacement_mean_spacings", "the mean in lattice spacings"),
)

PARAMS = {
    "tiny": {"gallery": 9, "top": 9, "seed": 0, "open_reflectivity": 0.2},
    "mini": {"gallery": 9, "top": 9, "seed": 0, "open_reflectivity": 0.2},
    "paper": {"gallery": 9, "top": 9, "seed": 0, "open_reflectivity": 0.2},
}

CLASSES = ("localized", "non-localized")


def draw_gallery(n_rows: int, size: int, seed: int) -> np.ndarray:
    """``min(size, n_rows)`` distinct row indices drawn with ``numpy.random.default_rng(seed)`` (draw order)."""
    rng = np.random.default_rng(seed)
    return rng.choice(n_rows, size=min(int(size), int(n_rows)), replace=False)


def _wrap(d):
    """A coordinate difference on the unit torus wrapped into [-1/2, 1/2)."""
    return (d + 0.5) % 1.0 - 0.5


def torus_displacement(q0, p0, q1, p1) -> np.ndarray:
    """Distance on the unit torus between centres (q0, p0) and (q1, p1) (arrays of one shape).

    Each coordinate difference is wrapped into [-1/2, 1/2) first.
    """
    dq = _wrap(np.asarray(q1, float) - np.asarray(q0, float))
    dp = _wrap(np.asarray(p1, float) - np.asarray(p0, float))
    return np.hypot(dq, dp)


def initial_lattice(S: int) -> tuple[np.ndarray, np.ndarray]:
    """The centres' starting lattice as (S, S) arrays [a, b]: q = (a + 1/2)/S, p = (b + 1/2)/S."""
    from generation.tribaker.coherent import grid_centres

    g = grid_centres(S)
    return np.meshgrid(g, g, indexing="ij")


def centre_displacements(layer) -> dict:
    """Initial and learned centres of a ``CoherentStateLayer`` and their torus displacements, each (S, S)."""
    S = layer.grid_size
    q, p = (t.cpu().numpy() for t in layer.centres())
    q0, p0 = initial_lattice(S)
    return {"q0": q0, "p0": p0, "q": q, "p": p, "displacement": torus_displacement(q0, p0, q, p)}


def top_channels(activation, k: int) -> np.ndarray:
    """Indices of the ``k`` channels with the largest mean activation, largest first; ``activation`` (C, H, W)."""
    means = np.asarray(activation, dtype=np.float64).reshape(activation.shape[0], -1).mean(axis=1)
    return np.argsort(-means, kind="stable")[:int(k)]


def conv_activations(model, x: torch.Tensor) -> dict:
    """Post-activation maps of the first and last conv layer of ``model.features`` for a packed batch ``x``.

    Hooks the module right after each of the two ``nn.Conv2d`` (the ReLU in both heads; the conv itself if none).
    Returns ``{"first": (B, C1, H1, W1), "last": (B, C5, H5, W5)}`` float32 numpy arrays.
    """
    convs = [i for i, m in enumerate(model.features) if isinstance(m, nn.Conv2d)]
    out, handles = {}, []
    for key, i in (("first", convs[0]), ("last", convs[-1])):
        follows = i + 1 < len(model.features) and isinstance(model.features[i + 1], nn.ReLU)
        module = model.features[i + 1] if follows else model.features[i]

        def hook(_module, _inputs, output, key=key):
            out[key] = output.detach().float().cpu().numpy()

        handles.append(module.register_forward_hook(hook))
    try:
        with torch.no_grad():
            model(x)
    finally:
        for h in handles:
            h.remove()
    return out


def _show(ax, image, title: str = "", color: str = "black") -> None:
    """Image [q, p] with q horizontal and p vertical on the unit torus."""
    ax.imshow(np.asarray(image).T, origin="lower", extent=(0, 1, 0, 1), cmap="viridis", interpolation="nearest")
    ax.set_title(title, fontsize=7, color=color)
    ax.set_xticks([])
    ax.set_yticks([])


def _classify(model, x: torch.Tensor) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Input images (B, S, S), predicted class (B,) and its confidence (B,).

    The coherent-state images are computed once and fed to the CNN as ``model.forward`` does, in eval mode (the
    mode is restored), softmax over the logits as ``model.predict_proba``.
    """
    was = model.training
    model.eval()
    try:
        with torch.no_grad():
            images = model.images(x)
            logits = model.classifier(model.features(images.unsqueeze(1)))
            prob = torch.softmax(logits, dim=-1).float().cpu().numpy()
    finally:
        model.train(was)
    return images.float().cpu().numpy(), prob.argmax(axis=1), prob.max(axis=1)


def _gallery(ctx, model, data, which: str, R: float) -> dict:
    """Figure (a) / (b) of one map; returns the shown indices, labels, predictions and images."""
    idx = draw_gallery(len(data), ctx.params["gallery"], ctx.params["seed"])
    images, pred, conf = _classify(model, data.x[idx])
    label = data.label[idx].numpy()
    cols = 3
    rows = max(1, -(-len(idx) // cols))
    fig, axes = subplots(rows, cols, width=2.0, height=2.15, constrained_layout=False)
    fig.subplots_adjust(wspace=0.08, hspace=0.45)
    for j, ax in enumerate(axes.flat):
        if j >= len(idx):
            ax.axis("off")
            continue
        ok = pred[j] == label[j]
        _show(ax, images[j], f"#{j + 1}  N = {int(data.N[idx[j]])}\nlabel: {CLASSES[label[j]]}\npred: "
              f"{CLASSES[pred[j]]} ({conf[j]:.2f})", "tab:green" if ok else "tab:red")
    fig.supxlabel("q", fontsize=8)
    fig.supylabel("p", fontsize=8)
    fig_no = "5" if which == "closed" else "9"
    kind = "Husimi functions" if which == "closed" else f"LR representations (R = {R:g})"
    ctx.save_figure(fig, which, f"Fig. {fig_no}: {len(idx)} random {which}-map validation states as the net's input "
                    f"({kind} at the learned coherent-state centres, divided by their mean; q horizontal, p "
                    "vertical), with label and predicted class (softmax confidence); green titles are correct.")
    shown = {"row": idx, "N": data.N[idx], "label": label, "pred": pred, "confidence": conf,
             "norm_ratio": data.norm_ratio[idx], "image": np.round(images, 5)}
    ctx.save_data(shown, which)
    return shown


def pick_examples(labels_shown, labels_all, shown_rows) -> dict:
    """Rows of one localized (label 0) and one non-localized (label 1) example.

    For each class, the first of that class in the gallery, else the first in the whole split. Returns
    ``{0: row, 1: row}`` (a class absent everywhere is left out).
    """
    out = {}
    for cls in (0, 1):
        hit = np.flatnonzero(np.asarray(labels_shown) == cls)
        if hit.size:
            out[cls] = int(shown_rows[hit[0]])
        else:
            anywhere = np.flatnonzero(np.asarray(labels_all) == cls)
            if anywhere.size:
                out[cls] = int(anywhere[0])
    return out


def _activations(ctx, model, data, shown: dict, which: str) -> None:
    """Figure (c) of one map: per example state, its input and the top activation maps of the first / last conv."""
    k = ctx.params["top"]
    examples = pick_examples(shown["label"], data.label.numpy(), shown["row"])
    rows = sorted(examples.items())
    x = data.x[[r for _, r in rows]]
    acts = conv_activations(model, x)
    images, pred, conf = _classify(model, x)
    fig, axes = subplots(2 * len(rows), k + 1, width=1.25, height=1.35, constrained_layout=False)
    fig.subplots_adjust(wspace=0.08, hspace=0.5)
    record = []
    for i, (cls, row) in enumerate(rows):
        entry = {"row": row, "N": int(data.N[row]), "label": cls, "pred": int(pred[i]), "confidence": conf[i],
                 "input": np.round(images[i], 5)}
        for j, layer in enumerate(("first", "last")):
            a = acts[layer][i]
            top = top_channels(a, k)
            line = axes[2 * i + j]
            _show(line[0], images[i], f"{CLASSES[cls]}, N = {entry['N']}\ninput ({layer} conv)")
            for c, ax in enumerate(line[1:]):
                if c < len(top):
                    _show(ax, a[top[c]], f"ch {int(top[c])}: {a[top[c]].mean():.2g}")
                else:
                    ax.axis("off")
            entry[layer] = {"channels": top, "mean": a.reshape(a.shape[0], -1).mean(axis=1)[top],
                            "maps": np.round(a[top], 4)}
        record.append(entry)
    fig.supxlabel("q (input) / map column", fontsize=8)
    fig.supylabel("p (input) / map row", fontsize=8)
    figs = "7-8" if which == "closed" else "11-12"
    ctx.save_figure(fig, f"activations_{which}", f"Figs. {figs}: {which} map, one localized and one non-localized "
                    f"validation state: the net's input and the {k} channels of the first and of the last conv layer "
                    "with the largest mean activation (post-ReLU maps; title: channel, mean activation; q "
                    "horizontal, p vertical, the maps' own pixel grid).")
    ctx.save_data(record, f"activations_{which}")


def _centres(ctx, layer, zoom: float = 0.25) -> dict:
    """Figure (d): the learned coherent-state centres.

    The learned centres on the torus over the initial lattice, a zoom with displacement arrows, and the
    displacement histogram.
    """
    d = centre_displacements(layer)
    S = layer.grid_size
    fig, axes = subplots(1, 3, width=3.9, height=3.7)
    ax = axes[0, 0]
    ax.scatter(d["q0"].ravel(), d["p0"].ravel(), s=3, color="0.8", label="initial lattice")
    sc = ax.scatter(d["q"].ravel(), d["p"].ravel(), s=4, c=d["displacement"].ravel() * S, cmap="magma_r",
                    label="learned")
    fig.colorbar(sc, ax=ax, label="displacement (lattice spacings 1/S)", shrink=0.8)
    ax.add_patch(plt.Rectangle((0, 0), zoom, zoom, fill=False, ec="tab:blue", lw=1))
    ax = axes[0, 1]
    dq = _wrap(d["q"] - d["q0"])
    dp = _wrap(d["p"] - d["p0"])
    inside = (d["q0"] < zoom) & (d["p0"] < zoom)
    ax.scatter(d["q0"][inside], d["p0"][inside], s=8, color="0.7", label="initial lattice")
    ax.quiver(d["q0"][inside], d["p0"][inside], dq[inside], dp[inside], angles="xy", scale_units="xy", scale=1,
              width=0.006, color="tab:red", label="displacement (true scale)")
    for a, (lo, hi) in ((axes[0, 0], (0, 1)), (ax, (0, zoom))):
        a.set_xlim(lo, hi)
        a.set_ylim(lo, hi)
        a.set_aspect("equal")
        a.set_xlabel("q (unit torus)")
        a.set_ylabel("p (unit torus)")
        a.legend(fontsize=6, loc="upper right", markerscale=2)
    ax = axes[0, 2]
    ax.hist(d["displacement"].ravel() * S, bins=30, color=OPEN_COLOR, alpha=0.8, label=f"{S * S} centres")
    ax.set_xlabel("displacement (lattice spacings 1/S)")
    ax.set_ylabel("number of centres")
    ax.legend(fontsize=8)
    ctx.save_figure(fig, "centres", f"Left: the {S} x {S} learned coherent-state centres (q, p) modulo 1, coloured by "
                    "their torus distance from the start, over the initial lattice ((a + 1/2)/S, (b + 1/2)/S) (grey); "
                    f"middle: the corner [0, {zoom:g}]^2 (blue box) with each centre's displacement as an arrow at "
                    "true scale; right: histogram of the displacements in lattice spacings.")
    ctx.save_data({"S": S, **{k: np.round(v, 7) for k, v in d.items()}}, "centres")
    return d


def run(ctx) -> dict:
    from modeling.data import load_table, resonance_tensors

    p = ctx.params
    model = ctx.resources.model("quantum-net")
    repo = ctx.resources.dataset("tribaker")
    ctx.log(f"checkpoint {ctx.resources.model_repo_id('quantum-net')}, data {repo} (validation)")
    acc, count = {}, {}
    table = load_table(repo, "resonances", "validation", source=ctx.resources.source)
    for which, R in (("closed", 1.0), ("open", float(p["open_reflectivity"]))):
        data = resonance_tensors(table, reflectivity=R)
        if len(data) == 0:
            raise ParameterError(f"dataset {repo}: no validation row with R = {R:g}")
        shown = _gallery(ctx, model, data, which, R)
        acc[which] = float(np.mean(shown["pred"] == shown["label"]))
        count[which] = len(shown["row"])
        _activations(ctx, model, data, shown, which)
        ctx.log(f"{which}: {acc[which] * count[which]:.0f}/{count[which]} gallery states correct")
    d = _centres(ctx, model.quantum)
    S = model.quantum.grid_size
    disp = d["displacement"]
    metrics = {
        "gallery_accuracy_closed": acc["closed"],
        "gallery_accuracy_open": acc["open"],
        "centre_displacement_mean": {"value": float(disp.mean()), "description": "mean torus distance of the learned "
                                     "coherent-state centres from their initial lattice (unit torus)"},
        "centre_displacement_max": {"value": float(disp.max()), "description": "largest such distance (unit torus)"},
        "centre_displacement_mean_spacings": {"value": float(disp.mean() * S), "description": "the mean in lattice "
                                              f"spacings 1/S (S = {S})"},
        "gallery_states": {"value": count["closed"] + count["open"], "description": "states shown (closed + open)"},
    }
    reading = ("they did not move" if disp.max() == 0 else "the layer adapts its sampling but every centre stays "
               "within one lattice spacing of the uniform grid" if disp.max() * S < 1 else "some moved by more "
               "than a lattice spacing")
    summary = (
        f"The reference net classifies {acc['closed'] * count['closed']:.0f}/{count['closed']} random closed and "
        f"{acc['open'] * count['open']:.0f}/{count['open']} random open (R = {p['open_reflectivity']:g}) validation "
        f"states correctly (the paper: 9/9 each). Its {S * S} coherent-state centres moved from the initial "
        f"{S} x {S} lattice by {disp.mean():.3g} on average and {disp.max():.3g} at most ({disp.mean() * S:.2f} / "
        f"{disp.max() * S:.2f} lattice spacings): {reading}. The activation maps are shown for inspection; the "
        "paper's scar readings (period-1 / period-4 orbits) are qualitative and are not scored.")
    return {"metrics": metrics, "summary": summary}
