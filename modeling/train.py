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
  dataset: inputs ``density_images(psi)``; by default only the mass ratios 1/3, 1/2, 3/4, 1 (``docs/twobody.md`` §5 (CNN dataset),
  those present in the dataset; ``etas`` to change). The input standardisation is set from the training images.
* ``density-cnn-adv`` — the same network trained on clean + adversarial samples (the hardened variant,
  ``docs/twobody.md`` §7 (adversarial)): every batch of B clean images is extended by B FGSM images (eps uniform in [0, fgsm_eps] per
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

from .attacks import PartnerBank, fgsm, quantum_perturbation
from .augment import random_dihedral
from .density_cnn import density_images
from .kinds import KINDS
from .scoring import evaluate, reflectivity_accuracy
from .systems import TRAINING, foreign_settings

__all__ = ["MODEL_KINDS", "TRAIN_PRESETS", "TrainSettings", "TrainResult", "settings_for", "default_repo_id",
           "train", "evaluate", "reflectivity_accuracy"]

MODEL_KINDS = {name: kind.system for name, kind in KINDS.items()}
"""Model kind -> system of its dataset (a view of :data:`modeling.kinds.KINDS`)."""

TRAIN_PRESETS: dict[str, dict[str, dict]] = {name: kind.presets for name, kind in KINDS.items()}
"""Model kind -> preset -> training settings (a view of :data:`modeling.kinds.KINDS`)."""


_TWOBODY_ONLY = TRAINING["twobody"].settings
_TRIBAKER_ONLY = TRAINING["tribaker"].settings
"""The settings of each system's models (kept for :mod:`evaluation.resources`; :data:`modeling.systems.TRAINING`
is the source)."""


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
            raise ParameterError(f"model = {self.model!r}: must be one of {list(MODEL_KINDS)}")
        for name in ("epochs", "batch_size"):
            v = getattr(self, name)
            if isinstance(v, bool) or int(v) != v or v < 1:
                raise ParameterError(f"{name} = {v!r}: must be a positive integer")
        if self.schedule not in ("constant", "cosine"):
            raise ParameterError(f"schedule = {self.schedule!r}: must be 'constant' or 'cosine'")
        if not (math.isfinite(self.lr) and self.lr > 0):
            raise ParameterError(f"lr = {self.lr!r}: must be > 0")
        if self.adversarial not in (None, "fgsm", "quantum", "both"):
            raise ParameterError(f"adversarial = {self.adversarial!r}: must be None, 'fgsm', 'quantum' or 'both'")
        if self.adversarial and not self._applies("adversarial"):
            raise ParameterError("adversarial: only for the density models (density-cnn, density-cnn-adv)")
        for name in ("fgsm_eps", "quantum_eps"):
            v = getattr(self, name)
            if not (math.isfinite(v) and v >= 0):
                raise ParameterError(f"{name} = {v!r}: must be >= 0")
        if (self.reflectivity is not None or self.max_N is not None) and not self._applies("reflectivity", "max_N"):
            raise ValueError(f"reflectivity / max_N: only for quantum-net (tribaker data), not {self.model}")
        if self.etas is not None and not self._applies("etas"):
            raise ParameterError(f"etas: only for the density models (two-atom data), not {self.model}")
        if not isinstance(self.augment, bool):
            raise ParameterError(f"augment = {self.augment!r}: must be True or False")
        if self.augment and not self._applies("augment"):
            raise ParameterError(f"augment: only for the density models (two-atom data), not {self.model}")
        if self.max_N is not None and int(self.max_N) < 3:
            raise ParameterError(f"max_N = {self.max_N!r}: must be >= 3")
        defaults = {f.name: f.default for f in fields(self)}
        ignored = [n for n in ("grid_size", "arch") if getattr(self, n) != defaults[n] and not self._applies(n)]
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

    def _applies(self, *names: str) -> bool:
        """Whether the settings ``names`` apply to this model (they are its system's or shared by all)."""
        return not set(names) & set(foreign_settings(self.system))

    def to_dict(self, relevant: bool = False) -> dict:
        """All fields; with ``relevant`` only those that apply to this model's system."""
        d = asdict(self)
        if relevant:
            skip = foreign_settings(self.system)
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
        raise ParameterError(f"model = {model!r}: must be one of {list(MODEL_KINDS)}")
    if preset not in TRAIN_PRESETS[model]:
        raise ParameterError(f"preset = {preset!r}: must be one of {sorted(TRAIN_PRESETS[model])}")
    base = dict(TRAIN_PRESETS[model][preset])
    known = {f.name for f in fields(TrainSettings)}
    unknown = sorted(set(overrides) - known)
    if unknown:
        raise ParameterError(f"setting {unknown[0]!r}: unknown; known: {', '.join(sorted(known))}")
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


# -- data ---------------------------------------------------------------------------------------------------------
def _check_dataset_system(settings: TrainSettings) -> dict:
    from .data import dataset_info

    info = dataset_info(settings.dataset)
    system = info.get("system")
    if system and system != settings.system:
        raise ParameterError(f"dataset = {settings.dataset!r}: holds the {system} system, but {settings.model} trains "
                         f"on {settings.system} data ({TRAINING[settings.system].system.state_config}); pass a "
                         f"{settings.system} dataset")
    return info


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


@dataclass
class _Run:
    """What one training run holds between its steps (data as tensors per split, the log, the timings)."""

    settings: TrainSettings
    repo_id: str
    log_path: Path
    info: dict
    data: dict
    etas: tuple[float, ...] | None
    inputs: dict
    labels: dict
    start: float
    load_seconds: float
    progress: bool
    log: dict = field(default_factory=dict)
    history: list = field(default_factory=list)


def _load(settings: TrainSettings, source: str):
    """``(data, etas, inputs, labels)`` per split of the settings' dataset (validation must keep rows)."""
    task = TRAINING[settings.system]
    data, etas = task.load(settings, source)
    inputs = {k: task.inputs(v) for k, v in data.items()}
    labels = {k: v.label for k, v in data.items()}
    if len(labels["validation"]) == 0:
        raise ParameterError(f"dataset = {settings.dataset!r}: no validation row left after the selection (etas / "
                         "reflectivity); the best epoch is chosen on the validation split")
    return data, etas, inputs, labels


def _start(model, preset, dataset, seed, epochs, repo_id, log_path, progress, source, overrides) -> _Run:
    """The settings, names and data of a run (nothing trained yet)."""
    from qchaos.hub import parse_repo_id

    start = time.perf_counter()
    settings = settings_for(model, preset, dataset, seed=seed, epochs=epochs, **overrides)
    repo_id = repo_id or default_repo_id(settings)
    parse_repo_id(repo_id)
    log_path = Path(log_path) if log_path is not None else Path("runs") / f"{repo_id.split('/')[-1]}-seed{seed}.json"
    info = _check_dataset_system(settings)
    t_load = time.perf_counter()
    data, etas, inputs, labels = _load(settings, source)
    return _Run(settings, repo_id, log_path, info, data, etas, inputs, labels, start, time.perf_counter() - t_load,
                progress)


def _new_log(run: _Run) -> dict:
    s = run.settings
    return {"format": "qchaos-train-log/1", "model": s.model, "repo_id": run.repo_id, "dataset": s.dataset,
            "dataset_config": TRAINING[s.system].system.state_config,
            "dataset_config_hash": run.info.get("config_hash"), "settings": s.to_dict(),
            "etas": list(run.etas) if run.etas is not None else None,
            "rows": {k: len(v) for k, v in run.data.items()}, "steps": [], "epochs": [], "best_epoch": None,
            "final": None, "torch": torch.__version__, "threads": torch.get_num_threads(), "seconds": {}}


class _Batches:
    """The training batches of a run.

    Shuffled clean batches, each extended by its augmented and adversarial samples (generators seeded by ``seed``,
    ``seed + 1`` (eps draws), ``seed + 2`` (augmentation)).
    """

    def __init__(self, run: _Run):
        s = run.settings
        self.settings, self.train_data = s, run.data["train"]
        index = torch.arange(len(self.train_data))
        self.loader = torch.utils.data.DataLoader(
            torch.utils.data.TensorDataset(run.inputs["train"], run.labels["train"], index), batch_size=s.batch_size,
            shuffle=True, generator=torch.Generator().manual_seed(s.seed), num_workers=0)
        self.adv_gen = torch.Generator().manual_seed(s.seed + 1)
        self.aug_gen = torch.Generator().manual_seed(s.seed + 2)
        self.use_fgsm = s.adversarial in ("fgsm", "both")
        self.use_quantum = s.adversarial in ("quantum", "both")
        self.partner = None
        if self.use_quantum:
            d = self.train_data
            bank = PartnerBank(d.psi, d.label, d.level, d.eta, d.g)
            self.partner = torch.as_tensor(bank.partner_index(bank.label, bank.level, bank.eta, bank.g))

    def __len__(self) -> int:
        return len(self.loader)

    def extend(self, net, xb, yb, ib):
        """``(x_all, y_all, xb)``: the clean batch (augmented if set) followed by its adversarial samples."""
        s, dev = self.settings, self.settings.device
        xb, yb = xb.to(dev), yb.to(dev)
        if s.augment:
            xb = random_dihedral(xb, self.aug_gen)
        parts, ys = [xb], [yb]
        if self.use_fgsm:
            eps = torch.rand(xb.shape[0], generator=self.adv_gen, dtype=torch.float64) * s.fgsm_eps
            parts.append(fgsm(net, xb, yb, eps.to(xb.dtype).to(dev)))
            ys.append(yb)
        if self.use_quantum:
            eps = torch.rand(xb.shape[0], generator=self.adv_gen, dtype=torch.float64) * s.quantum_eps
            psi = self.train_data.psi[ib]
            phi = self.train_data.psi[self.partner[ib]]
            xq = density_images(quantum_perturbation(psi, phi, eps.to(psi.dtype))).to(dev)
            parts.append(random_dihedral(xq, self.aug_gen) if s.augment else xq)
            ys.append(yb)
        return torch.cat(parts), torch.cat(ys), xb, yb


def _optimizer(net, settings: TrainSettings, n_train: int):
    """Adam at ``lr`` and, for the cosine schedule, its per-step annealing to 0 over all epochs (else None)."""
    optimizer = torch.optim.Adam(net.parameters(), lr=settings.lr)
    scheduler = None
    if settings.schedule == "cosine":
        total = settings.epochs * math.ceil(n_train / settings.batch_size)
        scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=total)
    return optimizer, scheduler


