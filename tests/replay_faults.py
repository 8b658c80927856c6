"""Replay the fault cases of a fault-injection findings file on the current code and classify each outcome A / B / C.

``python tests/replay_faults.py [FINDINGS.md] [--work DIR] [--only 1a,2b,...] [--json PATH] [--no-tmpfs]``

Not a test module (pytest collects ``test_*.py`` only): a measuring tool for the issue's closing note, in the spirit
of ``tests/replay_findings.py``. ``../shared/findings/faults-2026-11-26.md`` injected 121 faults into a fresh clone
of an older commit; this tool re-runs every one of them, grouped as the findings group them, at the findings' small
sizes (the standard sweep ``qchaos generate twobody --eta 0.2,0.3,0.4,0.5,0.6,0.7 --levels 200 --window 10 109
--image-size 32``, plus ``--rough-images``: the image-quality rule came after the findings):

* **1a** generate kills (33): black-box SIGKILLs of the process group at four moments of a sweep, four kills
  triggered by the appearance of point eta=0.4's group, two kills of a ``--workers 2`` LocalCluster sweep, a kill of
  the main PID only of a 12-point ``--workers 2`` sweep (orphans?), and 22 kills at the N-th zarr ``_put`` (half of
  the bytes left in a ``*.partial`` file, as the findings' ``crashat.py``): 9 stages of point eta=0.3, 7 metadata
  (``zarr.json``) writes, 6 points of the store-creation window;
* **1b** publish kills (17): a first publish and a republish over an older 4-point version, killed at the shard
  writes, the shard renames, the card / manifest writes (half the text written), each step of the swap of the old
  version by the new one (``rmtree`` with half of the files deleted too), and four black-box kills;
* **1c** train kills (12): black-box kills mid-epoch, kills in the per-epoch log writes, a real kill of a large
  safetensors write, a truncated weights file, half-written ``config.json`` / ``qchaos.json`` / ``README.md``;
* **1d** evaluate kills (3): a subset run and two "all" runs killed during an experiment (the findings' E1-E3);
* **2** corruption of every file kind (30): store shards (7), store metadata (7), parquet shards (6), model files
  (10);
* **3** concurrency (18): two ``generate`` on one store (4), two ``publish`` of one repo at staggers 0-0.9 s (10),
  ``publish --allow-partial`` while ``generate`` writes (3), two sweeps on one Dask cluster into stores with the
  same file name (1, the findings' 3d / §5);
* **4** full disk (6): a tmpfs (``mount -t tmpfs``, root needed) sized so the data fits once, or not at all;
* **5** Dask worker kills (2): a worker process, then a whole worker process group, killed mid-sweep on a real
  loopback cluster (``dask scheduler`` / ``dask worker``).

Kill points are those of today's write sequence: the findings counted the calls of the old code (e.g. ``crashat.py
84``); each case here names the call it kills at now (e.g. ``_put #55 .staging/eta0.3.../spectrum/energy/c/0``).
Kills are real SIGKILLs (of a forked child that runs the CLI in-process, with a hook on the write function, as
``tests/_harness.py`` does, or of a ``python -m qchaos`` process group for the black-box cases), so no ``finally``
block runs.

After each fault the documented recovery runs: a plain rerun of the same command (for a full disk: after freeing
space; for corruption: the command that wrote the damaged file). Then the result is compared with a reference made
by an uninterrupted run: byte-identical files (per-file sha256) of the store, repo or checkpoint; ``qchaos verify``;
the repo loaded through ``qchaos.hub.load`` and through plain ``datasets.load_dataset`` (fresh caches), the
checkpoint through ``HubModel.from_pretrained``; the state between fault and rerun is checked too (old or new
version complete, nothing served silently wrong, no previously complete data lost). The classes (the findings'):

* **A**: survived: nothing lost, nothing served wrong, and the state was consistent or the plain rerun restored
  the reference exactly (no stray files left);
* **B**: detected or refused, but manual action is needed (the rerun fails or is refused, a traceback instead of a
  clear error; for a full disk, an error that does not name the store, repo or checkpoint it could not write) or an
  inconsistency is left (stray files, the disk left full, files not identical, a report that disagrees with the
  results it shows); no data lost;
* **C**: data lost, or data silently wrong (served without an error by a loader, published, or certified).

Everything runs in the scratch folder ``--work`` (recreated; ``QCHAOS_HUB`` per case, ``HF_HUB_OFFLINE=1``,
``HF_HOME`` inside it, one BLAS/OpenMP thread). Prints one line per case and a summary per group; ``--json PATH``
writes the records. About 10 minutes of one core (the store groups dominate).
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import pickle
import re
import select
import shutil
import signal
import subprocess
import sys
import threading
import time
import traceback
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
FINDINGS = REPO.parent / "shared" / "findings" / "faults-2026-11-26.md"
PY = sys.executable
TMPFS = Path("/tmp/faults-tmpfs")
CHILD_LOG: list[Path] = []  # where children without a log of their own write (set by main)

ETAS6, ETAS12, ETAS_TB4 = "0.2,0.3,0.4,0.5,0.6,0.7", "0.2:0.75:0.05", "1/3,0.5,0.75,1"
SIZES = ["--levels", "200", "--window", "10", "109", "--image-size", "32", "--rough-images"]
KEY = "eta0.4000000000"  # the point the findings damage
GROUPS = ("1a", "1b", "1c", "1d", "2a", "2d", "2b", "2c", "3a", "3b", "3c", "3d", "4", "5")
FINDINGS_COUNTS = {  # the findings' summary table: faults, A, B, C
    "1a": (33, 27, 6, 0), "1b": (17, 15, 0, 2), "1c": (12, 8, 1, 3), "1d": (3, 0, 2, 1), "2a": (7, 0, 2, 5),
    "2d": (7, 1, 2, 4), "2b": (6, 0, 2, 4), "2c": (10, 2, 5, 3), "3a": (4, 2, 0, 2), "3b": (10, 7, 3, 0),
    "3c": (3, 3, 0, 0), "3d": (1, 0, 0, 1), "4": (6, 3, 3, 0), "5": (2, 2, 0, 0)}
TITLES = {"1a": "generate kills", "1b": "publish kills", "1c": "train kills", "1d": "evaluate kills",
          "2a": "store shards", "2d": "store metadata", "2b": "parquet shards", "2c": "model files",
          "3a": "concurrent generate", "3b": "concurrent publish", "3c": "generate || publish",
          "3d": "Dask name collision", "4": "disk full", "5": "Dask worker kills"}


def gen(etas: str, out, *extra) -> list[str]:
    return ["generate", "twobody", "--eta", etas, *SIZES, "--out", str(out), "--quiet", *extra]


def pub(store, *extra, repo: str = "qchaos/pub") -> list[str]:
    return ["publish", "twobody", "--store", str(store), "--repo-id", repo, "--quiet", *extra]


def train_args(log, epochs: int = 4, seed: int = 0) -> list[str]:
    return ["train", "density-cnn", "--dataset", "qchaos/tb4", "--epochs", str(epochs), "--seed", str(seed),
            "--repo-id", "qchaos/mt", "--log", str(log), "--quiet"]


# -- records -------------------------------------------------------------------------------------------------------
@dataclass
class Case:
    group: str
    id: str
    fault: str
    cls: str = ""  # A / B / C / skipped
    note: str = ""
    seconds: float = 0.0


@dataclass
class Run:
    rc: int | None  # exit status (CLI: main's return); None when killed
    killed: bool
    out: str = ""
    value: object = None
    seconds: float = 0.0
    left: int = 0  # processes left in the group after a kill of the main process only


class Ctx:
    """The scratch folder, the references and a log-file counter."""

    def __init__(self, work: Path, use_tmpfs: bool):
        self.work = work
        self.use_tmpfs = use_tmpfs
        self.refs = work / "refs"
        self.n = 0
        self.ref: dict = {}

    def log(self, tag: str) -> Path:
        self.n += 1
        (self.work / "logs").mkdir(exist_ok=True)
        return self.work / "logs" / f"{self.n:04d}-{re.sub(r'[^A-Za-z0-9_.-]', '_', tag)[:60]}.log"

    def case_dir(self, group: str, cid: str) -> Path:
        d = self.work / group / re.sub(r"[^A-Za-z0-9_.-]", "_", cid)
        if d.exists():
            shutil.rmtree(d)
        d.mkdir(parents=True)
        return d


# -- processes -----------------------------------------------------------------------------------------------------
def _die() -> None:
    with contextlib.suppress(Exception):
        sys.stdout.flush()
        sys.stderr.flush()
    os.kill(os.getpid(), signal.SIGKILL)


def fork(fn, *, hooks=(), env: dict | None = None, log: Path | None = None, kill_after: float | None = None,
         exit_with_value: bool = False) -> Run:
    """Run ``fn()`` in a forked child (its own process group; stdout/stderr to ``log``); its pickled return value
    comes back through a pipe. ``hooks`` are installed in the child first; ``kill_after``: SIGKILL the child's group
    after that many seconds (a black-box kill).
    """
    if log is None and CHILD_LOG:
        log = CHILD_LOG[0]
    r, w = os.pipe()
    start = time.perf_counter()
    pid = os.fork()
    if pid == 0:  # child
        code = 0
        try:
            os.close(r)
            os.setpgid(0, 0)
            if log is not None:
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.close(fd)
            os.environ.update(env or {})
            for install in hooks:
                install()
            value = fn()
            if exit_with_value:
                code = int(value)
        except BaseException as exc:  # noqa: BLE001 - reported through the pipe and the exit status
            traceback.print_exc()
            value, code = f"child raised {type(exc).__name__}: {exc}", 99
        try:
            try:
                data = pickle.dumps(value)
            except Exception as exc:  # noqa: BLE001
                data = pickle.dumps(f"unpicklable result ({exc})")
            sys.stdout.flush()
            sys.stderr.flush()
            view = memoryview(data)
            while view:
                view = view[os.write(w, view):]
        finally:
            os._exit(code)
    os.close(w)
    chunks, deadline = [], None if kill_after is None else start + kill_after
    while True:
        timeout = None if deadline is None else max(0.0, deadline - time.perf_counter())
        ready, _, _ = select.select([r], [], [], timeout)
        if ready:
            chunk = os.read(r, 1 << 16)
            if not chunk:
                break
            chunks.append(chunk)
        else:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(pid, signal.SIGKILL)
            deadline = None
    os.close(r)
    os.waitid(os.P_PID, pid, os.WEXITED | os.WNOWAIT)  # exited, not reaped yet: its group id is still its own
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pid, signal.SIGKILL)  # nothing the child started survives it
    _, status = os.waitpid(pid, 0)
    killed = os.WIFSIGNALED(status)
    value = pickle.loads(b"".join(chunks)) if chunks else None
    out = log.read_text(errors="replace") if log is not None and log.exists() else ""
    return Run(None if killed else os.WEXITSTATUS(status), killed, out, value, time.perf_counter() - start)


def cli(ctx: Ctx, args: list[str], *, hub: Path | None = None, hooks=(), kill_after=None, env=None,
        tag: str = "") -> Run:
    """``qchaos ARGS`` in-process in a forked child (``QCHAOS_HUB=hub``), optionally with kill hooks."""
    from qchaos.cli import main

    environ = dict(env or {})
    if hub is not None:
        environ["QCHAOS_HUB"] = str(hub)
    return fork(lambda: main(list(args)), hooks=hooks, env=environ, log=ctx.log(tag or args[0]),
                kill_after=kill_after, exit_with_value=True)


def sub(ctx: Ctx, args: list[str], *, hub: Path | None = None, env=None, kill_after=None, when=None,
        delay: float = 0.0, main_only: bool = False, tag: str = "") -> Run:
    """``python -m qchaos ARGS`` in its own session (a black box). With ``kill_after`` (seconds) or ``when`` (a
    callable polled every 2 ms, then ``delay`` s), SIGKILL its process group (or, ``main_only``, its main process
    only, then count what is left of its group during up to 10 s). Whatever is left of the group is killed after.
    """
    environ = {**os.environ, **(env or {})}
    if hub is not None:
        environ["QCHAOS_HUB"] = str(hub)
    log = ctx.log(tag or args[0])
    t0 = time.perf_counter()
    proc = subprocess.Popen([PY, "-m", "qchaos", *args], cwd=ctx.work, env=environ, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    fired = False
    if kill_after is not None or when is not None:
        while proc.poll() is None:
            if (kill_after is not None and time.perf_counter() - t0 >= kill_after) or (when is not None and when()):
                fired = True
                break
            time.sleep(0.002)
        if fired and delay:
            time.sleep(delay)
    left = 0
    if fired and proc.poll() is None:
        if main_only:
            os.kill(proc.pid, signal.SIGKILL)
            proc.wait()
            for _ in range(100):
                left = len(_group(proc.pid))
                if not left:
                    break
                time.sleep(0.1)
        else:
            os.killpg(proc.pid, signal.SIGKILL)
    proc.wait(timeout=900)
    leftover = _group(proc.pid)
    for pid in leftover:  # only processes of this run's own group
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    killed = proc.returncode < 0
    return Run(None if killed else proc.returncode, killed, log.read_text(errors="replace"), None,
               time.perf_counter() - t0, left)


def _group(pgid: int) -> list[int]:
    out = subprocess.run(["ps", "-o", "pid=", "-g", str(pgid)], capture_output=True, text=True).stdout.split()
    return [int(x) for x in out]


def hook(owner, attr: str, n: int = 1, *, match=None, before=None):
    """An installer: at the ``n``-th call of ``owner.attr`` (counting only calls for which ``match(*args)`` is
    true), run ``before(*args)`` (e.g. leave half a file), then SIGKILL the process."""
    def install():
        orig = getattr(owner, attr)
        lock, count = threading.Lock(), [0]

        def hooked(*args, **kwargs):
            if match is None or match(*args, **kwargs):
                with lock:
                    count[0] += 1
                    hit = count[0] == n
                if hit:
                    if before is not None:
                        before(*args, **kwargs)
                    _die()
            return orig(*args, **kwargs)

        setattr(owner, attr, hooked)
    return install


def trace(ctx: Ctx, args: list[str], owner, attr: str, describe, hub=None) -> list[str]:
    """The calls of ``owner.attr`` made by ``qchaos ARGS`` (``describe(*args)`` of each), in order."""
    from qchaos.cli import main

    def run():
        calls, orig, lock = [], getattr(owner, attr), threading.Lock()

        def traced(*a, **k):
            with lock:
                calls.append(describe(*a, **k))
            return orig(*a, **k)

        setattr(owner, attr, traced)
        rc = main(list(args))
        return rc, calls

    res = fork(run, log=ctx.log("trace"), env={"QCHAOS_HUB": str(hub)} if hub else None)
    if not isinstance(res.value, tuple) or res.value[0] != 0:
        raise RuntimeError(f"tracing {args} failed: {res.out[-500:]}")
    return res.value[1]


# -- file states ---------------------------------------------------------------------------------------------------
def tree(path: Path) -> dict | None:
    """``{relative path: sha256}`` of every file below ``path`` (None if it does not exist)."""
    path = Path(path)
    if not path.exists():
        return None
    out = {}
    for p in sorted(path.rglob("*")):
        if p.is_file():
            out[p.relative_to(path).as_posix()] = hashlib.sha256(p.read_bytes()).hexdigest()
    return out


def diff(a: dict | None, b: dict | None, limit: int = 3) -> str:
    if a is None or b is None:
        return f"{'absent' if a is None else len(a)} vs {'absent' if b is None else len(b)} files"
    keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
    return f"{len(keys)} file(s) differ: " + ", ".join(
        f"{k}{'' if k in a else ' (missing)'}{'' if k in b else ' (extra)'}" for k in keys[:limit])


def strays(path: Path) -> list[str]:
    """Leftovers of a writer: zarr ``*.partial``, ``*.tmp``, ``.staging``, ``.tmp*`` inside; ``.<name>.*`` beside
    (lock, staging, old version)."""
    path = Path(path)
    inside = [p for p in path.rglob("*") if p.name.endswith((".partial", ".tmp")) or p.name == ".staging"
              or p.name.startswith(".tmp")] if path.is_dir() else []
    beside = list(path.parent.glob(f".{path.name}.*")) + list(path.parent.glob(f"{path.name}.tmp")) \
        if path.parent.exists() else []
    return sorted(str(p.relative_to(path.parent)) for p in inside + beside)


def half_partial(path, value, exclusive=False):
    """What zarr's ``_atomic_write`` leaves when killed mid-write: half of the bytes in ``<path>.<uuid>.partial``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    data = bytes(value.as_buffer_like())
    path.with_suffix(f".{uuid.uuid4().hex}.partial").write_bytes(data[: len(data) // 2])


def half_text(self, data, *args, **kwargs):
    with open(self, "w", encoding="utf-8") as fh:
        fh.write(data[: len(data) // 2])


def half_json(path, obj):
    text = json.dumps(obj, indent=1)
    Path(path).with_name(Path(path).name + ".tmp").write_text(text[: len(text) // 2])


def half_rmtree(path, *args, **kwargs):
    files = sorted(p for p in Path(path).rglob("*") if p.is_file())
    for p in files[: max(1, len(files) // 2)]:
        p.unlink()


def named(name: str):
    return lambda self, *a, **k: Path(self).name == name


def flip(path: Path, where: float | int) -> None:
    data = bytearray(path.read_bytes())
    i = where if isinstance(where, int) else int(len(data) * where)
    data[i] ^= 0xFF
    path.write_bytes(bytes(data))


def truncate(path: Path, frac: float) -> None:
    data = path.read_bytes()
    path.write_bytes(data[: int(len(data) * frac)])


def edit(path: Path, pattern: str, repl: str) -> None:
    text = path.read_text()
    new, n = re.subn(pattern, repl, text, count=1)
    if not n:
        raise RuntimeError(f"{path}: {pattern!r} not found")
    path.write_text(new)


def error_line(out: str) -> str:
    """The ``qchaos: <label>: ...`` line of a run (or its last line), and whether it shows a traceback."""
    lines = [x for x in out.strip().splitlines() if x.strip()]
    err = [x for x in lines if re.match(r"^qchaos[\w -]*: ", x)]
    text = (err[-1] if err else (lines[-1] if lines else "")).strip()[:220]
    return ("TRACEBACK " if "Traceback" in out else "") + text


def clear(run: Run, about: Path | None = None) -> bool:
    """A failure that ends in one ``qchaos: ...`` line, no traceback (and, with ``about``, that names that path: a
    full disk must say which store, repo or checkpoint it could not write)."""
    return run.rc not in (0, None) and "Traceback" not in run.out and bool(re.search(r"^qchaos[\w -]*: ", run.out,
                                                                                       re.M)) \
        and (about is None or str(about) in error_line(run.out) or str(about) in run.out.split("qchaos:")[-1])


# -- checks in children (the orchestrating process never opens a store, a dataset or a model itself) ----------------
def store_status(path: Path) -> dict:
    """``{key: status}`` of every point of the store's config (``generation.verify.check_store``), or an error."""
    def run():
        from generation.verify import check_store

        try:
            _, status = check_store(path)
            return {k: st for k, (st, _) in status.items()}
        except Exception as exc:  # noqa: BLE001
            return {"error": f"{type(exc).__name__}: {exc}"}
    return fork(run).value


def _table_digest(dataset) -> str:
    import pyarrow as pa

    table = dataset.with_format("arrow")[:]
    table = table.replace_schema_metadata(None).combine_chunks()
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return hashlib.sha256(sink.getvalue().to_pybytes()).hexdigest()[:16]


def load_state(folder: Path, configs=("wavefunctions", "spectra")) -> dict:
    """``{"hub"|"plain": {config: {split: digest} or "ERR ..."}}``: the repo folder loaded through
    ``qchaos.hub.load`` and through plain ``datasets.load_dataset``, each with a fresh cache."""
    def run():
        import tempfile

        import datasets

        from qchaos.hub import load

        datasets.disable_progress_bars()
        out = {"hub": {}, "plain": {}}
        for how in out:
            for cfg in configs:
                cache = tempfile.mkdtemp(prefix="cache-", dir=folder.parent)
                try:
                    d = load(folder, cfg, cache_dir=cache) if how == "hub" else \
                        datasets.load_dataset(str(folder), cfg, cache_dir=cache)
                    out[how][cfg] = {s: _table_digest(d[s]) for s in sorted(d)}
                except Exception as exc:  # noqa: BLE001
                    cause = exc.__cause__ or exc.__context__
                    out[how][cfg] = f"ERR {type(exc).__name__}: {str(exc)[:120]}" + \
                        (f" (cause: {type(cause).__name__}: {str(cause)[:100]})" if cause is not None else "")
                finally:
                    shutil.rmtree(cache, ignore_errors=True)
        return out
    return fork(run).value


def model_state(folder: Path) -> str:
    """``"ok <digest of weights, config and meta>"`` when ``HubModel.from_pretrained`` loads the folder, else
    ``"ERR <type>: <message>"``."""
    def run():
        import torch

        from modeling.hub_model import HubModel

        try:
            model = HubModel.from_pretrained(str(folder), verify_registry=False)
        except Exception as exc:  # noqa: BLE001
            return f"ERR {type(exc).__name__}: {str(exc)[:200]}"
        h = hashlib.sha256()
        for k, v in sorted(model.state_dict().items()):
            h.update(k.encode())
            h.update(v.detach().to(torch.float64).numpy().tobytes())
        h.update(json.dumps(model._config(), sort_keys=True, default=str).encode())
        h.update(json.dumps(model.get_meta(), sort_keys=True, default=str).encode())
        return f"ok {h.hexdigest()[:16]}"
    return fork(run).value


def verify(ctx: Ctx, target: Path) -> Run:
    return cli(ctx, ["verify", str(target), "--quiet"], tag="verify")


# -- references ----------------------------------------------------------------------------------------------------
def setup(ctx: Ctx, groups: set) -> None:
    """The reference stores, repos and checkpoints (uninterrupted runs); their file digests and load results."""
    refs = ctx.refs
    refs.mkdir(parents=True, exist_ok=True)
    R = ctx.ref

    def must(run: Run, what: str) -> Run:
        if run.rc != 0:
            raise RuntimeError(f"reference {what} failed (rc {run.rc}): {run.out[-800:]}")
        return run

    t = must(sub(ctx, gen(ETAS6, refs / "ref0.zarr", "--workers", "0"), tag="ref0"), "ref0")
    R["t_gen"] = t.seconds
    R["ref0"] = tree(refs / "ref0.zarr")
    part = refs / "part.zarr"
    shutil.copytree(refs / "ref0.zarr", part)
    for key in ("eta0.6000000000", "eta0.7000000000"):
        shutil.rmtree(part / "points" / key)
    if groups & {"1a", "4"}:
        must(sub(ctx, gen(ETAS12, refs / "ref12.zarr", "--workers", "0"), tag="ref12"), "ref12")
        R["ref12"] = tree(refs / "ref12.zarr")
    if "1a" in groups:
        t = must(sub(ctx, gen(ETAS6, refs / "ref0w2.zarr", "--workers", "2"), tag="ref0w2"), "ref0 --workers 2")
        R["t_gen2"] = t.seconds
        if tree(refs / "ref0w2.zarr") != R["ref0"]:
            raise RuntimeError("a --workers 2 sweep is not byte-identical to the --workers 0 one: "
                               + diff(tree(refs / "ref0w2.zarr"), R["ref0"]))
    # dataset repos: the 6-point store (new) and the 4-point one (old), as qchaos/pub
    must(cli(ctx, pub(refs / "ref0.zarr"), hub=refs / "hub-new", tag="pub-new"), "publish")
    must(cli(ctx, pub(part, "--allow-partial"), hub=refs / "hub-old", tag="pub-old"), "publish --allow-partial")
    R["repo_new"] = tree(refs / "hub-new/datasets/qchaos/pub")
    R["repo_old"] = tree(refs / "hub-old/datasets/qchaos/pub")
    if groups & {"1b", "2b", "3b"}:
        R["load_new"] = load_state(refs / "hub-new/datasets/qchaos/pub")
        R["load_old"] = load_state(refs / "hub-old/datasets/qchaos/pub")
        for name in ("load_new", "load_old"):
            bad = [f"{h}/{c}" for h, d in R[name].items() for c, v in d.items() if isinstance(v, str)]
            if bad:
                raise RuntimeError(f"reference repo does not load ({name}: {bad}): {R[name]}")
    if groups & {"1c", "1d", "2c", "4"}:
        must(sub(ctx, gen(ETAS_TB4, refs / "tb4.zarr", "--workers", "0"), tag="tb4"), "tb4 store")
        must(cli(ctx, pub(refs / "tb4.zarr", repo="qchaos/tb4"), hub=refs / "hub-tb4", tag="pub-tb4"), "tb4 repo")
    if groups & {"1c", "4"}:
        for name, epochs, seed in (("train-new", 4, 0), ("train-old", 2, 1)):
            hub = refs / f"hub-{name}"
            shutil.copytree(refs / "hub-tb4", hub)
            t = must(cli(ctx, train_args(refs / f"{name}.json", epochs, seed), hub=hub, tag=name), name)
            R[f"t_{name}"] = t.seconds
        R["ckpt_new"] = tree(refs / "hub-train-new/models/qchaos/mt")
        R["ckpt_old"] = tree(refs / "hub-train-old/models/qchaos/mt")
        R["model_new"] = model_state(refs / "hub-train-new/models/qchaos/mt")
        R["model_old"] = model_state(refs / "hub-train-old/models/qchaos/mt")
    if "2c" in groups:
        hub = refs / "hub-train-2c"
        shutil.copytree(refs / "hub-tb4", hub)
        must(cli(ctx, train_args(refs / "train-2c.json", 1), hub=hub, tag="train-2c"), "train (2c)")
        R["ckpt_2c"] = tree(hub / "models/qchaos/mt")
        R["model_2c"] = model_state(hub / "models/qchaos/mt")


# -- 1a. generate kills --------------------------------------------------------------------------------------------
def _judge_store(ctx: Ctx, path: Path, ref: dict, rerun: Run, after_kill: dict | None, notes: list) -> str:
    """The class of a store after a fault and a plain rerun (see the module docstring)."""
    after_kill = after_kill or {}
    if any(v == "damaged" for v in after_kill.values()):
        notes.append("a point marked complete was damaged after the fault: "
                     + ", ".join(k for k, v in after_kill.items() if v == "damaged"))
    now, left = tree(path), strays(path)
    if rerun.rc != 0:
        notes.append(f"rerun rc={rerun.rc}: {error_line(rerun.out)}")
        lost = [k for k, v in after_kill.items() if v == "ok" and (now is None or any(
            now.get(f) != h for f, h in ref.items() if f.startswith(f"points/{k}/")))]
        if lost:
            notes.append(f"complete points lost: {lost}")
        return "C" if lost else "B"
    if now == ref and not left:
        return "A"
    if now != ref:
        notes.append(diff(now, ref))
    if left:
        notes.append(f"strays: {left[:4]}")
    bad = {k: v for k, v in store_status(path).items() if v != "ok"}
    chunks = [f for f in set(now or {}) | set(ref) if "/c/" in f and (now or {}).get(f) != ref.get(f)]
    if bad or chunks:  # the rerun said it finished, but the data is not the reference's
        notes.append(f"after the rerun: {bad or ''} {len(chunks)} chunk file(s) differ")
        return "C"
    return "B"


def group_1a(ctx: Ctx):
    import pathlib

    import zarr.storage._local as zarr_local

    R = ctx.ref
    ref0 = R["ref0"]
    base = ctx.work / "1a"
    base.mkdir(exist_ok=True)
    calls = trace(ctx, gen(ETAS6, base / "count.zarr", "--workers", "0"), zarr_local, "_put",
                  lambda path, *a, **k: Path(path).relative_to(base).as_posix())
    total = len(calls)

    def puts(pred):
        return [i + 1 for i, p in enumerate(calls) if pred(p)]

    def point(p, eta):
        return f"/.staging/eta{eta}000000000-" in p

    kills = []  # (id, description, hooks)
    # 9 stages of point eta=0.3 (the findings' N = 84 ... 143)
    p03 = puts(lambda p: point(p, "0.3"))
    stage = {"first metadata": p03[0]}
    for name in ("spectrum/energy/c/0", "spectrum/parity/zarr.json", "states/psi/zarr.json", "states/psi/c/0/0/0",
                 "states/level/c/0"):
        stage[name] = next(n for n in p03 if calls[n - 1].endswith(name))
    stage.update({"attrs complete=false": p03[-3], "attrs + integrity": p03[-2], "attrs complete=true": p03[-1]})
    for what, n in stage.items():
        kills.append((f"put{n}-eta0.3", f"_put #{n}/{total} (eta0.3: {what}; half in *.partial)",
                      [hook(zarr_local, "_put", n, before=half_partial)]))
    # 7 metadata writes: first zarr.json of a new point, rewrites of a group's zarr.json, the last write of the run
    firsts = [puts(lambda p, e=e: point(p, e))[0] for e in ("0.4", "0.7")]
    p02 = puts(lambda p: point(p, "0.2") and p.count("/") == 3 and p.endswith("/zarr.json"))
    p05 = puts(lambda p: point(p, "0.5"))
    spec05 = [n for n in p05 if calls[n - 1].endswith("/spectrum/zarr.json")]
    states06 = [n for n in puts(lambda p: point(p, "0.6")) if calls[n - 1].endswith("/states/zarr.json")]
    meta = {"first zarr.json of point eta0.4": firsts[0], "first zarr.json of point eta0.7": firsts[1],
            "point zarr.json rewrite (eta0.2)": p02[2], "spectrum/zarr.json rewrite (eta0.5)": spec05[1],
            "states/zarr.json rewrite (eta0.6)": states06[1], "point attrs complete=false (eta0.5)": p05[-3],
            "last write of the run (eta0.7 complete=true)": total}
    for what, n in meta.items():
        kills.append((f"put{n}-meta", f"_put #{n}/{total} ({what}; half in *.partial)",
                      [hook(zarr_local, "_put", n, before=half_partial)]))
    # 6 points of the store-creation window (the findings' N = 1, 2, 3, 5, 7, 8)
    creation = puts(lambda p: ".creating-" in p)
    for n in creation:
        kills.append((f"put{n}-create", f"_put #{n} (store creation: {calls[n - 1].split('/', 1)[1]}; half in "
                                        "*.partial)", [hook(zarr_local, "_put", n, before=half_partial)]))
    kills.append(("rename-create", "Path.rename of the created store into place",
                  [hook(pathlib.Path, "rename", 1, match=lambda self, *a: ".creating-" in Path(self).name)]))
    n = creation[-1] + 1
    kills.append((f"put{n}-created", f"_put #{n} (store just created, first write of the first point; half in "
                                     "*.partial)", [hook(zarr_local, "_put", n, before=half_partial)]))
    for cid, what, hooks in kills:
        t0 = time.perf_counter()
        d = ctx.case_dir("1a", cid)
        path = d / "s.zarr"
        run = cli(ctx, gen(ETAS6, path, "--workers", "0"), hooks=hooks, tag=cid)
        notes = [] if run.killed else [f"kill did not fire (rc {run.rc})"]
        after = store_status(path) if path.exists() else None
        rerun = cli(ctx, gen(ETAS6, path, "--workers", "0"), tag=cid + "-rerun")
        cls = _judge_store(ctx, path, ref0, rerun, after, notes)
        yield Case("1a", cid, f"SIGKILL at {what}; rerun", cls, "; ".join(x for x in notes if x),
                   time.perf_counter() - t0)

    # 4 black-box kills of the process group (the findings' 2.7 / 4.9 / 6.3 / 7.6 s of a ~9 s run)
    for frac in (0.30, 0.54, 0.70, 0.84):
        t0 = time.perf_counter()
        cid = f"blackbox-{frac:.2f}"
        path = ctx.case_dir("1a", cid) / "s.zarr"
        run = sub(ctx, gen(ETAS6, path, "--workers", "0"), kill_after=frac * R["t_gen"], tag=cid)
        after = store_status(path) if path.exists() else None
        notes = [f"killed at {frac * R['t_gen']:.2f} s" if run.killed else f"finished first (rc {run.rc})",
                 f"complete after the kill: {sum(v == 'ok' for v in (after or {}).values())}"]
        rerun = sub(ctx, gen(ETAS6, path, "--workers", "0"), tag=cid + "-rerun")
        cls = _judge_store(ctx, path, ref0, rerun, after, notes)
        yield Case("1a", cid, f"black-box SIGKILL of the group at {frac:.0%} of the sweep; rerun", cls,
                   "; ".join(notes), time.perf_counter() - t0)

    # 4 kills triggered by the appearance of point eta=0.4's group, + 0 / 3 / 8 / 20 ms
    for ms in (0, 3, 8, 20):
        t0 = time.perf_counter()
        cid = f"trigger-eta0.4+{ms}ms"
        path = ctx.case_dir("1a", cid) / "s.zarr"

        def appeared(path=path):
            stage = path / ".staging"
            return stage.is_dir() and any(p.name.startswith(KEY) for p in stage.iterdir()) or \
                (path / "points" / KEY).exists()

        run = sub(ctx, gen(ETAS6, path, "--workers", "0"), when=appeared, delay=ms / 1000, tag=cid)
        after = store_status(path) if path.exists() else None
        notes = ["killed" if run.killed else f"finished first (rc {run.rc})",
                 f"{KEY} after the kill: {(after or {}).get(KEY)}"]
        rerun = sub(ctx, gen(ETAS6, path, "--workers", "0"), tag=cid + "-rerun")
        cls = _judge_store(ctx, path, ref0, rerun, after, notes)
        yield Case("1a", cid, f"SIGKILL when {KEY}'s group appears + {ms} ms; rerun", cls, "; ".join(notes),
                   time.perf_counter() - t0)

    # 2 kills of a --workers 2 (LocalCluster) sweep
    for frac in (0.5, 0.75):
        t0 = time.perf_counter()
        cid = f"workers2-{frac:.2f}"
        path = ctx.case_dir("1a", cid) / "s.zarr"
        run = sub(ctx, gen(ETAS6, path, "--workers", "2"), kill_after=frac * R["t_gen2"], tag=cid)
        after = store_status(path) if path.exists() else None
        notes = ["killed" if run.killed else f"finished first (rc {run.rc})",
                 f"complete after the kill: {sum(v == 'ok' for v in (after or {}).values())}"]
        rerun = sub(ctx, gen(ETAS6, path, "--workers", "2"), tag=cid + "-rerun")
        cls = _judge_store(ctx, path, ref0, rerun, after, notes)
        yield Case("1a", cid, f"SIGKILL of a --workers 2 sweep's group at {frac:.0%}; rerun", cls,
                   "; ".join(notes), time.perf_counter() - t0)

    # the main PID only of a 12-point --workers 2 sweep, after 3 points are complete
    t0 = time.perf_counter()
    cid = "workers2-main-pid-only"
    path = ctx.case_dir("1a", cid) / "s.zarr"
    run = sub(ctx, gen(ETAS12, path, "--workers", "2"), main_only=True, tag=cid,
              when=lambda: (path / "points").is_dir() and sum(1 for p in (path / "points").iterdir()
                                                               if p.is_dir()) >= 3)
    after = store_status(path) if path.exists() else None
    notes = ["main killed" if run.killed else f"finished first (rc {run.rc})",
             f"processes of the group left 10 s after the kill: {run.left}"]
    rerun = sub(ctx, gen(ETAS12, path, "--workers", "2"), tag=cid + "-rerun")
    cls = _judge_store(ctx, path, R["ref12"], rerun, after, notes)
    if run.left and cls == "A":
        cls = "B"
        notes.append("orphaned processes")
    yield Case("1a", cid, "SIGKILL of the main PID only of a 12-point --workers 2 sweep (3 points done); rerun",
               cls, "; ".join(notes), time.perf_counter() - t0)


# -- 1b. publish kills ---------------------------------------------------------------------------------------------
def group_1b(ctx: Ctx):
    import pathlib

    import pyarrow.parquet as pq

    R = ctx.ref
    ref0 = ctx.refs / "ref0.zarr"
    new_name = lambda self, *a, **k: ".new-" in Path(self).name  # noqa: E731
    shard = lambda self, *a, **k: Path(self).name.endswith(".parquet.tmp")  # noqa: E731
    old_name = lambda path, *a, **k: Path(path).name.endswith(".old")  # noqa: E731
    kills = [  # (id, first publish?, description, hooks)
        ("first-write_table2", True, "ParquetWriter.write_table #2", [hook(pq.ParquetWriter, "write_table", 2)]),
        ("first-shard-rename2", True, "the rename of shard #2 into its final name",
         [hook(pathlib.Path, "replace", 2, match=shard)]),
        ("first-card-half", True, "README.md half written (shards done)",
         [hook(pathlib.Path, "write_text", 1, match=named("README.md"), before=half_text)]),
        ("first-manifest-half", True, "manifest.json half written (card done)",
         [hook(pathlib.Path, "write_text", 1, match=named("manifest.json"), before=half_text)]),
        ("first-swap", True, "the rename of the complete new version into place",
         [hook(pathlib.Path, "rename", 1, match=new_name)]),
        ("first-after-swap", True, "the cleanup after the swap (new version in place, lock held)",
         [hook(shutil, "rmtree", 1, match=lambda p, *a, **k: ".new-" in Path(p).name)]),
        ("re-write_table3", False, "ParquetWriter.write_table #3", [hook(pq.ParquetWriter, "write_table", 3)]),
        ("re-shard-rename2", False, "the rename of shard #2", [hook(pathlib.Path, "replace", 2, match=shard)]),
        ("re-manifest-half", False, "manifest.json half written",
         [hook(pathlib.Path, "write_text", 1, match=named("manifest.json"), before=half_text)]),
        ("re-swap-old-aside", False, "the rename of the old version aside (new version complete beside it)",
         [hook(pathlib.Path, "rename", 1, match=lambda self, target, *a: str(target).endswith(".old"))]),
        ("re-swap-between", False, "the rename of the new version into place (old one moved aside, so the repo "
                                   "path is empty)", [hook(pathlib.Path, "rename", 1, match=new_name)]),
        ("re-rmtree-old", False, "the deletion of the old version (new one in place)",
         [hook(shutil, "rmtree", 1, match=old_name)]),
        ("re-rmtree-old-half", False, "the deletion of the old version, half of its files deleted",
         [hook(shutil, "rmtree", 1, match=old_name, before=half_rmtree)]),
    ]

    def check(d: Path, first: bool, run: Run, rerun_cmd) -> tuple[str, list]:
        dest = d / "hub/datasets/qchaos/pub"
        notes = [] if run.killed else [f"kill did not fire (rc {run.rc})"]
        now = tree(dest)
        old = None if first else R["repo_old"]
        if now == R["repo_new"]:
            state = "new version"
        elif now is not None and now == old:
            state = "old version"
        elif not now:
            state = "repo absent" + (" (beside it: " + ", ".join(strays(dest)) + ")"
                                     if strays(dest) else "")
        else:
            state = "MIXED: " + diff(now, R["repo_new"])
        notes.append(f"after the kill: {state}")
        silent = False
        if state.startswith("MIXED"):
            loads = load_state(dest)
            for how, per in loads.items():
                for cfg, v in per.items():
                    if not isinstance(v, str) and v not in (R["load_new"][how][cfg],
                                                           (R["load_old"][how] if not first else {}).get(cfg)):
                        silent = True
                        notes.append(f"{how} load of {cfg} SILENTLY DIFFERENT")
            notes.append(f"loads: {json.dumps(loads)[:200]}")
        lost = not first and "old version" not in state and "new version" not in state and \
            not any(s.endswith(".pub.old") for s in strays(dest))
        rerun = cli(ctx, rerun_cmd, hub=d / "hub", tag="rerun")
        if rerun.rc != 0:
            notes.append(f"rerun rc={rerun.rc}: {error_line(rerun.out)}")
            return ("C" if silent or lost else "B"), notes
        after = tree(dest)
        if after != R["repo_new"] or strays(dest):
            notes.append(f"after the rerun: {diff(after, R['repo_new'])}; strays {strays(dest)}")
            return ("C" if silent else "B"), notes
        if lost:
            notes.append("the old version was gone before the rerun")
            return "C", notes
        return ("C" if silent else "A"), notes

    for cid, first, what, hooks in kills:
        t0 = time.perf_counter()
        d = ctx.case_dir("1b", cid)
        if not first:
            shutil.copytree(ctx.refs / "hub-old", d / "hub")
        run = cli(ctx, pub(ref0), hub=d / "hub", hooks=hooks, tag=cid)
        cls, notes = check(d, first, run, pub(ref0))
        yield Case("1b", cid, f"{'first publish' if first else 'republish'}: SIGKILL at {what}; rerun", cls,
                   "; ".join(notes), time.perf_counter() - t0)
    # 4 black-box kills of a republish, at fractions of its writing phase (from the staging folder's appearance)
    for frac in (0.1, 0.3, 0.5, 0.7):
        t0 = time.perf_counter()
        cid = f"re-blackbox-{frac:.2f}"
        d = ctx.case_dir("1b", cid)
        shutil.copytree(ctx.refs / "hub-old", d / "hub")
        parent = d / "hub/datasets/qchaos"
        run = sub(ctx, pub(ref0), hub=d / "hub", tag=cid, when=lambda parent=parent: any(parent.glob(".pub.new-*")),
                  delay=frac * R.get("t_pub_write", 0.6))
        cls, notes = check(d, False, run, pub(ref0))
        yield Case("1b", cid, f"republish: black-box SIGKILL at {frac:.0%} of the writing phase; rerun", cls,
                   "; ".join(notes), time.perf_counter() - t0)


# -- 1c. train kills -----------------------------------------------------------------------------------------------
class BigNet:  # defined lazily (needs torch); see _big_net
    pass


def _big_net(seed: int, n: int):
    import torch
    import torch.nn as nn

    from modeling.hub_model import HubModel

    global BigNet
    if not isinstance(BigNet, type) or not issubclass(BigNet, HubModel):
        class _BigNet(HubModel, tags=["replay"]):
            classes = ("a", "b")

            def __init__(self, n: int = 1024):
                super().__init__()
                self.w = nn.Parameter(torch.zeros(n, 1024))

            def forward(self, x):
                return x @ self.w[:, :2]

        _BigNet.__name__ = _BigNet.__qualname__ = "ReplayBigNet"
        BigNet = _BigNet
    torch.manual_seed(seed)
    net = BigNet(n)
    with torch.no_grad():
        net.w.normal_()
    return net


def group_1c(ctx: Ctx):
    import safetensors.torch as st

    import qchaos.hub as qhub

    R = ctx.ref
    orig_save = st.save_model

    def truncated_save(model, filename, *a, **k):
        orig_save(model, filename, *a, **k)
        size = os.path.getsize(filename)
        with open(filename, "r+b") as fh:
            fh.truncate(size // 2)

    t_train = R["t_train-new"]
    cases = [  # (id, over an existing checkpoint?, description, hooks, kill_after)
        ("first-blackbox", False, f"black-box SIGKILL mid-training ({0.55 * t_train:.1f} s)", [], 0.55 * t_train),
        ("re-blackbox", True, f"black-box SIGKILL mid-training ({0.75 * t_train:.1f} s)", [], 0.75 * t_train),
        ("re-log1", True, "the 1st per-epoch log write (half in the .tmp)",
         [hook(qhub, "write_json", 1, before=half_json)], None),
        ("re-log2", True, "the 2nd per-epoch log write", [hook(qhub, "write_json", 2, before=half_json)], None),
        ("re-log3", True, "the 3rd per-epoch log write", [hook(qhub, "write_json", 3, before=half_json)], None),
        ("first-weights-truncated", False, "save_model, weights truncated to half (simulated)",
         [hook(st, "save_model", 1, before=truncated_save)], None),
        ("re-weights-truncated", True, "save_model, weights truncated to half (simulated)",
         [hook(st, "save_model", 1, before=truncated_save)], None),
        ("re-config-half", True, "config.json half written (after the weights)",
         [hook(Path, "write_text", 1, match=named("config.json"), before=half_text)], None),
        ("re-record-half", True, "qchaos.json half written",
         [hook(Path, "write_text", 1, match=named("qchaos.json"), before=half_text)], None),
        ("first-record-half", False, "qchaos.json half written",
         [hook(Path, "write_text", 1, match=named("qchaos.json"), before=half_text)], None),
        ("re-card-half", True, "README.md half written",
         [hook(Path, "write_text", 1, match=named("README.md"), before=half_text)], None),
    ]
    for cid, re_, what, hooks, kill_after in cases:
        t0 = time.perf_counter()
        d = ctx.case_dir("1c", cid)
        hub = d / "hub"
        shutil.copytree(ctx.refs / "hub-tb4", hub)
        log = d / "runs" / "mt.json"
        log.parent.mkdir()
        if re_:
            shutil.copytree(ctx.refs / "hub-train-old/models", hub / "models")
            shutil.copy(ctx.refs / "train-old.json", log)
        ckpt = hub / "models/qchaos/mt"
        run = cli(ctx, train_args(log), hub=hub, hooks=hooks, kill_after=kill_after, tag=cid)
        notes = [] if run.killed else [f"kill did not fire (rc {run.rc})"]
        now = tree(ckpt)
        state = ("new checkpoint" if now == R["ckpt_new"] else "old checkpoint" if re_ and now == R["ckpt_old"]
                 else "absent" if not now else "OTHER: " + diff(now, R["ckpt_new"]))
        silent = lost = False
        if state.startswith("OTHER"):
            m = model_state(ckpt)
            notes.append(f"from_pretrained: {m[:120]}")
            if m.startswith("ok") and m not in (R["model_new"], R["model_old"]):
                silent = True
            if re_:
                lost = True  # the previous checkpoint is not there any more
        elif re_ and state == "absent":
            lost = not any(s.endswith(".mt.old") for s in strays(ckpt))
        logstate = "absent"
        if log.exists():
            try:
                doc = json.loads(log.read_text())
                logstate = f"valid ({len(doc.get('epochs', []))} epochs, final {'set' if doc.get('final') else 'null'})"
            except ValueError:
                logstate = "TORN"
                silent = True
        notes.append(f"after the kill: checkpoint {state}; log {logstate}; strays {strays(ckpt) + strays(log)}")
        rerun = cli(ctx, train_args(log), hub=hub, tag=cid + "-rerun")
        after = tree(ckpt)
        if rerun.rc != 0:
            notes.append(f"rerun rc={rerun.rc}: {error_line(rerun.out)}")
            cls = "C" if silent or lost else "B"
        elif after != R["ckpt_new"] or strays(ckpt) or strays(log):
            notes.append(f"after the rerun: {diff(after, R['ckpt_new'])}; strays {strays(ckpt) + strays(log)}")
            cls = "C" if silent or lost else "B"
        else:
            cls = "C" if silent or lost else "A"
        yield Case("1c", cid, f"{'retrain over a checkpoint' if re_ else 'first training'}: SIGKILL at {what}; "
                   "rerun", cls, "; ".join(notes), time.perf_counter() - t0)

    # a real SIGKILL while safetensors writes a large file (the findings: 600 MB; here 128 MB), over an old one
    t0 = time.perf_counter()
    d = ctx.case_dir("1c", "re-real-safetensors-kill")
    n = 32 * 1024  # 32768 x 1024 float32 = 128 MiB

    def save(seed, folder):
        return lambda: (_big_net(seed, n).save_pretrained(folder), 0)[1]

    fork(save(0, d / "ref-old"))
    fork(save(1, d / "ref-new"))
    ref_old, ref_new = tree(d / "ref-old"), tree(d / "ref-new")
    folder = d / "big"
    shutil.copytree(d / "ref-old", folder)

    def watcher():
        def watch():
            while True:
                for p in folder.parent.glob(f".{folder.name}.new-*/*"):
                    with contextlib.suppress(OSError):
                        if p.stat().st_size > 4 * 2**20:
                            _die()
                time.sleep(0.0005)
        threading.Thread(target=watch, daemon=True).start()

    run = fork(save(1, folder), hooks=[watcher], log=ctx.log("big-save"))
    now = tree(folder)
    left = strays(folder)
    state = "old checkpoint" if now == ref_old else "new checkpoint" if now == ref_new else diff(now, ref_old)
    notes = ["killed mid-write" if run.killed else "the write finished before the kill",
             f"after the kill: {state}; strays {left}"]
    rerun = fork(save(1, folder), log=ctx.log("big-save-rerun"))
    after = tree(folder)
    if now not in (ref_old, ref_new):
        cls = "C"
    elif rerun.rc != 0 or after != ref_new or strays(folder):
        cls = "B"
        notes.append(f"after the re-save: {diff(after, ref_new)}; strays {strays(folder)}")
    else:
        cls = "A"
    shutil.rmtree(d)
    yield Case("1c", "re-real-safetensors-kill", "save_pretrained of a 128 MiB model over an old checkpoint: real "
               "SIGKILL while safetensors writes; save again", cls, "; ".join(notes), time.perf_counter() - t0)


# -- 1d. evaluate kills --------------------------------------------------------------------------------------------
def group_1d(ctx: Ctx):
    """The runner on three experiments: stand-ins ``alpha`` / ``gamma`` (instant, their metric is the run number)
    around the real ``level-statistics`` (tiny preset on the tb4 repo), as the findings narrowed the list."""
    d = ctx.case_dir("1d", "reports")
    hub = ctx.refs / "hub-tb4"
    out = d / "out"

    def evaluate(value: int, names, kill: str | None = None):
        def run():
            import types

            import torch

            from evaluation import core, level_statistics, runner
            from evaluation.resources import Resources

            torch.set_num_threads(1)

            def stand_in(name):
                def go(ctx_):
                    if kill == name:
                        _die()
                    return {"metrics": {"run": value}, "summary": f"{name} of run {value}"}
                return types.SimpleNamespace(NAME=name, TITLE=name, PARAMS={"tiny": {}}, run=go)

            mods = {"alpha": stand_in("alpha"), "level-statistics": level_statistics, "gamma": stand_in("gamma")}
            if kill == "level-statistics":  # after its first figure and data file
                hook(core.Context, "save_data", 2)()
            runner.get_experiment = lambda n: mods[str(n)]
            runner.experiment_names = lambda: list(mods)
            core.experiment_names = runner.experiment_names
            res = Resources("tiny", build=False, progress=False, source="local", runs_dir=d / "runs",
                            datasets={r: "qchaos/tb4" for r in ("twobody", "twobody-fine", "twobody-images",
                                                                "twobody-train")})
            doc = runner.evaluate("tiny", names, out=out, resources=res, progress=False)
            return 0 if not doc.get("failed") else 1
        return fork(run, env={"QCHAOS_HUB": str(hub)}, log=ctx.log(f"eval{value}"), exit_with_value=True)

    def state():
        from evaluation.report import load_targets, render_report

        folder = out / "tiny"
        res = json.loads((folder / "results.json").read_text())
        prev_path = folder / "results.previous.json"
        prev = json.loads(prev_path.read_text()) if prev_path.exists() else None
        runs = {k: (v.get("metrics") or {}).get("run", "real") for k, v in res["experiments"].items()}
        consistent = (folder / "report.md").read_text() == render_report(res, load_targets(), prev)
        prev_runs = {k: (v.get("metrics") or {}).get("run", "real") for k, v in (prev or {}).get("experiments",
                                                                                                   {}).items()}
        return {"runs": runs, "complete": res["meta"].get("complete"), "pending": res["meta"].get("pending"),
                "report_consistent": consistent, "previous": prev_runs,
                "previous_complete": (prev or {}).get("meta", {}).get("complete", True) if prev else None}

    def look():
        return fork(state).value

    all3 = ["alpha", "level-statistics", "gamma"]
    first = evaluate(1, None)
    if first.rc != 0:
        raise RuntimeError(f"evaluation reference failed: {first.out[-800:]}")
    base = look()
    scenarios = [("E1", "a subset run (names given) killed during experiment 3", 2, all3, "gamma",
                  {"alpha": 2, "level-statistics": "real", "gamma": 1}),
                 ("E2", "an 'all' run (names=None) killed during experiment 2", 3, None, "level-statistics",
                  {"alpha": 3, "level-statistics": "real", "gamma": 2}),
                 ("E3", "another 'all' run killed during experiment 1, then a full rerun", 4, None, "alpha",
                  {"alpha": 3, "level-statistics": "real", "gamma": 3})]
    last_complete = base["runs"]
    for cid, what, value, names, kill, expect in scenarios:
        t0 = time.perf_counter()
        run = evaluate(value, names, kill)
        s = look()
        notes = [("killed" if run.killed else f"kill did not fire (rc {run.rc})"),
                 f"after the kill: results {s['runs']} complete={s['complete']} pending={s['pending']}, "
                 f"report consistent={s['report_consistent']}, previous {s['previous']}"]
        # the last complete run survives as results.json (when the killed run finished nothing) or as
        # results.previous.json; either is fine, losing it is not
        kept = (s["complete"] and s["runs"] == last_complete) or s["previous"] == last_complete
        lost = s["runs"] != expect or not kept
        inconsistent = not s["report_consistent"] or (s["runs"] != last_complete and s["complete"] is not False)
        rerun = evaluate(value, names)
        r = look()
        want = {k: value if v != "real" else "real" for k, v in expect.items()}
        notes.append(f"after the rerun: results {r['runs']} complete={r['complete']}, previous {r['previous']}, "
                     f"report consistent={r['report_consistent']}")
        ok = rerun.rc == 0 and r["runs"] == want and r["complete"] and r["report_consistent"] and \
            r["previous"] == last_complete
        cls = "C" if lost else ("B" if inconsistent or not ok else "A")
        last_complete = r["runs"]
        yield Case("1d", cid, f"{what}; rerun", cls, "; ".join(notes), time.perf_counter() - t0)


# -- 2a / 2d. store corruption ------------------------------------------------------------------------------------
def _psi(p):
    return p / "points" / KEY / "states/psi/c/0/0/0"


def _energy(p):
    return p / "points" / KEY / "spectrum/energy/c/0"


def _zj(p, sub=""):
    return p / "points" / KEY / sub / "zarr.json"


STORE_DAMAGE = {
    "2a": [
        ("psi-flip-middle", "flip the middle byte of states/psi's shard", lambda p: flip(_psi(p), 0.5)),
        ("psi-flip-frame-end", "flip the last byte of the zstd frame (before the chunk crc and shard index)",
         lambda p: flip(_psi(p), len(_psi(p).read_bytes()) - 25)),
        ("psi-truncate-60", "truncate states/psi's shard to 60 %", lambda p: truncate(_psi(p), 0.6)),
        ("psi-empty", "empty (0-byte) states/psi shard", lambda p: _psi(p).write_bytes(b"")),
        ("energy-flip", "flip a byte of spectrum/energy's chunk", lambda p: flip(_energy(p), 0.6)),
        ("energy-truncate-50", "truncate spectrum/energy's chunk to 50 %", lambda p: truncate(_energy(p), 0.5)),
        ("energy-empty", "empty (0-byte) spectrum/energy chunk", lambda p: _energy(p).write_bytes(b"")),
    ],
    "2d": [
        ("label-flip", "point attrs label 0 <-> 1",
         lambda p: edit(_zj(p), r'"label": (\d)', lambda m: f'"label": {1 - int(m.group(1))}')),
        ("eta-0.5", "point attrs eta 0.4 -> 0.5", lambda p: edit(_zj(p), r'"eta": 0\.4\b', '"eta": 0.5')),
        ("energy-shape-201", "spectrum/energy shape 200 -> 201",
         lambda p: edit(_zj(p, "spectrum/energy"), r'"shape": \[\s*200', '"shape": [\n    201')),
        ("psi-dtype-float16", "states/psi dtype float32 -> float16",
         lambda p: edit(_zj(p, "states/psi"), r'"data_type": "float32"', '"data_type": "float16"')),
        ("complete-tsue", "\"complete\": true -> tsue (invalid JSON)",
         lambda p: edit(_zj(p), r'"complete": true', '"complete": tsue')),
        ("complete-1", "\"complete\": true -> 1", lambda p: edit(_zj(p), r'"complete": true', '"complete": 1')),
        ("states-deleted", "the whole states/ group of the point deleted",
         lambda p: shutil.rmtree(p / "points" / KEY / "states")),
    ],
}


def group_store_damage(ctx: Ctx, group: str):
    R = ctx.ref
    for cid, what, damage in STORE_DAMAGE[group]:
        t0 = time.perf_counter()
        d = ctx.case_dir(group, cid)
        path = d / "s.zarr"
        shutil.copytree(ctx.refs / "ref0.zarr", path)
        damage(path)
        notes = []
        v = verify(ctx, path)
        notes.append(f"verify rc={v.rc}" + (f" ({error_line(v.out)})" if v.rc else "") +
                     (" names the point" if KEY in v.out else ""))
        early = cli(ctx, pub(path), hub=d / "hub-early", tag="publish-before-rerun")
        silent = False
        if early.rc == 0:
            same = tree(d / "hub-early/datasets/qchaos/pub") == R["repo_new"]
            notes.append("publish before the rerun: rc 0, " + ("identical to the reference (harmless damage)"
                                                              if same else "DIFFERENT DATA PUBLISHED"))
            silent = not same
        else:
            notes.append(f"publish before the rerun refused: {error_line(early.out)[:160]}")
        rerun = cli(ctx, gen(ETAS6, path, "--workers", "0"), tag="rerun")
        msg = [x for x in rerun.out.splitlines() if KEY in x]
        notes.append(f"rerun rc={rerun.rc}" + (f": {msg[0].strip()[:140]}" if msg else " (point not named)"))
        now = tree(path)
        republish = cli(ctx, pub(path), hub=d / "hub", tag="publish")
        repo_same = tree(d / "hub/datasets/qchaos/pub") == R["repo_new"]
        if rerun.rc != 0 or republish.rc != 0:
            notes.append(f"publish after the rerun rc={republish.rc}: {error_line(republish.out)}")
            cls = "C" if silent else "B"
        elif not repo_same:
            notes.append("published data after the rerun DIFFERS from the reference")
            cls = "C"
        elif now != R["ref0"]:
            st = store_status(path)
            notes.append(f"store after the rerun: {diff(now, R['ref0'])}; verify {st.get(KEY)}")
            cls = "C" if silent else ("A" if st.get(KEY) == "ok" and set(now) == set(R["ref0"]) and
                                      group == "2d" and "complete" in cid else "B")
            if cls == "A":
                notes.append("harmless: same data and digests, only the truthy complete flag's bytes differ")
        else:
            cls = "C" if silent else "A"
        yield Case(group, cid, f"{what}; verify, publish, rerun generate, publish", cls, "; ".join(notes),
                   time.perf_counter() - t0)


# -- 2b. parquet corruption ---------------------------------------------------------------------------------------
def group_2b(ctx: Ctx):
    R = ctx.ref
    wf = "data/wavefunctions/train-00000-of-00001.parquet"
    sp = "data/spectra/train-00000-of-00001.parquet"

    def footer_flip(f):
        data = f.read_bytes()
        flen = int.from_bytes(data[-8:-4], "little")
        flip(f, len(data) - 8 - flen // 2)

    cases = [("wf-flip-30", f"flip a byte at 30 % of {wf}", wf, lambda f: flip(f, 0.30)),
             ("wf-flip-50", "... at 50 %", wf, lambda f: flip(f, 0.50)),
             ("wf-flip-77", "... at 77 %", wf, lambda f: flip(f, 0.77)),
             ("spectra-flip-40", f"flip a byte at 40 % of {sp}", sp, lambda f: flip(f, 0.40)),
             ("wf-truncate-90", f"truncate {wf} to 90 %", wf, lambda f: truncate(f, 0.9)),
             ("wf-footer-flip", f"flip a byte of {wf}'s footer", wf, footer_flip)]
    for cid, what, rel, damage in cases:
        t0 = time.perf_counter()
        d = ctx.case_dir("2b", cid)
        shutil.copytree(ctx.refs / "hub-new", d / "hub")
        repo = d / "hub/datasets/qchaos/pub"
        damage(repo / rel)
        loads = load_state(repo)
        notes, silent = [], False
        for how, per in loads.items():
            for cfg, v in per.items():
                ref = R["load_new"][how][cfg]
                if isinstance(v, str):
                    notes.append(f"{how}/{cfg}: {v[:150]}")
                elif v != ref:
                    silent = True
                    notes.append(f"{how}/{cfg}: LOADED SILENTLY DIFFERENT")
        v = verify(ctx, repo)
        notes.append(f"verify rc={v.rc}")
        rerun = cli(ctx, pub(ctx.refs / "ref0.zarr"), hub=d / "hub", tag="republish")
        restored = rerun.rc == 0 and tree(repo) == R["repo_new"] and not strays(repo)
        notes.append("republish restored the reference" if restored else
                     f"republish rc={rerun.rc}: {error_line(rerun.out)}")
        cls = "C" if silent else ("A" if restored else "B")
        yield Case("2b", cid, f"{what}; hub.load, plain load_dataset, verify, republish", cls, "; ".join(notes),
                   time.perf_counter() - t0)


# -- 2c. model corruption -----------------------------------------------------------------------------------------
def group_2c(ctx: Ctx):
    R = ctx.ref
    W, C, Q = "model.safetensors", "config.json", "qchaos.json"

    def metric_digit(f):
        edit(f, r'("accuracy": \{\s*"test": 0\.)(\d)', lambda m: m.group(1) + str((int(m.group(2)) + 1) % 10))

    cases = [("weights-flip-middle", f"flip the middle byte of {W}", lambda m: flip(m / W, 0.5)),
             ("weights-flip-header", f"flip a byte of {W}'s header", lambda m: flip(m / W, 20)),
             ("weights-truncate", f"truncate {W} to half", lambda m: truncate(m / W, 0.5)),
             ("config-hidden", f"{C} hidden 128 -> 129", lambda m: edit(m / C, r'"hidden": 128', '"hidden": 129')),
             ("config-image-33", f"{C} image_size 32 -> 33 (one bit)",
              lambda m: edit(m / C, r'"image_size": 32', '"image_size": 33')),
             ("config-image-38", f"{C} image_size 32 -> 38",
              lambda m: edit(m / C, r'"image_size": 32', '"image_size": 38')),
             ("config-dropout", f"{C} dropout 0.5 -> 0.4", lambda m: edit(m / C, r'"dropout": 0\.5', '"dropout": 0.4')),
             ("config-key", f"{C} key dropout -> dropou4", lambda m: edit(m / C, r'"dropout"', '"dropou4"')),
             ("record-broken", f"{Q} invalid JSON", lambda m: truncate(m / Q, 0.5)),
             ("record-metric", f"{Q}: a digit of a metric changed", lambda m: metric_digit(m / Q))]
    for cid, what, damage in cases:
        t0 = time.perf_counter()
        d = ctx.case_dir("2c", cid)
        hub = d / "hub"
        shutil.copytree(ctx.refs / "hub-train-2c", hub)
        ckpt = hub / "models/qchaos/mt"
        damage(ckpt)
        m = model_state(ckpt)
        notes, silent = [f"from_pretrained: {m[:170]}"], False
        if m.startswith("ok") and m != R["model_2c"]:
            silent = True
            notes.append("LOADED SILENTLY DIFFERENT")
        v = verify(ctx, ckpt)
        notes.append(f"verify rc={v.rc}")
        rerun = cli(ctx, train_args(d / "mt.json", 1), hub=hub, tag="retrain")
        restored = rerun.rc == 0 and tree(ckpt) == R["ckpt_2c"] and not strays(ckpt)
        notes.append("retraining restored the reference" if restored else
                     f"retrain rc={rerun.rc}: {error_line(rerun.out)}; {diff(tree(ckpt), R['ckpt_2c'])}")
        cls = "C" if silent else ("A" if restored else "B")
        yield Case("2c", cid, f"{what}; from_pretrained, verify, retrain", cls, "; ".join(notes),
                   time.perf_counter() - t0)


# -- 3. concurrency -----------------------------------------------------------------------------------------------
def _popen(ctx: Ctx, args, hub=None, env=None, tag=""):
    environ = {**os.environ, **(env or {})}
    if hub is not None:
        environ["QCHAOS_HUB"] = str(hub)
    log = ctx.log(tag)
    proc = subprocess.Popen([PY, "-m", "qchaos", *args], cwd=ctx.work, env=environ, stdout=open(log, "w"),
                            stderr=subprocess.STDOUT, start_new_session=True)
    return proc, log


def group_3a(ctx: Ctx):
    R = ctx.ref
    for cid, existing, stagger in (("f1-fresh-together", False, 0.0), ("f2-fresh-0.3s", False, 0.3),
                                   ("e1-existing-together", True, 0.0), ("e2-existing-0.7s", True, 0.7)):
        t0 = time.perf_counter()
        d = ctx.case_dir("3a", cid)
        path = d / "c.zarr"
        if existing:  # one point complete
            shutil.copytree(ctx.refs / "ref0.zarr", path)
            for p in (path / "points").iterdir():
                if p.is_dir() and p.name != "eta0.2000000000":
                    shutil.rmtree(p)
        a, la = _popen(ctx, gen(ETAS6, path, "--workers", "0"), tag=cid + "-A")
        time.sleep(stagger)
        b, lb = _popen(ctx, gen(ETAS6, path, "--workers", "0"), tag=cid + "-B")
        ra, rb = a.wait(), b.wait()
        outs = [Run(ra, False, la.read_text()), Run(rb, False, lb.read_text())]
        notes = [f"A rc={ra}" + (f" ({error_line(outs[0].out)[:150]})" if ra else ""),
                 f"B rc={rb}" + (f" ({error_line(outs[1].out)[:150]})" if rb else "")]
        status = store_status(path)
        damaged = [k for k, v in status.items() if v == "damaged"]
        if damaged:
            notes.append(f"complete-marked damaged points: {damaged}")
        unclear = [r for r in outs if r.rc != 0 and not clear(r)]
        rerun = cli(ctx, gen(ETAS6, path, "--workers", "0"), tag=cid + "-rerun")
        ok = rerun.rc == 0 and tree(path) == R["ref0"] and not strays(path)
        notes.append("rerun: identical to the reference" if ok else
                     f"rerun rc={rerun.rc}: {diff(tree(path), R['ref0'])}; strays {strays(path)}")
        cls = "C" if damaged and not ok else ("B" if unclear or not ok else "A")
        if damaged and ok:
            cls = "B"
        yield Case("3a", cid, f"two generate on one store ({'1 point done' if existing else 'fresh'}), "
                   f"{stagger} s apart; rerun", cls, "; ".join(notes), time.perf_counter() - t0)


def group_3b(ctx: Ctx):
    R = ctx.ref
    from qchaos.cli import main

    ref0 = ctx.refs / "ref0.zarr"
    for i in range(10):
        stagger = i / 10
        t0 = time.perf_counter()
        cid = f"stagger-{stagger:.1f}s"
        d = ctx.case_dir("3b", cid)
        env = {"QCHAOS_HUB": str(d / "hub")}
        runs = []

        def start(tag):
            r, w = os.pipe()
            log = ctx.log(f"{cid}-{tag}")
            pid = os.fork()
            if pid == 0:
                os.close(r)
                os.setpgid(0, 0)
                fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
                os.dup2(fd, 1)
                os.dup2(fd, 2)
                os.environ.update(env)
                try:
                    code = main(pub(ref0))
                except BaseException:  # noqa: BLE001
                    traceback.print_exc()
                    code = 99
                sys.stdout.flush()
                sys.stderr.flush()
                os._exit(code)
            os.close(w)
            os.close(r)
            return pid, log

        a = start("A")
        time.sleep(stagger)
        b = start("B")
        for pid, log in (a, b):
            _, status = os.waitpid(pid, 0)
            runs.append(Run(os.WEXITSTATUS(status) if os.WIFEXITED(status) else None, False, log.read_text()))
        dest = d / "hub/datasets/qchaos/pub"
        notes = [f"A rc={runs[0].rc}" + (f" ({error_line(runs[0].out)[:140]})" if runs[0].rc else ""),
                 f"B rc={runs[1].rc}" + (f" ({error_line(runs[1].out)[:140]})" if runs[1].rc else "")]
        now, left = tree(dest), strays(dest)
        mixed = now is not None and now != R["repo_new"]
        if mixed:
            notes.append(f"repo after both: {diff(now, R['repo_new'])}")
        if left:
            notes.append(f"strays: {left}")
        unclear = [r for r in runs if r.rc != 0 and not clear(r)]
        need_rerun = all(r.rc != 0 for r in runs)
        if need_rerun or mixed or left:
            rerun = cli(ctx, pub(ref0), hub=d / "hub", tag=cid + "-rerun")
            ok = rerun.rc == 0 and tree(dest) == R["repo_new"] and not strays(dest)
            notes.append(f"rerun {'restored the reference' if ok else f'rc={rerun.rc}'}")
        else:
            ok = True
        silent = False
        if mixed:
            loads = load_state(dest)
            silent = any(not isinstance(v, str) and v != R["load_new"][h][c] for h, per in loads.items()
                         for c, v in per.items())
        cls = "C" if silent else ("B" if unclear or need_rerun or left or mixed or not ok else "A")
        yield Case("3b", cid, f"two publish of one repo {stagger:.1f} s apart", cls, "; ".join(notes),
                   time.perf_counter() - t0)


def group_3c(ctx: Ctx):
    R = ctx.ref
    for n_done in (1, 3, 5):
        t0 = time.perf_counter()
        cid = f"publish-after-{n_done}-points"
        d = ctx.case_dir("3c", cid)
        path = d / "s.zarr"
        proc, log = _popen(ctx, gen(ETAS6, path, "--workers", "0"), tag=cid + "-gen")

        def done():
            pts = path / "points"
            return pts.is_dir() and sum(1 for p in pts.iterdir() if p.is_dir()) >= n_done

        while proc.poll() is None and not done():
            time.sleep(0.005)
        run = cli(ctx, pub(path, "--allow-partial"), hub=d / "hub", tag=cid + "-pub")
        rc = proc.wait()
        notes = [f"generate rc={rc}", f"publish rc={run.rc}" + (f" ({error_line(run.out)})" if run.rc else "")]
        repo = d / "hub/datasets/qchaos/pub"
        cls = "A"
        if run.rc == 0:
            manifest = json.loads((repo / "data/manifest.json").read_text())
            missing = manifest["missing_points"]
            notes.append(f"published {6 - len(missing)} points")
            subset = d / "subset.zarr"  # the reference of that subset: the reference store without those points
            shutil.copytree(ctx.refs / "ref0.zarr", subset)
            for key in missing:
                shutil.rmtree(subset / "points" / key)
            refpub = cli(ctx, pub(subset, "--allow-partial"), hub=d / "hub-ref", tag=cid + "-refpub")
            if refpub.rc != 0 or tree(repo) != tree(d / "hub-ref/datasets/qchaos/pub"):
                notes.append("published repo DIFFERS from the reference publish of the same points: "
                             + diff(tree(repo), tree(d / "hub-ref/datasets/qchaos/pub")))
                cls = "C"
        elif not clear(run):
            cls = "B"
        if tree(path) != R["ref0"] or strays(path):
            notes.append(f"store: {diff(tree(path), R['ref0'])}; strays {strays(path)}")
            cls = "C" if cls == "C" or rc == 0 else "B"
        yield Case("3c", cid, f"publish --allow-partial while generate writes (after {n_done} points)", cls,
                   "; ".join(notes), time.perf_counter() - t0)


# -- 4. disk full -------------------------------------------------------------------------------------------------
@contextlib.contextmanager
def tmpfs(size_kib: int):
    TMPFS.mkdir(parents=True, exist_ok=True)
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size_kib}k", "tmpfs", str(TMPFS)], check=True,
                   capture_output=True)
    try:
        yield TMPFS
    finally:
        subprocess.run(["umount", str(TMPFS)], capture_output=True)


def resize(size_kib: int) -> None:
    subprocess.run(["mount", "-o", f"remount,size={size_kib}k", str(TMPFS)], check=True, capture_output=True)


def used_kib() -> int:
    st = os.statvfs(TMPFS)
    return (st.f_blocks - st.f_bfree) * st.f_frsize // 1024


def du_kib(path: Path) -> int:
    return sum(-(-p.stat().st_size // 4096) * 4 for p in Path(path).rglob("*") if p.is_file()) + \
        4 * sum(1 for p in Path(path).rglob("*") if p.is_dir())


def group_4(ctx: Ctx):
    R = ctx.ref
    if not ctx.use_tmpfs:
        for cid in ("sweep", "sweep-rerun-full", "publish12", "publish6-after", "republish", "train"):
            yield Case("4", cid, "disk full", "skipped", "--no-tmpfs")
        return
    TMPFS.mkdir(parents=True, exist_ok=True)
    probe = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(TMPFS)], capture_output=True,
                           text=True)
    if probe.returncode != 0:
        for cid in ("sweep", "sweep-rerun-full", "publish12", "publish6-after", "republish", "train"):
            yield Case("4", cid, "disk full", "skipped", f"cannot mount a tmpfs ({probe.stderr.strip()[:100]}); "
                       "tests/test_faults.py covers the class with a fake ENOSPC")
        return
    subprocess.run(["umount", str(TMPFS)], capture_output=True)
    s12 = du_kib(ctx.refs / "ref12.zarr")
    repo6 = du_kib(ctx.refs / "hub-new/datasets/qchaos/pub")
    # 4.1 / 4.2: a 12-point sweep into a tmpfs of about half its size; rerun on the full disk; free space, rerun
    with tmpfs(s12 // 2):
        t0 = time.perf_counter()
        path = TMPFS / "s12.zarr"
        run = cli(ctx, gen(ETAS12, path, "--workers", "0"), tag="4-sweep")
        status = store_status(path)
        ok_pts = [k for k, v in status.items() if v == "ok"]
        damaged = [k for k, v in status.items() if v == "damaged"]
        same = all(tree(path).get(f) == h for f, h in R["ref12"].items()
                   if any(f.startswith(f"points/{k}/") for k in ok_pts))
        notes1 = [f"rc={run.rc}: {error_line(run.out)[:170]}", f"{len(ok_pts)} complete points"
                  + (" identical to the reference" if same else " DIFFERENT"), f"strays {strays(path)}",
                  f"disk {used_kib()} of {s12 // 2} KiB used"]
        t_sweep = time.perf_counter() - t0
        t0 = time.perf_counter()
        before = tree(path)
        run2 = cli(ctx, gen(ETAS12, path, "--workers", "0"), tag="4-sweep-rerun-full")
        status2 = store_status(path)
        kept = all(tree(path).get(f) == h for f, h in before.items() if any(f.startswith(f"points/{k}/")
                                                                            for k in ok_pts))
        notes2 = [f"rc={run2.rc}: {error_line(run2.out)[:170]}",
                  f"complete points kept: {kept}", f"damaged: {[k for k, v in status2.items() if v == 'damaged']}",
                  f"strays {strays(path)}"]
        resize(2 * s12 + 1024)
        run3 = cli(ctx, gen(ETAS12, path, "--workers", "0"), tag="4-sweep-rerun-space")
        restored = run3.rc == 0 and tree(path) == R["ref12"] and not strays(path)
        notes1.append("after freeing space the rerun gave the reference" if restored else
                      f"rerun after freeing space rc={run3.rc}: {diff(tree(path), R['ref12'])}")
        cls = "C" if damaged or not same else ("A" if clear(run, path) and restored and not strays(path) else "B")
        yield Case("4", "sweep", "12-point sweep into a tmpfs of half its size; free space, rerun", cls,
                   "; ".join(notes1), t_sweep)
        cls2 = "C" if not kept or any(v == "damaged" for v in status2.values()) else \
            ("A" if clear(run2, path) and restored else "B")
        yield Case("4", "sweep-rerun-full", "rerun of the sweep on the full disk", cls2, "; ".join(notes2),
                   time.perf_counter() - t0)
    # 4.3 / 4.4: publish the 12-point store into an empty hub where only the 6-point repo fits; then the 6-point one
    size = int(repo6 * 1.3) + 64
    with tmpfs(size):
        t0 = time.perf_counter()
        hub = TMPFS / "hub"
        run = cli(ctx, pub(ctx.refs / "ref12.zarr", repo="qchaos/big"), hub=hub, tag="4-publish12")
        dest = hub / "datasets/qchaos/big"
        notes = [f"rc={run.rc}: {error_line(run.out)[:170]}", f"repo {'absent' if not dest.exists() else 'PRESENT'}",
                 f"strays {strays(dest)}", f"disk {used_kib()} of {size} KiB used after the failure"]
        leaked = used_kib() > 64 or strays(dest)
        cls = "B" if leaked or not clear(run, dest) or dest.exists() else "A"
        yield Case("4", "publish12", "publish a 12-point store into a hub where it does not fit", cls,
                   "; ".join(notes), time.perf_counter() - t0)
        t0 = time.perf_counter()
        run = cli(ctx, pub(ctx.refs / "ref0.zarr"), hub=hub, tag="4-publish6")
        ok = run.rc == 0 and tree(hub / "datasets/qchaos/pub") == R["repo_new"]
        yield Case("4", "publish6-after", "then publish the 6-point store (fits alone)", "A" if ok else "B",
                   f"rc={run.rc}" + (f": {error_line(run.out)[:170]}" if run.rc else ", identical to the reference"),
                   time.perf_counter() - t0)
    # 4.5: republish a repo that fits once but not twice
    size = int(repo6 * 1.5)
    with tmpfs(size):
        t0 = time.perf_counter()
        hub = TMPFS / "hub"
        shutil.copytree(ctx.refs / "hub-new/datasets", hub / "datasets")
        dest = hub / "datasets/qchaos/pub"
        run = cli(ctx, pub(ctx.refs / "ref0.zarr"), hub=hub, tag="4-republish")
        intact = tree(dest) == R["repo_new"]
        notes = [f"rc={run.rc}: {error_line(run.out)[:170]}", f"old repo {'intact' if intact else 'CHANGED'}",
                 f"strays {strays(dest)}", f"disk {used_kib()} of {size} KiB used"]
        leaked = bool(strays(dest)) or used_kib() > repo6 + 64
        resize(3 * repo6)
        rerun = cli(ctx, pub(ctx.refs / "ref0.zarr"), hub=hub, tag="4-republish-rerun")
        ok = rerun.rc == 0 and tree(dest) == R["repo_new"] and not strays(dest)
        notes.append("after freeing space the rerun gave the reference" if ok else f"rerun rc={rerun.rc}")
        cls = "C" if not intact else ("A" if run.rc == 0 or (clear(run, dest) and not leaked and ok) else "B")
        yield Case("4", "republish", "republish an existing repo that fits once but not twice", cls,
                   "; ".join(notes), time.perf_counter() - t0)
    # 4.6: train over an existing checkpoint in a nearly full hub
    size = du_kib(ctx.refs / "hub-train-old") + 1024
    with tmpfs(size):
        t0 = time.perf_counter()
        hub = TMPFS / "hub"
        shutil.copytree(ctx.refs / "hub-train-old", hub)
        free = os.statvfs(TMPFS).f_bavail * os.statvfs(TMPFS).f_frsize
        filler = TMPFS / "filler"
        filler.write_bytes(b"\0" * max(0, free - 200 * 1024))
        ckpt = hub / "models/qchaos/mt"
        log = ctx.work / "4-train.json"
        run = cli(ctx, train_args(log), hub=hub, tag="4-train")
        intact = tree(ckpt) == R["ckpt_old"]
        notes = [f"rc={run.rc}: {error_line(run.out)[:170]}", f"old checkpoint {'intact' if intact else 'CHANGED'}",
                 f"strays {strays(ckpt)}"]
        filler.unlink()
        rerun = cli(ctx, train_args(log), hub=hub, tag="4-train-rerun")
        ok = rerun.rc == 0 and tree(ckpt) == R["ckpt_new"] and not strays(ckpt)
        notes.append("after freeing space the rerun gave the reference" if ok else f"rerun rc={rerun.rc}")
        cls = "C" if not intact else ("A" if clear(run, ckpt) and ok and not strays(ckpt) else "B")
        yield Case("4", "train", "train over an existing checkpoint in a nearly full hub; free space, rerun", cls,
                   "; ".join(notes), time.perf_counter() - t0)


# -- 5. a real Dask cluster on loopback ----------------------------------------------------------------------------
class Cluster:
    def __init__(self, ctx: Ctx):
        self.ctx = ctx
        self.dir = ctx.work / "5"
        self.dir.mkdir(exist_ok=True)
        self.file = self.dir / "sched.json"
        self.env = {**os.environ, "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}"}
        self.procs: dict[str, subprocess.Popen] = {}
        dask = str(Path(PY).parent / "dask")
        self.dask = dask if Path(dask).exists() else None

    def _start(self, name, args):
        log = self.ctx.log(f"dask-{name}")
        self.procs[name] = subprocess.Popen([self.dask, *args], cwd=self.dir, env=self.env, stdout=open(log, "w"),
                                            stderr=subprocess.STDOUT, start_new_session=True)

    def start(self):
        self._start("scheduler", ["scheduler", "--host", "127.0.0.1", "--port", "0", "--scheduler-file",
                                  str(self.file), "--dashboard-address", "127.0.0.1:0"])
        for _ in range(300):
            if self.file.exists():
                with contextlib.suppress(ValueError, KeyError):
                    self.address = json.loads(self.file.read_text())["address"]
                    break
            time.sleep(0.1)
        for w in ("w1", "w2"):
            self.worker(w)
        self.wait_workers(2)

    def worker(self, name):
        self._start(name, ["worker", "--scheduler-file", str(self.file), "--nthreads", "1", "--host", "127.0.0.1",
                           "--dashboard-address", "127.0.0.1:0"])

    def wait_workers(self, n, timeout=120):
        def count():
            from distributed import Client

            with Client(self.address, timeout=30) as c:
                return len(c.scheduler_info()["workers"])
        for _ in range(int(timeout)):
            if fork(count).value == n:
                return
            time.sleep(1)
        raise RuntimeError(f"the Dask cluster did not reach {n} workers")

    def worker_process(self, name) -> int | None:
        """The worker process under the nanny ``name`` (a child running the spawned worker)."""
        nanny = self.procs[name].pid
        kids = subprocess.run(["ps", "-o", "pid=,args=", "--ppid", str(nanny)], capture_output=True,
                              text=True).stdout.splitlines()
        for line in kids:
            pid, args = line.strip().split(None, 1)
            if "resource_tracker" not in args:
                return int(pid)
        return None

    def stop(self):
        for p in self.procs.values():
            with contextlib.suppress(ProcessLookupError):
                os.killpg(p.pid, signal.SIGKILL)
            with contextlib.suppress(Exception):
                p.wait(timeout=10)


def group_5(ctx: Ctx):
    R = ctx.ref
    cl = Cluster(ctx)
    if cl.dask is None:
        for cid in ("kill-worker-process", "kill-worker-group", "two-sweeps-same-name"):
            yield Case("5" if cid != "two-sweeps-same-name" else "3d", cid, "Dask", "skipped", "no dask CLI")
        return
    try:
        cl.start()

        def points(path):
            pts = path / "points"
            return sum(1 for p in pts.iterdir() if p.is_dir()) if pts.is_dir() else 0

        # 5.1: SIGKILL of w2's worker process (the nanny restarts it) after 2 points
        t0 = time.perf_counter()
        path = ctx.case_dir("5", "kill-worker-process") / "dk.zarr"
        proc, log = _popen(ctx, gen(ETAS6, path, "--scheduler-file", str(cl.file)), tag="5-sweep1")
        while proc.poll() is None and points(path) < 2:
            time.sleep(0.01)
        victim, at_kill = cl.worker_process("w2"), points(path)
        what = subprocess.run(["ps", "-o", "args=", "-p", str(victim)], capture_output=True, text=True
                              ).stdout.strip()[:60] if victim else "none found"
        if victim:
            os.kill(victim, signal.SIGKILL)
        rc = proc.wait()
        ok = rc == 0 and tree(path) == R["ref0"] and not strays(path)
        note = f"killed the worker process {victim} ({what}) after {at_kill} points; sweep rc={rc}; " + \
            ("identical" if ok else f"{diff(tree(path), R['ref0'])} {error_line(log.read_text())}")
        yield Case("5", "kill-worker-process", "SIGKILL of one worker process mid-sweep (--scheduler-file)",
                   "A" if ok else ("B" if rc != 0 else "C"), note, time.perf_counter() - t0)
        cl.wait_workers(2)
        # 5.2: SIGKILL of w1's whole process group (nanny + worker) after 3 points
        t0 = time.perf_counter()
        path = ctx.case_dir("5", "kill-worker-group") / "dk.zarr"
        proc, log = _popen(ctx, gen(ETAS6, path, "--scheduler", cl.address), tag="5-sweep2")
        while proc.poll() is None and points(path) < 3:
            time.sleep(0.01)
        done_at_kill = points(path)
        os.killpg(cl.procs["w1"].pid, signal.SIGKILL)
        cl.procs["w1"].wait()
        rc = proc.wait()
        ok = rc == 0 and tree(path) == R["ref0"] and not strays(path)
        yield Case("5", "kill-worker-group", "SIGKILL of a worker's whole process group (nanny + worker) mid-sweep",
                   "A" if ok else ("B" if rc != 0 else "C"),
                   f"{done_at_kill} points done at the kill; sweep rc={rc}" +
                   ("; finished on the other worker, identical" if ok else f"; {diff(tree(path), R['ref0'])} "
                                                                        f"{error_line(log.read_text())}"),
                   time.perf_counter() - t0)
        cl.worker("w1")
        cl.wait_workers(2)
        # 3d: two sweeps at once into stores with the same file name (one via DASK_SCHEDULER_ADDRESS)
        t0 = time.perf_counter()
        d = ctx.case_dir("3d", "two-sweeps-same-name")
        p1, p2 = d / "kc1/s.zarr", d / "kc2/s.zarr"
        a, la = _popen(ctx, gen(ETAS6, p1, "--scheduler", cl.address), tag="3d-a")
        b, lb = _popen(ctx, gen(ETAS6, p2), env={"DASK_SCHEDULER_ADDRESS": cl.address}, tag="3d-b")
        ra, rb = a.wait(), b.wait()
        ok1, ok2 = tree(p1) == R["ref0"], tree(p2) == R["ref0"]
        notes = f"rc {ra}/{rb}; kc1 {'identical' if ok1 else diff(tree(p1), R['ref0'])}; kc2 " \
                f"{'identical' if ok2 else diff(tree(p2), R['ref0'])}"
        cls = "A" if ra == rb == 0 and ok1 and ok2 else ("C" if 0 in (ra, rb) else "B")
        yield Case("3d", "two-sweeps-same-name", "two sweeps at once on one cluster into kc1/s.zarr and kc2/s.zarr "
                   "(the second via DASK_SCHEDULER_ADDRESS)", cls, notes, time.perf_counter() - t0)
    finally:
        cl.stop()


# -- main ----------------------------------------------------------------------------------------------------------
def _calibrate_publish(ctx: Ctx) -> None:
    """Seconds from the appearance of a republish's staging folder to its end (the black-box kill window)."""
    d = ctx.case_dir("1b", "calibrate")
    shutil.copytree(ctx.refs / "hub-old", d / "hub")
    parent = d / "hub/datasets/qchaos"
    environ = {**os.environ, "QCHAOS_HUB": str(d / "hub")}
    proc = subprocess.Popen([PY, "-m", "qchaos", *pub(ctx.refs / "ref0.zarr")], cwd=ctx.work, env=environ,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    while proc.poll() is None and not any(parent.glob(".pub.new-*")):
        time.sleep(0.002)
    t0 = time.perf_counter()
    proc.wait()
    ctx.ref["t_pub_write"] = max(0.05, time.perf_counter() - t0)
    shutil.rmtree(d)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("findings", nargs="?", type=Path, default=FINDINGS, help="the fault findings markdown")
    p.add_argument("--work", type=Path, default=Path("/tmp/faults-replay"), help="scratch folder (recreated)")
    p.add_argument("--only", help=f"comma-separated groups to replay ({', '.join(GROUPS)})")
    p.add_argument("--json", type=Path, help="write the records here")
    p.add_argument("--no-tmpfs", action="store_true", help="skip the full-disk group (needs mount -t tmpfs)")
    args = p.parse_args(argv)
    groups = set(args.only.split(",")) if args.only else set(GROUPS)
    unknown = groups - set(GROUPS)
    if unknown:
        p.error(f"--only: unknown group(s) {sorted(unknown)}")
    if args.findings.exists():  # the groups replayed are the findings' own; say which file they come from
        text = args.findings.read_text(encoding="utf-8")
        if "121" not in text:
            print(f"warning: {args.findings} does not look like the 121-fault findings", file=sys.stderr)

    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    work.mkdir(parents=True)
    os.environ.update({"QCHAOS_HUB": str(work / "hub"), "HF_HOME": str(work / "hfhome"), "HF_HUB_OFFLINE": "1",
                       "HF_DATASETS_DISABLE_PROGRESS_BARS": "1", "TQDM_DISABLE": "1",
                       "XDG_CACHE_HOME": str(work / "cache"), "OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                       "MKL_NUM_THREADS": "1", "PYTHONPATH": f"{REPO}:{os.environ.get('PYTHONPATH', '')}",
                       "MPLBACKEND": "Agg"})
    os.environ.pop("QCHAOS_MAX_BYTES", None)
    sys.path.insert(0, str(REPO))
    # import once here (forked children inherit the modules; nothing here opens a store, a dataset or a model)
    import datasets  # noqa: F401
    import torch  # noqa: F401

    import evaluation.runner  # noqa: F401
    import generation.publish  # noqa: F401
    import modeling.train  # noqa: F401
    import qchaos.cli  # noqa: F401

    ctx = Ctx(work, not args.no_tmpfs)
    (work / "logs").mkdir()
    CHILD_LOG.append(work / "logs" / "children.log")
    t_start = time.perf_counter()
    setup(ctx, groups)
    print(f"references ready in {time.perf_counter() - t_start:.0f} s (sweep {ctx.ref['t_gen']:.1f} s)", flush=True)
    records: list[Case] = []
    plan = [("1a", group_1a), ("1b", group_1b), ("1c", group_1c), ("1d", group_1d),
            ("2a", lambda c: group_store_damage(c, "2a")), ("2d", lambda c: group_store_damage(c, "2d")),
            ("2b", group_2b), ("2c", group_2c), ("3a", group_3a), ("3b", group_3b), ("3c", group_3c),
            ("4", group_4), ("5", group_5)]
    for name, fn in plan:
        if name not in groups and not (name == "5" and "3d" in groups):
            continue
        try:
            if name == "1b":
                _calibrate_publish(ctx)
            for case in fn(ctx):
                if case.group not in groups:
                    continue
                records.append(case)
                print(f"{case.group:>3} {case.id:<34} {case.cls:<7} {case.seconds:6.1f}s  {case.note[:400]}",
                      flush=True)
        except Exception:  # noqa: BLE001 - a broken group of the tool must not hide the others' results
            print(f"group {name}: the replay itself failed:\n{traceback.format_exc()}", flush=True)
            records.append(Case(name, "tool-error", "the replay of this group failed", "error",
                                traceback.format_exc().splitlines()[-1]))

    print("\n| group | faults | A | B | C | skipped | findings (faults / A / B / C) |")
    print("|---|---:|---:|---:|---:|---:|---|")
    totals = {"n": 0, "A": 0, "B": 0, "C": 0, "skipped": 0}
    for g in GROUPS:
        recs = [r for r in records if r.group == g]
        if not recs:
            continue
        c = {k: sum(r.cls == k for r in recs) for k in ("A", "B", "C", "skipped")}
        totals["n"] += len(recs)
        for k in c:
            totals[k] += c[k]
        f = FINDINGS_COUNTS[g]
        print(f"| {g} {TITLES[g]} | {len(recs)} | {c['A']} | {c['B']} | {c['C']} | {c['skipped']} | "
              f"{f[0]} / {f[1]} / {f[2]} / {f[3]} |")
    print(f"| **total** | {totals['n']} | {totals['A']} | {totals['B']} | {totals['C']} | {totals['skipped']} | "
          "121 / 70 / 26 / 25 |")
    bad = [r for r in records if r.cls in ("B", "C")]
    if bad:
        print("\nB / C cases:")
        for r in bad:
            print(f"  [{r.cls}] {r.group} {r.id}: {r.fault}\n      {r.note}")
    print(f"\nreplayed {totals['n'] - totals['skipped']} fault cases in {time.perf_counter() - t_start:.0f} s")
    if args.json:
        args.json.write_text(json.dumps([asdict(r) for r in records], indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
