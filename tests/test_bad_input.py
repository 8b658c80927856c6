"""Bad and hostile inputs: huge and senseless sizes, flags that do not apply, non-finite numbers, hostile stores,
repos and checkpoints. Each must be refused early with a typed error naming the parameter (no allocation, no hang,
nothing written), or, for training, stop without saving."""

from __future__ import annotations

import json
import shutil
import time

import numpy as np
import pytest
import torch

from generation.presets import TribakerConfig, TwobodyConfig, parse_etas
from generation.store import PointResult, PointStore
from qchaos.errors import IntegrityError, NumericalError, ParameterError

TINY = dict(etas=(0.5,), levels=60, window=(10, 29), image_size=16, rough_images=True)


# -- sizes without bounds --------------------------------------------------------------------------------------------
@pytest.mark.parametrize("changes, match", [
    (dict(levels=10**8, window=(10, 29)), r"levels = 100000000: at most"),
    (dict(levels=10**6, window=(10, 10**6)), r"one point needs about .* GiB \(estimate\).*QCHAOS_MAX_BYTES"),
    (dict(basis_factor=1e7), r"basis_factor = 10000000.0: must be a number in \[1, 1000\]"),
    (dict(basis_factor=float("inf")), r"basis_factor = inf"),
    (dict(basis_factor=float("nan")), r"basis_factor = nan"),
    (dict(etas=(1e-12,)), r"eta = 1e-12: must be >= 0.0001"),
    (dict(seed=-1), r"seed = -1: must be an integer in \[0, 2\*\*32\)"),
    (dict(seed=10**23), r"seed = 100000000000000000000000"),
])
def test_twobody_sizes_are_bounded_before_allocating(changes, match):
    start = time.perf_counter()
    with pytest.raises(ParameterError, match=match):
        TwobodyConfig(**{**TINY, **changes})
    assert time.perf_counter() - start < 1.0  # refused, not attempted


@pytest.mark.parametrize("changes, match", [
    (dict(K=10**8), r"K = 100000000: 200000000 points"),
    (dict(N0=30000), r"N_max = N0 \+ 3 \(K - 1\) = 30003: one point needs about 134 GiB"),
    (dict(K=10000), r"N_max = N0 \+ 3 \(K - 1\) = 30027"),
    (dict(seed=-1), r"seed = -1"),
])
def test_tribaker_sizes_are_bounded_before_allocating(changes, match, monkeypatch):
    monkeypatch.setenv("QCHAOS_MAX_BYTES", str(4 * 2**30))
    with pytest.raises(ParameterError, match=match):
        TribakerConfig(**{"N0": 30, "K": 2, **changes})


def test_memory_limit_can_be_raised(monkeypatch):
    monkeypatch.setenv("QCHAOS_MAX_BYTES", str(2**20))
    with pytest.raises(ParameterError, match=r"more than the 0.000977 GiB allowed"):
        TribakerConfig(N0=300, K=2)
    monkeypatch.setenv("QCHAOS_MAX_BYTES", str(2**40))
    assert TribakerConfig(N0=300, K=2).dimensions == [300, 303]


@pytest.mark.parametrize("text, match", [
    ("0.1:1:1e-12", r"9e\+11 mass ratios, at most 100000 per sweep"),
    ("0.1:1:nan", r"a range needs finite START <= STOP and STEP > 0"),
    ("0.1:1:inf", r"a range needs finite START <= STOP and STEP > 0"),
    ("0.9:0.1:0.1", r"a range needs finite START <= STOP"),
])
def test_eta_ranges_are_bounded(text, match):
    with pytest.raises(ParameterError, match=match):
        parse_etas(text)


def test_presets_still_pass_their_own_checks():
    from generation.presets import PRESETS

    for system, presets in PRESETS.items():
        for name, config in presets.items():
            type(config)(**{k: v for k, v in config.__dict__.items()})  # re-validated


def test_negative_workers_are_refused_before_anything_runs(tmp_path):
    from generation.sweep import run_sweep

    store = PointStore.open(tmp_path / "s.zarr", "test", "test", {"x": 1})
    with pytest.raises(ParameterError, match=r"workers = -1: must be an integer >= 0"):
        run_sweep(store, {"p": {}}, lambda p: PointResult({"a/b": np.zeros(2)}), workers=-1, progress=False)