def _diverged(run: _Run, value: float, epoch: int, step: int) -> NumericalError:
    """Record a non-finite loss in the log (written) and the error to raise."""
    from qchaos.hub import write_json

    run.log["stopped"] = f"non-finite training loss {value} at epoch {epoch}, step {step}"
    write_json(run.log_path, run.log)
    return NumericalError(f"training diverged: loss = {value} at epoch {epoch}, step {step} (lr = "
                          f"{run.settings.lr:g}); nothing was saved. Lower --lr (e.g. 1e-3) and rerun")


def _epoch(run: _Run, net, optimizer, scheduler, batches: _Batches, epoch: int, step: int) -> tuple[dict, int]:
    """One pass over the training batches; ``(the epoch's row of the history without validation, last step)``."""
    from tqdm.auto import tqdm

    s = run.settings
    net.train()
    loss_sum, correct, seen = 0.0, 0, 0
    epoch_losses = []
    for xb, yb, ib in tqdm(batches.loader, desc=f"{s.model} epoch {epoch}/{s.epochs}", unit="step",
                           disable=not run.progress, leave=False, dynamic_ncols=True):
        x_all, y_all, xb, yb = batches.extend(net, xb, yb, ib)
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
            raise _diverged(run, value, epoch, step)
        run.log["steps"].append({"step": step, "epoch": epoch, "loss": value})
        epoch_losses.append(value)
        b = xb.shape[0]
        loss_sum += float(F.cross_entropy(logits[:b].detach().float(), yb, reduction="sum"))
        correct += int((logits[:b].detach().argmax(1) == yb).sum())
        seen += b
    return {"epoch": epoch, "steps": step, "loss": float(np.mean(epoch_losses)), "train_loss": loss_sum / seen,
            "train_accuracy": correct / seen}, step


