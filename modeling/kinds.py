"""The registry of model kinds: one :class:`ModelKind` per trainable classifier (no torch import).

Everything that names a model kind reads it from :data:`KINDS`: the training defaults (:mod:`modeling.train`), the
``qchaos train`` choices, the checkpoint descriptions, the evaluation's resources. Adding a model kind is one
entry here plus its network and training task (:mod:`modeling.systems`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from qchaos.errors import ParameterError

__all__ = ["ModelKind", "KINDS", "get_kind"]


@dataclass(frozen=True)
class ModelKind:
    """A trainable classifier.

    Parameters
    ----------
    name : str
        The CLI name (``qchaos train NAME``) and the first part of its repo id ``qchaos/<name>-<system>-<preset>``.
    system : str
        The physical system of its dataset (a key of :data:`generation.systems.SYSTEMS`).
    description : str
        One line for the checkpoint card; ``{samples}`` is filled with the adversarial samples it trained on.
    presets : dict
        Training settings per preset (``mini``, ``paper``); see :class:`modeling.train.TrainSettings`.
    role : str
        The dataset role (:data:`qchaos.registry.ROLES`) the evaluation trains its reference checkpoint on.
    shipped_role : str or None
        The role of the data the shipped paper checkpoint was trained on, where that differs from ``role``.
    """

    name: str
    system: str
    description: str
    presets: dict = field(default_factory=dict)
    role: str = ""
    shipped_role: str | None = None


KINDS: dict[str, ModelKind] = {k.name: k for k in (
    # [choice] docs/twobody.md §6: Adam lr 1e-3, batch 32, 8-12 epochs (paper: cosine decay of the rate, which settles
    # the validation accuracy); §7: FGSM eps in [0, 0.05], quantum eps in [0, 0.5]
    ModelKind("density-cnn", "twobody",
              "CNN telling integrable from non-integrable two-atom Hamiltonians from the probability density of one "
              "eigenstate (Lang et al., arXiv:2402.16244)",
              {"mini": dict(epochs=8, batch_size=32, lr=1e-3),
               "paper": dict(epochs=12, batch_size=32, lr=1e-3, schedule="cosine")},
              role="twobody-train", shipped_role="twobody-shipped"),
    ModelKind("density-cnn-adv", "twobody",
              "DensityCNN adversarially trained on clean + {samples} samples (Lang et al., arXiv:2402.16244)",
              {"mini": dict(epochs=8, batch_size=32, lr=1e-3, adversarial="both", fgsm_eps=0.05, quantum_eps=0.5),
               "paper": dict(epochs=10, batch_size=32, lr=1e-3, schedule="cosine", adversarial="both",
                             fgsm_eps=0.05, quantum_eps=0.5)},
              role="twobody-train", shipped_role="twobody-shipped"),
    # [paper] Adam, cross-entropy, batch 32, 5 epochs; [choice] compact CNN, lr 1e-3, S = 32 (mini) / 64 (paper)
    ModelKind("quantum-net", "tribaker",
              "coherent-state 'quantum' layer + AlexNet-like CNN classifying resonances of the open quantum tribaker "
              "map as localized or not (Montes et al., arXiv:2406.00363)",
              {"mini": dict(epochs=5, batch_size=32, lr=1e-3, grid_size=32, arch="compact"),
               "paper": dict(epochs=5, batch_size=32, lr=1e-3, grid_size=64, arch="compact")},
              role="tribaker"),
)}
"""Model kind name -> :class:`ModelKind`."""


def get_kind(name: str) -> ModelKind:
    """The kind called ``name``; :class:`ParameterError` listing the kinds otherwise."""
    if name not in KINDS:
        raise ParameterError(f"model = {name!r}: must be one of {list(KINDS)}")
    return KINDS[name]
