"""Parameter sweeps on Dask distributed, resumable, one task per parameter point.

Each task computes one point with a module-level function ``task(params) -> PointResult`` and writes it into its
own Zarr group (:meth:`generation.store.PointStore.write_point`), so workers never share chunks. Points already
complete in the store are skipped: a killed sweep rerun with the same config finishes the missing points only and
produces the same store as an uninterrupted run.

Schedulers (:func:`connect`), as Dask users expect: an existing cluster given by ``scheduler="tcp://host:8786"``
or by a scheduler file (``scheduler_file=``, what ``dask scheduler --scheduler-file`` and HPC launchers such as
dask-jobqueue / dask-mpi write); without either, the address in Dask's config (``DASK_SCHEDULER_ADDRESS`` or
``scheduler-address`` in a config file) is honoured; only then ``workers=0`` runs in this process (no Dask;
debugging) or a ``LocalCluster`` of ``workers`` single-threaded processes (BLAS pinned to one thread each by Dask's
nanny) is started. The workers of an existing cluster must see the store path. Task keys carry a digest of the
store's resolved path and config hash, so concurrent sweeps on one cluster into stores with the same file name
never share keys (Dask would hand the second sweep the first one's results).
"""

from __future__ import annotations

import ctypes
import os
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import dataclass, field

from tqdm.auto import tqdm

from qchaos.errors import EnvironmentFault, NotFoundError, ParameterError

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


def check_points(store: PointStore, points: dict[str, dict], progress: bool = False,
                 required: Callable[[dict], dict] | None = None) -> dict[str, tuple]:
    """Check every point of ``points``: ``{key: (status, problems)}`` of :meth:`PointStore.verify_point`.

    ``required(params)``: the arrays a complete point must hold (``System.required_arrays``).
    """
    out = {}
    for key in tqdm(points, desc="verify", unit="pt", disable=not progress or not points, leave=False):
        params = points[key]
        out[key] = store.verify_point(key, params, required(params) if required is not None else None)
    return out


_NOT_ATTEMPTED = "not attempted: the disk is full (free space, then rerun)"


def _disk_full(exc: BaseException) -> bool:
    from qchaos.atomic import disk_full

    return disk_full(exc)


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


def scheduler_address(scheduler: str | None = None, scheduler_file: str | os.PathLike | None = None) -> str | None:
    """The address of the cluster a sweep uses, or ``None``.

    ``scheduler``, else the address in ``scheduler_file`` (a Dask scheduler file, JSON with ``"address"``), else
    Dask's ``scheduler-address`` config (``DASK_SCHEDULER_ADDRESS``), else ``None`` (no cluster given: in-process or
    a local cluster). :class:`NotFoundError` for a missing or unreadable scheduler file (named).
    """
    if scheduler:
        return str(scheduler)
    if scheduler_file:
        import json

        path = os.fspath(scheduler_file)
        try:
            with open(path, encoding="utf-8") as fh:
                address = json.load(fh)["address"]
        except FileNotFoundError as exc:
            raise NotFoundError(f"--scheduler-file = {path}: no such file; start the scheduler with "
                                f"`dask scheduler --scheduler-file {path}` first (the workers must see it too)") from exc
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise NotFoundError(f"--scheduler-file = {path}: not a Dask scheduler file with an 'address' "
                                f"({type(exc).__name__}: {exc})") from exc
        return str(address)
    import dask

    return dask.config.get("scheduler-address", None) or None


def task_key(store: PointStore, key: str) -> str:
    """The Dask key of point ``key`` of ``store``.

    Unique per store (resolved path and config hash), so two sweeps on one cluster never collide, and the same on
    every rerun of one store.
    """
    import hashlib

    from .store import config_hash

    ident = f"{store.path.resolve()}|{config_hash(store.config)}".encode()
    return f"point-{key}-{store.path.name}-{hashlib.sha256(ident).hexdigest()[:16]}"


def _client(address: str | None, workers: int | None):
    """A Dask client of ``address`` (or of a new local cluster): (``Client``, the ``LocalCluster`` started or None).

    :class:`EnvironmentFault` naming the address when a scheduler does not answer within Dask's
    ``distributed.comm.timeouts.connect``.
    """
    import dask
    from dask.distributed import Client, LocalCluster

    if address is None:
        cluster = LocalCluster(n_workers=workers or default_workers(), threads_per_worker=1, processes=True,
                               dashboard_address=None, silence_logs=40)
        return Client(cluster), cluster
    timeout = dask.config.get("distributed.comm.timeouts.connect")
    try:
        return Client(address, timeout=timeout), None
    except (OSError, TimeoutError, ValueError) as exc:
        raise EnvironmentFault(f"scheduler {address}: does not answer within {timeout} ({type(exc).__name__}: "
                               f"{exc}); start it (`dask scheduler`), check the address / --scheduler-file / "
                               "DASK_SCHEDULER_ADDRESS, or drop them for a local cluster") from exc


def run_sweep(store: PointStore, points: dict[str, dict], task: Callable[[dict], PointResult], *,
              workers: int | None = None, scheduler: str | None = None, scheduler_file=None, progress: bool = True,
              desc: str = "points", cost: Callable[[dict], float] | None = None,
              required: Callable[[dict], dict] | None = None) -> SweepReport:
    """Compute every point of ``points`` (key -> parameters) that the store does not hold complete yet.

    The cluster: ``scheduler`` (address), ``scheduler_file``, ``DASK_SCHEDULER_ADDRESS``, else in-process
    (``workers=0``) or a local cluster of ``workers`` processes (:func:`scheduler_address`).

    Holds the store's writer lock (a second sweep on the same store is refused). Complete points are verified
    first (digests, shapes, parameters); damaged ones are reported in ``SweepReport.damaged`` and recomputed.
    Raises ``RuntimeError`` after the sweep if any point failed (the others are written and kept).

    ``cost(params)``: a relative cost estimate per point (``System.cost``); on a cluster the costliest points start
    first (Dask task priorities), so the largest ones do not run alone at the end. The results do not depend on it.
    ``required(params)``: the arrays a complete point must hold (``System.required_arrays``); a complete point
    without them counts as damaged and is recomputed.
    """
    if workers is not None and (int(workers) != workers or workers < 0):
        raise ParameterError(f"workers = {workers}: must be an integer >= 0 (0 = in-process)")
    with store.writing():
        return _run_sweep(store, points, task, workers=workers, scheduler=scheduler, scheduler_file=scheduler_file,
                          progress=progress, desc=desc, cost=cost, required=required)


def _run_sweep(store, points, task, *, workers, scheduler, scheduler_file, progress, desc, cost,
               required) -> SweepReport:
    start = time.perf_counter()
    status = check_points(store, points, progress, required)
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
    address = scheduler_address(scheduler, scheduler_file) if (scheduler or scheduler_file or workers != 0) \
        else None
    if workers == 0 and address is None:
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
        from dask.distributed import as_completed

        client, cluster = _client(address, workers)
        try:
            order = sorted(pending, key=lambda k: -cost(points[k])) if cost is not None else pending
            futures = {client.submit(_compute_and_write, store, key, points[key], task, key in replace,
                                     key=task_key(store, key), pure=False, priority=len(order) - i): key
                       for i, key in enumerate(order)}
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
        raise RuntimeError(f"out = {store.path}: {len(report.failed)} of {len(points)} points failed (the others are "
                           f"saved; rerun to retry only the missing ones):\n{lines}")
    return report
