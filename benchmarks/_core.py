"""Registry, timing helpers and machine description shared by all benchmark families.

A family module (``benchmarks/<family>.py``) registers its benchmarks with :func:`register`; every module of the
package whose name does not start with ``_`` is imported by :func:`load_families`, so a new family is one new file.

A benchmark is a function ``fn(ctx: Context) -> dict`` that returns :func:`comparison` (one entry of the results
JSON). Rules (see ``benchmarks/README.md``): a speed-up is a *ratio* of a baseline and a candidate measured in the
same run on the same machine, sides are run alternately (:func:`interleave`), short things are timed best-of-n with
a warm-up, both sides use the same BLAS threads.
"""

from __future__ import annotations

import ctypes
import datetime as _dt
import importlib
import os
import pkgutil
import platform
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from qchaos.scales import USER_SCALES

PRESETS = USER_SCALES
"""The benchmark sizes, one per user scale (:data:`qchaos.scales.USER_SCALES`)."""


@dataclass(frozen=True)
class Benchmark:
    """One registered benchmark: ``name`` (unique, used by ``--only``), its ``family`` (module) and a summary."""

    name: str
    family: str
    summary: str
    fn: Callable[["Context"], dict]


_REGISTRY: dict[str, Benchmark] = {}


def register(name: str, family: str, summary: str):
    """Decorator registering ``fn(ctx) -> dict`` as benchmark ``name``."""

    def deco(fn):
        if name in _REGISTRY and _REGISTRY[name].fn is not fn:
            raise ValueError(f"benchmark {name!r} is registered twice ({_REGISTRY[name].family} and {family})")
        _REGISTRY[name] = Benchmark(name, family, summary, fn)
        return fn

    return deco


def registry() -> dict[str, Benchmark]:
    """All registered benchmarks, in registration order (call :func:`load_families` first)."""
    return dict(_REGISTRY)


def load_families() -> dict[str, str]:
    """Import every family module of the package; returns ``{module: error}`` for those that failed to import."""
    import benchmarks

    errors = {}
    for info in sorted(pkgutil.iter_modules(benchmarks.__path__), key=lambda i: i.name):
        if info.name.startswith("_") or info.ispkg:
            continue
        try:
            importlib.import_module(f"benchmarks.{info.name}")
        except Exception as exc:  # noqa: BLE001 - one broken family must not hide the others
            errors[info.name] = f"{type(exc).__name__}: {exc}"
    return errors


