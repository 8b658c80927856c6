"""Zarr point stores and resumable sweeps: provenance, config check, atomic points, Dask, kill and resume."""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest
import zarr

import generation.store as store_mod
import generation.twobody.generate as twobody_generate
from generation.presets import TwobodyConfig
from generation.store import PointResult, PointStore, config_hash
from generation.sweep import run_sweep
from generation.twobody.generate import compute_point

TINY = TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True)
KEYS = list(TINY.points())  # ["eta0.5000000000", "eta1.0000000000"]

# kill and resume: 6 points of ~1 s each (a 1600-state basis dominates at 60 levels)
RESUME_ETAS = "0.2,0.3,1/3,0.5,0.7,1"
RESUME = TwobodyConfig(etas=(0.2, 0.3, 1 / 3, 0.5, 0.7, 1.0), levels=60, window=(10, 29), image_size=16,
                       rough_images=True, scheme="effective")  # the mini preset's scheme, which the CLI starts from


# -- helpers -------------------------------------------------------------------------------------------------------
def _files(root: Path) -> list[Path]:
    return sorted(p for p in root.rglob("*") if p.is_file())


def _digest(root: Path) -> dict[str, str]:
    """sha256 of every file (and the set of folders) under ``root``."""
    out = {str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in _files(root)}
    out.update({str(p.relative_to(root)) + "/": "dir" for p in root.rglob("*") if p.is_dir()})
    return out


def _mtimes(root: Path) -> dict[str, int]:
    return {str(p.relative_to(root)): p.stat().st_mtime_ns for p in _files(root)}


def _of_points(files: dict, keys) -> dict:
    """The entries of ``files`` (relative paths) that belong to the points ``keys``."""
    return {k: v for k, v in files.items() if Path(k).parts[:1] == ("points",) and Path(k).parts[1:2]
            and Path(k).parts[1] in keys}


def _arrays(path: Path) -> dict[tuple[str, str], np.ndarray]:
    """Every array of every point: (key, "table/name") -> values."""
    points = zarr.open_group(str(path / "points"), mode="r")
    out = {}
    for key, group in points.groups():
        for table, sub in group.groups():
            for name, arr in sub.arrays():
                out[key, f"{table}/{name}"] = arr[...]
    return out


def _assert_identical(path_a: Path, path_b: Path) -> None:
    a, b = _arrays(path_a), _arrays(path_b)
    assert sorted(a) == sorted(b)
    for k in a:
        assert a[k].dtype == b[k].dtype and a[k].shape == b[k].shape, k
        assert np.array_equal(a[k], b[k], equal_nan=a[k].dtype.kind == "f"), f"{k} differs (max |diff| = " \
            f"{np.nanmax(np.abs(a[k].astype(float) - b[k].astype(float)))})"


def _sweep(path: Path, config: TwobodyConfig, task=compute_point, workers: int = 0, preset: str = "test"):
    store = PointStore.open(path, "twobody", preset, config.to_dict())
    return store, run_sweep(store, config.points(), task, workers=workers, progress=False)


def _never_called(params):
    raise AssertionError(f"point {params['eta']} was recomputed")


def _qchaos() -> list[str]:
    script = Path(sys.executable).with_name("qchaos")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qchaos"]


@pytest.fixture(scope="module")
def tiny_store(tmp_path_factory) -> Path:
    """The TINY sweep, in-process (read only: tests copy it before changing anything)."""
    path = tmp_path_factory.mktemp("tiny") / "tiny.zarr"
    _, report = _sweep(path, TINY)
    assert sorted(report.computed) == KEYS and not report.skipped and not report.failed
    return path


@pytest.fixture(scope="module")
def resume_ref(tmp_path_factory) -> Path:
    """The RESUME sweep, uninterrupted and in-process."""
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    _, report = _sweep(path, RESUME)
    assert len(report.computed) == 6
    return path


