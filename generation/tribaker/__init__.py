"""Open quantum tribaker map: propagator, resonances, coherent states / Husimi / LR images, norm ratio.

Pure numerical functions (numpy in, numpy out); conventions in each module's docstring and in
``docs/tribaker.md``: ``2 pi hbar = 1/N``, antiperiodic boundary conditions, ``q_j = (j + 1/2)/N``. Large N:
:mod:`.sampling` (rank-uniform resonances without the full eigendecomposition), :mod:`.summaries` (streamed LR
norm ratios and cell measures), :mod:`.classical` (Ulam natural / invariant measures, Jensen-Shannon distance).
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
from .sampling import nearest_decay_ranks, rank_sample, sampled_resonances, sector_eigenvalues

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
    "nearest_decay_ranks",
    "norm_ratio",
    "overlaps",
    "rank_sample",
    "resample",
    "resonances",
    "sampled_resonances",
    "sector_eigenvalues",
    "tribaker",
]