@dataclass
class Context:
    """What a benchmark gets: the preset, the ``--full`` flag and a logger (progress lines go to stderr)."""

    preset: str
    full: bool = False
    verbose: bool = True
    extra: dict = field(default_factory=dict)

    def log(self, msg: str) -> None:
        if self.verbose:
            print(f"  [{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# -- timing ------------------------------------------------------------------------------------------------------
def timed(fn: Callable[[], object]) -> tuple[float, object]:
    """``(seconds, result)`` of one call, by ``time.perf_counter``."""
    t0 = time.perf_counter()
    out = fn()
    return time.perf_counter() - t0, out


def interleave(baseline: Callable[[], object], candidate: Callable[[], object], rounds_baseline: int = 1,
               rounds_candidate: int = 1, log: Callable[[str], None] | None = None) -> dict:
    """Time the two sides alternately.

    Round i runs B then C (i even) or C then B (i odd), each side only while it has rounds left (so 2 baseline
    rounds and 1 candidate round run B, C, B).

    Alternating spreads slow drifts of the machine load over both sides. Returns
    ``{"baseline": [seconds...], "candidate": [seconds...], "baseline_result": ..., "candidate_result": ...}``
    (the results of the last call of each side).
    """
    out = {"baseline": [], "candidate": [], "baseline_result": None, "candidate_result": None}
    sides = {"baseline": (baseline, rounds_baseline), "candidate": (candidate, rounds_candidate)}
    for i in range(max(rounds_baseline, rounds_candidate)):
        order = ("baseline", "candidate") if i % 2 == 0 else ("candidate", "baseline")
        for side in order:
            fn, rounds = sides[side]
            if i < rounds:
                t, res = timed(fn)
                out[side].append(t)
                out[f"{side}_result"] = res
                if log:
                    log(f"{side} round {i + 1}/{rounds}: {t:.3f} s")
    return out


def side(label: str, runs: list[float], scale: float = 1.0, note: str | None = None) -> dict:
    """One side of a comparison: best of ``runs`` (times ``scale``, e.g. per-state extrapolation of a subset)."""
    entry = {"label": label, "seconds": min(runs) * scale, "runs": [round(r, 6) for r in runs],
             "best_of": len(runs)}
    if scale != 1.0:
        entry["scale"] = scale
    if note:
        entry["note"] = note
    return entry


def comparison(*, compared: str, baseline: dict, candidate: dict, target_ratio: float | None,
               accuracy: dict | None = None, accuracy_met: bool | None = None, accuracy_summary: dict | None = None,
               params: dict | None = None,
               notes: list[str] | None = None, extra: dict | None = None) -> dict:
    """One results entry: ``ratio = baseline seconds / candidate seconds`` against ``target_ratio``.

    ``accuracy`` holds every accuracy number, ``accuracy_summary`` the one or two shown in the printed table.
    """
    ratio = baseline["seconds"] / candidate["seconds"] if candidate["seconds"] > 0 else float("inf")
    entry = {
        "compared": compared,
        "baseline": baseline,
        "candidate": candidate,
        "ratio": ratio,
        "target": {"min_ratio": target_ratio},
        "target_met": None if target_ratio is None else bool(ratio >= target_ratio),
        "accuracy": accuracy or {},
        "accuracy_met": accuracy_met,
        "accuracy_summary": accuracy_summary or {},
        "params": params or {},
        "notes": notes or [],
    }
    if extra:
        entry.update(extra)
    return entry


# -- machine -----------------------------------------------------------------------------------------------------
def blas_threads() -> dict:
    """Threads of each OpenBLAS loaded in this process (numpy's and scipy's wheels bundle their own).

    Read through their ``*_get_num_threads`` symbols; empty where none can be read.
    """
    out = {}
    try:
        with open("/proc/self/maps") as fh:
            libs = sorted({line.split()[-1] for line in fh if "openblas" in line.lower() and "/" in line})
    except OSError:
        return out
    for path in libs:
        try:
            lib = ctypes.CDLL(path)
        except OSError:
            continue
        for sym in ("scipy_openblas_get_num_threads64_", "scipy_openblas_get_num_threads",
                    "openblas_get_num_threads64_", "openblas_get_num_threads"):
            fn = getattr(lib, sym, None)
            if fn is not None:
                out[os.path.basename(path)] = int(fn())
                break
    return out


def machine_info() -> dict:
    """CPU, memory, library versions, BLAS threads and the load, recorded with every results file."""
    import numpy
    import scipy
    import scipy.linalg  # noqa: F401 - loads scipy's own OpenBLAS so that its threads are read too

    info = {
        "hostname": platform.node(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "cpu_count": os.cpu_count(),
        "cpu_model": _cpu_model(),
        "numpy": numpy.__version__,
        "scipy": scipy.__version__,
        "blas_threads": blas_threads(),
        "thread_env": {k: os.environ[k] for k in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS")
                       if k in os.environ},
        "loadavg": [round(x, 2) for x in os.getloadavg()],
    }
    try:
        info["memory_gib"] = round(os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30, 1)
    except (ValueError, OSError):
        pass
    for mod in ("dask", "distributed", "zarr", "torch"):
        try:
            info[mod] = importlib.import_module(mod).__version__
        except Exception:  # noqa: BLE001 - optional
            pass
    return info


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


def code_fingerprint(packages=("generation", "modeling", "evaluation", "qchaos", "benchmarks")) -> str:
    """sha256 (16 hex digits) of every ``*.py`` of the project's packages.

    Recorded before and after each benchmark, so results taken while the code was being edited are flagged (no git
    needed).
    """
    import hashlib
    from pathlib import Path

    root = Path(__file__).resolve().parent.parent
    h = hashlib.sha256()
    for pkg in packages:
        for path in sorted((root / pkg).rglob("*.py")):
            try:
                h.update(str(path.relative_to(root)).encode() + b"\0" + path.read_bytes() + b"\0")
            except OSError:
                continue
    return h.hexdigest()[:16]


def now() -> str:
    return _dt.datetime.now(_dt.timezone.utc).astimezone().isoformat(timespec="seconds")
