"""Faults: kills at every write stage (generate, publish, checkpoint save, evaluate), corruption of every file kind,
two concurrent writers and a full disk. Each test asserts that nothing was lost and that the error is clear.

Kills are real SIGKILLs of a forked child at the N-th call of a write function (``_harness.run_killed``), so no
``finally`` block of the code under test runs.
"""

from __future__ import annotations

import errno
import json
import pathlib
import shutil
import types

import numpy as np
import pytest
import torch
import torch.nn as nn
import zarr
import zarr.storage._local as zarr_local
from _harness import count_calls, run_child, run_killed

from generation import publish as publish_mod
from generation.presets import TwobodyConfig
from generation.publish import publish
from generation.store import PointStore
from generation.sweep import run_sweep
from generation.twobody.generate import compute_point
from generation.verify import verify_store
from qchaos.atomic import recover, writer_lock
from qchaos.errors import EnvironmentFault, IntegrityError
from qchaos.hub import MANIFEST, sha256_file, verify_dataset

TINY = TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True)
KEYS = list(TINY.points())


def _sweep(path, config=TINY):
    store = PointStore.open(path, "twobody", "test", config.to_dict())
    return store, run_sweep(store, config.points(), compute_point, workers=0, progress=False)


def _arrays(path) -> dict:
    out = {}
    for key in sorted(p.name for p in (path / "points").iterdir() if p.is_dir()):
        group = zarr.open_group(str(path / "points" / key), mode="r")
        for table, sub in group.groups():
            for name, arr in sub.arrays():
                out[f"{key}/{table}/{name}"] = arr[...]
        out[f"{key}/attrs"] = {k: v for k, v in group.attrs.items()}
    return out


def _assert_same_data(path, ref) -> None:
    a, b = _arrays(path), _arrays(ref)
    assert sorted(a) == sorted(b)
    for k in a:
        if k.endswith("/attrs"):
            assert a[k] == b[k], k
        else:
            np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def _strays(path) -> list:
    """Temporary files a killed writer may leave: zarr *.partial, .staging/, .<name>.creating-*/new-*, and the
    writer lock .<name>.lock (a finished writer removes it)."""
    inside = [p for p in path.rglob("*") if p.name.endswith(".partial") or p.name == ".staging"] \
        if path.exists() else []
    beside = list(path.parent.glob(f".{path.name}.*"))
    return inside + beside


@pytest.fixture(scope="module")
def ref_store(tmp_path_factory):
    path = tmp_path_factory.mktemp("ref") / "ref.zarr"
    _sweep(path)
    return path


