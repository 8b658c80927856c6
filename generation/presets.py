"""Presets and configs of the data generators (``qchaos generate SYSTEM --preset mini|paper``).

A config is a frozen dataclass whose fields are every generation parameter; ``to_dict()`` is what the store
records and hashes, ``points()`` the sweep's parameter points (key -> parameters). CLI flags override fields.
Values marked [choice] are ours where the papers are silent (``docs/twobody.md`` §4-5, ``docs/tribaker.md`` §5 (dataset)).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import numpy as np

from qchaos.errors import ParameterError
from qchaos.limits import check_memory, max_bytes  # noqa: F401 - re-exported (generation.presets.max_bytes)

from .twobody.basis import MIN_ETA, basis_by_count, parse_eta
from .twobody.bethe import INTEGRABLE_ETAS
from .twobody.spectrum import check_max_g, spectrum_memory

MAX_POINTS = 100_000
"""Most parameter points of one sweep (a sanity bound: each point is a separate task and group)."""


def _distinct_keys(values, key, name: str, hint: str) -> None:
    """``ParameterError`` if two distinct ``values`` map to one point key (one point would silently stand for both)."""
    seen: dict[str, float] = {}
    for v in values:
        k = key(v)
        if k in seen:
            raise ParameterError(f"{name}: {seen[k]!r} and {v!r} would share the point {k!r} (one would silently "
                                 f"stand for both); give {hint}")
        seen[k] = v


def eta_grid(start: float, stop: float, step: float) -> list[float]:
    """Inclusive grid start, start+step, ..., <= stop, rounded to 10 digits (at most :data:`MAX_POINTS` values)."""
    from qchaos.errors import ParameterError

    if not all(np.isfinite([start, stop, step])) or step <= 0 or start > stop:
        raise ParameterError(f"eta = {start}:{stop}:{step}: a range needs finite START <= STOP and STEP > 0")
    count = (stop - start) / step + 1
    if count > MAX_POINTS:
        raise ParameterError(f"eta = {start}:{stop}:{step}: {count:.3g} mass ratios, at most {MAX_POINTS} per sweep; "
                             "use a larger step")
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
                raise ParameterError(f"eta = {part!r}: a range is START:STOP:STEP with 0 < START <= STOP <= 1 ({exc})")
            if step <= 0:
                raise ParameterError(f"eta = {part!r}: the range step must be > 0")
            out.extend(eta_grid(start, stop, step))
        else:
            out.append(parse_eta(part))
    if not out:
        raise ParameterError(f"eta = {text!r}: give at least one mass ratio")
    etas = sorted(set(out))
    _distinct_keys(etas, lambda e: f"eta{e:.10f}", f"eta = {text!r}", "mass ratios that differ in the first 10 "
                   "decimals")  # the point key (TwobodyConfig.point_key)
    return etas


PARAM_TOL = 1e-9
"""Two values of a sweep parameter (a mass ratio eta, a reflectivity R) name the same point when they differ by at
most this much. :func:`match_point` is the one place where a number given by a user (``1/3``, ``0.3333333333``) is
matched to a point; rows of a published table are then selected by exact equality with the point's own value
(:func:`select_points`; the published columns hold the config's floats bit for bit)."""


def match_point(value: float, candidates) -> float | None:
    """The first of ``candidates`` (parameter values of points) within :data:`PARAM_TOL` of ``value``, else None."""
    for c in candidates:
        if abs(float(c) - float(value)) <= PARAM_TOL:
            return c
    return None


def select_points(values, wanted) -> np.ndarray:
    """Boolean mask (n,) of the rows of a published column ``values`` (n,) whose point is one of ``wanted``.

    Each distinct value is matched once (:func:`match_point`), the rows by exact equality with it.
    """
    values = np.asarray(values, dtype=np.float64)
    wanted = [float(w) for w in wanted]
    chosen = [u for u in np.unique(values) if match_point(u, wanted) is not None]
    return np.isin(values, chosen)


def is_integrable(eta: float) -> bool:
    """Bethe-ansatz integrable mass ratio (eta = 1/3 or 1, to :data:`PARAM_TOL`)."""
    return match_point(eta, INTEGRABLE_ETAS.values()) is not None


def _dn_etas() -> list[float]:
    """The D_{2n} mass ratios tan^2(pi / (2 n)), n = 2..10 (docs/twobody.md §2)."""
    return [round(float(np.tan(np.pi / (2 * n)) ** 2), 12) for n in range(2, 11)]


SCHEMES = ("effective", "richardson")
"""How converged two-atom energies are computed (``generation.twobody.spectrum.solve_spectrum``)."""


# -- the image-quality rule of the two-atom datasets -----------------------------------------------------------------
IMAGE_MIN_G = 100.0
"""Smallest g of stored eigenstate images: at g = 10 a fifth of the non-integrable states of levels 200-1199 are
> 90 % one product state sin(n pi x1) sin(m pi x2) (largest singular value of psi), i.e. they look separable like
integrable ones, and a density CNN plateaus at 97.5 %; at g = 100 none is (``docs/twobody.md``, "The image-quality rule")."""

IMAGE_MIN_BASIS_FACTOR = 8.0
"""Smallest basis size (states per level) of stored eigenvectors: at g = 100 the eigenvectors converge much more
slowly than the extrapolated energies; with 2 states per level eta = 1/3 states near level 1000 overlap only
0.72-0.99 with the 8x basis (near-degenerate neighbours mixed); from 8 to 16 every overlap is >= 0.9993."""

IMAGE_MIN_LEVEL = 200
"""Lowest level of an image window: the classifiers learn "highly excited" states (the paper's window starts at
200); below it the nodal patterns of both classes are still few and regular."""


def max_quantum_number(eta: float, level: int) -> int:
    """Largest quantum number max(n, m) among the lowest ``level`` product states sin(n pi x1) sin(m pi x2).

    For eta < 1 it is the heavy atom's m (E0 = pi^2 (n^2 + eta m^2) / (2 (1 + eta))). An image of P points per
    axis resolves sin(k pi x) without aliasing only when P > k (two samples per half wavelength, the Nyquist
    limit), so the images of a window ending at ``level`` need ``P > max_quantum_number(eta, level)``.
    """
    basis = basis_by_count(eta, int(level))
    return int(max(basis.n.max(), basis.m.max()))


def image_quality_issues(config: "TwobodyConfig") -> list[str]:
    """Why the eigenstate images ``config`` would store are known to be wrong ([] when they meet the rule).

    The rule (one for every preset): g >= :data:`IMAGE_MIN_G`, basis_factor >= :data:`IMAGE_MIN_BASIS_FACTOR`,
    window starting at level >= :data:`IMAGE_MIN_LEVEL` and, for every mass ratio with images, an image size above
    the Nyquist limit of the window (:func:`max_quantum_number`). Degenerate eigenspaces are always resolved
    (``generation.twobody.spectrum.eigenstates``). A config without images has no issue.
    """
    if config.window is None:
        return []
    issues = []
    if config.g < IMAGE_MIN_G:
        issues.append(f"g = {config.g:g} < {IMAGE_MIN_G:g}: many non-integrable states are nearly separable")
    if config.basis_factor < IMAGE_MIN_BASIS_FACTOR:
        issues.append(f"basis_factor = {config.basis_factor:g} < {IMAGE_MIN_BASIS_FACTOR:g}: eigenvectors not "
                      "converged (near-degenerate states mixed)")
    lo, hi = config.window
    if lo < IMAGE_MIN_LEVEL:
        issues.append(f"window starts at level {lo} < {IMAGE_MIN_LEVEL}: not highly excited")
    aliased = [(e, k) for e in (config.image_etas or config.etas)
               if (k := max_quantum_number(e, hi)) >= config.image_size]
    if aliased:
        e, k = aliased[0]
        issues.append(f"image_size = {config.image_size} is below the Nyquist limit of the window at "
                      f"{len(aliased)} mass ratio(s) (eta = {e:.4g} needs > {k} points per axis); raise image_size "
                      "or drop those eta from image_etas")
    return issues


@dataclass(frozen=True)
class TwobodyConfig:
    """Two atoms in a hard-wall trap: one point per mass ratio at fixed g.

    Attributes:
        etas: mass ratios of the sweep (each in (0, 1]).
        g: contact interaction strength (>= 0) [choice: 10].
        levels: lowest levels per point (both parities) for the spectra and statistics.
        window: (lo, hi) 1-based inclusive level numbers whose wavefunction images are stored [choice: 200-1199];
            None: spectra only.
        image_size: grid points per axis P of the images [choice: 100 -> Delta = 0.01].
        image_etas: mass ratios that get images (empty = all of ``etas``).
        basis_factor: basis states per level (ED accuracy; Richardson with a 4x basis on top).
        extrapolate: store converged energies (else raw ED).
        scheme: how they are converged: "effective" (one basis, the states above the cutoff eliminated exactly;
            ``docs/spectra.md``) or "richardson" (bases d and 4d). The default "richardson" is what a config without
            the field meant, so it is not recorded (stores and hashes made before the field stay valid); the presets
            choose "effective" except ``paper-cnn``, the shipped checkpoints' data, whose hash must not change.
        spectrum_basis_factor: basis states per level of the energy solve, when the images' eigenvectors need more
            than the energies (None: ``basis_factor`` for both). The effective scheme converges the energies from
            2 states per level (``docs/spectra.md``), while the images need 8 (``IMAGE_MIN_BASIS_FACTOR``): the
            spectrum is then solved in the smaller basis and the window's eigenvectors are those of the raw
            Hamiltonian in the ``basis_factor`` basis (``spectrum.eigenstates``), about 6x less work at 1200
            levels. Recorded only when set (configs without it keep their hashes).
        seed: seed of every random choice (Lanczos start vectors).
        rough_images: store images that break :func:`image_quality_issues` anyway (tests and demonstrations only;
            recorded in the config, so the dataset card and every model trained on it show it). Without it such a
            config is refused with the list of issues.
    """

    etas: tuple[float, ...]
    g: float = 10.0
    levels: int = 1000
    window: tuple[int, int] = (200, 1199)
    image_size: int = 100
    image_etas: tuple[float, ...] = ()
    basis_factor: float = 2.0
    extrapolate: bool = True
    scheme: str = "richardson"
    seed: int = 0
    rough_images: bool = False
    spectrum_basis_factor: float | None = None

    def __post_init__(self):
        object.__setattr__(self, "etas", tuple(sorted({parse_eta(e) for e in self.etas})))
        object.__setattr__(self, "image_etas", tuple(sorted({parse_eta(e) for e in self.image_etas})))
        if self.window is not None:
            object.__setattr__(self, "window", tuple(int(w) for w in self.window))
        if not self.etas:
            raise ParameterError("etas: give at least one mass ratio")
        if not np.isfinite(self.g) or self.g < 0:
            raise ParameterError(f"g = {self.g}: must be finite and >= 0")
        check_max_g(self.g)
        if int(self.levels) != self.levels or self.levels < 20:
            raise ParameterError(f"levels = {self.levels}: must be an integer >= 20 (level statistics need levels)")
        if self.window is not None:
            lo, hi = self.window
            if not 1 <= lo <= hi <= self.levels:
                raise ParameterError(f"window = [{lo}, {hi}]: must satisfy 1 <= lo <= hi <= levels = {self.levels} "
                                 "(images only of levels whose convergence is checked; raise --levels)")
        if int(self.image_size) != self.image_size or not 8 <= self.image_size <= 1024:
            raise ParameterError(f"image_size = {self.image_size}: must be an integer in [8, 1024]")
        missing = [e for e in self.image_etas if e not in self.etas]
        if missing:
            raise ParameterError(f"image_etas = {missing}: every image eta must also be in etas")
        if self.scheme not in SCHEMES:
            raise ParameterError(f"scheme = {self.scheme!r}: must be one of {list(SCHEMES)}")
        sbf = self.spectrum_basis_factor
        if sbf is not None:
            if isinstance(sbf, bool) or not isinstance(sbf, (int, float)) or not 1.25 <= sbf <= self.basis_factor:
                raise ParameterError(f"spectrum_basis_factor = {sbf!r}: must be a number in [1.25, basis_factor = "
                                     f"{self.basis_factor:g}] (or None: the same as basis_factor)")
            if self.scheme != "effective" or self.window is None:
                raise ParameterError(f"spectrum_basis_factor = {sbf!r}: only with scheme = 'effective' and a window "
                                     "(the energies converge from a smaller basis than the images' eigenvectors)")
        self._check_sizes()
        issues = image_quality_issues(self)
        if issues and not self.rough_images:
            raise ParameterError("eigenstate images known to be wrong: " + "; ".join(issues) + ". Fix these "
                                 "settings (the rule: generation.presets.image_quality_issues), or pass "
                                 "rough_images=True (--rough-images) to store them anyway, flagged")

    @property
    def image_issues(self) -> list[str]:
        """:func:`image_quality_issues` of this config (non-empty only with ``rough_images``)."""
        return image_quality_issues(self)

    def _check_sizes(self) -> None:
        """Bounds from sense and memory, before anything is allocated (:func:`check_memory`)."""
        if len(self.etas) > MAX_POINTS:
            raise ParameterError(f"etas: {len(self.etas)} mass ratios, at most {MAX_POINTS} per sweep")
        if self.etas[0] < MIN_ETA:
            raise ParameterError(f"eta = {self.etas[0]:g}: must be >= {MIN_ETA:g} (smaller mass ratios need "
                                 "basis quantum numbers ~ sqrt(levels / eta))")
        bf = self.basis_factor
        if isinstance(bf, bool) or not isinstance(bf, (int, float)) or not (np.isfinite(bf) and 1 <= bf <= 1000):
            raise ParameterError(f"basis_factor = {bf!r}: must be a number in [1, 1000] (basis states per level)")
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ParameterError(f"seed = {self.seed!r}: must be an integer in [0, 2**32)")
        if self.levels > 10**6:
            raise ParameterError(f"levels = {self.levels}: at most 1000000")
        lo, hi = self.window if self.window is not None else (1, 0)
        dim = 4.0 * self.levels * bf  # basis of the Richardson step (4x the basis)
        n_img = hi - lo + 1
        estimate = 8.0 * dim * (n_img + 64) + 4.0 * n_img * self.image_size ** 2 + 64.0 * dim
        # the spectrum solve itself (scheme "effective": dense parity blocks, quadratic in the basis)
        estimate = max(estimate, spectrum_memory(self.levels, bf, extrapolate=self.g != 0, scheme=self.scheme))
        check_memory(estimate, f"levels = {self.levels}, basis_factor = {bf:g}, window = {self.window}, image_size = "
                     f"{self.image_size}", "--levels, --basis-factor, --window or --image-size")

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["etas"], d["image_etas"] = list(self.etas), list(self.image_etas)
        d["window"] = None if self.window is None else list(self.window)
        # defaults that earlier configs did not have are not recorded: their stores and hashes stay valid
        if not self.rough_images:
            d.pop("rough_images")
        if self.scheme == "richardson":
            d.pop("scheme")
        if self.spectrum_basis_factor is None:
            d.pop("spectrum_basis_factor")
        return d

    def point_key(self, eta: float) -> str:
        return f"eta{eta:.10f}"

    def points(self) -> dict[str, dict]:
        with_images = set() if self.window is None else set(self.image_etas or self.etas)
        return {
            self.point_key(eta): {
                "eta": eta, "g": self.g, "levels": self.levels, "window": list(self.window) if eta in with_images
                else None, "image_size": self.image_size, "basis_factor": self.basis_factor,
                "extrapolate": self.extrapolate, "seed": self.seed,
                **({} if self.scheme == "richardson" else {"scheme": self.scheme}),
                **({} if self.spectrum_basis_factor is None else
                   {"spectrum_basis_factor": self.spectrum_basis_factor}),
            }
            for eta in self.etas
        }


_TRAIN_ETAS = (1 / 3, 0.5, 0.75, 1.0)  # [choice] docs/twobody.md §5.3: integrable {1/3, 1}, non-integrable {0.5, 0.75}


def _paper_grid(lo: float = 0.01) -> list[float]:
    """The paper's mass ratios from ``lo``: a 0.01 grid, 0.005 scans near 1/3 and 1, 1/3 itself, the D_2n ratios."""
    return sorted({e for e in eta_grid(0.01, 1.0, 0.01) + _fine_etas() + _dn_etas() if e >= lo - 1e-12})


def _fine_etas() -> list[float]:
    """The fine scans next to the integrable ratios (Fig. 8): 0.300..0.370 and 0.950..1 in steps of 0.005, and 1/3."""
    return sorted(set(eta_grid(0.30, 0.37, 0.005) + eta_grid(0.95, 1.0, 0.005) + [1 / 3]))


_MINI_IMAGE_ETAS = (0.1, 0.2, 0.3, 0.32, 1 / 3, 0.34, 0.4, 0.5, 0.6, 0.75, 0.9, 0.98, 1.0)
"""Training ratios, a coarse scan and points next to both integrable ratios (Figs. 12-13 at the mini scale)."""

TWOBODY_PRESETS: dict[str, TwobodyConfig] = {
    # Spectra for level statistics keep g = 10 (the paper's Figs. 4-8); every preset that stores eigenstate images
    # meets one rule (image_quality_issues: g >= 100, 8 basis states per level, window from level 200, pixels above
    # the window's Nyquist limit), so the presets differ only in counts.
    # mini spectra: ~1 minute on 2 cores; the mini ratios, 400 levels each, no images
    "mini": TwobodyConfig(
        etas=(0.1, 0.2, 0.25, 0.3, 0.32, 1 / 3, 0.34, 0.4, 0.5, 0.6, 0.75, 0.9, 0.95, 0.98, 1.0), g=10.0, levels=400,
        window=None, scheme="effective",
    ),
    # mini images: the physics of paper-cnn with fewer states (levels 200-699, 500 per ratio) at 64 x 64 (Nyquist
    # limit of that window: 54 at eta = 0.1); ~1-2 minutes on 2 cores. 250 states per ratio (levels 200-449) train
    # the density CNN to only 0.95-0.97 test accuracy, 500 to 0.99.
    "mini-images": TwobodyConfig(etas=_MINI_IMAGE_ETAS, g=100.0, levels=699, window=(200, 699), image_size=64,
                                 basis_factor=8.0, scheme="effective", spectrum_basis_factor=2.0),
    # the paper's coarse scan (Fig. 7): the 0.01 grid, the D_2n ratios and the fine-scan ratios, 1000 levels each
    "paper": TwobodyConfig(etas=tuple(_paper_grid()), g=10.0, levels=1000, window=None, scheme="effective"),
    # the paper's fine scans (Fig. 8) next to 1/3 and 1 with 5000 levels (the statistics use the first 1000, 3000
    # and 5000 of them)
    "paper-fine": TwobodyConfig(etas=tuple(_fine_etas()), g=10.0, levels=5000, window=None, scheme="effective"),
    # the images of the density CNNs at the paper's scale: levels 200-1199 at 100 x 100, g = 100, 8 basis states
    # per level (see IMAGE_MIN_G, IMAGE_MIN_BASIS_FACTOR).
    # paper-cnn: the four training mass ratios (what the shipped checkpoints saw; a few minutes on 2 cores)
    "paper-cnn": TwobodyConfig(etas=_TRAIN_ETAS, g=100.0, levels=1200, window=(200, 1199), image_size=100,
                               basis_factor=8.0),
    # paper-scan: the paper's eta grid with the same images, for accuracy / confidence against eta (Figs. 12-13);
    # from eta = 0.03: below it 100 x 100 pixels alias the heavy atom's nodes at level 1199 (Nyquist limit)
    "paper-scan": TwobodyConfig(etas=tuple(_paper_grid(0.03)), g=100.0, levels=1200, window=(200, 1199),
                                image_size=100, basis_factor=8.0, scheme="effective", spectrum_basis_factor=2.0),
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
        N_values: explicit dimensions (multiples of 3), replacing the N0 / K grid when not empty (large-N presets).
        sample: 0 (default): all N resonances per point by dense diagonalization; m > 0 (even): the large-N path
            (``generation.tribaker.generate.compute_sampled_point``): m resonances sampled uniformly in |z|-rank
            without eigenvectors of the others, all published (the m/2 lowest-mu labelled localized).
        leading: with ``sample``: the k longest-lived (Arnoldi) and the k natural-decay resonances compared with
            the classical measure.
        bins: with ``sample``: M of the M x M classical grid (a multiple of 3).

    ``N_values``, ``sample``, ``leading`` and ``bins`` enter ``to_dict()`` (and the store's config hash) only when
    ``sample > 0``, so the dense presets keep their stores.
    """

    N0: int = 30
    K: int = 50
    reflectivities: tuple[float, ...] = (1.0, 0.2)
    per_side: int = 5
    image_size: int = 64
    min_abs_z: float = 0.0
    seed: int = 0
    N_values: tuple[int, ...] = ()
    sample: int = 0
    leading: int = 8
    bins: int = 27

    def __post_init__(self):
        from .tribaker.propagator import check_dimension, check_reflectivity

        check_dimension(self.N0)
        object.__setattr__(self, "N_values", tuple(sorted({check_dimension(n) for n in self.N_values})))
        if self.sample:
            self._check_sampled()
        object.__setattr__(self, "reflectivities",
                           tuple(sorted({check_reflectivity(r) for r in self.reflectivities}, reverse=True)))
        _distinct_keys(self.reflectivities, lambda r: self.point_key(self.N0, r), "R",
                       "reflectivities that differ in the first 4 decimals")
        if int(self.K) != self.K or self.K < 1:
            raise ParameterError(f"K = {self.K}: must be a positive integer (number of N values)")
        if int(self.per_side) != self.per_side or not 1 <= self.per_side <= self.N0 // 2:
            raise ParameterError(f"per_side = {self.per_side}: must be an integer in [1, N0/2 = {self.N0 // 2}]")
        if int(self.image_size) != self.image_size or not 8 <= self.image_size <= 512:
            raise ParameterError(f"image_size = {self.image_size}: must be an integer in [8, 512]")
        if 0.0 in self.reflectivities and self.min_abs_z <= 0:
            raise ParameterError("min_abs_z: R = 0 has N/3 exactly-zero resonances; set min_abs_z > 0 (e.g. 1e-3)")
        if not 0 <= self.min_abs_z < 1:
            raise ParameterError(f"min_abs_z = {self.min_abs_z}: must be in [0, 1)")
        self._check_sizes()

    def _check_sizes(self) -> None:
        """Bounds from sense and memory, before anything is allocated (:func:`check_memory`)."""
        n_dims = len(self.N_values) if self.N_values else int(self.K)  # counted, not listed (K may be huge)
        n_points = n_dims * len(self.reflectivities)
        if n_points > MAX_POINTS:
            raise ParameterError(f"K = {n_dims}: {n_points} points ({n_dims} N x {len(self.reflectivities)} "
                                 f"reflectivities), at most {MAX_POINTS} per sweep")
        dims = self.dimensions
        if not isinstance(self.seed, (int, np.integer)) or isinstance(self.seed, bool) or not 0 <= self.seed < 2**32:
            raise ParameterError(f"seed = {self.seed!r}: must be an integer in [0, 2**32)")
        n_max = max(dims)
        if self.sample:  # two parity blocks of ~N/2 (Hessenberg + inverse iteration) and the 64 MiB LR chunks
            estimate = 4 * 16.0 * (n_max / 2) ** 2 + 2.0**26 + 4.0 * self.sample * self.image_size ** 2
        else:  # dense complex propagator, right and left eigenvectors, LAPACK work space: ~10 N x N matrices
            estimate = 10 * 16.0 * n_max ** 2 + 4.0 * 2 * self.per_side * self.image_size ** 2
        where = f"N_max = {n_max}" if self.N_values else f"N_max = N0 + 3 (K - 1) = {n_max}"
        check_memory(estimate, where, "--N0 or --K")

    def _check_sampled(self) -> None:
        n_min = min(self.dimensions)
        if int(self.sample) != self.sample or self.sample < 2 or self.sample % 2:
            raise ParameterError(f"sample = {self.sample}: must be an even integer >= 2 (0: the dense path; per N "
                             "min(sample, N) rounded down to even)")
        if int(self.leading) != self.leading or not 1 <= self.leading <= n_min - 2:
            raise ParameterError(f"leading = {self.leading}: must be an integer in [1, min N - 2 = {n_min - 2}]")
        if int(self.bins) != self.bins or self.bins < 3 or self.bins % 3 or self.bins > n_min:
            raise ParameterError(f"bins = {self.bins}: must be a multiple of 3 in [3, min N = {n_min}]")
        if 0.0 in self.reflectivities:
            raise ParameterError("reflectivities: R = 0 is not supported with sample > 0 (defective zero eigenvalue)")

    @property
    def dimensions(self) -> list[int]:
        if self.N_values:
            return list(self.N_values)
        return [self.N0 + 3 * k for k in range(self.K)]

    def to_dict(self) -> dict:
        d = dataclasses.asdict(self)
        d["reflectivities"] = list(self.reflectivities)
        if self.sample:
            d["N_values"] = list(self.N_values)
        else:
            for key in ("N_values", "sample", "leading", "bins"):
                d.pop(key)
        return d

    def point_key(self, N: int, R: float) -> str:
        return f"R{R:.4f}_N{N:05d}"

    def points(self) -> dict[str, dict]:
        extra = {"sample": self.sample, "leading": self.leading, "bins": self.bins} if self.sample else {}
        return {self.point_key(N, R): {"N": N, "R": R, "per_side": self.sample // 2 if self.sample else self.per_side,
                                       "image_size": self.image_size, "min_abs_z": self.min_abs_z, "seed": self.seed,
                                       **extra}
                for R in self.reflectivities for N in self.dimensions}


LARGE_N_GRID = (30, 48, 78, 120, 192, 300, 480, 768, 1200, 1920, 3000, 4200, 6000)
"""Dimensions of the large-N presets: the trained range (N <= 177), then roughly x 1.6 per step up to 6000."""

TRIBAKER_PRESETS: dict[str, TribakerConfig] = {
    # well under a minute on 2 cores; N = 30..117, 600 states (the size docs/tribaker.md §9 found to train to 100%)
    "mini": TribakerConfig(N0=30, K=30, per_side=5, image_size=32),
    # the paper's scale: N = 30..177 (K = 50), 5 + 5 states per N, closed and open
    "paper": TribakerConfig(N0=30, K=50, per_side=5, image_size=64),
    # past the paper: large-N corpus without full eigendecompositions (docs/tribaker.md §12); 200 rank-uniform
    # resonances per (N, R) with LR images, N from the trained range up to 6000 (N = 3000: 3.3-5.5 min, 0.4 GB on one
    # loaded core; N = 6000 extrapolates to ~15-45 min, < 2 GB; benchmarks/tribaker.py tribaker_largen_point). The
    # localization-vs-n experiment reads its paper points from this store, so the corpus is what the report shows.
    "largeN": TribakerConfig(N0=30, N_values=LARGE_N_GRID, per_side=5, image_size=64, sample=200, leading=8,
                             bins=27),
    # the same at the mini scale (N <= 1920, 100 resonances per point; about 2 minutes on 2 cores)
    "largeN-mini": TribakerConfig(N0=30, N_values=LARGE_N_GRID[:10], per_side=5, image_size=32, sample=100,
                                  leading=8, bins=27),
}

PRESETS = {"twobody": TWOBODY_PRESETS, "tribaker": TRIBAKER_PRESETS}


def get_preset(system: str, preset: str):
    """The config of a named preset; ``ValueError`` listing the choices otherwise."""
    if system not in PRESETS:
        raise ParameterError(f"system = {system!r}: must be one of {sorted(PRESETS)}")
    if preset not in PRESETS[system]:
        raise ParameterError(f"preset = {preset!r}: must be one of {sorted(PRESETS[system])}")
    return PRESETS[system][preset]


def override(config, **changes):
    """A copy of ``config`` with the non-None ``changes`` applied (validated again)."""
    return dataclasses.replace(config, **{k: v for k, v in changes.items() if v is not None})