# -- provenance and config check ------------------------------------------------------------------------------------
def test_store_records_provenance(tiny_store):
    attrs = dict(zarr.open_group(str(tiny_store), mode="r").attrs)
    assert {"system", "preset", "config", "config_hash", "package_version", "git_commit"} <= set(attrs)
    assert attrs["system"] == "twobody"
    assert attrs["preset"] == "test"
    assert attrs["config"] == TINY.to_dict()
    assert attrs["config_hash"] == config_hash(TINY.to_dict())
    assert re.fullmatch(r"[0-9a-f]{16}", attrs["config_hash"])
    assert attrs["package_version"] == metadata.version("qchaos-hub")
    assert re.fullmatch(r"[0-9a-f]{40}|unknown", attrs["git_commit"]), attrs["git_commit"]
    store = PointStore(tiny_store, TINY.to_dict())
    assert store.completed() == set(KEYS)
    point = store.point_attrs("eta0.5000000000")
    assert point["complete"] is True and point["eta"] == 0.5 and point["g"] == 10.0


def test_reopen_same_config_skips_complete_points(tiny_store, tmp_path):
    path = tmp_path / "copy.zarr"
    shutil.copytree(tiny_store, path)
    before, mtimes = _digest(path), _mtimes(path)
    store, report = _sweep(path, TwobodyConfig(etas=(1.0, 0.5), levels=60, window=(10, 29), image_size=16, rough_images=True),
                           task=_never_called, preset="another-name")  # same config, given in another order
    assert sorted(report.skipped) == KEYS
    assert report.computed == [] and report.failed == {}
    assert store.completed() == set(KEYS)
    assert _digest(path) == before and _mtimes(path) == mtimes


@pytest.mark.parametrize("change, param", [({"g": 5.0}, "g"), ({"levels": 61}, "levels"),
                                           ({"image_size": 20}, "image_size"), ({"etas": (0.5,)}, "etas")])
def test_reopen_with_another_config_is_refused_and_untouched(tiny_store, tmp_path, change, param):
    path = tmp_path / "copy.zarr"
    shutil.copytree(tiny_store, path)
    before, mtimes = _digest(path), _mtimes(path)
    other = TwobodyConfig(**{**dict(etas=TINY.etas, levels=60, window=(10, 29), image_size=16, rough_images=True), **change})
    with pytest.raises(ValueError) as info:
        _sweep(path, other, task=_never_called)
    msg = str(info.value)
    assert msg.startswith(f"out = {path}"), msg
    differing = re.search(r"differing: ([^)]*)\)", msg)
    assert differing and differing.group(1).split(", ") == [param], msg
    assert _digest(path) == before and _mtimes(path) == mtimes


def test_existing_folder_that_is_no_store_is_refused(tmp_path):
    path = tmp_path / "notastore.zarr"
    path.mkdir()
    (path / "keep.txt").write_text("precious")
    with pytest.raises(ValueError, match=re.escape(f"out = {path}")):
        PointStore.open(path, "twobody", "test", TINY.to_dict())
    assert [p.name for p in path.iterdir()] == ["keep.txt"] and (path / "keep.txt").read_text() == "precious"


# -- atomic points ---------------------------------------------------------------------------------------------------
def test_incomplete_point_is_replaced_complete_point_never_rewritten(tiny_store, tmp_path):
    path = tmp_path / "copy.zarr"
    shutil.copytree(tiny_store, path)
    keep, broken = KEYS
    # a killed job's leftover: the group and one array, no "complete" flag
    shutil.rmtree(path / "points" / broken)
    leftover = zarr.open_group(str(path / "points"), mode="a").create_group(broken)
    leftover.create_array("spectrum/energy", data=np.zeros(3))
    leftover.attrs.update({"eta": 1.0})
    store = PointStore.open(path, "twobody", "test", TINY.to_dict())
    assert store.completed() == {keep}

    kept, kept_mtimes = _of_points(_digest(path), {keep}), _of_points(_mtimes(path), {keep})
    assert kept and len(kept_mtimes) > 10
    root_meta = _digest(path)["zarr.json"]
    report = run_sweep(store, TINY.points(), compute_point, workers=0, progress=False)
    assert report.computed == [broken] and report.skipped == [keep]
    assert _of_points(_digest(path), {keep}) == kept
    assert _of_points(_mtimes(path), {keep}) == kept_mtimes
    assert _digest(path)["zarr.json"] == root_meta
    assert store.completed() == set(KEYS)
    assert store.read(broken, "spectrum/energy").shape == (60,)
    _assert_identical(path, tiny_store)

    # writing a complete point again is a no-op
    store.write_point(keep, PointResult({"spectrum/energy": np.zeros(60)}, {"eta": -1}))
    assert _of_points(_mtimes(path), {keep}) == kept_mtimes
    assert store.point_attrs(keep)["eta"] == 0.5


