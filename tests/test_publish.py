"""End to end: Zarr store -> ``qchaos publish`` -> dataset repo folder -> ``load_dataset`` / a Hub, bit for bit.

Tiny stores of both systems are generated once per module (in-process sweep), published, and read back with the
real ``datasets`` client: from the local folder (in this process and, with ``HF_HUB_OFFLINE=1``, in a fresh one),
and from a Hub after ``--push``.

How the Hub part reaches a Hub: ``tests/hubserver.py`` (a loopback Hub look-alike) runs in a thread of this
pytest process, and the real clients that talk to it run in a **subprocess** (this file executed as a script,
see ``_client_main``), whose environment carries ``HF_ENDPOINT=<server>``, ``HF_HUB_DISABLE_XET=1`` and a
temporary ``HF_HOME``. huggingface_hub and datasets read these variables into module constants when they are
first imported, and other test modules (or a conftest) of the same pytest run may already have imported them
with other values; a fresh interpreter started after the server is up is the only route that does not depend on
import or test order, and it keeps the pushes and caches of this module away from the rest of the session.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
TB_ID, TRI_ID = "qchaos/twobody-tiny", "qchaos/tribaker-tiny"


# -- helpers shared with the client subprocess ---------------------------------------------------------------------
def _hash_array(h, arr) -> None:
    import pyarrow as pa

    if isinstance(arr.type, pa.ExtensionType):
        arr = arr.storage
    h.update(f"{arr.type}|{len(arr)}|{arr.null_count}|".encode())
    if pa.types.is_list(arr.type) or pa.types.is_large_list(arr.type):
        offsets = arr.offsets.to_numpy().astype(np.int64)
        h.update((offsets - offsets[0]).tobytes())
        _hash_array(h, arr.flatten())
    else:
        h.update(np.ascontiguousarray(arr.to_numpy(zero_copy_only=False)).tobytes())


def table_digest(ds) -> dict[str, str]:
    """sha256 per column of a loaded ``datasets.Dataset``: exact value bytes and list offsets, not the encoding."""
    table = ds.data.table
    out = {}
    for name in table.column_names:
        h = hashlib.sha256()
        _hash_array(h, table.column(name).combine_chunks())
        out[name] = h.hexdigest()
    return out


def _dict_digest(dd) -> dict[str, dict[str, str]]:
    return {split: table_digest(ds) for split, ds in sorted(dd.items())}


def _client_main(mode: str, spec: dict) -> None:
    """Runs in a fresh interpreter whose environment the parent test prepared (HF_* variables)."""
    import datasets

    result: dict = {}
    if mode == "offline":
        assert os.environ.get("HF_HUB_OFFLINE") == "1"
        for folder in spec["folders"]:
            names = datasets.get_dataset_config_names(folder)
            result[folder] = {"configs": names, "data": {c: _dict_digest(datasets.load_dataset(folder, c))
                                                          for c in names}}
    elif mode == "hub":
        from huggingface_hub import snapshot_download

        from qchaos.cli import main
        from qchaos.hub import load, push_folder

        rc = main(["publish", "twobody", "--preset", "tiny", "--store", spec["tb_store"], "--repo-id", TB_ID,
                   "--push", "--quiet"])
        assert rc == 0, rc
        push_folder(spec["tri_folder"], TRI_ID, "dataset")
        for repo in (TB_ID, TRI_ID):
            names = datasets.get_dataset_config_names(repo)
            result[repo] = {"configs": names, "data": {c: _dict_digest(datasets.load_dataset(repo, c))
                                                        for c in names}}
        result["verified_load"] = table_digest(load(TRI_ID, "resonances", "train", source="hub"))
        snap = Path(snapshot_download(TRI_ID, repo_type="dataset"))
        result["tri_files"] = {p.relative_to(snap).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
                               for p in sorted(snap.rglob("*")) if p.is_file() and ".cache" not in p.parts}
    print("RESULT " + json.dumps(result))


def _run_client(mode: str, spec: dict, env_extra: dict, tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update({"HF_HOME": str(tmp / "hf-home"), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                "TQDM_DISABLE": "1", **env_extra})
    proc = subprocess.run([sys.executable, __file__, mode, json.dumps(spec)], env=env, cwd=tmp,
                          capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, f"client ({mode}) failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


# -- fixtures ------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def stores(tmp_path_factory) -> dict[str, Path]:
    from generation.presets import TribakerConfig, TwobodyConfig
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.tribaker.generate import compute_point as tri_task
    from generation.twobody.generate import compute_point as tb_task

    root = tmp_path_factory.mktemp("stores")
    out = {}
    for system, config, task in (
        ("twobody", TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16), tb_task),
        ("tribaker", TribakerConfig(N0=30, K=3, per_side=3, image_size=16), tri_task),
    ):
        path = root / f"{system}-tiny.zarr"
        run_sweep(PointStore.open(path, system, "tiny", config.to_dict()), config.points(), task, workers=0,
                  progress=False)
        out[system] = path
    return out


@pytest.fixture(scope="module")
def published(stores, tmp_path_factory) -> dict:
    """twobody in 1-byte shards (every write opens a new shard), tribaker with N = 30 held out."""
    from generation.publish import publish

    hub = tmp_path_factory.mktemp("hub")
    tb = publish("twobody", stores["twobody"], TB_ID, out=hub / "datasets" / TB_ID, max_shard_bytes=1)
    tri = publish("tribaker", stores["tribaker"], TRI_ID, out=hub / "datasets" / TRI_ID, holdout="30")
    return {"twobody": tb, "tribaker": tri}


def _store_rows(path: Path, system: str) -> tuple[dict, dict]:
    """Expected rows, read straight from the Zarr store: (states by key, spectra by key)."""
    import zarr

    states, spectra = {}, {}
    for _, g in zarr.open_group(str(path), mode="r")["points"].groups():
        a = dict(g.attrs)
        if not a.get("complete"):
            continue
        if system == "twobody":
            spectra[a["eta"]] = {n: g[f"spectrum/{n}"][...] for n in
                                 ("energy", "raw", "error", "parity", "level", "horizontal")}
            spectra[a["eta"]].update(eta=a["eta"], g=a["g"], label=a["label"], top_rel_error=a["top_rel_error"])
            st = {n: g[f"states/{n}"][...] for n in ("psi", "energy", "level", "parity", "label")}
            for i, level in enumerate(st["level"]):
                states[(a["eta"], int(level))] = {"eta": a["eta"], "g": a["g"], **{n: v[i] for n, v in st.items()}}
        else:
            z = g["spectrum/z"][...]
            spectra[(a["N"], a["R"])] = {"N": a["N"], "R": a["R"], "closed": a["closed"], "z_re": z.real,
                                         "z_im": z.imag, "decay": g["spectrum/decay"][...],
                                         "norm_ratio": g["spectrum/norm_ratio"][...]}
            st = {n: g[f"states/{n}"][...] for n in ("right", "left", "z", "norm_ratio", "label", "image", "index")}
            for i, index in enumerate(st["index"]):
                states[(a["N"], a["R"], int(index))] = {
                    "N": a["N"], "R": a["R"], "closed": a["closed"], "right_re": st["right"][i].real,
                    "right_im": st["right"][i].imag, "left_re": st["left"][i].real, "left_im": st["left"][i].imag,
                    "z_re": st["z"][i].real, "z_im": st["z"][i].imag, "norm_ratio": st["norm_ratio"][i],
                    "label": st["label"][i], "image": st["image"][i], "index": index}
    return states, spectra


def _assert_bits(got, want, what: str) -> None:
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    if want.dtype.kind == "f":
        assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype} (values were cast)"
        assert np.array_equal(got.view(f"u{got.itemsize}"), want.view(f"u{want.itemsize}")), f"{what}: bits differ"
    else:
        assert np.array_equal(got, want), f"{what}: values differ"


def _row_key(system: str, config: str, row: dict):
    if system == "twobody":
        return (float(row["eta"]), int(row["level"])) if config == "wavefunctions" else float(row["eta"])
    return (int(row["N"]), float(row["R"]), int(row["index"])) if config == "resonances" else \
        (int(row["N"]), float(row["R"]))


def _load(folder, config, split, cache):
    from datasets import load_dataset

    return load_dataset(str(folder), config, split=split, cache_dir=str(cache))


# -- tests ---------------------------------------------------------------------------------------------------------
def test_repo_layout_card_and_manifest(published):
    tb, tri = published["twobody"], published["tribaker"]
    files = sorted(p.relative_to(tb.path).as_posix() for p in tb.path.rglob("*") if p.is_file())
    assert "README.md" in files and "data/manifest.json" in files
    # one shard per write with max_shard_bytes=1: two points -> two train shards, named -NNNNN-of-MMMMM
    assert "data/wavefunctions/train-00000-of-00002.parquet" in files
    assert "data/wavefunctions/train-00001-of-00002.parquet" in files
    manifest = json.loads((tb.path / "data/manifest.json").read_text())
    assert set(manifest["files"]) == {f for f in files if f.endswith(".parquet")}
    assert manifest["config"]["levels"] == 60 and manifest["config"]["basis_factor"] == 2.0  # generation config
    for rel, entry in manifest["files"].items():
        assert entry["sha256"] == hashlib.sha256((tb.path / rel).read_bytes()).hexdigest()
    card = (tb.path / "README.md").read_text()
    for needle in ("license: cc-by-4.0", "config_name: wavefunctions", "config_name: spectra", "default: true",
                   "path: data/wavefunctions/train-*.parquet", "size_categories:", "- quantum-chaos",
                   "array2_d:", "\\delta(x_1 - x_2)", "| `levels` | 60 |", "`3bb851acba497e09`",
                   "numpy.random.default_rng(42)", 'load_dataset("qchaos/twobody-tiny", "wavefunctions")',
                   manifest["files"]["data/wavefunctions/train-00000-of-00002.parquet"]["sha256"]):
        assert needle in card, needle
    assert "Missing points" not in card
    tri_card = (tri.path / "README.md").read_text()
    for needle in ("config_name: resonances", "G_N^{-1}", "\\sqrt{R}", "N in {30} (every R)", "split: holdout",
                   "| `per_side` | 3 |", "norm ratio"):
        assert needle in tri_card, needle
    import pyarrow.parquet as pq

    meta = pq.ParquetFile(tri.path / "data/resonances/train-00000-of-00001.parquet").metadata
    assert meta.num_row_groups == 4  # one row group per point (2 dimensions x 2 reflectivities, N = 30 held out)
    assert b"huggingface" in meta.metadata  # the features travel in the schema


@pytest.mark.parametrize("system", ["twobody", "tribaker"])
def test_load_dataset_equals_store_bit_for_bit(system, published, stores, tmp_path):
    from datasets import Array2D

    from generation.publish import STATE_CONFIG

    report = published[system]
    states, spectra = _store_rows(stores[system], system)
    for config, expected in ((STATE_CONFIG[system], states), ("spectra", spectra)):
        seen = []
        for split, n in report.splits[config].items():
            ds = _load(report.path, config, split, tmp_path / "cache")
            assert ds.num_rows == n
            if config == "wavefunctions":
                assert ds.features["psi"] == Array2D((16, 16), "float32")
                assert ds.features["label"].names == ["non-integrable", "integrable"]
                assert ds.features["parity"].names == ["even", "odd"]
            if config == "resonances":
                assert ds.features["image"] == Array2D((16, 16), "float32")
                assert ds.features["label"].names == ["localized", "non-localized"]
            for row in ds.with_format("numpy", dtype=None):  # dtype=None: no float32/int64 default casts
                key = _row_key(system, config, row)
                seen.append(key)
                for name, want in expected[key].items():
                    _assert_bits(row[name], want, f"{config}/{split} {key} {name}")
        assert sorted(seen) == sorted(expected), f"{config}: rows differ from the store's"


def test_splits_follow_the_rule(published):
    tb, tri = published["twobody"].splits, published["tribaker"].splits
    assert tb["wavefunctions"] == {"train": 28, "validation": 6, "test": 6}  # 70/15/15 of 40 states
    assert tb["spectra"] == {"train": 2}
    # tribaker: 80/20 per reflectivity over the 12 non-held-out states of each R; N = 30 (2 x 6 states) held out
    assert tri["resonances"] == {"train": 20, "validation": 4, "holdout": 12}
    assert tri["spectra"] == {"train": 4, "holdout": 2}


def test_with_format_torch_gives_tensors(published, stores, tmp_path):
    import torch

    report = published["twobody"]
    ds = _load(report.path, "wavefunctions", "train", tmp_path / "cache")
    batch = ds.with_format("torch")[:8]
    assert batch["psi"].shape == (8, 16, 16) and batch["psi"].dtype == torch.float32
    assert batch["label"].shape == (8,) and batch["label"].dtype == torch.int64
    exact = ds.with_format("torch", dtype=None)[:8]  # stored dtypes: float64 stays float64
    assert exact["energy"].dtype == torch.float64 and exact["level"].dtype == torch.int32
    states, _ = _store_rows(stores["twobody"], "twobody")
    for i, (eta, level) in enumerate(zip(exact["eta"].tolist(), exact["level"].tolist())):
        _assert_bits(batch["psi"][i].numpy(), states[(eta, level)]["psi"], "torch psi")  # float32 stays exact
        _assert_bits(exact["energy"][i].numpy(), states[(eta, level)]["energy"], "torch energy")
    res = _load(published["tribaker"].path, "resonances", "validation", tmp_path / "cache").with_format("torch")
    images = res[:]["image"]
    assert isinstance(images, torch.Tensor) and images.shape == (4, 16, 16) and images.dtype == torch.float32


def test_publishing_twice_gives_identical_bytes(published, stores, tmp_path):
    from generation.publish import publish

    def snapshot(folder: Path) -> dict[str, bytes]:
        return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}

    tb = published["twobody"]
    again = publish("twobody", stores["twobody"], TB_ID, out=tmp_path / "again", max_shard_bytes=1)
    assert snapshot(again.path) == snapshot(tb.path)
    # republishing into an existing folder replaces it completely: no stale shard of an earlier layout survives
    folder = tmp_path / "tri"
    publish("tribaker", stores["tribaker"], TRI_ID, out=folder, max_shard_bytes=1)
    assert len(list(folder.glob("data/resonances/train-*.parquet"))) > 1
    publish("tribaker", stores["tribaker"], TRI_ID, out=folder, holdout=[30])
    assert snapshot(folder) == snapshot(published["tribaker"].path)


def test_repo_ids_locations_and_defaults(stores, tmp_path, monkeypatch, capsys):
    from generation.publish import default_repo_id, publish
    from qchaos.cli import main
    from qchaos.hub import hub_root, local_repo_path, parse_repo_id

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "myhub"))
    assert hub_root() == tmp_path / "myhub"
    assert local_repo_path("qchaos/twobody-mini") == tmp_path / "myhub" / "datasets" / "qchaos" / "twobody-mini"
    assert parse_repo_id("org/x.y_z-1") == ("org", "x.y_z-1")
    for bad in ("noslash", "a/b/c", "org/-x", "org/a..b", "/x", "org/"):
        with pytest.raises(ValueError, match="repo_id = "):
            parse_repo_id(bad)
    assert default_repo_id("twobody", {"preset": "mini"}) == "qchaos/twobody-mini"
    assert default_repo_id("tribaker", {"preset": "paper+custom", "config_hash": "0123456789abcdef"}) == \
        "qchaos/tribaker-paper-custom-01234567"
    monkeypatch.chdir(tmp_path)  # default store path data/<system>-<preset>.zarr, relative to the working folder
    assert main(["publish", "twobody", "--preset", "nosuch", "--quiet"]) == 2
    assert "data/twobody-nosuch.zarr: does not exist" in capsys.readouterr().err
    foreign = tmp_path / "foreign"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("not a dataset")
    with pytest.raises(ValueError, match="not a dataset published by qchaos"):
        publish("tribaker", stores["tribaker"], TRI_ID, out=foreign)
    assert (foreign / "notes.txt").read_text() == "not a dataset"


def test_holdout_keeps_whole_parameter_values_out(published, stores, tmp_path):
    from generation.publish import publish

    report = publish("twobody", stores["twobody"], TB_ID, out=tmp_path / "tb-holdout", holdout="0.5")
    assert report.splits["wavefunctions"]["holdout"] == 20 and report.splits["spectra"] == {"train": 1, "holdout": 1}
    for config in ("wavefunctions", "spectra"):
        for split in report.splits[config]:
            etas = set(_load(report.path, config, split, tmp_path / "cache")["eta"])
            assert etas == ({0.5} if split == "holdout" else {1.0}), (config, split, etas)
    tri = published["tribaker"]
    for config in ("resonances", "spectra"):
        for split in tri.splits[config]:
            ns = set(_load(tri.path, config, split, tmp_path / "cache")["N"])
            assert (ns == {30}) if split == "holdout" else (30 not in ns and ns), (config, split, ns)
    with pytest.raises(ValueError, match=r"holdout_eta = 0\.3: not a mass ratio"):
        publish("twobody", stores["twobody"], TB_ID, out=tmp_path / "bad", holdout="0.3")
    with pytest.raises(ValueError, match=r"holdout_N = 31"):
        publish("tribaker", stores["tribaker"], TRI_ID, out=tmp_path / "bad", holdout=[31])


def test_partial_store_refused_unless_allowed(stores, tmp_path, monkeypatch, capsys):
    import zarr

    from qchaos.cli import main

    partial = tmp_path / "tribaker-partial.zarr"
    shutil.copytree(stores["tribaker"], partial)
    del zarr.open_group(str(partial / "points"), mode="a")["R0.2000_N00036"]  # a sweep still missing a point
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    folder = tmp_path / "hub" / "datasets" / "qchaos" / "tri-partial"
    argv = ["publish", "tribaker", "--preset", "tiny", "--store", str(partial), "--repo-id", "qchaos/tri-partial",
            "--quiet"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "1 of 6 points missing" in err and "N = 36, R = 0.2" in err and "--allow-partial" in err
    assert not folder.exists()
    assert main(argv + ["--allow-partial"]) == 0
    card = (folder / "README.md").read_text()
    assert "## Missing points" in card and "- `R0.2000_N00036`: N = 36, R = 0.2" in card
    assert "5 of 6" in card
    manifest = json.loads((folder / "data/manifest.json").read_text())
    assert manifest["missing_points"] == ["R0.2000_N00036"]
    assert sum(manifest["configs"]["spectra"].values()) == 5
    # a store of another preset or system is refused too
    assert main(["publish", "tribaker", "--preset", "paper", "--store", str(partial), "--quiet"]) == 2
    assert "generated with preset 'tiny'" in capsys.readouterr().err


@pytest.mark.parametrize("damage", ["truncate", "bitflip", "stray", "missing"])
def test_corrupted_shard_is_detected(damage, published, tmp_path):
    from qchaos.hub import DatasetIntegrityError, load, verify_dataset

    folder = tmp_path / "copy"
    shutil.copytree(published["twobody"].path, folder)
    rel = "data/wavefunctions/train-00001-of-00002.parquet"
    shard = folder / rel
    data = bytearray(shard.read_bytes())
    if damage == "truncate":
        shard.write_bytes(data[: len(data) // 2])
        message = f"{rel}: truncated"
    elif damage == "bitflip":
        data[len(data) // 3] ^= 0x10
        shard.write_bytes(bytes(data))
        message = f"{rel}: corrupted"
    elif damage == "stray":
        rel = "data/wavefunctions/train-00002-of-00002.parquet"
        (folder / rel).write_bytes(bytes(data))
        message = f"{rel}: not listed"
    else:
        shard.unlink()
        message = f"{rel}: shard missing"
    with pytest.raises(DatasetIntegrityError, match=message):
        verify_dataset(folder)
    with pytest.raises(DatasetIntegrityError, match=message):
        load(folder, "wavefunctions", "train", cache_dir=str(tmp_path / "cache"))
    # the other config is intact and still loads through the verified helper
    assert load(folder, "spectra", "train", cache_dir=str(tmp_path / "cache")).num_rows == 2


def test_offline_load_of_local_folders(published, tmp_path):
    folders = [str(published[s].path) for s in ("twobody", "tribaker")]
    result = _run_client("offline", {"folders": folders}, {"HF_HUB_OFFLINE": "1"}, tmp_path)
    for folder, system in zip(folders, ("twobody", "tribaker")):
        report = published[system]
        assert result[folder]["configs"] == list(report.splits)
        for config, splits in report.splits.items():
            got = result[folder]["data"][config]
            assert set(got) == set(splits)
            for split in splits:
                assert got[split] == table_digest(_load(folder, config, split, tmp_path / "cache"))


def test_push_and_load_from_hub(published, stores, tmp_path):
    spec = importlib.util.spec_from_file_location("qchaos_tests_hubserver", Path(__file__).with_name("hubserver.py"))
    hubserver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubserver)
    srv = hubserver.HubServer(root=tmp_path / "hubserver").start()
    try:
        result = _run_client("hub", {"tb_store": str(stores["twobody"]), "tri_folder": str(published["tribaker"].path)},
                             {"HF_ENDPOINT": srv.url, "HF_TOKEN": "hf_loopback", "QCHAOS_HUB": str(tmp_path / "hub")},
                             tmp_path)
    finally:
        srv.stop()
    assert srv.unknown == [], f"the clients called routes the loopback Hub does not implement: {srv.unknown}"
    for repo, system in ((TB_ID, "twobody"), (TRI_ID, "tribaker")):
        report = published[system]
        assert result[repo]["configs"] == list(report.splits)
        for config, splits in report.splits.items():
            got = result[repo]["data"][config]
            assert set(got) == set(splits)
            for split in splits:  # same rows as the local folder, which equals the store bit for bit
                assert got[split] == table_digest(_load(report.path, config, split, tmp_path / "cache")), \
                    (repo, config, split)
    tri = published["tribaker"].path
    assert result["verified_load"] == table_digest(_load(tri, "resonances", "train", tmp_path / "cache"))
    local = {p.relative_to(tri).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
             for p in sorted(tri.rglob("*")) if p.is_file()}
    assert {k: v for k, v in result["tri_files"].items() if k != ".gitattributes"} == local


if __name__ == "__main__":  # the client subprocess of the tests above
    _client_main(sys.argv[1], json.loads(sys.argv[2]))