# -- hostile stores ------------------------------------------------------------------------------------------------
def test_store_with_crafted_attributes_is_refused_clearly(tmp_path):
    import zarr

    from generation.publish import publish
    from generation.verify import verify_store

    path = tmp_path / "evil.zarr"
    root = zarr.open_group(str(path), mode="w")
    root.attrs.update({"system": "twobody", "preset": "x", "config": {"bogus": 1}, "config_hash": "0"})
    root.create_group("points")
    with pytest.raises(IntegrityError, match="recorded config is not valid"):
        publish("twobody", path, "qchaos/evil", out=tmp_path / "repo")
    with pytest.raises(IntegrityError, match="recorded config is not valid"):
        verify_store(path)
    (path / "zarr.json").write_text("{not json")
    with pytest.raises(ParameterError, match=r"not a qchaos Zarr store"):
        publish("twobody", path, "qchaos/evil", out=tmp_path / "repo")
    assert not (tmp_path / "repo").exists()


def test_store_killed_while_being_created_is_never_refused(tmp_path):
    """A stray half-created store (the old, non-atomic layout) is refused with a clear message, and the atomic
    creation leaves only a hidden folder beside the path, which the next run removes."""
    path = tmp_path / "s.zarr"
    stray = tmp_path / f".{path.name}.creating-99999"
    stray.mkdir()
    (stray / "zarr.json").write_text("{}")
    store = PointStore.open(path, "twobody", "test", TwobodyConfig(**TINY).to_dict())
    with store.writing():
        pass
    assert not stray.exists()


# -- hostile repos and checkpoints ---------------------------------------------------------------------------------
def test_verify_reports_manifest_paths_outside_the_repo(tmp_path):
    from generation.verify import verify_dataset_repo

    repo = tmp_path / "repo"
    (repo / "data").mkdir(parents=True)
    outside = tmp_path / "secret.parquet"
    outside.write_bytes(b"PAR1secretPAR1")
    from qchaos.hub import MANIFEST_FORMAT, sha256_file

    manifest = {"format": MANIFEST_FORMAT, "configs": {}, "files": {
        "../secret.parquet": {"config": "x", "size": outside.stat().st_size, "sha256": sha256_file(outside)},
        str(outside): {"config": "x", "size": outside.stat().st_size, "sha256": sha256_file(outside)}}}
    (repo / "data" / "manifest.json").write_text(json.dumps(manifest))
    report = verify_dataset_repo(repo)
    assert not report.ok and len(report.problems) == 1
    assert "entry '../secret.parquet' is not a shard path" in report.problems[0][1]
    assert sha256_file(outside)[:16] not in report.problems[0][1]  # nothing outside the repo was hashed or leaked


def test_cli_verify_names_what_is_wrong_where(tmp_path, capsys):
    from qchaos.cli import main

    assert main(["verify", str(tmp_path / "nothing")]) == 3
    assert "neither a folder nor a repo id" in capsys.readouterr().err
    (tmp_path / "plain").mkdir()
    assert main(["verify", str(tmp_path / "plain")]) == 3
    assert "not a qchaos store" in capsys.readouterr().err


# -- non-finite numbers ----------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def density_model():
    from modeling.density_cnn import DensityCNN

    torch.manual_seed(0)
    return DensityCNN(image_size=16)


@pytest.mark.parametrize("make, match", [
    (lambda: torch.full((2, 16, 16), float("nan")), r"512 non-finite values"),
    (lambda: torch.ones(3, 16, 16).index_put_((torch.tensor([0]), torch.tensor([1]), torch.tensor([2])),
                                              torch.tensor(float("inf"))), r"1 non-finite values"),
    (lambda: torch.randint(0, 256, (2, 16, 16)).float(), r"must lie in \[0, 1\].*scaled to \[0, 1\]"),
    (lambda: -torch.rand(2, 16, 16), r"must lie in \[0, 1\]"),
    (lambda: np.zeros((2, 16, 16)), r"must be a torch tensor"),
])
def test_predict_proba_checks_its_input(density_model, make, match):
    with pytest.raises(ParameterError, match=match):
        density_model.predict_proba(make())


