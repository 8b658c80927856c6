"""``QuantumLocalizationNet``: classifies resonances of the open quantum tribaker map as localized or not.

A coherent-state layer + single-channel AlexNet-style CNN; the classes are localized (0) and non-localized (1)
(``docs/tribaker.md`` §6 (network)).

Input: the packed batch of :mod:`modeling.coherent_layer` — complex (B, N_max + 1, 2), column 0 the right vector
``R``, column 1 the left vector ``L`` (closed map: both psi), zero-padded beyond each sample's N, last row
``(N, N)``; batches may mix N (:func:`modeling.data.collate_resonances` builds it from published ``resonances``
rows). Pipeline::

    x --CoherentStateLayer--> h (B, S, S) = LR representation at the S x S trainable centres (float64)
      --divide by the image mean (mean 1) [choice, docs/tribaker.md §6.1]--> float32 (B, 1, S, S)
      --CNN--> 2 logits (localized, non-localized)

CNNs (``arch``):

* ``"compact"`` (default, trains on a CPU; docs/tribaker.md §6.2 reduced net, "same" padding)::

      Conv(1->32, 5) ReLU MaxPool2 | Conv(32->64, 5) ReLU MaxPool2 | Conv(64->96, 3) ReLU | Conv(96->96, 3) ReLU |
      Conv(96->64, 3) ReLU MaxPool2 | AdaptiveAvgPool(4, 4) | Dropout Linear(1024->256) ReLU Dropout
      Linear(256->256) ReLU Linear(256->2)                                                    (S >= 8)

* ``"alexnet"``: torchvision's AlexNet geometry with one input channel and 2 classes (~57 M parameters, S >= 63)::

      Conv(1->64, 11, s4, p2) ReLU MaxPool(3, 2) | Conv(64->192, 5, p2) ReLU MaxPool(3, 2) | Conv(192->384, 3, p1) ReLU
      | Conv(384->256, 3, p1) ReLU | Conv(256->256, 3, p1) ReLU MaxPool(3, 2) | AdaptiveAvgPool(6, 6) | Dropout
      Linear(9216->4096) ReLU Dropout Linear(4096->4096) ReLU Linear(4096->2)

Initialisation: Kaiming (He) normal for ReLU on every conv / linear weight, zero biases [choice]; the coherent
centres start on the S x S cell centres.
"""

from __future__ import annotations

import torch
import torch.nn as nn

from generation.systems import SYSTEMS
from qchaos.errors import ParameterError

from .coherent_layer import CoherentStateLayer
from .hub_model import HubModel

__all__ = ["QuantumLocalizationNet", "TRIBAKER_CLASSES", "ARCHS"]

TRIBAKER_CLASSES = SYSTEMS["tribaker"].class_names
"""The classes of label 0 and 1 (those of the tribaker system's published tables)."""
ARCHS = ("compact", "alexnet")


def _compact(dropout: float) -> tuple[nn.Module, nn.Module]:
    features = nn.Sequential(
        nn.Conv2d(1, 32, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(32, 64, 5, padding=2), nn.ReLU(), nn.MaxPool2d(2),
        nn.Conv2d(64, 96, 3, padding=1), nn.ReLU(),
        nn.Conv2d(96, 96, 3, padding=1), nn.ReLU(),
        nn.Conv2d(96, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        nn.AdaptiveAvgPool2d((4, 4)),
    )
    classifier = nn.Sequential(
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(64 * 4 * 4, 256), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(256, 256), nn.ReLU(), nn.Linear(256, 2),
    )
    return features, classifier


def _alexnet(dropout: float) -> tuple[nn.Module, nn.Module]:
    features = nn.Sequential(
        nn.Conv2d(1, 64, 11, stride=4, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(64, 192, 5, padding=2), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.Conv2d(192, 384, 3, padding=1), nn.ReLU(),
        nn.Conv2d(384, 256, 3, padding=1), nn.ReLU(),
        nn.Conv2d(256, 256, 3, padding=1), nn.ReLU(), nn.MaxPool2d(3, 2),
        nn.AdaptiveAvgPool2d((6, 6)),
    )
    classifier = nn.Sequential(
        nn.Flatten(), nn.Dropout(dropout), nn.Linear(256 * 6 * 6, 4096), nn.ReLU(), nn.Dropout(dropout),
        nn.Linear(4096, 4096), nn.ReLU(), nn.Linear(4096, 2),
    )
    return features, classifier


class QuantumLocalizationNet(HubModel, tags=["localization", "quantum-maps"]):
    """Coherent-state layer (trainable centres, any N) + CNN -> 2 logits (localized, non-localized).

    Parameters:
        grid_size: S, the kernels form an S x S grid of phase-space centres (the CNN's image size).
        arch: ``"compact"`` (default) or ``"alexnet"`` (needs S >= 63).
        dropout: dropout probability of the dense layers (0.5).

    ``forward(x)``: packed complex (B, N_max + 1, 2) -> float logits (B, 2). ``images(x)``: the normalized CNN
    input (B, S, S). Bad input (not complex, wrong shape, N not a multiple of 3 or larger than N_max) raises
    ``ValueError``.
    """

    classes = TRIBAKER_CLASSES
    predict_batch_size = 64
    input_description = ("right and left resonance eigenvectors packed as a complex (N_max + 1, 2) tensor: "
                         "column 0 = R, column 1 = L (closed map: both psi), position amplitudes <q_j|.>, "
                         "zero-padded, last row = (N, N); any N that is a multiple of 3 "
                         "(modeling.data.collate_resonances)")

    def __init__(self, grid_size: int = 32, arch: str = "compact", dropout: float = 0.5):
        super().__init__()
        if arch not in ARCHS:
            raise ParameterError(f"arch = {arch!r}: must be one of {list(ARCHS)}")
        if isinstance(grid_size, bool) or int(grid_size) != grid_size:
            raise ParameterError(f"grid_size = {grid_size!r}: must be an integer")
        low = 63 if arch == "alexnet" else 8
        if grid_size < low:
            raise ParameterError(f"grid_size = {grid_size}: must be >= {low} for arch = {arch!r}")
        if not 0.0 <= float(dropout) < 1.0:
            raise ParameterError(f"dropout = {dropout!r}: must be in [0, 1)")
        self.grid_size, self.arch = int(grid_size), arch
        self.input_shape = ("N_max+1", 2)
        self.quantum = CoherentStateLayer(self.grid_size)
        self.features, self.classifier = (_compact if arch == "compact" else _alexnet)(float(dropout))
        for m in [*self.features.modules(), *self.classifier.modules()]:
            if isinstance(m, (nn.Conv2d, nn.Linear)):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu")
                nn.init.zeros_(m.bias)

    def images(self, x: torch.Tensor) -> torch.Tensor:
        """The CNN input: LR images at the centres divided by their mean, (B, S, S) in the CNN's dtype."""
        h = self.quantum(x)
        h = h / h.mean(dim=(1, 2), keepdim=True)
        return h.to(self.features[0].weight.dtype)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2) of a packed batch (B, N_max + 1, 2) complex."""
        return self.classifier(self.features(self.images(x).unsqueeze(1)))