def test_failing_point_names_its_key_and_the_others_are_saved(tmp_path, monkeypatch, capsys):
    """One task raises: exit code 1 and a message naming that key after the sweep; the other points are complete."""

    def fake(params):  # cheap stand-in for the physics
        if params["eta"] == 0.5:
            raise ArithmeticError("boom at eta 0.5")
        return PointResult({"spectrum/energy": np.arange(3.0) + params["eta"]}, {"eta": params["eta"]})

    monkeypatch.setattr(twobody_generate, "compute_point", fake)
    from qchaos.cli import main

    out = tmp_path / "fail.zarr"
    argv = ["generate", "twobody", "--eta", "0.25,0.5,0.75", "--levels", "60", "--window", "10", "29",
            "--image-size", "16", "--rough-images", "--out", str(out), "--workers", "0", "--quiet"]
    assert main(argv) == 1
    msg = capsys.readouterr().err
    assert "eta0.5000000000: ArithmeticError: boom at eta 0.5" in msg and "1 of 3 points failed" in msg
    assert "eta0.2500000000" not in msg and "eta0.7500000000" not in msg
    config = TwobodyConfig(etas=(0.25, 0.5, 0.75), levels=60, window=(10, 29), image_size=16, rough_images=True,
                           scheme="effective")
    store = PointStore.open(out, "twobody", "x", config.to_dict())
    assert store.completed() == {"eta0.2500000000", "eta0.7500000000"}
    np.testing.assert_array_equal(store.read("eta0.7500000000", "spectrum/energy"), [0.75, 1.75, 2.75])

    # a rerun retries only the failed point
    monkeypatch.setattr(twobody_generate, "compute_point", lambda p: PointResult({"spectrum/energy": np.ones(3)}))
    report = run_sweep(store, config.points(), twobody_generate.compute_point, workers=0, progress=False)
    assert report.computed == ["eta0.5000000000"]
    assert sorted(report.skipped) == ["eta0.2500000000", "eta0.7500000000"]
    assert store.completed() == set(config.points())


# -- few files -------------------------------------------------------------------------------------------------------
def test_store_is_few_files(tiny_store):
    """Every array is its metadata plus at most one shard/chunk file; groups are one zarr.json each."""
    files = _files(tiny_store)
    arrays = _arrays(tiny_store)
    assert len(arrays) == 2 * 11
    n_groups = 2 + 2 * 3  # root, points; per point: itself, spectrum, states
    data_files = [p for p in files if p.name != "zarr.json"]
    assert len(files) - len(data_files) == n_groups + len(arrays)
    per_array = {}
    for p in data_files:
        rel = p.relative_to(tiny_store / "points").parts
        per_array.setdefault(rel[:3], []).append(p)  # (key, table, name)
    assert all(len(v) == 1 for v in per_array.values()), per_array
    assert ("eta0.5000000000", "states", "psi") in per_array and ("eta1.0000000000", "states", "psi") in per_array
    assert len(files) <= n_groups + 2 * len(arrays) == 52


