"""The training side of each physical system (:mod:`generation.systems` holds the data side).

Which published table a model trains on and how it becomes tensors, the network, the settings that apply, and the
metrics beyond loss and accuracy. :data:`TRAINING` maps a system's name to its :class:`SystemTraining`;
:mod:`modeling.train` is generic over it.
"""

from __future__ import annotations

import numpy as np

from generation.presets import match_point
from generation.systems import SYSTEMS
from qchaos.errors import ParameterError

from .data import DEFAULT_TRAIN_ETAS, load_table, resonance_tensors, twobody_tensors
from .density_cnn import DensityCNN
from .quantum_net import QuantumLocalizationNet
from .scoring import reflectivity_accuracy, robust_metrics

__all__ = ["SystemTraining", "TwobodyTraining", "TribakerTraining", "TRAINING"]


def _splits(settings, table: str, source: str) -> dict:
    """Every split of the ``table`` config of the settings' dataset; train and validation required."""
    dd = load_table(settings.dataset, table, source=source)
    if "train" not in dd or "validation" not in dd:
        raise ParameterError(f"dataset = {settings.dataset!r}: needs the splits train and validation, has {list(dd)}")
    return dd


class SystemTraining:
    """How the models of one system train (one subclass per system).

    Attributes
    ----------
    system : generation.systems.System
        The physical system (its ``state_config`` is the table the models train on).
    settings : tuple[str, ...]
        The :class:`~modeling.train.TrainSettings` fields that apply only to this system's models.
    """

    system = None
    settings: tuple[str, ...] = ()

    def load(self, settings, source: str) -> tuple[dict, tuple[float, ...] | None]:
        """``({split: data}, etas)``: every split of the dataset as tensors.

        ``etas``: the selected mass ratios, None where the system has none.
        """
        raise NotImplementedError

    def inputs(self, data):
        """The network's input tensor of one split."""
        raise NotImplementedError

    def network(self, settings, train_data):
        """A new network (initialised from the global torch seed) for ``train_data``."""
        raise NotImplementedError

    def metrics(self, net, data: dict, settings) -> dict:
        """The system's metrics of the best epoch beyond loss and accuracy."""
        raise NotImplementedError


class TwobodyTraining(SystemTraining):
    """density-cnn / density-cnn-adv on the ``wavefunctions`` table (inputs: the density images)."""

    system = SYSTEMS["twobody"]
    settings = ("etas", "augment", "adversarial", "fgsm_eps", "quantum_eps")

    def load(self, settings, source):
        dd = _splits(settings, self.system.state_config, source)
        present = np.unique(np.asarray(dd["train"].data.table.column("eta").to_numpy(), dtype=np.float64))
        if settings.etas is not None:
            missing = [e for e in settings.etas if match_point(e, present) is None]
            if missing:
                raise ParameterError(f"etas: {missing[0]:g} is not a mass ratio of the train split of {settings.dataset} "
                                 f"(it has {', '.join(f'{e:.6g}' for e in present)})")
            etas = tuple(settings.etas)
        else:
            etas = tuple(float(e) for e in present if match_point(e, DEFAULT_TRAIN_ETAS) is not None)
        data = {name: twobody_tensors(part, None if name == "holdout" else etas) for name, part in dd.items()}
        labels = set(data["train"].label.tolist())
        if labels != {0, 1}:
            raise ParameterError(f"dataset = {settings.dataset!r}: the training rows with eta in "
                             f"{{{', '.join(f'{e:.6g}' for e in etas)}}} hold only class(es) {sorted(labels)}; choose "
                             "mass ratios of both classes (etas / --eta, e.g. 0.5,1)")
        return data, etas

    def inputs(self, data):
        return data.images

    def network(self, settings, train_data):
        net = DensityCNN(image_size=train_data.image_size, dropout=settings.dropout)
        net.set_input_normalization(train_data.images)
        return net

    def metrics(self, net, data, settings):
        return robust_metrics(net, data, settings.fgsm_eps, settings.quantum_eps, settings.device)


class TribakerTraining(SystemTraining):
    """quantum-net on the ``resonances`` table (inputs: the packed right/left vectors)."""

    system = SYSTEMS["tribaker"]
    settings = ("grid_size", "arch", "reflectivity", "max_N")

    def load(self, settings, source):
        dd = _splits(settings, self.system.state_config, source)
        n_max = max(int(np.max(part.data.table.column("N").to_numpy())) for part in dd.values() if len(part))
        data = {}
        for name, part in dd.items():
            data[name] = resonance_tensors(part, settings.reflectivity, settings.max_N if name == "train" else None,
                                           n_max)
        if len(data["train"]) == 0:
            raise ParameterError(f"dataset = {settings.dataset!r}: no training row with R = {settings.reflectivity} and "
                             f"N <= {settings.max_N}")
        labels = set(data["train"].label.tolist())
        if labels != {0, 1}:
            raise ParameterError(f"dataset = {settings.dataset!r}: the selected training rows hold only class(es) "
                             f"{sorted(labels)}")
        return data, None

    def inputs(self, data):
        return data.x

    def network(self, settings, train_data):
        return QuantumLocalizationNet(grid_size=settings.grid_size, arch=settings.arch, dropout=settings.dropout)

    def metrics(self, net, data, settings):
        return {"accuracy_by_R": reflectivity_accuracy(net, data, settings.device)}


TRAINING: dict[str, SystemTraining] = {t.system.name: t for t in (TwobodyTraining(), TribakerTraining())}
"""The training side of every system with models, by system name."""


def foreign_settings(system: str) -> tuple[str, ...]:
    """The settings of the other systems' models (not applicable to ``system``'s)."""
    return tuple(name for other, t in TRAINING.items() if other != system for name in t.settings)