@pytest.mark.parametrize("batch_size", [-1, 0, 1.5, True])
def test_predict_proba_refuses_bad_batch_sizes(density_model, batch_size):
    with pytest.raises(ParameterError, match=r"batch_size = .*: must be an integer >= 1"):
        density_model.predict_proba(torch.rand(3, 16, 16), batch_size=batch_size)
    assert density_model.predict_proba(torch.rand(3, 16, 16), batch_size=2).shape == (3, 2)


def test_training_flags_that_do_not_apply_are_refused():
    from modeling.train import TrainSettings

    with pytest.raises(ParameterError, match=r"grid_size: only for quantum-net"):
        TrainSettings(model="density-cnn", dataset="qchaos/x", grid_size=3000)
    with pytest.raises(ParameterError, match=r"arch: only for quantum-net"):
        TrainSettings(model="density-cnn", dataset="qchaos/x", arch="alexnet")
    with pytest.raises(ValueError, match=r"reflectivity"):
        TrainSettings(model="quantum-net", dataset="qchaos/x", reflectivity=-1.0)


@pytest.fixture(scope="module")
def tiny_dataset(tmp_path_factory):
    from generation.publish import publish
    from generation.sweep import run_sweep
    from generation.twobody.generate import compute_point

    root = tmp_path_factory.mktemp("nan")
    config = TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True)
    store = PointStore.open(root / "s.zarr", "twobody", "test", config.to_dict())
    run_sweep(store, config.points(), compute_point, workers=0, progress=False)
    return publish("twobody", root / "s.zarr", "qchaos/nan", out=root / "hub" / "datasets" / "qchaos" / "nan").path


def test_diverging_training_stops_without_saving(tiny_dataset, tmp_path, monkeypatch):
    from modeling.train import train

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    log = tmp_path / "run.json"
    with pytest.raises(NumericalError, match=r"training diverged: loss = nan .*nothing was saved. Lower --lr"):
        train("density-cnn", "mini", str(tiny_dataset), epochs=2, lr=1e30, repo_id="qchaos/m-nan", log_path=log,
              progress=False, source="local", batch_size=8)
    assert not (tmp_path / "hub" / "models").exists()
    assert "non-finite training loss" in json.loads(log.read_text())["stopped"]


def test_cleanup_helpers_leave_nothing(tmp_path):
    from qchaos.atomic import clean_stray

    dest = tmp_path / "repo"
    dest.mkdir()
    for tag in ("new-1", "publishing", "creating-2", "saving-3"):
        (tmp_path / f".repo.{tag}").mkdir()
    assert len(clean_stray(dest)) == 4 and sorted(p.name for p in tmp_path.iterdir()) == ["repo"]
    shutil.rmtree(dest)