def test_large_array_is_one_shard_of_many_chunks(tmp_path, monkeypatch):
    monkeypatch.setattr(store_mod, "CHUNK_BYTES", 2**14)
    store = PointStore.open(tmp_path / "s.zarr", "test", "test", {"x": 1})
    psi = np.random.default_rng(0).standard_normal((37, 16, 16)).astype(np.float32)  # 1 KiB per state
    store.write_point("p", PointResult({"states/psi": psi, "spectrum/energy": np.arange(5.0)}))
    arr = zarr.open_array(str(tmp_path / "s.zarr/points/p/states/psi"), mode="r")
    assert arr.chunks == (16, 16, 16) and arr.shards == (48, 16, 16)
    shard_files = [p for p in (tmp_path / "s.zarr/points/p/states/psi").rglob("*") if p.is_file()
                   and p.name != "zarr.json"]
    assert len(shard_files) == 1
    np.testing.assert_array_equal(store.read("p", "states/psi"), psi)


# -- schedulers ------------------------------------------------------------------------------------------------------
def test_dask_local_cluster_matches_in_process(tiny_store, tmp_path):
    path = tmp_path / "dask.zarr"
    store, report = _sweep(path, TINY, workers=2)
    assert sorted(report.computed) == KEYS and not report.failed
    _assert_identical(path, tiny_store)
    ref = PointStore(tiny_store, TINY.to_dict())
    for key in KEYS:
        assert store.point_attrs(key) == ref.point_attrs(key)


def _without_horizontal(params):
    result = compute_point(params)
    del result.arrays["spectrum/horizontal"]
    return result


def test_rerun_recomputes_a_point_short_of_a_required_array(tmp_path):
    """A point marked complete (with valid digests) that lacks an array its parameters require counts as damaged
    on rerun and is recomputed, not skipped."""
    from generation.systems import get_system

    required = get_system("twobody").required_arrays
    path = tmp_path / "short.zarr"
    store, first = _sweep(path, TINY, task=_without_horizontal)
    assert sorted(first.computed) == KEYS
    status, problems = store.verify_point(KEYS[0], TINY.points()[KEYS[0]], required(TINY.points()[KEYS[0]]))
    assert status == "damaged" and "spectrum/horizontal: required by the point's parameters, not stored" in problems
    report = run_sweep(store, TINY.points(), compute_point, workers=0, progress=False, required=required)
    assert sorted(report.damaged) == KEYS and sorted(report.computed) == KEYS
    assert store.read(KEYS[0], "spectrum/horizontal").shape == (60,)


def test_cluster_starts_costliest_points_first(tmp_path):
    """With a cost estimate the costliest point starts first (store order is eta ascending; the cost says eta
    descending), and the stored results are the same as without it."""
    config = TwobodyConfig(etas=(0.5, 0.7, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True)
    store = PointStore.open(tmp_path / "cost.zarr", "twobody", "test", config.to_dict())
    points = config.points()
    report = run_sweep(store, points, compute_point, workers=1, progress=False, cost=lambda p: p["eta"])
    assert report.computed == list(reversed(points)) and not report.failed
    _, ref = _sweep(tmp_path / "plain.zarr", config, workers=0)
    assert sorted(ref.computed) == sorted(points)
    _assert_identical(tmp_path / "cost.zarr", tmp_path / "plain.zarr")


def _complete_on_disk(path: Path) -> set[str]:
    """Complete points, read from the raw metadata files (safe while another process writes)."""
    keys = set()
    for meta in (path / "points").glob("*/zarr.json"):
        try:
            attrs = json.loads(meta.read_text()).get("attributes", {})
        except (OSError, ValueError):
            continue
        if attrs.get("complete") is True:
            keys.add(meta.parent.name)
    return keys


def _alive_in_group(pgid: int) -> list[int]:
    """Processes of process group ``pgid`` that are not zombies (from /proc)."""
    alive = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[2]) == pgid and fields[0] not in "ZX":
            alive.append(int(stat.parent.name))
    return alive


