"""Presets and configs of the data generators (``qchaos generate SYSTEM --preset mini|paper``).

A config is a frozen dataclass whose fields are every generation parameter; ``to_dict()`` is what the store
records and hashes, ``points()`` the sweep's parameter points (key -> parameters). CLI flags override fields.
Values marked [choice] are ours where the papers are silent (``twobody.md`` §4-5, ``tribaker.md`` §5).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field

import numpy as np

from .twobody.basis import parse_eta
from .twobody.bethe import INTEGRABLE_ETAS


def eta_grid(start: float, stop: float, step: float) -> list[float]:
    """Inclusive grid start, start+step, ..., <= stop, rounded to 10 digits."""
    n = int(np.floor((stop - start) / step + 1e-9)) + 1
    return [round(start + i * step, 10) for i in range(n)]


def parse_etas(text: str) -> list[float]:
    """Mass ratios from ``"0.2,1/3,0.5"`` or an inclusive range ``"0.05:1:0.05"`` (or both, comma separated)."""
    out: list[float] = []
    for part in str(text).split(","):
        part = part.strip()
        if not part:
            continue
        if ":" in part:
            try:
                start, stop, step = (float(parse_eta(x)) if i < 2 else float(x) for i, x in enumerate(part.split(":")))
            except ValueError as exc:
                raise ValueError(f"eta = {part!r}: a range is START:STOP:STEP with 0 < START <= STOP <= 1 ({exc})")
            if step <= 0:
                raise ValueError(f"eta = {part!r}: the range step must be > 0")
            out.extend(eta_grid(start, stop, step))
        else:
            out.append(parse_eta(part))
    if not out:
        raise ValueError(f"eta = {text!r}: give at least one mass ratio")
    return sorted(set(out))


def is_integrable(eta: float) -> bool:
    """Bethe-ansatz integrable mass ratio (eta = 1/3 or 1, to 1e-9)."""
    return any(abs(eta - v) <= 1e-9 for v in INTEGRABLE_ETAS.values())


def _dn_etas() -> list[float]:
    """The D_{2n} mass ratios tan^2(pi / (2 n)), n = 2..10 (twobody.md §2)."""
    return [round(float(np.tan(np.pi / (2 * n)) ** 2), 12) for n in range(2, 11)]


@dataclass(frozen=True)
class TwobodyConfig:
    """Two atoms in a hard-wall trap: one point per mass ratio at fixed g.

    Attributes:
        etas: mass ratios of the sweep (each in (0, 1]).
        g: contact interaction strength (>= 0) [choice: 10].
        levels: lowest levels per point (both parities) for the spectra and statistics.
        window: (lo, hi) 1-based inclusive level numbers whose wavefunction images are stored [choice: 200-1199].
        image_size: grid points per axis P of the images [choice: 100 -> Delta = 0.01].
        image_etas: mass ratios that get images (empty = all of ``etas``).
        basis_factor: basis states per level (ED accuracy; Richardson with a 4x basis on top).
        extrapolate: store converged energies (else raw ED).
        scheme: how they are converged: "effective" (one basis, high-energy states eliminated) or "richardson".
        seed: seed of every random choice (Lanczos start vectors).
    """

    etas: tuple[float, ...]
    g: float = 10.0
    levels: int = 1000
    window: tuple[int, int] = (200, 1199)
    image_size: int = 100
    image_etas: tuple[float, ...] = ()
    basis_factor: float = 2.0
    extrapolate: bool = True
    scheme: str = "effective"
    seed: int = 0

    def __post_init__(self):
        object.__setattr__(self, "etas", tuple(sorted({parse_eta(e) for e in self.etas})))
        object.__setattr__(self, "image_etas", tuple(sorted({parse_eta(e) for e in self.image_etas})))
        object.__setattr__(self, "window", tuple(int(w) for w in self.window))
        if not self.etas:
            raise ValueError("etas: give at least one mass ratio")
        if not np.isfinite(self.g) or self.g < 0:
            raise ValueError(f"g = {self.g}: must be finite and >= 0")
        if int(self.levels) != self.levels or self.levels < 20:
            raise ValueError(f"levels = {self.levels}: must be an integer >= 20 (level statistics need levels)")
        lo, hi = self.window
        if not 1 <= lo <= hi <= self.levels:
            raise ValueError(f"window = [{lo}, {hi}]: must satisfy 1 <= lo <= hi <= levels = {self.levels} (images "
                             "only of levels whose convergence is checked; raise --levels)")
        if int(self.image_size) != self.image_size or not 8 <= self.image_size <= 1024:
            raise ValueError(f"image_size = {self.image_size}: must be an integer in [8, 1024]")
        missing = [e for e in self.image_etas if e not in self.etas]
        if missing:
            raise ValueError(f"image_etas = {missing}: every image eta must also be in etas")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["etas"], d["image_etas"], d["window"] = list(self.etas), list(self.image_etas), list(self.window)
        return d

    def point_key(self, eta: float) -> str:
        return f"eta{eta:.10f}"

    def points(self) -> dict[str, dict]:
        with_images = set(self.image_etas or self.etas)
        return {
            self.point_key(eta): {
                "eta": eta, "g": self.g, "levels": self.levels, "window": list(self.window) if eta in with_images
                else None, "image_size": self.image_size, "basis_factor": self.basis_factor,
                "extrapolate": self.extrapolate, "scheme": self.scheme, "seed": self.seed,
            }
            for eta in self.etas
        }


_TRAIN_ETAS = (1 / 3, 0.5, 0.75, 1.0)  # [choice] twobody.md §5: integrable {1/3, 1}, non-integrable {0.5, 0.75}

TWOBODY_PRESETS: dict[str, TwobodyConfig] = {
    # ~1 minute on 2 cores: training ratios, a coarse scan and points next to the integrable ratios (statistics and
    # images at every point)
    "mini": TwobodyConfig(
        etas=(0.1, 0.2, 0.25, 0.3, 0.32, 1 / 3, 0.34, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.98, 1.0), g=10.0, levels=400,
        window=(50, 249), image_size=48,
    ),
    # the paper's scales: 5000 levels (5000 lowest for eta = 1/3), coarse 0.01 scan, fine 0.005 scans near the
    # integrable points, the D_2n ratios; images of levels 200-1199 (1000 states per eta) at 100 x 100
    "paper": TwobodyConfig(
        etas=tuple(sorted(set(eta_grid(0.01, 1.0, 0.01) + eta_grid(0.30, 0.37, 0.005) + eta_grid(0.95, 1.0, 0.005)
                              + [1 / 3] + _dn_etas()))),
        g=10.0, levels=5000, window=(200, 1199), image_size=100,
    ),
    # the images of the density CNNs at the paper's scale (level window 200-1199, 100 x 100). [choice] g = 100: the
    # paper computes its densities at "large interaction strength"; at g = 10 a fifth of the non-integrable states
    # of that window are > 90% one product state sin(n pi x1) sin(m pi x2) (largest singular value of psi), i.e.
    # look separable like integrable ones, and the CNN plateaus at 97.5%; at g = 100 none is.
    # basis_factor 8: at g = 100 the eigenvectors converge much more slowly than the (extrapolated) energies. With
    # 2 states per level, integrable (eta = 1/3) states at levels ~1000 overlap only 0.72-0.99 with the 8x basis and
    # come out mixed with their near-degenerate neighbours (the truncated contact interaction breaks integrability);
    # from 8 to 16 states per level every overlap is >= 0.9993 and the level order is unchanged.
    # paper-cnn: the four training mass ratios (what the shipped checkpoints saw; a few minutes on 2 cores);
    "paper-cnn": TwobodyConfig(etas=_TRAIN_ETAS, g=100.0, levels=1200, window=(200, 1199), image_size=100,
                               basis_factor=8.0),
    # paper-scan: the paper's eta grid with the same images, for accuracy / confidence against eta (Figs. 12-13)
    "paper-scan": TwobodyConfig(
        etas=tuple(sorted(set(eta_grid(0.01, 1.0, 0.01) + eta_grid(0.30, 0.37, 0.005) + eta_grid(0.95, 1.0, 0.005)
                              + [1 / 3] + _dn_etas()))),
        g=100.0, levels=1200, window=(200, 1199), image_size=100, basis_factor=8.0,
    ),
}

@dataclass(frozen=True)
class TribakerConfig:
    """Open quantum tribaker map: one point per (N, R), N = N0, N0 + 3, ..., N0 + 3 (K - 1).

    Attributes:
        N0: first Hilbert-space dimension (multiple of 3) [choice: 30].
        K: number of dimensions [choice: 50 -> N_max = 177].
        reflectivities: R of every case; R = 1 is the closed map [choice: closed and R = 0.2].
        per_side: states kept per N on each side of the norm-ratio ranking [choice: 5].
        image_size: P of the stored P x P LR/Husimi inspection images.
        min_abs_z: keep only resonances with |z| > min_abs_z (needed for R = 0: its null space).
        seed: seed of every random choice.
    """

    N0: int = 30
    K: int = 50
    reflectivities: tuple[float, ...] = (1.0, 0.2)
    per_side: int = 5
    image_size: int = 64
    min_abs_z: float = 0.0
    seed: int = 0

    def __post_init__(self):
        from .tribaker.propagator import check_dimension, check_reflectivity

        check_dimension(self.N0)
        object.__setattr__(self, "reflectivities",
                           tuple(sorted({check_reflectivity(r) for r in self.reflectivities}, reverse=True)))
        if int(self.K) != self.K or self.K < 1:
            raise ValueError(f"K = {self.K}: must be a positive integer (number of N values)")
        if int(self.per_side) != self.per_side or not 1 <= self.per_side <= self.N0 // 2:
            raise ValueError(f"per_side = {self.per_side}: must be an integer in [1, N0/2 = {self.N0 // 2}]")
        if int(self.image_size) != self.image_size or not 8 <= self.image_size <= 512:
            raise ValueError(f"image_size = {self.image_size}: must be an integer in [8, 512]")
        if 0.0 in self.reflectivities and self.min_abs_z <= 0:
            raise ValueError("min_abs_z: R = 0 has N/3 exactly-zero resonances; set min_abs_z > 0 (e.g. 1e-3)")
        if not 0 <= self.min_abs_z < 1:
            raise ValueError(f"min_abs_z = {self.min_abs_z}: must be in [0, 1)")

    @property
    def dimensions(self) -> list[int]:
        return [self.N0 + 3 * k for k in range(self.K)]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["reflectivities"] = list(self.reflectivities)
        return d

    def point_key(self, N: int, R: float) -> str:
        return f"R{R:.4f}_N{N:05d}"

    def points(self) -> dict[str, dict]:
        return {self.point_key(N, R): {"N": N, "R": R, "per_side": self.per_side, "image_size": self.image_size,
                                       "min_abs_z": self.min_abs_z, "seed": self.seed}
                for R in self.reflectivities for N in self.dimensions}


TRIBAKER_PRESETS: dict[str, TribakerConfig] = {
    # well under a minute on 2 cores; N = 30..117, 600 states (the size tribaker.md §9 found to train to 100%)
    "mini": TribakerConfig(N0=30, K=30, per_side=5, image_size=32),
    # the paper's scale: N = 30..177 (K = 50), 5 + 5 states per N, closed and open
    "paper": TribakerConfig(N0=30, K=50, per_side=5, image_size=64),
}

PRESETS = {"twobody": TWOBODY_PRESETS, "tribaker": TRIBAKER_PRESETS}


def get_preset(system: str, preset: str):
    """The config of a named preset; ``ValueError`` listing the choices otherwise."""
    if system not in PRESETS:
        raise ValueError(f"system = {system!r}: must be one of {sorted(PRESETS)}")
    if preset not in PRESETS[system]:
        raise ValueError(f"preset = {preset!r}: must be one of {sorted(PRESETS[system])}")
    return PRESETS[system][preset]


def override(config, **changes):
    """A copy of ``config`` with the non-None ``changes`` applied (validated again)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
