"""Training of the package's classifiers (``qchaos train density-cnn|density-cnn-adv|quantum-net``).

:func:`train` loads the published dataset (``modeling.data``; ``qchaos.hub.load`` verifies the shards), trains
with Adam and cross-entropy, evaluates on the validation split after every epoch, keeps the **best epoch by
validation accuracy** (ties: lower validation loss, then the earlier epoch), evaluates that checkpoint on every
split, saves it to the local hub as ``qchaos/<model>-<dataset name>`` (``HubModel.save_to_local_hub``, meta:
dataset, metrics, training settings) and optionally pushes it. Progress: tqdm bars (``progress=False`` /
``--quiet`` to silence). Log: one JSON file (rewritten after every epoch) with the settings, every step's loss,
every epoch's metrics, the final metrics and the timings.

Models and data:

* ``density-cnn`` — :class:`~modeling.density_cnn.DensityCNN` on the ``wavefunctions`` config of a two-atom
  dataset: inputs ``density_images(psi)``; by default only the mass ratios 1/3, 1/2, 3/4, 1 (``twobody.md`` §5,
  those present in the dataset; ``etas`` to change). The input standardisation is set from the training images.
* ``density-cnn-adv`` — the same network trained on clean + adversarial samples (the hardened variant,
  ``twobody.md`` §7): every batch of B clean images is extended by B FGSM images (eps uniform in [0, fgsm_eps] per
  sample, computed on the current network) and/or B quantum-perturbed images (Eq. 18, eps uniform in
  [0, quantum_eps], partner = the training state of the other class with the nearest level), same labels.
  Trained from scratch.
* ``quantum-net`` — :class:`~modeling.quantum_net.QuantumLocalizationNet` on the ``resonances`` config of a
  tribaker dataset (all reflectivities together unless ``reflectivity`` is given; ``max_N`` restricts the
  *training* rows to N <= max_N, Fig. 3 protocol; validation always uses every N).

Determinism: same settings + same data + CPU -> identical metrics and weights: ``torch.manual_seed(seed)`` before
the model is built, ``torch.use_deterministic_algorithms(True)`` during training, a DataLoader with a generator
seeded by ``seed`` and ``num_workers=0``, adversarial eps drawn from a generator seeded by ``seed + 1``, symmetry
augmentation from one seeded by ``seed + 2``.

Metrics recorded in the checkpoint's meta (best epoch): ``accuracy`` and ``loss`` per split (train, validation,
test, holdout as present); for quantum-net ``accuracy_by_R`` (per split, closed ``R=1`` and open); for the density
models also ``fgsm_accuracy`` (eps = ``fgsm_eps``) and
``quantum_accuracy`` (eps = ``quantum_eps``, partners from all loaded states) on validation / test.
"""

from __future__ import annotations

import contextlib
import copy
import math
import time
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from qchaos.errors import NumericalError, ParameterError

__all__ = ["MODEL_KINDS", "TRAIN_PRESETS", "TrainSettings", "TrainResult", "settings_for", "default_repo_id",
           "train", "evaluate", "reflectivity_accuracy"]

MODEL_KINDS = {"density-cnn": "twobody", "density-cnn-adv": "twobody", "quantum-net": "tribaker"}
"""Model kind -> system of its dataset."""

_CONFIG = {"twobody": "wavefunctions", "tribaker": "resonances"}

TRAIN_PRESETS: dict[str, dict[str, dict]] = {
    # [choice] twobody.md §6: Adam lr 1e-3, batch 32, 10-20 epochs (paper: cosine decay of the rate, which settles
    # the validation accuracy); §7: FGSM eps in [0, 0.05], quantum eps in [0, 0.5]
    "density-cnn": {
        "mini": dict(epochs=8, batch_size=32, lr=1e-3),
        "paper": dict(epochs=12, batch_size=32, lr=1e-3, schedule="cosine"),
    },
    "density-cnn-adv": {
        "mini": dict(epochs=8, batch_size=32, lr=1e-3, adversarial="both", fgsm_eps=0.05, quantum_eps=0.5),
        "paper": dict(epochs=10, batch_size=32, lr=1e-3, schedule="cosine", adversarial="both", fgsm_eps=0.05,
                      quantum_eps=0.5),
    },
    # [paper] Adam, cross-entropy, batch 32, 5 epochs; [choice] compact CNN, lr 1e-3, S = 32 (mini) / 64 (paper)
    "quantum-net": {
        "mini": dict(epochs=5, batch_size=32, lr=1e-3, grid_size=32, arch="compact"),
        "paper": dict(epochs=5, batch_size=32, lr=1e-3, grid_size=64, arch="compact"),
    },
}