# -- integrity that cannot be walked around ---------------------------------------------------------------------------
def test_load_reads_exactly_the_manifest_shards_whatever_the_card_says(tiny_dataset, tmp_path):
    """A hostile card (absolute path, ../, an unlisted file) cannot choose what ``load`` reads."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    from qchaos.hub import load

    repo = tmp_path / "evil"
    shutil.copytree(tiny_dataset, repo)
    clean = load(repo, "spectra", split="train")
    marker = pa.table({"eta": [0.25], "g": [12345.0]})
    (repo / "extra").mkdir()
    pq.write_table(marker, repo / "extra" / "unverified.parquet")
    pq.write_table(marker, tmp_path / "secret.parquet")
    card = (repo / "README.md").read_text()
    for path in ("extra/*.parquet", str(tmp_path / "secret.parquet"), "../secret.parquet"):
        (repo / "README.md").write_text(card.replace("data/spectra/train-*.parquet", path))
        got = load(repo, "spectra", split="train")
        assert 12345.0 not in got["g"] and got["eta"] == clean["eta"], path


@pytest.mark.parametrize("rel", ["../secret.parquet", "/etc/hostname", "data/spectra/../../x.parquet",
                                 "data/wavefunctions/train.parquet"])
def test_manifest_entries_outside_their_place_are_refused(tiny_dataset, tmp_path, rel):
    from qchaos.hub import DatasetIntegrityError, load

    repo = tmp_path / "evil"
    shutil.copytree(tiny_dataset, repo)
    manifest = json.loads((repo / "data/manifest.json").read_text())
    entry = dict(next(iter(manifest["files"].values())), config="spectra")
    manifest["files"][rel] = entry
    (repo / "data/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetIntegrityError, match=r"(not a shard path|must have config).*refusing|must have config"):
        load(repo, "spectra")


def test_manifest_entry_without_size_is_an_integrity_error(tiny_dataset, tmp_path):
    from qchaos.hub import DatasetIntegrityError, verify_dataset

    repo = tmp_path / "evil"
    shutil.copytree(tiny_dataset, repo)
    manifest = json.loads((repo / "data/manifest.json").read_text())
    rel = next(iter(manifest["files"]))
    del manifest["files"][rel]["size"]
    (repo / "data/manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(DatasetIntegrityError, match=rf"entry '{rel}' must have .* an integer size"):
        verify_dataset(repo)


@pytest.mark.parametrize("attack", ["fgsm", "pgd"])
def test_attacks_check_their_inputs(density_model, attack):
    from modeling import attacks

    fn = getattr(attacks, attack)
    x, y = torch.rand(2, 16, 16), torch.tensor([0, 1])
    for bad, match in ((x * 255, r"x: values must lie in clip = \[0, 1\]"),
                       (torch.full_like(x, float("nan")), r"x: has 512 non-finite values")):
        with pytest.raises(ParameterError, match=match):
            fn(density_model, bad, y, 0.1)
    with pytest.raises(ParameterError, match=r"y: must hold one label per sample, shape \(2,\); got \(3,\)"):
        fn(density_model, x, torch.tensor([0, 1, 1]), 0.1)
    assert fn(density_model, x, y, 0.1).shape == x.shape


def test_training_log_that_is_a_folder_is_refused_before_training(tmp_path):
    from modeling.train import train

    with pytest.raises(ParameterError, match=r"log_path = .*: must name a JSON file"):
        train("density-cnn", "mini", "qchaos/none", log_path=tmp_path, progress=False)
    with pytest.raises(ParameterError, match=r"log_path = '': must name a JSON file"):
        train("density-cnn", "mini", "qchaos/none", log_path="", progress=False)


@pytest.mark.parametrize("seed", [-1, 2**40, 1.5, True])
def test_publish_split_seed_is_checked_first(tmp_path, seed):
    from generation.publish import publish

    with pytest.raises(ParameterError, match=r"split_seed = .*: must be an integer in \[0, 2\*\*32\)"):
        publish("twobody", tmp_path / "none.zarr", "qchaos/x", split_seed=seed)


def test_json_output_is_strict_json(capsys):
    from qchaos.cli import main

    assert main(["tribaker", "resonances", "--N", "30", "--R", "0", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out, parse_constant=lambda c: pytest.fail(f"non-JSON constant {c}"))
    decays = [r["decay"] for r in doc["resonances"]]
    assert None in decays and all(d is None or np.isfinite(d) for d in decays)  # z = 0: infinite decay -> null


def test_quantum_net_refuses_non_finite_vectors():
    from modeling.quantum_net import QuantumLocalizationNet

    net = QuantumLocalizationNet(grid_size=8)
    x = torch.zeros(2, 31, 2, dtype=torch.complex128)
    x[:, -1] = 30
    x[0, 0, 0] = complex(float("nan"), 0)
    with pytest.raises(ParameterError, match=r"QuantumLocalizationNet: input has 1 non-finite values"):
        net.predict_proba(x)


def test_load_refuses_a_revision_it_cannot_honour(tiny_dataset):
    from qchaos.hub import load

    with pytest.raises(ParameterError, match=r"revision = 'deadbeef': only for a Hub repo"):
        load(tiny_dataset, "spectra", revision="deadbeef")
