"""Open quantum tribaker map: propagator, resonances, coherent states / Husimi / LR images, norm ratio.

Pure numerical functions (numpy in, numpy out); conventions in each module's docstring and in
``design/tribaker.md``: ``2 pi hbar = 1/N``, antiperiodic boundary conditions, ``q_j = (j + 1/2)/N``.
"""

from .coherent import (
    coherent_states,
    grid_centres,
    husimi,
    husimi_on_grid,
    lattice_overlaps,
    lr_on_grid,
    lr_representation,
    overlaps,
    resample,
)
from .norm_ratio import coherent_reference, norm_ratio
from .propagator import apply_tribaker, check_dimension, check_reflectivity, classical_map, fourier_matrix, tribaker
from .resonances import Resonances, leading_resonances, resonances

__all__ = [
    "Resonances",
    "apply_tribaker",
    "check_dimension",
    "check_reflectivity",
    "classical_map",
    "coherent_reference",
    "coherent_states",
    "fourier_matrix",
    "grid_centres",
    "husimi",
    "husimi_on_grid",
    "lattice_overlaps",
    "leading_resonances",
    "lr_on_grid",
    "lr_representation",
    "norm_ratio",
    "overlaps",
    "resample",
    "resonances",
    "tribaker",
]