def test_kill_and_resume_gives_the_uninterrupted_store(resume_ref, tmp_path):
    out = tmp_path / "killed.zarr"
    cmd = _qchaos() + ["generate", "twobody", "--eta", RESUME_ETAS, "--levels", "60", "--window", "10", "29",
                       "--rough-images",
                       "--image-size", "16", "--out", str(out), "--workers", "1"]
    log = tmp_path / "first.log"
    with open(log, "wb") as fh:
        proc = subprocess.Popen(cmd + ["--quiet"], stdout=fh, stderr=subprocess.STDOUT, start_new_session=True)
    seen: set[str] = set()
    try:
        deadline = time.monotonic() + 240
        while time.monotonic() < deadline and proc.poll() is None:
            if out.exists():
                seen = _complete_on_disk(out)
                if seen:
                    break
            time.sleep(0.02)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait(timeout=30)
        end = time.monotonic() + 10  # let the Dask worker processes of the group die too (zombies are dead)
        while _alive_in_group(proc.pid) and time.monotonic() < end:
            time.sleep(0.05)
    if not seen:
        pytest.fail(f"no point became complete before the first run ended (rc {proc.returncode}):\n"
                    f"{log.read_text()[-3000:]}")
    store = PointStore.open(out, "twobody", "mini+custom", RESUME.to_dict())
    done = store.completed()
    if not 1 <= len(done) < 6:
        pytest.fail(f"kill came too late: {len(done)} of 6 points were complete when the run was killed "
                    "(points too fast for the 20 ms poll?); the resume path was not exercised")
    kept = _of_points(_mtimes(out), done)

    rerun = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr[-3000:]
    assert f"{6 - len(done)} computed, {len(done)} already complete" in rerun.stdout, rerun.stdout
    assert store.completed() == set(RESUME.points())
    assert _of_points(_mtimes(out), done) == kept
    _assert_identical(out, resume_ref)
    ref = PointStore(resume_ref, RESUME.to_dict())
    for key in RESUME.points():
        assert store.point_attrs(key) == ref.point_attrs(key)


# -- one point's content ---------------------------------------------------------------------------------------------
def test_compute_point_output(resume_ref):
    store = PointStore(resume_ref, RESUME.to_dict())
    lo, hi = RESUME.window
    k, size = hi - lo + 1, RESUME.image_size
    for key, params in RESUME.points().items():
        eta = params["eta"]
        energy = store.read(key, "spectrum/energy")
        level = store.read(key, "spectrum/level")
        parity = store.read(key, "spectrum/parity")
        assert energy.shape == (RESUME.levels,) and energy[0] > 0
        # ascending; exact degeneracies (eta = 1) are ordered by (n, m) and may differ by rounding only
        assert np.all(np.diff(energy) >= -1e-10 * energy[1:]), key
        np.testing.assert_array_equal(level, np.arange(1, RESUME.levels + 1))
        assert set(np.unique(parity)) <= {0, 1} and parity.dtype == np.int8
        assert np.all(store.read(key, "spectrum/raw") >= energy - 1e-9)  # extrapolation lowers
        psi = store.read(key, "states/psi")
        assert psi.shape == (k, size, size) and psi.dtype == np.float32
        norm = np.mean(psi.astype(np.float64) ** 2, axis=(1, 2))
        np.testing.assert_allclose(norm, 1.0, rtol=0.02, err_msg=f"continuum normalisation at {key}")
        np.testing.assert_array_equal(store.read(key, "states/level"), np.arange(lo, hi + 1))
        np.testing.assert_array_equal(store.read(key, "states/energy"), energy[lo - 1:hi])
        np.testing.assert_array_equal(store.read(key, "states/parity"), parity[lo - 1:hi])
        expected = 1 if min(abs(eta - 1 / 3), abs(eta - 1.0)) < 1e-9 else 0
        np.testing.assert_array_equal(store.read(key, "states/label"), np.full(k, expected, np.int8))
        attrs = store.point_attrs(key)
        assert attrs["label"] == expected and attrs["integrable"] is bool(expected) and attrs["eta"] == eta
    labels = {key: store.point_attrs(key)["label"] for key in RESUME.points()}
    assert labels == {"eta0.2000000000": 0, "eta0.3000000000": 0, "eta0.3333333333": 1, "eta0.5000000000": 0,
                      "eta0.7000000000": 0, "eta1.0000000000": 1}
