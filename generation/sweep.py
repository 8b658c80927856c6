"""Parameter sweeps on Dask distributed, resumable, one task per parameter point.

Each task computes one point with a module-level function ``task(params) -> PointResult`` and writes it into its
own Zarr group (:meth:`generation.store.PointStore.write_point`), so workers never share chunks. Points already
complete in the store are skipped: a killed sweep rerun with the same config finishes the missing points only and
produces the same store as an uninterrupted run.

Schedulers: ``workers=0`` runs in this process (no Dask; debugging); otherwise a ``LocalCluster`` of ``workers``
single-threaded processes (BLAS pinned to one thread each by Dask's nanny), or an existing cluster given by
``scheduler="tcp://host:8786"`` (its workers must see the store path).
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from .store import PointResult, PointStore


@dataclass
class SweepReport:
    """Outcome of :func:`run_sweep`: keys computed now, skipped (already complete) and failed (with errors)."""

    computed: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    failed: dict[str, str] = field(default_factory=dict)
    damaged: dict[str, list[str]] = field(default_factory=dict)  # complete points that failed verification (redone)
    unverified: list[str] = field(default_factory=list)  # complete points without digests (older stores), kept
    seconds: float = 0.0


def _compute_and_write(store: PointStore, key: str, params: dict, task: Callable[[dict], PointResult],
                       replace: bool = False) -> str:
    store.write_point(key, task(params), params=params, replace=replace)
    return key


def check_points(store: PointStore, points: dict[str, dict], progress: bool = False) -> dict[str, tuple]:
    """``{key: (status, problems)}`` of :meth:`PointStore.verify_point` for every point of ``points``."""
    out = {}
    for key in tqdm(points, desc="verify", unit="pt", disable=not progress or not points, leave=False):
        out[key] = store.verify_point(key, points[key])
    return out


_NOT_ATTEMPTED = "not attempted: the disk is full (free space, then rerun)"


def _disk_full(exc: BaseException) -> bool:
    import errno

    return isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT)


_OPENBLAS_THREADS = ("openblas_{}_num_threads", "scipy_openblas_{}_num_threads", "scipy_openblas_{}_num_threads64_")


@contextmanager
def _single_threaded_blas():
    """Limit every loaded OpenBLAS to one thread, as Dask's nanny does for its workers (``OPENBLAS_NUM_THREADS=1``).

    The BLAS thread count changes the rounding of LAPACK results (and with it eigenvector signs chosen from
    near-ties), so in-process points must use the same count to be bit-identical to points computed on workers.
    Linux only (``/proc/self/maps``); elsewhere nothing is changed.
    """
    import numpy  # noqa: F401 - load the BLAS libraries the tasks use before pinning them
    import scipy.linalg  # noqa: F401

    restore = []
    try:
        with open("/proc/self/maps") as maps:
            paths = sorted({line.split()[-1] for line in maps if "openblas" in line.split()[-1].lower()})
    except OSError:
        paths = []
    for path in paths:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for name in _OPENBLAS_THREADS:
            get, put = (getattr(lib, name.format(verb), None) for verb in ("get", "set"))
            if get is not None and put is not None:
                get.restype = ctypes.c_int
                restore.append((put, get()))
                put(ctypes.c_int(1))
                break
    try:
        yield
    finally:
        for put, threads in restore:
            put(ctypes.c_int(threads))


def default_workers() -> int:
    return max(1, min(os.cpu_count() or 1, 8))


def run_sweep(store: PointStore, points: dict[str, dict], task: Callable[[dict], PointResult], *,
              workers: int | None = None, scheduler: str | None = None, progress: bool = True,
              desc: str = "points") -> SweepReport:
    """Compute every point of ``points`` (key -> parameters) that the store does not hold complete yet.

    Holds the store's writer lock (a second sweep on the same store is refused). Complete points are verified
    first (digests, shapes, parameters); damaged ones are reported in ``SweepReport.damaged`` and recomputed.
    Raises ``RuntimeError`` after the sweep if any point failed (the others are written and kept).
    """
    from qchaos.errors import ParameterError

    if workers is not None and (int(workers) != workers or workers < 0):
        raise ParameterError(f"workers = {workers}: must be an integer >= 0 (0 = in-process)")
    with store.writing():
        return _run_sweep(store, points, task, workers=workers, scheduler=scheduler, progress=progress, desc=desc)


def _run_sweep(store, points, task, *, workers, scheduler, progress, desc) -> SweepReport:
    start = time.perf_counter()
    status = check_points(store, points, progress)
    report = SweepReport(skipped=[k for k in points if status[k][0] in ("ok", "unverified")],
                         damaged={k: status[k][1] for k in points if status[k][0] == "damaged"},
                         unverified=[k for k in points if status[k][0] == "unverified"])
    pending = [k for k in points if k not in set(report.skipped)]
    replace = set(report.damaged)
    bar = tqdm(total=len(points), initial=len(report.skipped), desc=desc, unit="pt", disable=not progress)
    if not pending:
        bar.close()
        report.seconds = time.perf_counter() - start
        return report
    if workers == 0 and scheduler is None:
        with _single_threaded_blas():  # the same results as on Dask workers, bit for bit
            for i, key in enumerate(pending):
                try:
                    _compute_and_write(store, key, points[key], task, key in replace)
                    report.computed.append(key)
                except Exception as exc:  # noqa: BLE001 - reported below, other points go on
                    report.failed[key] = f"{type(exc).__name__}: {exc}"
                    if _disk_full(exc):  # every later point would fail the same way: stop now
                        report.failed.update({k: _NOT_ATTEMPTED for k in pending[i + 1:]})
                        break
                bar.update()
    else:
        from dask.distributed import Client, LocalCluster, as_completed

        cluster = None
        if scheduler is None:
            cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                                   dashboard_address=None, silence_logs=40)
        client = Client(scheduler or cluster)
        try:
            futures = {client.submit(_compute_and_write, store, key, points[key], task, key in replace,
                                     key=f"point-{key}-{store.path.name}", pure=False): key for key in pending}
            for fut in as_completed(futures):
                key = futures[fut]
                try:
                    fut.result()
                    report.computed.append(key)
                except Exception as exc:  # noqa: BLE001
                    report.failed[key] = f"{type(exc).__name__}: {exc}"
                    if _disk_full(exc):
                        rest = [f for f in futures if not f.done()]
                        client.cancel(rest)
                        report.failed.update({futures[f]: _NOT_ATTEMPTED for f in rest})
                        break
                bar.update()
        finally:
            client.close()
            if cluster is not None:
                cluster.close()
    bar.close()
    report.seconds = time.perf_counter() - start
    if report.failed:
        lines = "\n".join(f"  {k}: {v}" for k, v in sorted(report.failed.items()))
        raise RuntimeError(f"{len(report.failed)} of {len(points)} points failed (the others are saved; rerun to "
                           f"retry only the missing ones):\n{lines}")
    return report