def _fit(run: _Run):
    """Train one run's network and score the best epoch: ``(net, best_epoch, metrics)``.

    Build the network (seeded), train every epoch, keep the best by validation accuracy (ties: lower loss, then the
    earlier epoch) and score it on every split.
    """
    from tqdm.auto import tqdm

    from qchaos.hub import write_json

    s, dev = run.settings, run.settings.device
    task = TRAINING[s.system]
    with _deterministic(dev):
        torch.manual_seed(s.seed)
        net = task.network(s, run.data["train"])
        net.to(dev)
        optimizer, scheduler = _optimizer(net, s, len(run.data["train"]))
        batches = _Batches(run)
        run.log = _new_log(run)
        best = None  # (key, epoch, state)
        step = 0
        for epoch in range(1, s.epochs + 1):
            row, step = _epoch(run, net, optimizer, scheduler, batches, epoch, step)
            val = evaluate(net, run.inputs["validation"], run.labels["validation"], device=dev)
            if not math.isfinite(val["loss"]):  # the last step's update made the weights non-finite
                run.log["stopped"] = f"non-finite validation loss {val['loss']} after epoch {epoch}, step {step}"
                write_json(run.log_path, run.log)
                raise NumericalError(f"training diverged: validation loss = {val['loss']} after epoch {epoch}, step "
                                     f"{step} (lr = {s.lr:g}); nothing was saved. Lower --lr (e.g. 1e-3) and rerun")
            row.update(validation_loss=val["loss"], validation_accuracy=val["accuracy"])
            run.history.append(row)
            run.log["epochs"] = run.history
            key = (val["accuracy"], -val["loss"])
            if best is None or key > best[0]:
                best = (key, epoch, copy.deepcopy(net.state_dict()))
            if run.progress:
                tqdm.write(f"epoch {epoch}/{s.epochs}: loss {row['loss']:.4f}, train acc "
                           f"{row['train_accuracy']:.4f}, val loss {val['loss']:.4f}, val acc {val['accuracy']:.4f}")
            run.log["seconds"] = {"load": run.load_seconds, "total": time.perf_counter() - run.start}
            write_json(run.log_path, run.log)
        net.load_state_dict(best[2])
        net.eval()
        metrics: dict = {"accuracy": {}, "loss": {}}
        for split in ("train", "validation", "test", "holdout"):
            if split in run.inputs and len(run.labels[split]):
                ev = evaluate(net, run.inputs[split], run.labels[split], device=dev)
                metrics["accuracy"][split], metrics["loss"][split] = ev["accuracy"], ev["loss"]
        metrics.update(task.metrics(net, run.data, s))
    net.cpu()
    return net, best[1], metrics


