"""Symmetry augmentation of density images: the eight symmetries of the square (the dihedral group D4).

Why the label survives every element (two-atom densities |psi(x1, x2)|^2 on the unit box, index order [x1, x2]):

* In mass-scaled coordinates (sqrt(m1) x1, sqrt(m2) x2) the configuration space is a rectangle and the contact
  interaction lives on one of its diagonals. Mirroring x1 -> 1 - x1 (or x2 -> 1 - x2) maps the rectangle with one
  diagonal onto the congruent rectangle with the other, i.e. onto an isometric copy of the same billiard: same spectrum,
  same integrability. Mirroring both is the parity symmetry of the Hamiltonian itself (densities are invariant).
* Transposing (x1 <-> x2) swaps the particles' roles: the system with mass ratio 1/eta, which is integrable exactly
  when eta is (eta = 1/3 <-> 3, eta = 1 <-> 1).

So a transformed image is the density of an eigenstate of an equivalent system, with the same integrable /
non-integrable label. Training on random elements is a physically exact augmentation (8x the distinct images).
"""

from __future__ import annotations

import torch

from qchaos.errors import ParameterError

__all__ = ["DIHEDRAL_ORDER", "dihedral", "random_dihedral"]

DIHEDRAL_ORDER = 8


def dihedral(x: torch.Tensor, k: torch.Tensor | int) -> torch.Tensor:
    """Apply element ``k`` of D4 to each image.

    Args:
        x: images, shape (B, P, P) or (B, C, P, P) (the last two axes are the square ones).
        k: integer in 0..7, one per image (shape (B,)) or one for all. Bit 0 mirrors the last axis, bit 1 the
            second-to-last axis, bit 2 then transposes the two; k = 0 is the identity, k = 3 the 180° rotation.

    Returns:
        A new tensor of the shape of ``x``.
    """
    if x.ndim < 3 or x.shape[-1] != x.shape[-2]:
        raise ParameterError(f"x: must have shape (B, P, P) or (B, C, P, P) with square images, got {tuple(x.shape)}")
    k = torch.as_tensor(k, device=x.device).long()
    if k.ndim == 0:
        k = k.expand(x.shape[0])
    if k.shape != (x.shape[0],):
        raise ParameterError(f"k: must be one integer or one per image (shape ({x.shape[0]},)), got {tuple(k.shape)}")
    if bool(((k < 0) | (k >= DIHEDRAL_ORDER)).any()):
        raise ParameterError(f"k: must be in 0..{DIHEDRAL_ORDER - 1}")
    view = (-1,) + (1,) * (x.ndim - 1)
    out = x
    for bit, op in ((1, lambda t: t.flip(-1)), (2, lambda t: t.flip(-2)), (4, lambda t: t.transpose(-1, -2))):
        mask = ((k & bit) != 0).view(view)
        out = torch.where(mask, op(out), out)
    return out


def random_dihedral(x: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Each image under an independent uniformly drawn element of D4 (reproducible with ``generator``)."""
    k = torch.randint(0, DIHEDRAL_ORDER, (x.shape[0],), generator=generator)
    return dihedral(x, k.to(x.device))