# -- 1a. generate ----------------------------------------------------------------------------------------------------
def test_generate_killed_at_every_kind_of_write_stage_recovers(ref_store, tmp_path):
    """SIGKILL at the N-th zarr write (half the bytes in a *.partial file, as zarr's atomic write leaves them):
    during store creation, inside a point, between points; the rerun finishes with the same data, no stray files."""
    total = count_calls(lambda: _sweep(tmp_path / "count.zarr"), zarr_local, "_put")
    assert total > 20

    def half_write(path, value, exclusive=False):
        path.parent.mkdir(parents=True, exist_ok=True)
        data = bytes(value.as_buffer_like())
        (path.parent / f"{path.name}.crashtest.partial").write_bytes(data[: len(data) // 2])

    for n in sorted({1, 2, 3, 4, total // 3, total // 2, total - 3, total}):
        path = tmp_path / f"k{n}.zarr"
        assert run_killed(lambda: _sweep(path), zarr_local, "_put", n, before=half_write)
        store, report = _sweep(path)  # the rerun: never refused
        assert not report.failed and verify_store(path).ok, n
        _assert_same_data(path, ref_store)
        assert _strays(path) == [], (n, _strays(path))


def test_generate_killed_at_the_rename_of_a_point_recovers(ref_store, tmp_path):
    for n in (1, 2, 3):  # creation, point 1 into place, point 2 into place
        path = tmp_path / f"r{n}.zarr"
        assert run_killed(lambda: _sweep(path), pathlib.Path, "rename", n)
        _sweep(path)
        _assert_same_data(path, ref_store)
        assert verify_store(path).ok and _strays(path) == []


# -- 2a/2d. damage to a finished point -----------------------------------------------------------------------------
def _flip(path, where=0.5):
    data = bytearray(path.read_bytes())
    data[int(len(data) * where)] ^= 0xFF
    path.write_bytes(bytes(data))


def _psi_shard(p):
    return next(f for f in (p / "points" / KEYS[0] / "states/psi/c").rglob("*") if f.is_file())


DAMAGE = {
    "flipped byte in a wavefunction shard": lambda p: _flip(_psi_shard(p)),
    "empty wavefunction shard": lambda p: _psi_shard(p).write_bytes(b""),
    "flipped byte in a 1-D chunk": lambda p: _flip(p / "points" / KEYS[0] / "spectrum/energy/c/0", 0.6),
    "deleted 1-D chunk": lambda p: (p / "points" / KEYS[0] / "spectrum/energy/c/0").unlink(),
    "one-bit flip of the label attribute": lambda p: _edit(p / "points" / KEYS[0] / "zarr.json",
                                                          '"label": 0', '"label": 1'),
    "eta attribute changed": lambda p: _edit(p / "points" / KEYS[0] / "zarr.json", '"eta": 0.5', '"eta": 0.4'),
    "array shape changed": lambda p: _edit(p / "points" / KEYS[0] / "spectrum/energy/zarr.json",
                                           '"shape": [\n    60', '"shape": [\n    61'),
    "dtype changed": lambda p: _edit(p / "points" / KEYS[0] / "states/psi/zarr.json", '"float32"', '"float16"'),
    "invalid JSON in the point metadata": lambda p: _edit(p / "points" / KEYS[0] / "zarr.json",
                                                          '"complete": true', '"complete": tsue'),
    "states group deleted": lambda p: shutil.rmtree(p / "points" / KEYS[0] / "states"),
}


def _edit(path, old, new):
    text = path.read_text()
    assert old in text, (path, old)
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("kind", sorted(DAMAGE))
def test_damaged_point_is_named_never_published_and_recomputed(ref_store, tmp_path, kind):
    path = tmp_path / "s.zarr"
    shutil.copytree(ref_store, path)
    DAMAGE[kind](path)
    report = verify_store(path)
    assert not report.ok and {where for where, _ in report.problems} == {KEYS[0]}, report.lines()
    with pytest.raises(IntegrityError, match=rf"1 damaged point\(s\), nothing published \({KEYS[0]}"):
        publish("twobody", path, "qchaos/x", out=tmp_path / "repo")
    assert not (tmp_path / "repo").exists()
    store, sweep = _sweep(path)  # the rerun recomputes it
    assert sweep.computed == [KEYS[0]] and list(sweep.damaged) == [KEYS[0]]
    _assert_same_data(path, ref_store)
    assert verify_store(path).ok


# -- 1b. publish ---------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stores(ref_store, tmp_path_factory):
    """(partial store: one point, full store, reference repo of the full store)."""
    root = tmp_path_factory.mktemp("pub")
    part = root / "part.zarr"
    shutil.copytree(ref_store, part)
    shutil.rmtree(part / "points" / KEYS[1])
    publish("twobody", ref_store, "qchaos/p", out=root / "reference")
    publish("twobody", part, "qchaos/p", out=root / "old-reference", allow_partial=True)
    return part, ref_store, root / "reference", root / "old-reference"


def _files(folder) -> dict:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in sorted(folder.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("func", ["rename", "replace", "rmtree", "write_table", "write_text"])
def test_republish_killed_anywhere_keeps_the_old_or_the_new_version(stores, tmp_path, func):
    import pyarrow.parquet as pq

    part, full, new_ref, old_ref = stores
    owner = {"rename": pathlib.Path, "replace": pathlib.Path, "rmtree": shutil, "write_table": pq.ParquetWriter,
             "write_text": pathlib.Path}[func]
    dest = tmp_path / "counting"
    shutil.copytree(old_ref, dest)
    total = count_calls(lambda: publish("twobody", full, "qchaos/p", out=dest), owner, func)
    assert total >= 1
    for n in range(1, total + 1):
        dest = tmp_path / f"{func}{n}"
        shutil.copytree(old_ref, dest)
        killed = run_killed(lambda: publish("twobody", full, "qchaos/p", out=dest), owner, func, n)
        with writer_lock(dest, "repo"):  # what the next writer does first
            recover(dest, complete=lambda p: (p / MANIFEST).is_file())
        verify_dataset(dest)
        assert _files(dest) in (_files(old_ref), _files(new_ref)), (func, n, killed)
        publish("twobody", full, "qchaos/p", out=dest)  # the rerun is never refused
        assert _files(dest) == _files(new_ref)
        assert _strays(dest) == []


def _flip_at(path, offset):
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    path.write_bytes(bytes(data))


@pytest.mark.parametrize("config", ["wavefunctions", "spectra"])
def test_plain_load_dataset_refuses_a_damaged_data_page(stores, tmp_path, config):
    """2b: a byte flipped inside a data page of a published shard. Plain ``datasets.load_dataset`` never sees the
    manifest's sha256; the card asks it to verify the page CRC32s, so it fails instead of returning other numbers."""
    import datasets
    import pyarrow.parquet as pq

    part, full, new_ref, old_ref = stores
    repo = tmp_path / "repo"
    shutil.copytree(new_ref, repo)
    clean = datasets.load_dataset(str(repo), config, split="train", cache_dir=str(tmp_path / "c0"))
    assert clean.num_rows > 0
    shard = next((repo / "data" / config).glob("train-*.parquet"))
    meta = pq.ParquetFile(shard).metadata
    col = max((meta.row_group(0).column(i) for i in range(meta.num_columns)), key=lambda c: c.total_compressed_size)
    _flip_at(shard, col.data_page_offset + col.total_compressed_size // 2)  # inside the page data, past the header
    with pytest.raises(datasets.exceptions.DatasetGenerationError) as info:
        datasets.load_dataset(str(repo), config, split="train", cache_dir=str(tmp_path / "c1"))
    assert "CRC checksum verification failed" in str(info.value.__cause__)
    publish("twobody", full, "qchaos/p", out=repo)  # the rerun restores it
    assert _files(repo) == _files(new_ref)


def test_full_disk_during_publish_leaks_nothing_and_keeps_the_old_repo(stores, tmp_path, monkeypatch):
    import pyarrow.parquet as pq

    part, full, new_ref, old_ref = stores
    dest = tmp_path / "repo"
    shutil.copytree(old_ref, dest)
    calls = [0]
    orig_write, orig_close = pq.ParquetWriter.write_table, pq.ParquetWriter.close

    def full_disk(self, *a, **k):
        calls[0] += 1
        if calls[0] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")
        return orig_write(self, *a, **k)

    def close(self):  # closing flushes, and fails again on a full disk
        orig_close(self)
        if calls[0] >= 2:
            raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    monkeypatch.setattr(pq.ParquetWriter, "close", close)
    with pytest.raises(OSError, match="No space left"):
        publish("twobody", full, "qchaos/p", out=dest)
    assert _files(dest) == _files(old_ref) and _strays(dest) == []
    monkeypatch.undo()
    publish("twobody", full, "qchaos/p", out=dest)
    assert _files(dest) == _files(new_ref)


def test_full_disk_errors_name_the_folder_and_keep_the_old_version(stores, tmp_path, monkeypatch):
    """4: a full disk while a repo or a checkpoint is written ends in one EnvironmentFault naming the folder (pyarrow
    and safetensors name neither; safetensors' error is not even an OSError) and saying the old version is intact."""
    import re

    import pyarrow.parquet as pq
    import safetensors
    import safetensors.torch

    part, full, new_ref, old_ref = stores
    dest = tmp_path / "repo"
    shutil.copytree(old_ref, dest)

    def full_disk(self, *a, **k):
        raise OSError(errno.ENOSPC, "Error writing bytes to file. Detail: [errno 28] No space left on device")

    monkeypatch.setattr(pq.ParquetWriter, "write_table", full_disk)
    with pytest.raises(EnvironmentFault, match=rf"repo = {re.escape(str(dest))}: the disk is full \(.*No space left "
                                               r"on device\); the repo is unchanged \(the previous version is intact"):
        publish("twobody", full, "qchaos/p", out=dest)
    assert _files(dest) == _files(old_ref) and _strays(dest) == []
    monkeypatch.undo()

    folder = tmp_path / "ckpt"
    _net(0).save_pretrained(folder)
    old = _files(folder)

    def no_space(model, filename, *a, **k):
        raise safetensors.SafetensorError("Error while serializing: I/O error: No space left on device (os error 28)")

    monkeypatch.setattr(safetensors.torch, "save_model", no_space)
    with pytest.raises(EnvironmentFault, match=rf"save_directory = {re.escape(str(folder))}: the disk is full .*"
                                               r"nothing was saved \(the previous checkpoint is intact\)"):
        _net(1).save_pretrained(folder)
    assert _files(folder) == old and _strays(folder) == []


# -- 3. two writers ------------------------------------------------------------------------------------------------
def test_second_generate_on_the_same_store_is_refused(ref_store, tmp_path):
    path = tmp_path / "c.zarr"
    store = PointStore.open(path, "twobody", "test", TINY.to_dict())
    with store.writing():
        rc = run_child(lambda: _sweep(path))
        assert rc == EnvironmentFault.exit_code
        with pytest.raises(EnvironmentFault, match=rf"out = {path}: another process \(pid \d+\) is writing it"):
            run_child_in_process_lock(path)
    _sweep(path)
    _assert_same_data(path, ref_store)


def test_finished_writers_leave_no_lock_file(ref_store, tmp_path):
    """generate, publish and checkpoint saving remove their lock file when they finish (also after a failure); a
    lock file left by a killed writer is taken over and removed by the next one."""
    path = tmp_path / "s.zarr"
    _sweep(path)
    publish("twobody", path, "qchaos/p", out=tmp_path / "repo")
    _net(0).save_pretrained(tmp_path / "ckpt")
    with pytest.raises(EnvironmentFault), writer_lock(tmp_path / "ckpt", "save_directory"):
        run_child_in_process_lock(tmp_path / "ckpt")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ckpt", "repo", "s.zarr"]
    last = count_calls(lambda: _sweep(tmp_path / "count.zarr"), zarr_local, "_put")
    shutil.rmtree(tmp_path / "count.zarr")
    assert run_killed(lambda: _sweep(tmp_path / "k.zarr"), zarr_local, "_put", last)  # during the sweep
    assert (tmp_path / ".k.zarr.lock").is_file()  # the kill left it; its lock died with the process
    _sweep(tmp_path / "k.zarr")
    assert not (tmp_path / ".k.zarr.lock").exists()
    _assert_same_data(tmp_path / "k.zarr", ref_store)


def test_lock_file_replaced_between_open_and_lock_is_not_trusted(tmp_path, monkeypatch):
    """A writer that opened the lock file just before the previous holder removed it (and a third one created a
    new one) must not count the removed file's lock: it locks the file the path names now."""
    import os

    path = tmp_path / "s.zarr"
    lock = tmp_path / ".s.zarr.lock"
    real_open, calls = os.open, []

    def racing_open(file, flags, mode=0o777, **kw):
        fd = real_open(file, flags, mode, **kw)
        calls.append(file)
        if len(calls) == 1:  # the previous holder removes the file, another writer creates a new one
            os.unlink(file)
            real_open(file, os.O_RDWR | os.O_CREAT, 0o644)
        return fd

    monkeypatch.setattr(os, "open", racing_open)
    with writer_lock(path, "out"):
        monkeypatch.setattr(os, "open", real_open)
        assert len(calls) == 2  # retried on the file the path names
        assert lock.read_text() == str(os.getpid())
        with pytest.raises(EnvironmentFault, match=r"another process \(pid \d+\) is writing it"):
            run_child_in_process_lock(path)
    assert not lock.exists()


def run_child_in_process_lock(path):
    """A second lock from another open file description of this process conflicts as well."""
    with writer_lock(path, "out"):
        pass


def test_second_publish_of_the_same_repo_is_refused(stores, tmp_path):
    part, full, new_ref, old_ref = stores
    dest = tmp_path / "repo"
    shutil.copytree(old_ref, dest)
    with writer_lock(dest, "repo"):
        assert run_child(lambda: publish("twobody", full, "qchaos/p", out=dest)) == EnvironmentFault.exit_code
    assert _files(dest) == _files(old_ref)


# -- 1c / 2c. checkpoints -------------------------------------------------------------------------------------------
from modeling.hub_model import HubModel, verify_folder  # noqa: E402


class FaultNet(HubModel, tags=["test"]):
    classes = ("a", "b")

    def __init__(self, n_in: int = 4, n_hidden: int = 8):
        super().__init__()
        self.fc = nn.Linear(n_in, n_hidden)
        self.out = nn.Linear(n_hidden, 2)

    def forward(self, x):
        return self.out(torch.relu(self.fc(x)))


def _net(seed):
    torch.manual_seed(seed)
    return FaultNet()


def _weights(folder):
    return FaultNet.from_pretrained(folder).state_dict()


@pytest.mark.parametrize("func", ["write_text", "rename", "save_model"])
def test_checkpoint_save_killed_anywhere_keeps_the_old_or_the_new_checkpoint(tmp_path, func):
    import safetensors.torch

    owner = safetensors.torch if func == "save_model" else pathlib.Path
    old_ref, new_ref = tmp_path / "old", tmp_path / "new"
    _net(0).save_pretrained(old_ref)
    _net(1).save_pretrained(new_ref)
    total = count_calls(lambda: _net(1).save_pretrained(tmp_path / "count"), owner, func)
    for n in range(1, total + 1):
        folder = tmp_path / f"{func}{n}"
        shutil.copytree(old_ref, folder)
        run_killed(lambda: _net(1).save_pretrained(folder), owner, func, n)
        with writer_lock(folder, "save_directory"):
            recover(folder, complete=lambda p: (p / "qchaos.json").is_file())
        assert verify_folder(folder) == [], (func, n)
        assert _files(folder) in (_files(old_ref), _files(new_ref)), (func, n)
        _net(1).save_pretrained(folder)
        assert _files(folder) == _files(new_ref) and _strays(folder) == []


MODEL_DAMAGE = {
    "model.safetensors": lambda f: _flip(f / "model.safetensors"),
    "config.json": lambda f: _edit(f / "config.json", '"n_hidden": 8', '"n_hidden": 9'),
    "README.md": lambda f: (f / "README.md").write_text((f / "README.md").read_text()[:100]),
    "qchaos.json": lambda f: (f / "qchaos.json").write_text("{"),
    "qchaos.json metadata": lambda f: _edit(f / "qchaos.json", '"classes": [\n      "a"', '"classes": [\n      "c"'),
}


@pytest.mark.parametrize("name", sorted(MODEL_DAMAGE))
def test_every_checkpoint_file_is_verified(tmp_path, name):
    folder = tmp_path / "m"
    _net(0).save_pretrained(folder)
    assert verify_folder(folder) == []
    MODEL_DAMAGE[name](folder)
    problems = verify_folder(folder)
    where = name.split()[0]
    assert [w for w, _ in problems] == [where], problems
    if name != "README.md":  # the card is documentation: verify reports it, loading does not need it
        with pytest.raises(ValueError, match=where.replace(".", r"\.")):
            FaultNet.from_pretrained(folder)


def test_checkpoint_with_huge_config_is_refused_before_allocating(tmp_path):
    folder = tmp_path / "m"
    _net(0).save_pretrained(folder)
    record = json.loads((folder / "qchaos.json").read_text())
    for key in ("config_sha256", "record_sha256"):  # an older record, or an attacker who rewrote both files
        record.pop(key)
    (folder / "qchaos.json").write_text(json.dumps(record))
    _edit(folder / "config.json", '"n_hidden": 8', '"n_hidden": 5000000000')  # 20 GB of weights if built
    with pytest.raises(ValueError, match=r"fc.weight has shape \[8, 4\] in the checkpoint, the model expects "
                                         r"\[5000000000, 4\]"):
        FaultNet.from_pretrained(folder)


# -- 1d. evaluate --------------------------------------------------------------------------------------------------
def _fake_experiments(monkeypatch, runner, value):
    def module(name):
        return types.SimpleNamespace(NAME=name, TITLE=name, PARAMS={"tiny": {}},
                                     run=lambda ctx: {"metrics": {"x": value}, "summary": name})

    mods = {n: module(n) for n in ("alpha", "beta", "gamma")}
    monkeypatch.setattr(runner, "get_experiment", lambda n: mods[n])
    monkeypatch.setattr(runner, "experiment_names", lambda: list(mods))


def test_interrupted_evaluation_loses_no_finished_result(tmp_path, monkeypatch):
    from evaluation import runner
    from evaluation.resources import Resources

    res = Resources("tiny", build=False, datasets={})
    _fake_experiments(monkeypatch, runner, 1)
    runner.evaluate("tiny", out=tmp_path, resources=res, progress=False)  # run 1: complete
    _fake_experiments(monkeypatch, runner, 2)
    runner.evaluate("tiny", out=tmp_path, resources=res, progress=False)  # run 2: complete
    folder = tmp_path / "tiny"
    _fake_experiments(monkeypatch, runner, 3)
    # run 3 killed while writing results.json after its first experiment: nothing of run 2 is lost
    assert run_killed(lambda: runner.evaluate("tiny", out=tmp_path, resources=res, progress=False), runner,
                      "write_json", 3)  # write 1: results.previous.json, 2: after alpha, 3: after beta
    saved = json.loads((folder / "results.json").read_text())
    assert {k: v["metrics"]["x"] for k, v in saved["experiments"].items()} == {"alpha": 3, "beta": 2, "gamma": 2}
    assert saved["meta"]["complete"] is False and saved["meta"]["pending"] == ["beta", "gamma"]
    previous = json.loads((folder / "results.previous.json").read_text())
    assert {k: v["metrics"]["x"] for k, v in previous["experiments"].items()} == {"alpha": 2, "beta": 2, "gamma": 2}
    from evaluation.report import load_targets, render_report

    assert (folder / "report.md").read_text() == render_report(saved, load_targets(), previous)  # consistent
    # run 4, killed again: the partial file of run 3 never replaces the last complete record
    _fake_experiments(monkeypatch, runner, 4)
    assert run_killed(lambda: runner.evaluate("tiny", out=tmp_path, resources=res, progress=False), runner,
                      "write_json", 1)
    previous = json.loads((folder / "results.previous.json").read_text())
    assert {k: v["metrics"]["x"] for k, v in previous["experiments"].items()} == {"alpha": 2, "beta": 2, "gamma": 2}
    runner.evaluate("tiny", out=tmp_path, resources=res, progress=False)  # a full run completes the record
    saved = json.loads((folder / "results.json").read_text())
    assert saved["meta"]["complete"] is True
    assert {k: v["metrics"]["x"] for k, v in saved["experiments"].items()} == {"alpha": 4, "beta": 4, "gamma": 4}


def test_evaluation_killed_before_its_first_result_changes_no_file(tmp_path, monkeypatch):
    """1d E3: a run killed before it finished an experiment leaves results.json, results.previous.json and
    report.md exactly as they were (the report's "previous run" column keeps matching results.previous.json)."""
    from evaluation import runner
    from evaluation.report import load_targets, render_report
    from evaluation.resources import Resources

    res = Resources("tiny", build=False, datasets={})
    for value in (1, 2):  # two complete runs: results.json = run 2, results.previous.json = run 1
        _fake_experiments(monkeypatch, runner, value)
        runner.evaluate("tiny", out=tmp_path, resources=res, progress=False)
    folder = tmp_path / "tiny"
    before = _files(folder)
    _fake_experiments(monkeypatch, runner, 3)
    assert run_killed(lambda: runner.evaluate("tiny", out=tmp_path, resources=res, progress=False), runner,
                      "_merge_entry", 1)  # experiment 1 computed, nothing saved yet
    assert _files(folder) == before
    saved = json.loads((folder / "results.json").read_text())
    previous = json.loads((folder / "results.previous.json").read_text())
    assert (folder / "report.md").read_text() == render_report(saved, load_targets(), previous)
    runner.evaluate("tiny", out=tmp_path, resources=res, progress=False)  # the rerun
    previous = json.loads((folder / "results.previous.json").read_text())
    assert {k: v["metrics"]["x"] for k, v in previous["experiments"].items()} == {"alpha": 2, "beta": 2, "gamma": 2}


# -- stray files of older layouts -------------------------------------------------------------------------------------
def test_stray_staging_of_a_killed_publish_is_cleaned(stores, tmp_path):
    part, full, new_ref, old_ref = stores
    dest = tmp_path / "repo"
    shutil.copytree(old_ref, dest)
    stray = dest.parent / f".{dest.name}.publishing"
    (stray / "data").mkdir(parents=True)
    (stray / "data" / "x.parquet.tmp").write_bytes(b"x" * 100)
    publish("twobody", full, "qchaos/p", out=dest)
    assert not stray.exists() and _files(dest) == _files(new_ref)


def test_publish_module_keeps_its_public_names():
    assert callable(publish_mod.publish) and callable(publish_mod.default_repo_id)


def test_sweep_stops_at_a_full_disk_and_keeps_what_was_written(tmp_path):
    from generation.store import PointResult

    calls = []

    def task(params):
        calls.append(params["i"])
        if params["i"] == 1:
            raise OSError(errno.ENOSPC, "No space left on device")
        return PointResult({"a/x": np.full(3, params["i"], float)}, {"i": params["i"]})

    points = {f"p{i}": {"i": i} for i in range(4)}
    store = PointStore.open(tmp_path / "s.zarr", "test", "test", {"n": 4})
    with pytest.raises(RuntimeError, match=r"3 of 4 points failed") as info:
        run_sweep(store, points, task, workers=0, progress=False)
    assert calls == [0, 1] and "p3: not attempted: the disk is full" in str(info.value)
    assert str(info.value).startswith(f"out = {tmp_path / 's.zarr'}: 3 of 4 points failed")  # names the store
    assert store.completed() == {"p0"} and store.verify_point("p0", points["p0"])[0] == "ok"