_SAMPLES = {"fgsm": "FGSM", "quantum": "quantum-perturbation", "both": "FGSM + quantum-perturbation"}


def _checkpoint_meta(run: _Run, best_epoch: int, metrics: dict) -> dict:
    """The checkpoint's meta: description, dataset, metrics and the training settings that apply."""
    from qchaos.registry import MODELS

    s = run.settings
    training = {k: v for k, v in s.to_dict(relevant=True).items() if v is not None and k not in ("model", "device")}
    training.update(optimizer="Adam", loss="cross-entropy", best_epoch=best_epoch, selection="validation accuracy",
                    rows={k: len(v) for k, v in run.data.items()}, dataset_config_hash=run.info.get("config_hash"))
    if run.etas is not None:
        training["etas"] = [round(e, 10) for e in run.etas]
    desc = MODELS.get(run.repo_id, {}).get("description") or \
        KINDS[s.model].description.format(samples=_SAMPLES.get(s.adversarial, "no"))
    return dict(description=desc, dataset=s.dataset, dataset_config=TRAINING[s.system].system.state_config,
                metrics=metrics, training=training)


def _train(model, preset, dataset, *, seed, epochs, push, repo_id, log_path, save, progress, source,
           **overrides) -> TrainResult:
    from qchaos.hub import write_json

    run = _start(model, preset, dataset, seed, epochs, repo_id, log_path, progress, source, overrides)
    net, best_epoch, metrics = _fit(run)
    log = run.log
    log["best_epoch"] = best_epoch
    log["final"] = metrics
    net.set_meta(**_checkpoint_meta(run, best_epoch, metrics))
    result = TrainResult(model=net, repo_id=run.repo_id, settings=run.settings, metrics=metrics, log=log,
                         log_path=run.log_path, best_epoch=best_epoch, history=run.history)
    if save:
        result.path = net.save_to_local_hub(run.repo_id)
        log["checkpoint"] = str(result.path)
    if push:
        result.pushed = str(net.push_to_hub(run.repo_id))
        log["pushed"] = result.pushed
    result.seconds = time.perf_counter() - run.start
    log["seconds"] = {"load": run.load_seconds, "total": result.seconds}
    write_json(run.log_path, log)
    result.log = log
    return result
