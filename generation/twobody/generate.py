"""One parameter point of the two-atom dataset: spectrum, level statistics inputs and eigenstate images.

``compute_point(params)`` is the Dask task (module-level so workers can import it). Output tables:

* ``spectrum/*`` (levels,): ``energy`` (extrapolated if configured), ``raw`` (variational ED), ``error``,
  ``parity`` (0 even / 1 odd), ``level`` (1-based), ``horizontal`` (exact g-independent level);
* ``states/*`` (k = hi - lo + 1 levels of the window): ``psi`` (k, P, P) float32 signed wavefunction on the grid
  ``x_i = (i + 1/2)/P`` (index order [state, x1 light, x2 heavy]; density = psi**2; sign: largest basis
  coefficient positive), ``energy``, ``level``, ``parity``, ``label`` (1 integrable, 0 not). The wavefunctions
  are the raw eigenvectors in the ``basis_factor`` basis; with ``spectrum_basis_factor`` the energies come from
  the smaller basis of that factor (attrs ``basis_size`` and ``image_basis_size``).
"""

from __future__ import annotations

import numpy as np

from ..presets import is_integrable
from ..store import PointResult
from .images import fix_sign, wavefunction_images
from .spectrum import eigenstates, solve_spectrum, spectrum_basis


def compute_point(params: dict) -> PointResult:
    """Compute one (eta, g) point; ``params`` as produced by ``TwobodyConfig.points()``."""
    eta, g = params["eta"], params["g"]
    spec = solve_spectrum(eta, g, params["levels"], basis_factor=params.get("spectrum_basis_factor") or
                          params["basis_factor"],
                          extrapolate=params["extrapolate"], seed=params.get("seed", 0),
                          scheme=params.get("scheme", "richardson"))  # points made before the field: Richardson
    label = int(is_integrable(eta))
    arrays = {
        "spectrum/energy": spec.energy, "spectrum/raw": spec.raw, "spectrum/error": spec.error,
        "spectrum/parity": spec.parity.astype(np.int8), "spectrum/level": spec.level.astype(np.int32),
        "spectrum/horizontal": spec.horizontal,
    }
    vector_basis = None
    if params.get("window"):
        lo, hi = params["window"]
        # the vectors in the basis_factor basis (larger than the spectrum's when spectrum_basis_factor is set)
        rows, basis, vectors = eigenstates(spec, lo, hi, seed=params.get("seed", 0),
                                           basis=spectrum_basis(eta, params["levels"], params["basis_factor"]))
        vector_basis = basis.dim
        psi = wavefunction_images(basis, fix_sign(vectors), params["image_size"])
        arrays.update({
            "states/psi": psi, "states/energy": spec.energy[rows], "states/level": spec.level[rows].astype(np.int32),
            "states/parity": spec.parity[rows].astype(np.int8),
            "states/label": np.full(rows.size, label, dtype=np.int8),
        })
    attrs = {
        "eta": eta, "g": g, "label": label, "integrable": bool(label), "levels": int(params["levels"]),
        "basis_size": spec.basis_size, "e_cut": spec.e_cut, "top_rel_error": spec.top_rel_error,
        "extrapolated": spec.extrapolated, "horizontal_levels": int(spec.horizontal.sum()),
        "scheme": params.get("scheme", "richardson"),
    }
    if params.get("spectrum_basis_factor") and vector_basis is not None:
        attrs["image_basis_size"] = vector_basis  # the states of the images' eigenvectors (basis_size: the energies')
    return PointResult(arrays, attrs)
