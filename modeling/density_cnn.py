"""``DensityCNN``: integrable / non-integrable classifier of two-atom eigenstate densities (``docs/twobody.md`` §5-6).

Input convention (used everywhere: training, attacks, evaluation): one image per eigenstate, the probability
density ``|psi(x1, x2)|^2`` on the P x P cell-centre grid ``x_i = (i + 1/2)/P`` (index order [x1 light, x2
heavy], as published in the ``wavefunctions`` config), **scaled by its own maximum to [0, 1]**::

    images = density_images(psi)          # psi: (..., P, P) signed wavefunctions -> (..., P, P) in [0, 1]

The model standardises internally (``(x - input_mean) / input_std``, two buffers set from the training images
by :meth:`DensityCNN.set_input_normalization` and saved with the weights), so gradients, attacks and the
``[0, 1]`` clipping of attacks all live in image space.

Architecture (``docs/twobody.md`` §6 (CNN) [choice]; 3 x 3 convolutions with padding 1 [our choice], so any P >= 8 works)::

    Conv(1->16, 3) ReLU MaxPool2 -> Conv(16->32, 3) ReLU MaxPool2 -> Conv(32->64, 3) ReLU MaxPool2
    -> Flatten (64 * (P//8)^2) -> Linear(128) ReLU Dropout(0.5) -> Linear(2)

Output: 2 logits, classes ``0 = non-integrable``, ``1 = integrable`` (the dataset's ``label``); softmax
confidences via :meth:`DensityCNN.predict_proba`.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn as nn

from generation.systems import SYSTEMS
from qchaos.errors import ParameterError

from .hub_model import HubModel

__all__ = ["density_images", "DensityCNN", "TWOBODY_CLASSES"]

TWOBODY_CLASSES = SYSTEMS["twobody"].class_names
"""The classes of label 0 and 1 (those of the twobody system's published tables)."""


def density_images(psi) -> torch.Tensor:
    """Densities ``psi**2`` scaled by their maximum to [0, 1], one image per state.

    Parameters:
        psi: signed wavefunctions, shape (..., P, P) (a torch tensor, a numpy array or nested lists); the last two
            axes are one image. Differentiable for torch input.

    Returns:
        torch tensor (..., P, P): ``psi**2 / max(psi**2)`` per image (float32 for non-float torch input and for
        numpy input of any float type other than float64, which stays float64). An all-zero image stays zero.
    """
    t = psi if isinstance(psi, torch.Tensor) else torch.as_tensor(np.asarray(psi))
    if t.ndim < 2:
        raise ParameterError(f"psi: must have shape (..., P, P), got {tuple(t.shape)}")
    if t.is_complex():
        raise ParameterError("psi: the two-atom wavefunctions are real (signed); got a complex tensor")
    if not t.is_floating_point():
        t = t.to(torch.float32)
    d = t * t
    peak = d.amax(dim=(-2, -1), keepdim=True)
    return d / torch.where(peak > 0, peak, torch.ones_like(peak))


def _flat_features(image_size: int) -> int:
    s = image_size
    for _ in range(3):
        s //= 2
    return 64 * s * s


class DensityCNN(HubModel, tags=["image-classification", "integrability"]):
    """CNN on P x P density images -> 2 logits (non-integrable, integrable).

    Parameters:
        image_size: P, pixels per side of the input images (the dataset's ``image_size``; >= 8).
        hidden: width of the dense layer (128).
        dropout: dropout probability before the last layer (0.5).

    ``forward(x)``: ``x`` of shape (B, P, P) or (B, 1, P, P), densities in [0, 1] (:func:`density_images`);
    returns float logits (B, 2). A wrong image size raises ``ValueError`` naming both sizes.
    """

    classes = TWOBODY_CLASSES
    input_description = ("eigenstate density |psi(x1, x2)|^2 on the P x P grid x_i = (i + 1/2)/P, scaled by its "
                         "maximum to [0, 1] (modeling.density_cnn.density_images)")

    input_range = (0.0, 1.0)  # densities scaled by their maximum (density_images); predict_proba checks it

    def __init__(self, image_size: int = 100, hidden: int = 128, dropout: float = 0.5):
        super().__init__()
        if isinstance(image_size, bool) or int(image_size) != image_size or image_size < 8:
            raise ParameterError(f"image_size = {image_size!r}: must be an integer >= 8 (three 2 x 2 poolings)")
        if int(hidden) != hidden or hidden < 1:
            raise ParameterError(f"hidden = {hidden!r}: must be a positive integer")
        if not 0.0 <= float(dropout) < 1.0:
            raise ParameterError(f"dropout = {dropout!r}: must be in [0, 1)")
        self.image_size = int(image_size)
        self.input_shape = (1, self.image_size, self.image_size)
        self.features = nn.Sequential(
            nn.Conv2d(1, 16, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(16, 32, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
            nn.Conv2d(32, 64, 3, padding=1), nn.ReLU(), nn.MaxPool2d(2),
        )
        self.classifier = nn.Sequential(
            nn.Flatten(), nn.Linear(_flat_features(self.image_size), int(hidden)), nn.ReLU(),
            nn.Dropout(float(dropout)), nn.Linear(int(hidden), 2),
        )
        self.register_buffer("input_mean", torch.zeros(()))
        self.register_buffer("input_std", torch.ones(()))

    def set_input_normalization(self, images) -> DensityCNN:
        """Set ``input_mean`` / ``input_std`` to the pixel mean and standard deviation of ``images``.

        ``images``: (N, P, P), the training images, in [0, 1]. Returns ``self``.
        """
        x = torch.as_tensor(images, dtype=torch.float64)
        std = float(x.std()) if x.numel() > 1 else 1.0
        with torch.no_grad():
            self.input_mean.fill_(float(x.mean()))
            self.input_std.fill_(std if std > 0 else 1.0)
        return self

    def check_input(self, x: torch.Tensor) -> torch.Tensor:
        """``x`` as (B, 1, P, P); ``ValueError`` for another shape."""
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"{type(self).__name__}: input must be a torch tensor of density images, got "
                             f"{type(x).__name__}")
        P = self.image_size
        shape = tuple(x.shape)
        if x.ndim == 3:
            x = x.unsqueeze(1)
        if x.ndim != 4 or x.shape[1] != 1 or x.shape[-2:] != (P, P):
            raise ValueError(f"DensityCNN(image_size={P}): input must have shape (B, {P}, {P}) or (B, 1, {P}, {P}) "
                             f"(density images, see density_images); got {shape}. Use a model trained on "
                             f"{tuple(shape[-2:])} images or a dataset with image_size = {P}")
        if x.is_complex():
            raise ParameterError("DensityCNN: input must be real density images in [0, 1], got a complex tensor")
        return x

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (B, 2) of density images ``x`` (B, P, P) or (B, 1, P, P) in [0, 1]."""
        x = self.check_input(x)
        weight = self.features[0].weight
        x = x.to(weight.dtype)
        x = (x - self.input_mean.to(x.dtype)) / self.input_std.to(x.dtype)
        return self.classifier(self.features(x))

    def predict_wavefunctions(self, psi, batch_size: int = 256) -> torch.Tensor:
        """Softmax confidences (B, 2) of signed wavefunctions ``psi`` (B, P, P): densities recomputed first."""
        return self.predict_proba(density_images(psi), batch_size)
