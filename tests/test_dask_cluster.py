"""Sweeps on a real Dask cluster: ``dask scheduler`` + two ``dask worker`` processes on 127.0.0.1 (no dashboards).

The cluster is reached the ways Dask users expect (``--scheduler-file``, ``DASK_SCHEDULER_ADDRESS``); every store
must equal the in-process one array for array, byte for byte: two concurrent sweeps into stores with the same file
name (their task keys must not collide), and a sweep during which one worker is killed (its points are rerun on
the other). A scheduler that does not answer is an environment failure (exit 5), not a traceback.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from generation.presets import TwobodyConfig
from generation.store import PointStore
from generation.sweep import run_sweep, task_key
from generation.twobody.generate import compute_point

ROOT = Path(__file__).resolve().parent.parent
TINY = TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True,
                     scheme="effective")  # the mini preset's scheme, which the CLI starts from
KILL_ETAS = "0.2,0.3,0.5,0.7"
KILL = TwobodyConfig(etas=(0.2, 0.3, 0.5, 0.7), levels=60, window=(10, 29), image_size=16, rough_images=True,
                     scheme="effective")
GEN = ["generate", "twobody", "--levels", "60", "--window", "10", "29", "--image-size", "16", "--rough-images",
       "--quiet"]


def _env(**extra) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DASK_")}
    env.update({"PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1",
                "DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT": "5s", "TQDM_DISABLE": "1", **extra})
    return env


def _qchaos(args: list[str], **env) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "qchaos", *args], env=_env(**env), cwd=ROOT,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _reference(tmp: Path, config: TwobodyConfig, name: str) -> Path:
    path = tmp / name
    run_sweep(PointStore.open(path, "twobody", "mini+custom", config.to_dict()), config.points(), compute_point,
              workers=0, progress=False)
    return path


def _assert_same_store(path: Path, ref: Path, config: TwobodyConfig) -> None:
    import numpy as np
    import zarr

    def arrays(p):
        out = {}
        for key, group in zarr.open_group(str(p / "points"), mode="r").groups():
            for table, sub in group.groups():
                for name, arr in sub.arrays():
                    out[key, f"{table}/{name}"] = arr[...]
        return out

    a, b = arrays(path), arrays(ref)
    assert sorted(a) == sorted(b) and {k for k, _ in a} == set(config.points()), (sorted(a), sorted(b))
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert a[k].tobytes() == b[k].tobytes(), f"{path}: {k} differs from the in-process store"
    assert np.all([PointStore(path, config.to_dict()).point_attrs(k)["eta"] == v["eta"]
                   for k, v in config.points().items()])


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A scheduler (scheduler file, loopback, no dashboard) and two single-threaded workers, each in its own
    process group; yields ``{"file", "address", "workers": [Popen, Popen]}``."""
    tmp = tmp_path_factory.mktemp("dask")
    sfile = tmp / "scheduler.json"
    procs = [subprocess.Popen([sys.executable, "-m", "dask", "scheduler", "--host", "127.0.0.1", "--port", "0",
                               "--no-dashboard", "--scheduler-file", str(sfile)], env=_env(), cwd=tmp,
                              stdout=subprocess.DEVNULL, stderr=open(tmp / "scheduler.log", "w"),
                              start_new_session=True)]
    try:
        deadline = time.monotonic() + 60
        while not sfile.is_file() and time.monotonic() < deadline:
            time.sleep(0.1)
        assert sfile.is_file(), (tmp / "scheduler.log").read_text()[-2000:]
        for i in range(2):
            procs.append(subprocess.Popen(
                [sys.executable, "-m", "dask", "worker", "--scheduler-file", str(sfile), "--host", "127.0.0.1",
                 "--nworkers", "1", "--nthreads", "1", "--no-dashboard", "--local-directory", str(tmp / f"w{i}"),
                 "--name", f"w{i}"], env=_env(), cwd=tmp, stdout=subprocess.DEVNULL,
                stderr=open(tmp / f"worker{i}.log", "w"), start_new_session=True))
        from dask.distributed import Client

        with Client(scheduler_file=str(sfile), timeout="30s") as client:
            client.wait_for_workers(2, timeout=90)
            address = client.scheduler.address
        yield {"file": sfile, "address": address, "workers": procs[1:]}
    finally:
        for proc in reversed(procs):
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in procs:
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait(timeout=10)


def test_task_keys_are_unique_per_store(tmp_path):
    a = PointStore.open(tmp_path / "a" / "s.zarr", "twobody", "t", TINY.to_dict())
    b = PointStore.open(tmp_path / "b" / "s.zarr", "twobody", "t", TINY.to_dict())
    key = next(iter(TINY.points()))
    assert task_key(a, key) != task_key(b, key)  # same file name, other folder
    assert task_key(a, key) == task_key(PointStore(tmp_path / "a" / "." / "s.zarr", TINY.to_dict()), key)
    assert key in task_key(a, key) and "s.zarr" in task_key(a, key)


def test_same_named_stores_on_one_cluster(cluster, tmp_path):
    """Two concurrent sweeps, one by --scheduler-file, one by DASK_SCHEDULER_ADDRESS, into two stores named
    tiny.zarr: both complete and equal to the in-process store."""
    ref = _reference(tmp_path, TINY, "ref.zarr")
    outs = [tmp_path / "a" / "tiny.zarr", tmp_path / "b" / "tiny.zarr"]
    procs = [_qchaos(GEN + ["--eta", "0.5,1", "--out", str(outs[0]), "--scheduler-file", str(cluster["file"])]),
             _qchaos(GEN + ["--eta", "0.5,1", "--out", str(outs[1])], DASK_SCHEDULER_ADDRESS=cluster["address"])]
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
    for out in outs:
        _assert_same_store(out, ref, TINY)


def test_killed_worker_mid_sweep(cluster, tmp_path):
    """One of the two workers is killed (with its nanny) once the first point is complete: its tasks run on the
    other worker, the sweep succeeds, and the store equals the in-process one."""
    ref = _reference(tmp_path, KILL, "ref.zarr")
    out = tmp_path / "killed.zarr"
    proc = _qchaos(GEN + ["--eta", KILL_ETAS, "--out", str(out), "--scheduler", cluster["address"]])
    victim = cluster["workers"][0]
    done = 0
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            done = sum(json.loads(p.read_text()).get("attributes", {}).get("complete") is True
                       for p in (out / "points").glob("*/zarr.json") if p.stat().st_size)
            if done:
                break
            time.sleep(0.05)
        running = proc.poll() is None
        os.killpg(victim.pid, signal.SIGKILL)
        victim.wait(timeout=30)
        stdout, err = proc.communicate(timeout=300)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err[-3000:]
    assert running and 1 <= done < len(KILL.points()), f"the kill came too late ({done} points complete)"
    _assert_same_store(out, ref, KILL)


def test_unreachable_scheduler_is_an_environment_failure(tmp_path):
    import socket

    with socket.socket() as sock:  # a loopback port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    proc = _qchaos(GEN + ["--eta", "0.5", "--out", str(tmp_path / "x.zarr"), "--scheduler",
                          f"tcp://127.0.0.1:{port}"], DASK_DISTRIBUTED__COMM__TIMEOUTS__CONNECT="1s")
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 5, err
    assert f"qchaos: environment: scheduler tcp://127.0.0.1:{port}: does not answer" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1, err
    proc = _qchaos(GEN + ["--eta", "0.5", "--out", str(tmp_path / "y.zarr"), "--scheduler-file",
                          str(tmp_path / "nosuch.json")])
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 3 and f"--scheduler-file = {tmp_path / 'nosuch.json'}: no such file" in err, err
