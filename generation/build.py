"""Build a dataset's Zarr store: the one Python entry point behind ``qchaos generate``.

:func:`build` turns ``(system, preset, overrides)`` into a validated config, opens (or resumes) its store and runs
the resumable Dask sweep over the config's parameter points. The CLI only parses flags into ``overrides``; the
evaluation's resources and the tests call :func:`build` directly.

Example
-------
>>> from generation.build import build                                   # doctest: +SKIP
>>> result = build("twobody", "mini", overrides={"etas": (0.5, 1.0)}, workers=0)
>>> result.store, len(result.report.computed)
(PosixPath('data/twobody-custom-1a2b3c4d.zarr'), 2)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from .presets import override
from .store import PointStore, config_hash
from .sweep import SweepReport, run_sweep
from .systems import get_system


@dataclass
class BuildResult:
    """What :func:`build` made: the store path, the config it holds, and the sweep's report."""

    store: Path
    config: object
    preset: str  # the preset name recorded in the store (``<preset>+custom`` when overridden)
    custom: bool
    points: int
    report: SweepReport


def store_path(system: str, preset: str, config, base) -> Path:
    """The default store folder of a build.

    ``data/<system>-<preset>.zarr``, or ``data/<system>-custom-<hash>.zarr`` (first 8 hex digits of the config hash)
    when ``config`` differs from the preset's ``base``.
    """
    if config != base:
        return Path("data") / f"{system}-custom-{config_hash(config.to_dict())[:8]}.zarr"
    return Path("data") / f"{system}-{preset}.zarr"


def resolve_config(system: str, preset: str = "mini", overrides: dict | None = None):
    """The preset's config with the non-None ``overrides`` applied and validated; returns ``(config, base)``."""
    base = get_system(system).preset(preset)
    return override(base, **(overrides or {})), base


def build(system: str, preset: str = "mini", *, overrides: dict | None = None, out: str | Path | None = None,
          workers: int | None = None, scheduler: str | None = None, scheduler_file: str | Path | None = None,
          progress: bool = True, on_start=None) -> BuildResult:
    """Generate (or resume) the store of ``system`` at ``preset`` with ``overrides``.

    Parameters
    ----------
    system : str
        A name of :data:`generation.systems.SYSTEMS` (``"twobody"``, ``"tribaker"``).
    preset : str
        One of the system's presets (``System.presets``).
    overrides : dict, optional
        Config fields to change (None values are ignored); the config is validated again.
    out : path, optional
        The Zarr store (default :func:`store_path`).
    workers, scheduler, scheduler_file
        The Dask cluster (see :func:`generation.sweep.run_sweep`); ``workers=0`` runs in-process.
    progress : bool
        tqdm bars over the points.
    on_start : callable, optional
        Called as ``on_start(result)`` once the store is open and before the sweep (the CLI prints its header).

    Returns
    -------
    BuildResult
        Finished points are kept across runs: a rerun computes only the missing or damaged ones.
    """
    config, base = resolve_config(system, preset, overrides)
    system_obj = get_system(system)
    task = system_obj.task
    custom = config != base
    path = Path(out) if out is not None else store_path(system, preset, config, base)
    recorded = preset if not custom else f"{preset}+custom"
    store = PointStore.open(path, system, recorded, config.to_dict())
    points = config.points()
    result = BuildResult(store=path, config=config, preset=recorded, custom=custom, points=len(points),
                         report=SweepReport())
    if on_start is not None:
        on_start(result)
    result.report = run_sweep(store, points, task, workers=workers, scheduler=scheduler,
                              scheduler_file=scheduler_file, progress=progress, desc=system, cost=system_obj.cost,
                              required=system_obj.required_arrays)
    return result