_TWOBODY_ONLY = ("etas", "augment", "adversarial", "fgsm_eps", "quantum_eps")
_TRIBAKER_ONLY = ("grid_size", "arch", "reflectivity", "max_N")


@dataclass(frozen=True)
class TrainSettings:
    """Every setting of a training run (recorded in the log and the checkpoint's meta).

    Attributes:
        model: ``density-cnn``, ``density-cnn-adv`` or ``quantum-net``.
        preset: the preset the defaults came from (``mini`` / ``paper``).
        dataset: repo id of the published dataset (default ``qchaos/<system>-<preset>``).
        seed: seed of the initialisation, the batch order, dropout and the adversarial eps draws.
        epochs, batch_size, lr: Adam on cross-entropy.
        schedule: learning rate over the run: ``"constant"`` or ``"cosine"`` (cosine annealing per step from ``lr``
            to 0 over all epochs).
        etas: (density models) mass ratios used for train/validation/test; None = 1/3, 0.5, 0.75, 1 (those present).
        augment: (density models) train on each image under a random symmetry of the square (D4: mirrors and the
            transposition, which map the billiard onto an equivalent one with the same label; see
            :mod:`modeling.augment`). Validation and test images are never transformed.
        adversarial: (density models) None, ``"fgsm"``, ``"quantum"`` or ``"both"``.
        fgsm_eps, quantum_eps: maxima of the per-sample eps of the adversarial samples (and the eps of the robust
            accuracies reported).
        grid_size, arch: (quantum-net) S and the CNN (``compact`` / ``alexnet``).
        reflectivity: (quantum-net) keep only this R (1 = closed); None = every R of the dataset.
        max_N: (quantum-net) training rows restricted to N <= max_N.
        dropout: dropout probability.
        device: torch device (``cpu``; identical metrics are guaranteed on CPU only).
    """

    model: str
    preset: str = "mini"
    dataset: str = ""
    seed: int = 0
    epochs: int = 5
    batch_size: int = 32
    lr: float = 1e-3
    schedule: str = "constant"
    etas: tuple[float, ...] | None = None
    augment: bool = False
    adversarial: str | None = None
    fgsm_eps: float = 0.05
    quantum_eps: float = 0.5
    grid_size: int = 32
    arch: str = "compact"
    reflectivity: float | None = None
    max_N: int | None = None
    dropout: float = 0.5
    device: str = "cpu"

    def __post_init__(self):
        if self.model not in MODEL_KINDS:
            raise ValueError(f"model = {self.model!r}: must be one of {list(MODEL_KINDS)}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ValueError(f"{name} = {v!r}: must be a positive integer")
        if self.schedule not in ("constant", "cosine"):
            raise ValueError(f"schedule = {self.schedule!r}: must be 'constant' or 'cosine'")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ValueError(f"lr = {self.lr!r}: must be > 0")
        if self.adversarial not in (None, "fgsm", "quantum", "both"):
            raise ValueError(f"adversarial = {self.adversarial!r}: must be None, 'fgsm', 'quantum' or 'both'")
        if self.adversarial and self.system != "twobody":
            raise ValueError("adversarial: only for the density models (density-cnn, density-cnn-adv)")
        for name in ("fgsm_eps", "quantum_eps"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ValueError(f"{name} = {v!r}: must be >= 0")
        if self.system == "twobody" and (self.reflectivity is not None or self.max_N is not None):
            raise ValueError(f"reflectivity / max_N: only for quantum-net (tribaker data), not {self.model}")
        if self.system == "tribaker" and self.etas is not None:
            raise ValueError("etas: only for the density models (two-atom data), not quantum-net")
        if not isinstance(self.augment, bool):
            raise ValueError(f"augment = {self.augment!r}: must be True or False")
        if self.system == "tribaker" and self.augment:
            raise ValueError("augment: only for the density models (two-atom data), not quantum-net")
        if self.max_N is not None and int(self.max_N) < 3:
            raise ValueError(f"max_N = {self.max_N!r}: must be >= 3")
        defaults = {f.name: f.default for f in fields(self)}
        if self.system == "twobody":
            ignored = [n for n in ("grid_size", "arch") if getattr(self, n) != defaults[n]]
            if ignored:
                raise ParameterError(f"{' / '.join(ignored)}: only for quantum-net (tribaker data), not {self.model}")
        if isinstance(self.grid_size, bool) or int(self.grid_size) != self.grid_size or not 4 <= self.grid_size <= 512:
            raise ParameterError(f"grid_size = {self.grid_size!r}: must be an integer in [4, 512] (coherent-state "
                                 "grid points per axis; each sample is grid_size^2 values per dimension N)")
        if self.reflectivity is not None and not (math.isfinite(self.reflectivity) and 0 <= self.reflectivity <= 1):
            raise ParameterError(f"reflectivity = {self.reflectivity!r}: must be in [0, 1]")

    @property
    def system(self) -> str:
        return MODEL_KINDS[self.model]

    def to_dict(self, relevant: bool = False) -> dict:
        """All fields; with ``relevant`` only those that apply to this model's system."""
        d = asdict(self)
        if relevant:
            skip = _TRIBAKER_ONLY if self.system == "twobody" else _TWOBODY_ONLY
            d = {k: v for k, v in d.items() if k not in skip}
        if d.get("etas") is not None:
            d["etas"] = list(d["etas"])
        return d


def default_repo_id(settings: TrainSettings) -> str:
    """``qchaos/<model>-<dataset name>``, plus ``-R<R>`` / ``-maxN<N>`` / ``-eta<e1>_<e2>`` for restricted data."""
    from qchaos.hub import DEFAULT_ORG

    name = f"{settings.model}-{settings.dataset.split('/')[-1]}"
    if settings.reflectivity is not None:
        name += f"-R{settings.reflectivity:g}"
    if settings.max_N is not None:
        name += f"-maxN{int(settings.max_N)}"
    if settings.etas is not None:
        name += "-eta" + "_".join(f"{e:.4g}" for e in settings.etas)
    return f"{DEFAULT_ORG}/{name}"


def settings_for(model: str, preset: str = "mini", dataset: str | None = None, **overrides) -> TrainSettings:
    """The settings of ``model`` under ``preset`` with ``overrides`` (None values ignored)."""
    if model not in MODEL_KINDS:
        raise ValueError(f"model = {model!r}: must be one of {list(MODEL_KINDS)}")
    if preset not in TRAIN_PRESETS[model]:
        raise ValueError(f"preset = {preset!r}: must be one of {sorted(TRAIN_PRESETS[model])}")
    base = dict(TRAIN_PRESETS[model][preset])
    known = {f.name for f in fields(TrainSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ValueError(f"setting {unknown[0]!r}: unknown; known: {', '.join(sorted(known))}")
    base.update({k: v for k, v in overrides.items() if v is not None})
    if base.get("etas") is not None:
        base["etas"] = tuple(sorted(float(e) for e in base["etas"]))
    system = MODEL_KINDS[model]
    from qchaos.hub import DEFAULT_ORG

    dataset = dataset or f"{DEFAULT_ORG}/{system}-{preset}"
    return TrainSettings(model=model, preset=preset, dataset=dataset, **base)


@dataclass
class TrainResult:
    """Outcome of :func:`train`."""

    model: torch.nn.Module
    repo_id: str
    settings: TrainSettings
    metrics: dict
    log: dict
    log_path: Path | None = None
    path: Path | None = None  # the local hub folder of the saved checkpoint
    pushed: str | None = None
    seconds: float = 0.0
    best_epoch: int = 0
    history: list = field(default_factory=list)


@contextlib.contextmanager
def _deterministic(device: str):
    prev = torch.are_deterministic_algorithms_enabled()
    prev_warn = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=not str(device).startswith("cpu"))
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(prev, warn_only=prev_warn)


@contextlib.contextmanager
def _quiet_libraries(quiet: bool):
    """Silence the progress bars of ``datasets`` and ``huggingface_hub`` (loading, pushing) while ``quiet``."""
    if not quiet:
        yield
        return
    import datasets
    import huggingface_hub.utils as hf_utils

    ds_on = datasets.is_progress_bar_enabled()
    hf_off = hf_utils.are_progress_bars_disabled()
    datasets.disable_progress_bars()
    hf_utils.disable_progress_bars()
    try:
        yield
    finally:
        if ds_on:
            datasets.enable_progress_bars()
        if not hf_off:
            hf_utils.enable_progress_bars()


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, device: str = "cpu") -> dict:
    """Mean cross-entropy and accuracy of ``model`` on inputs ``x`` / labels ``y`` (eval mode, mode restored).

    Returns ``{"loss": float, "accuracy": float, "n": int}`` (NaNs for an empty set).
    """
    n = int(y.shape[0])
    if n == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "n": 0}
    was = model.training
    model.eval()
    total, correct = 0.0, 0
    try:
        for i in range(0, n, batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            logits = model(xb)
            total += float(F.cross_entropy(logits.float(), yb, reduction="sum"))
            correct += int((logits.argmax(dim=1) == yb).sum())
    finally:
        model.train(was)
    return {"loss": total / n, "accuracy": correct / n, "n": n}


# -- data ---------------------------------------------------------------------------------------------------------
def _check_dataset_system(settings: TrainSettings) -> dict:
    from .data import dataset_info

    info = dataset_info(settings.dataset)
    system = info.get("system")
    if system and system != settings.system:
        raise ValueError(f"dataset = {settings.dataset!r}: holds the {system} system, but {settings.model} trains "
                         f"on {settings.system} data ({_CONFIG[settings.system]}); pass a {settings.system} dataset")
    return info


def _twobody_data(settings: TrainSettings, source: str = "auto") -> tuple[dict, tuple[float, ...]]:
    from .data import DEFAULT_TRAIN_ETAS, load_table, twobody_tensors

    dd = load_table(settings.dataset, "wavefunctions", source=source)
    if "train" not in dd or "validation" not in dd:
        raise ValueError(f"dataset = {settings.dataset!r}: needs the splits train and validation, has {list(dd)}")
    present = np.unique(np.asarray(dd["train"].data.table.column("eta").to_numpy(), dtype=np.float64))
    if settings.etas is not None:
        missing = [e for e in settings.etas if not np.any(np.abs(present - e) <= 1e-9)]
        if missing:
            raise ValueError(f"etas: {missing[0]:g} is not a mass ratio of the train split of {settings.dataset} "
                             f"(it has {', '.join(f'{e:.6g}' for e in present)})")
        etas = tuple(settings.etas)
    else:
        etas = tuple(float(e) for e in present if any(abs(e - t) <= 1e-9 for t in DEFAULT_TRAIN_ETAS))
    data = {name: twobody_tensors(part, None if name == "holdout" else etas) for name, part in dd.items()}
    labels = set(data["train"].label.tolist())
    if labels != {0, 1}:
        raise ValueError(f"dataset = {settings.dataset!r}: the training rows with eta in "
                         f"{{{', '.join(f'{e:.6g}' for e in etas)}}} hold only class(es) {sorted(labels)}; choose "
                         "mass ratios of both classes (etas / --eta, e.g. 0.5,1)")
    return data, etas


def _tribaker_data(settings: TrainSettings, source: str = "auto") -> dict:
    from .data import load_table, resonance_tensors

    dd = load_table(settings.dataset, "resonances", source=source)
    if "train" not in dd or "validation" not in dd:
        raise ValueError(f"dataset = {settings.dataset!r}: needs the splits train and validation, has {list(dd)}")
    n_max = max(int(np.max(part.data.table.column("N").to_numpy())) for part in dd.values() if len(part))
    data = {}
    for name, part in dd.items():
        data[name] = resonance_tensors(part, settings.reflectivity, settings.max_N if name == "train" else None,
                                       n_max)
    if len(data["train"]) == 0:
        raise ValueError(f"dataset = {settings.dataset!r}: no training row with R = {settings.reflectivity} and "
                         f"N <= {settings.max_N}")
    labels = set(data["train"].label.tolist())
    if labels != {0, 1}:
        raise ValueError(f"dataset = {settings.dataset!r}: the selected training rows hold only class(es) "
                         f"{sorted(labels)}")
    return data


# -- the run ------------------------------------------------------------------------------------------------------
def _robust_metrics(model, data: dict, settings: TrainSettings) -> dict:
    """FGSM and quantum-perturbation accuracies of a density model on validation / test (eps = the maxima)."""
    from .attacks import PartnerBank, QuantumPerturbation, batched_attack, fgsm
    from .density_cnn import density_images

    quantum = QuantumPerturbation(PartnerBank.from_parts(data.values()))
    out = {"fgsm_accuracy": {}, "quantum_accuracy": {}}
    dev = settings.device
    for split in ("validation", "test"):
        d = data.get(split)
        if d is None or len(d) == 0:
            continue
        adv = batched_attack(fgsm, model, d.images, d.label, settings.fgsm_eps, 128, device=dev)
        out["fgsm_accuracy"][split] = evaluate(model, adv, d.label, device=dev)["accuracy"]
        try:
            psi_q = quantum(model, d.psi, d.label, settings.quantum_eps)
        except ValueError:  # no partner of the other class with the same g
            continue
        out["quantum_accuracy"][split] = evaluate(model, density_images(psi_q), d.label, device=dev)["accuracy"]
    return {k: v for k, v in out.items() if v}


def reflectivity_accuracy(model, data: dict, device: str = "cpu") -> dict:
    """Accuracy per split and per reflectivity of a quantum-net: ``{split: {"R=1": acc, "R=0.2": acc}}``
    (``data``: split -> :class:`~modeling.data.ResonanceData`; R = 1 is the closed map)."""
    out = {}
    for split, d in data.items():
        if len(d) == 0:
            continue
        out[split] = {}
        for R in sorted(set(d.R.tolist()), reverse=True):
            keep = d.R == R
            out[split][f"R={R:g}"] = evaluate(model, d.x[keep], d.label[keep], device=device)["accuracy"]
    return out


def train(model: str, preset: str = "mini", dataset: str | None = None, *, seed: int = 0, epochs: int | None = None,
          push: bool = False, repo_id: str | None = None, log_path=None, save: bool = True, progress: bool = True,
          source: str = "auto", **overrides) -> TrainResult:
    """Train one model on a published dataset; see the module docstring.

    Parameters:
        model: ``density-cnn``, ``density-cnn-adv`` or ``quantum-net``.
        preset: ``mini`` or ``paper`` (:data:`TRAIN_PRESETS`; also the default dataset ``qchaos/<system>-<preset>``).
        dataset: repo id of the published dataset (local hub folder first, then the Hub).
        seed, epochs: see :class:`TrainSettings` (``epochs`` None: the preset's).
        push: also push the checkpoint to the Hub (``HF_ENDPOINT``, ``HF_TOKEN``).
        repo_id: checkpoint repo id (default :func:`default_repo_id`).
        log_path: JSON log (default ``runs/<repo name>-seed<seed>.json``).
        save: save the best checkpoint to the local hub (``$QCHAOS_HUB/models/<repo_id>``).
        progress: tqdm bars and one line per epoch.
        source: where the dataset is read: ``"auto"`` (local hub folder, else the Hub), ``"local"``, ``"hub"``.
        overrides: any other :class:`TrainSettings` field (``batch_size``, ``lr``, ``etas``, ``adversarial``,
            ``fgsm_eps``, ``quantum_eps``, ``grid_size``, ``arch``, ``reflectivity``, ``max_N``, ``dropout``,
            ``device``).

    Returns a :class:`TrainResult` (the model holds the best epoch's weights, in eval mode). Raises
    :class:`~modeling.data.DatasetNotFoundError` (with the commands that create it) for a missing dataset.
    """
    if log_path is not None and (str(log_path).strip() in ("", ".") or Path(log_path).is_dir()):
        raise ParameterError(f"log_path = {str(log_path)!r}: must name a JSON file (not a folder or empty); e.g. "
                             "runs/train.json")
    with _quiet_libraries(not progress):
        return _train(model, preset, dataset, seed=seed, epochs=epochs, push=push, repo_id=repo_id,
                      log_path=log_path, save=save, progress=progress, source=source, **overrides)


def _train(model, preset, dataset, *, seed, epochs, push, repo_id, log_path, save, progress, source,
           **overrides) -> TrainResult:
    from tqdm.auto import tqdm

    from qchaos.hub import parse_repo_id, write_json

    start = time.perf_counter()
    settings = settings_for(model, preset, dataset, seed=seed, epochs=epochs, **overrides)
    repo_id = repo_id or default_repo_id(settings)
    parse_repo_id(repo_id)
    log_path = Path(log_path) if log_path is not None else Path("runs") / f"{repo_id.split('/')[-1]}-seed{seed}.json"
    info = _check_dataset_system(settings)
    dev = settings.device

    # data
    t_load = time.perf_counter()
    etas = None
    if settings.system == "twobody":
        data, etas = _twobody_data(settings, source)
        inputs = {k: v.images for k, v in data.items()}
    else:
        data = _tribaker_data(settings, source)
        inputs = {k: v.x for k, v in data.items()}
    labels = {k: v.label for k, v in data.items()}
    if len(labels["validation"]) == 0:
        raise ValueError(f"dataset = {settings.dataset!r}: no validation row left after the selection (etas / "
                         "reflectivity); the best epoch is chosen on the validation split")
    load_seconds = time.perf_counter() - t_load
    train_data = data["train"]

    with _deterministic(dev):
        torch.manual_seed(settings.seed)
        if settings.system == "twobody":
            from .density_cnn import DensityCNN

            net = DensityCNN(image_size=train_data.image_size, dropout=settings.dropout)
            net.set_input_normalization(train_data.images)
        else:
            from .quantum_net import QuantumLocalizationNet

            net = QuantumLocalizationNet(grid_size=settings.grid_size, arch=settings.arch, dropout=settings.dropout)
        net.to(dev)
        optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
        scheduler = None
        if settings.schedule == "cosine":
            total = settings.epochs * math.ceil(len(train_data) / settings.batch_size)
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
        index = torch.arange(len(train_data))
        loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(inputs["train"], labels["train"], index), batch_size=settings.batch_size,
            shuffle=True, generator=torch.Generator().manual_seed(settings.seed), num_workers=0)
        adv_gen = torch.Generator().manual_seed(settings.seed + 1)
        aug_gen = torch.Generator().manual_seed(settings.seed + 2)
        from .attacks import PartnerBank, fgsm, quantum_perturbation
        from .augment import random_dihedral
        from .density_cnn import density_images

        use_fgsm = settings.adversarial in ("fgsm", "both")
        use_quantum = settings.adversarial in ("quantum", "both")
        partner = None
        if use_quantum:
            bank = PartnerBank(train_data.psi, train_data.label, train_data.level, train_data.eta, train_data.g)
            partner = torch.as_tensor(bank.partner_index(bank.label, bank.level, bank.eta, bank.g))

        log = {"format": "qchaos-train-log/1", "model": settings.model, "repo_id": repo_id,
               "dataset": settings.dataset, "dataset_config": _CONFIG[settings.system],
               "dataset_config_hash": info.get("config_hash"), "settings": settings.to_dict(),
               "etas": list(etas) if etas is not None else None,
               "rows": {k: len(v) for k, v in data.items()}, "steps": [], "epochs": [], "best_epoch": None,
               "final": None, "torch": torch.__version__, "threads": torch.get_num_threads(), "seconds": {}}
        history, steps = [], log["steps"]
        best = None  # (accuracy, -loss, epoch, state)
        step = 0
        bar_kw = dict(disable=not progress, leave=False, dynamic_ncols=True)
        for epoch in range(1, settings.epochs + 1):
            net.train()
            loss_sum, correct, seen = 0.0, 0, 0
            epoch_losses = []
            for xb, yb, ib in tqdm(loader, desc=f"{settings.model} epoch {epoch}/{settings.epochs}", unit="step",
                                   **bar_kw):
                xb, yb = xb.to(dev), yb.to(dev)
                if settings.augment:
                    xb = random_dihedral(xb, aug_gen)
                parts, ys = [xb], [yb]
                if use_fgsm:
                    eps = torch.rand(xb.shape[0], generator=adv_gen, dtype=torch.float64) * settings.fgsm_eps
                    parts.append(fgsm(net, xb, yb, eps.to(xb.dtype).to(dev)))
                    ys.append(yb)
                if use_quantum:
                    eps = torch.rand(xb.shape[0], generator=adv_gen, dtype=torch.float64) * settings.quantum_eps
                    psi = train_data.psi[ib]
                    phi = train_data.psi[partner[ib]]
                    xq = density_images(quantum_perturbation(psi, phi, eps.to(psi.dtype))).to(dev)
                    parts.append(random_dihedral(xq, aug_gen) if settings.augment else xq)
                    ys.append(yb)
                x_all, y_all = torch.cat(parts), torch.cat(ys)
                optimizer.zero_grad(set_to_none=True)
                logits = net(x_all)
                loss = F.cross_entropy(logits.float(), y_all)
                loss.backward()
                optimizer.step()
                if scheduler is not None:
                    scheduler.step()
                step += 1
                value = float(loss.detach())
                if not math.isfinite(value):
                    log["stopped"] = f"non-finite training loss {value} at epoch {epoch}, step {step}"
                    write_json(log_path, log)
                    raise NumericalError(f"training diverged: loss = {value} at epoch {epoch}, step {step} (lr = "
                                         f"{settings.lr:g}); nothing was saved. Lower --lr (e.g. 1e-3) and rerun")
                steps.append({"step": step, "epoch": epoch, "loss": value})
                epoch_losses.append(value)
                b = xb.shape[0]
                loss_sum += float(F.cross_entropy(logits[:b].detach().float(), yb, reduction="sum"))
                correct += int((logits[:b].detach().argmax(1) == yb).sum())
                seen += b
            val = evaluate(net, inputs["validation"], labels["validation"], device=dev)
            row = {"epoch": epoch, "steps": step, "loss": float(np.mean(epoch_losses)),
                   "train_loss": loss_sum / seen, "train_accuracy": correct / seen,
                   "validation_loss": val["loss"], "validation_accuracy": val["accuracy"]}
            history.append(row)
            log["epochs"] = history
            key = (val["accuracy"], -val["loss"])
            if best is None or key > best[0]:
                best = (key, epoch, copy.deepcopy(net.state_dict()))
            if progress:
                tqdm.write(f"epoch {epoch}/{settings.epochs}: loss {row['loss']:.4f}, train acc "
                           f"{row['train_accuracy']:.4f}, val loss {val['loss']:.4f}, val acc {val['accuracy']:.4f}")
            log["seconds"] = {"load": load_seconds, "total": time.perf_counter() - start}
            write_json(log_path, log)

        # the best epoch, evaluated everywhere
        net.load_state_dict(best[2])
        net.eval()
        best_epoch = best[1]
        metrics: dict = {"accuracy": {}, "loss": {}}
        for split in ("train", "validation", "test", "holdout"):
            if split in inputs and len(labels[split]):
                ev = evaluate(net, inputs[split], labels[split], device=dev)
                metrics["accuracy"][split], metrics["loss"][split] = ev["accuracy"], ev["loss"]
        if settings.system == "twobody":
            metrics.update(_robust_metrics(net, data, settings))
        else:
            metrics["accuracy_by_R"] = reflectivity_accuracy(net, data, dev)
    net.cpu()
    log["best_epoch"] = best_epoch
    log["final"] = metrics

    training = {k: v for k, v in settings.to_dict(relevant=True).items()
                if v is not None and k not in ("model", "device")}
    training.update(optimizer="Adam", loss="cross-entropy", best_epoch=best_epoch, selection="validation accuracy",
                    rows={k: len(v) for k, v in data.items()}, dataset_config_hash=info.get("config_hash"))
    if etas is not None:
        training["etas"] = [round(e, 10) for e in etas]
    from qchaos.registry import MODELS

    entry = MODELS.get(repo_id, {})
    samples = {"fgsm": "FGSM", "quantum": "quantum-perturbation", "both": "FGSM + quantum-perturbation"}
    desc = entry.get("description") or {
        "density-cnn": "CNN telling integrable from non-integrable two-atom Hamiltonians from the probability "
                       "density of one eigenstate (Lang et al., arXiv:2402.16244)",
        "density-cnn-adv": f"DensityCNN adversarially trained on clean + {samples.get(settings.adversarial, 'no')} "
                           "samples (Lang et al., arXiv:2402.16244)",
        "quantum-net": "coherent-state 'quantum' layer + AlexNet-like CNN classifying resonances of the open "
                       "quantum tribaker map as localized or not (Montes et al., arXiv:2406.00363)",
    }[settings.model]
    net.set_meta(description=desc, dataset=settings.dataset, dataset_config=_CONFIG[settings.system],
                 metrics=metrics, training=training)
    result = TrainResult(model=net, repo_id=repo_id, settings=settings, metrics=metrics, log=log, log_path=log_path,
                         best_epoch=best_epoch, history=history)
    if save:
        result.path = net.save_to_local_hub(repo_id)
        log["checkpoint"] = str(result.path)
    if push:
        result.pushed = str(net.push_to_hub(repo_id))
        log["pushed"] = result.pushed
    result.seconds = time.perf_counter() - start
    log["seconds"] = {"load": load_seconds, "total": result.seconds}
    write_json(log_path, log)
    result.log = log
    return result
