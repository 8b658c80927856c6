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
    root.attrs.update({"config": None})  # no config record at all (findings row 330: a bare KeyError)
    with pytest.raises(IntegrityError, match=r"store = .*evil\.zarr: its root attributes carry no config record"):
        publish("twobody", path, "qchaos/evil", out=tmp_path / "repo")
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


def test_divergence_in_the_last_step_is_caught_by_the_validation_loss(tiny_dataset, tmp_path, monkeypatch):
    """One step in all (batch larger than the train split): its loss is finite, the update is not; the checkpoint
    would carry NaN weights with a plausible accuracy (the findings' D5 with --epochs 1)."""
    from modeling.train import train

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    log = tmp_path / "run.json"
    with pytest.raises(NumericalError, match=r"training diverged: validation loss = nan after epoch 1, step 1 "
                                             r"\(lr = 1e\+30\); nothing was saved"):
        train("density-cnn", "mini", str(tiny_dataset), epochs=1, lr=1e30, repo_id="qchaos/m-nan1", log_path=log,
              progress=False, source="local", batch_size=64)
    assert not (tmp_path / "hub" / "models").exists()
    assert json.loads(log.read_text())["stopped"] == "non-finite validation loss nan after epoch 1, step 1"


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


@pytest.mark.parametrize("file, edit, match", [
    ("qchaos.json", lambda r: json.dumps([r]), r"qchaos.json: not a qchaos-model/1 record .*got a JSON list"),
    ("qchaos.json", lambda r: json.dumps({**r, "weights": {**r["weights"], "size": str(r["weights"]["size"])}}),
     r"qchaos.json: weights.size = '\d+': must be an integer >= 0"),
    ("qchaos.json", lambda r: json.dumps({**r, "weights": {**r["weights"], "sha256": 5}}),
     r"qchaos.json: weights.sha256 = '5': must be 64 lowercase hex digits"),
    ("qchaos.json", lambda r: json.dumps({**r, "weights": "model.safetensors"}),
     r"qchaos.json: weights = 'model.safetensors': must be an object"),
    ("qchaos.json", lambda r: json.dumps({**r, "meta": ["x"]}), r"qchaos.json: meta = .*: must be an object"),
    ("config.json", lambda c: json.dumps(list(c.values())),
     r"config.json: must be a JSON object of constructor arguments \{name: value\}, got a JSON list"),
    ("config.json", lambda c: json.dumps("image_size=16"), r"config.json: must be a JSON object .*got a JSON str"),
    ("config.json", lambda c: "{image_size: 16}", r"config.json: unreadable, not JSON .*must hold the constructor"),
])
def test_hostile_checkpoint_files_are_refused_naming_the_field(tmp_path, file, edit, match):
    """The findings' fp-rec-list, fp-rec-size-str, fp-cfg-list, fp-cfg-badjson: a self-consistent hostile folder
    (its digests recomputed, as the repo's author would) gave a bare AttributeError / TypeError / JSONDecodeError."""
    from modeling.density_cnn import DensityCNN
    from modeling.hub_model import HubModel, ModelIntegrityError, record_digest, verify_folder
    from qchaos.hub import sha256_file

    folder = tmp_path / "evil"
    torch.manual_seed(0)
    DensityCNN(image_size=16).save_pretrained(folder)
    path = folder / file
    path.write_text(edit(json.loads(path.read_text())))
    record = json.loads((folder / "qchaos.json").read_text())
    if isinstance(record, dict):
        record["config_sha256"] = sha256_file(folder / "config.json")
        record["record_sha256"] = record_digest(record)
        (folder / "qchaos.json").write_text(json.dumps(record))
    with pytest.raises(ModelIntegrityError, match=match):
        HubModel.from_pretrained(str(folder))
    if file == "qchaos.json":
        assert re_search(match, verify_folder(folder)[0][1])  # qchaos verify MODEL says the same


def test_loopback_hub_refuses_an_lfs_oid_that_is_a_path(tmp_path):
    """The findings' hubserver-lfs-oid-traversal-read: a commit whose lfsFile oid was ``../../etc/hostname`` made
    ``resolve`` serve that file to any local client."""
    import importlib.util
    import urllib.error
    import urllib.request
    from pathlib import Path

    spec = importlib.util.spec_from_file_location("qchaos_tests_hubserver", Path(__file__).with_name("hubserver.py"))
    hubserver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubserver)
    secret = tmp_path / "secret.txt"
    secret.write_text("not for clients\n")
    srv = hubserver.HubServer(root=tmp_path / "server").start()

    def call(method, path, body):
        req = urllib.request.Request(srv.url + path, data=body, method=method)
        try:
            with urllib.request.urlopen(req, timeout=10) as resp:
                return resp.status, resp.read().decode(errors="replace")
        except urllib.error.HTTPError as exc:
            return exc.code, exc.headers.get("X-Error-Message", "") + exc.read().decode(errors="replace")

    try:
        assert call("POST", "/api/repos/create", b'{"type": "model", "organization": "evil", "name": "leak"}')[0] == 200
        oid = "../" * 12 + str(secret).lstrip("/")
        lines = [{"key": "header", "value": {"summary": "leak"}},
                 {"key": "lfsFile", "value": {"path": "leak.bin", "algo": "sha256", "oid": oid}}]
        code, message = call("POST", "/api/models/evil/leak/commit/main", "\n".join(map(json.dumps, lines)).encode())
        assert code == 422 and "lfsFile 'leak.bin': oid = '../" in message and "64 lowercase hex digits" in message
        code, body = call("GET", "/evil/leak/resolve/main/leak.bin", None)
        assert code == 404 and "not for clients" not in body
        batch = {"operation": "upload", "objects": [{"oid": oid, "size": 16}]}
        code, body = call("POST", "/evil/leak.git/info/lfs/objects/batch", json.dumps(batch).encode())
        assert code == 200 and "upload" in json.loads(body)["objects"][0]["actions"]  # no existence oracle either
    finally:
        srv.stop()
    assert srv.unknown == []


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


# -- direct commands: sizes bounded in the functions, before allocating ----------------------------------------------
from generation.tribaker.propagator import tribaker
from generation.tribaker.resonances import resonances
from generation.twobody.bethe import bethe_levels
from generation.twobody.spectrum import solve_spectrum

GIB4 = str(4 * 2**30)


@pytest.mark.parametrize("call, match", [
    (lambda: solve_spectrum(0.5, 5.0, 10**8),
     (r"levels = 100000000, basis_factor = 2: the solve needs about 2.24e\+08 GiB \(estimate\), more than the 4 "
      r"GiB allowed \(QCHAOS_MAX_BYTES\); accepted: levels <= 13360 at basis_factor = 2; lower --levels or "
      r"--basis-factor")),
    (lambda: solve_spectrum(0.5, 5.0, 30000, "odd"),
     r"levels = 30000, basis_factor = 2: .*accepted: levels <= 6680 at basis_factor = 2"),
    (lambda: solve_spectrum(0.5, 5.0, 10**8, extrapolate=False),
     r"levels = 100000000, .*accepted: levels <= 1121159 at basis_factor = 2"),
    (lambda: solve_spectrum(0.5, 5.0, 10, extrapolate=False, top_check="no"),
     r"top_check = 'no': must be True or False"),
    (lambda: solve_spectrum(0.5, 5.0, 10, basis_factor=1e7),
     r"basis_factor = 10000000.0: must be a finite number <= 1000"),
    (lambda: solve_spectrum(0.5, 5.0, 10, basis_factor=float("inf")),
     r"basis_factor = inf: must be a finite number <= 1000"),
    (lambda: solve_spectrum(1e-300, 5.0, 10), r"eta = 1e-300: must be >= 0.0001"),
    (lambda: solve_spectrum(0.5, 1e300, 10), r"g = 1e\+300: must be <= 1e\+08 for exact diagonalisation"),
    (lambda: TwobodyConfig(**{**TINY, "g": 1e300}), r"g = 1e\+300: must be <= 1e\+08"),
    (lambda: TribakerConfig(N0=30, K=10**12), r"K = 1000000000000: 2000000000000 points"),  # counted, not listed
    (lambda: bethe_levels(1, 5.0, 10**8),
     (r"n_levels = 100000000 \(--levels\): the Bethe-ansatz solve needs about 93.1 GiB .*accepted: n_levels <= "
      r"4294967; lower --levels")),
    (lambda: resonances(300000),
     r"N = 300000: the dense diagonalisation needs about 1.34e\+04 GiB .*accepted: N <= 5181 .*lower --N"),
    (lambda: tribaker(30000),
     r"N = 30000: the dense propagator needs about 53.6 GiB"),
])
def test_direct_functions_bound_their_sizes_before_allocating(call, match, monkeypatch):
    import resource

    monkeypatch.setenv("QCHAOS_MAX_BYTES", GIB4)
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    with pytest.raises(ParameterError, match=match):
        call()
    assert time.perf_counter() - start < 2.0
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 200 * 1024  # < 200 MB more peak RSS


@pytest.mark.parametrize("argv, match", [
    (["twobody", "spectrum", "--eta", "0.5", "--g", "5", "--levels", "100000000"],
     r"qchaos: error: levels = 100000000, basis_factor = 2: .* accepted: levels <= 13360"),
    (["twobody", "spectrum", "--eta", "0.5", "--g", "5", "--levels", "10", "--basis-factor", "inf"],
     r"qchaos: error: basis_factor = inf: must be a finite number <= 1000"),
    (["twobody", "bethe", "--eta", "1", "--g", "5", "--levels", "100000000"],
     r"qchaos: error: n_levels = 100000000 \(--levels\): .*accepted: n_levels <= 4294967"),
    (["tribaker", "resonances", "--N", "300000"], r"qchaos: error: N = 300000: .*accepted: N <= 5181"),
])
def test_direct_commands_refuse_huge_sizes_with_the_flag_and_the_estimate(argv, match, monkeypatch, capsys):
    from qchaos.cli import main

    monkeypatch.setenv("QCHAOS_MAX_BYTES", GIB4)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert re_search(match, err) and "Traceback" not in err, err


def re_search(pattern, text):
    import re

    return re.search(pattern, text) is not None


def test_the_memory_limit_follows_the_address_space_limit(monkeypatch):
    import resource

    from qchaos.limits import max_bytes

    monkeypatch.delenv("QCHAOS_MAX_BYTES", raising=False)
    monkeypatch.setattr(resource, "getrlimit", lambda what: (3 * 2**30, resource.RLIM_INFINITY))
    assert max_bytes() == 3 * 2**30 // 2  # half the address space (this machine has more than 3 GiB)
    from generation.tribaker.resonances import resonances

    with pytest.raises(ParameterError, match=r"allowed \(half this process's address-space limit, ulimit -v\)"):
        resonances(9000)


# -- blank strings and flags that do not apply: refused by the parser or before any work -----------------------------
@pytest.mark.parametrize("argv, match", [
    (["generate", "twobody", "--eta", ""], r"argument --eta: '' is blank"),
    (["generate", "twobody", "--eta", "   "], r"argument --eta: '   ' is blank"),
    (["generate", "twobody", "--image-eta", ""], r"argument --image-eta: '' is blank"),
    (["generate", "twobody", "--scheduler", ""], r"argument --scheduler: '' is blank"),
    (["generate", "twobody", "--out", ""], r"argument --out: '' is blank"),
    (["generate", "tribaker", "--preset", " "], r"argument --preset: ' ' is blank"),
    (["publish", "twobody", "--repo-id", ""], r"argument --repo-id: '' is blank"),
    (["publish", "twobody", "--holdout-eta", ""], r"argument --holdout-eta: '' is blank"),
    (["publish", "tribaker", "--holdout-N", ",,,"], r"argument --holdout-N: ',,,' lists no value"),
    (["publish", "twobody", "--store", ""], r"argument --store: '' is blank"),
    (["twobody", "spectrum", "--eta", "", "--g", "5", "--levels", "3"], r"argument --eta: '' is blank"),
    (["train", "density-cnn", "--eta", ""], r"argument --eta: '' is blank"),
    (["train", "density-cnn", "--repo-id", ""], r"argument --repo-id: '' is blank"),
    (["train", "density-cnn", "--dataset", "\t"], r"argument --dataset: '\\t' is blank"),
    (["train", "density-cnn", "--log", ""], r"argument --log: '' is blank"),
    (["train", "density-cnn", "--device", ""], r"argument --device: '' is blank"),
    (["evaluate", "--out", ""], r"argument --out: '' is blank"),
    (["evaluate", ""], r"argument NAME: '' is blank"),
    (["list", "models", ""], r"argument name: '' is blank"),
    (["verify", ""], r"argument target: '' is blank"),
    (["train", "density-cnn", "--seed", "99999999999999999999999"],
     r"argument --seed: 99999999999999999999999 must be an integer in \[0, 2\*\*32\)"),
    (["generate", "twobody", "--seed=-1"], r"argument --seed: -1 must be an integer in \[0, 2\*\*32\)"),
    (["publish", "twobody", "--split-seed=-1"], r"argument --split-seed: -1 must be an integer in \[0, 2\*\*32\)"),
])
def test_blank_strings_are_refused_by_the_parser(argv, match, capsys):
    from qchaos.cli import main

    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2
    assert re_search(match, capsys.readouterr().err)


@pytest.mark.parametrize("argv, match", [
    (["train", "density-cnn", "--grid-size", "32"], r"--grid-size: only for quantum-net .*not density-cnn"),
    (["train", "density-cnn-adv", "--arch", "compact", "--max-N", "30"],
     r"--arch, --max-N: only for quantum-net .*not density-cnn-adv"),
    (["train", "quantum-net", "--eta", "0.5", "--augment"],
     r"--eta, --augment: only for density-cnn, density-cnn-adv \(twobody data\), not quantum-net"),
    (["generate", "twobody", "--workers", "0", "--scheduler", "tcp://127.0.0.1:9"],
     r"--workers = 0: does not apply with --scheduler"),
    (["evaluate", "--list", "ed-accuracy"], r"NAME: does not apply with --list"),
    (["train", "density-cnn", "--device", "meta"], r"--device = 'meta': not a device that computes"),
])
def test_flags_that_do_not_apply_are_refused_before_any_work(argv, match, capsys, tmp_path, monkeypatch):
    from qchaos.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    assert main(argv) == 2
    assert re_search(match, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []  # nothing written


# -- the registry's sha256 pin: enforced wherever the weights of a registered name come from -------------------------
REGISTERED = "qchaos/density-cnn-twobody-paper"


def test_shipped_checkpoints_match_their_registry_pin(tmp_path, monkeypatch):
    from modeling.hub_model import HubModel
    from qchaos.registry import MODELS

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "empty-hub"))
    for repo_id, entry in MODELS.items():
        model = HubModel.from_pretrained(repo_id)
        assert type(model).__name__ == entry["model_class"]


def test_tampered_copy_under_a_registered_name_is_refused(tmp_path, monkeypatch):
    """Self-consistent weights (their own qchaos.json matches) saved under a registered name in the local hub, or
    put in place of the shipped checkpoint: refused, naming the file and both digests."""
    from modeling.density_cnn import DensityCNN
    from modeling.hub_model import HubModel, ModelIntegrityError
    from qchaos import registry
    from qchaos.hub import sha256_file

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    torch.manual_seed(0)
    folder = DensityCNN(image_size=16).save_to_local_hub(REGISTERED)
    digest, pinned = sha256_file(folder / "model.safetensors"), registry.MODELS[REGISTERED]["sha256"]
    with pytest.raises(ModelIntegrityError) as exc:
        HubModel.from_pretrained(REGISTERED, source="local")
    assert str(exc.value).startswith(f"{folder / 'model.safetensors'}: sha256 {digest} differs from the registry's "
                                     f"{pinned}")
    # the same weights in place of the shipped checkpoint (source="auto" prefers it)
    monkeypatch.setattr(registry, "shipped_path", lambda repo_id: folder if repo_id == REGISTERED else None)
    with pytest.raises(ModelIntegrityError, match=rf"sha256 {digest} differs from the registry's {pinned}"):
        HubModel.from_pretrained(REGISTERED)
    # an explicit opt-out loads a local retrain (still verified against its own qchaos.json)
    model = HubModel.from_pretrained(REGISTERED, source="local", verify_registry=False)
    assert model.image_size == 16
    # the same folder by path is not a registered name
    assert HubModel.from_pretrained(str(folder)).image_size == 16


def test_too_few_resonances_above_min_abs_z_names_both_flags():
    from generation.tribaker.generate import compute_point

    params = dict(N=30, R=0.2, per_side=5, image_size=16, min_abs_z=0.999, seed=0)
    with pytest.raises(ParameterError, match=r"min_abs_z = 0.999, per_side = 5: only 0 of the 30 resonances at "
                                             r"N = 30, R = 0.2 have \|z\| > min_abs_z, 2 \* per_side = 10 are "
                                             r"needed; lower --min-abs-z or --per-side"):
        compute_point(params)


@pytest.mark.parametrize("argv, code, match", [
    (["generate", "twobody", "--rough-images", "--eta", "0.5,0.50000000001"], 2,
     r"eta = '0.5,0.50000000001': 0.5 and 0.50000000001 would share the point 'eta0.5000000000'"),
    (["generate", "tribaker", "--R", "0.2", "0.20001"], 2,
     r"R: 0.20001 and 0.2 would share the point 'R0.2000_N00030'"),
    (["evaluate", "ed-accuracy", "--no-build", "--out", "/proc/qchaos-nowhere/reports"], 5,
     r"--out = /proc/qchaos-nowhere/reports: cannot write there \(/proc: "),
    (["train", "density-cnn", "--log", "/proc/qchaos-nowhere/log.json"], 5,
     r"--log = /proc/qchaos-nowhere/log.json: cannot write there \(/proc: "),
])
def test_colliding_points_and_unwritable_paths_are_refused_first(argv, code, match, tmp_path, monkeypatch, capsys):
    """Two values one point key would silently merge; /proc cannot be written even by root (os.access says yes)."""
    from qchaos.cli import main

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    assert main(argv) == code
    assert re_search(match, capsys.readouterr().err)
    assert list(tmp_path.iterdir()) == []


def test_evaluate_out_that_is_a_file_and_failed_experiments_say_why(tmp_path, monkeypatch, capsys):
    from qchaos.cli import main

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    (tmp_path / "file").write_text("x")
    assert main(["evaluate", "ed-accuracy", "--no-build", "--out", str(tmp_path / "file")]) == 5
    assert f"--out = {tmp_path / 'file'}: cannot write there ({tmp_path / 'file'} is a file, not a folder)" \
        in capsys.readouterr().err
    assert main(["evaluate", "galleries", "--no-build", "--quiet", "--out", str(tmp_path / "reports")]) == 1
    err = capsys.readouterr().err.splitlines()
    assert err[1].startswith("  galleries (missing): dataset qchaos/tribaker-mini is not in the local hub"), err


@pytest.mark.parametrize("repo_id", ["qchaos/ab\n", "qchaos\n/ab", "qchaos/a\nb"])
def test_repo_ids_with_a_newline_are_refused(repo_id):
    """``$`` in a regex matches before a final newline: the id check uses fullmatch (a folder 'ab\\n' was made)."""
    from qchaos.hub import parse_repo_id

    with pytest.raises(ParameterError, match=r"repo_id = .*: org and name must be 1-96 characters"):
        parse_repo_id(repo_id)


@pytest.mark.parametrize("kwargs, match", [
    (dict(eta=True), r"eta = True: a mass ratio is a number or a fraction like '1/3', not a bool"),
    (dict(eta=[0.5]), r"eta: cannot read \[0.5\] as a number"),
    (dict(eta=None), r"eta: cannot read None as a number"),
    (dict(basis_factor="2"), r"basis_factor = '2': must be a number in \[1.25, 1000\]"),
    (dict(basis_factor=None), r"basis_factor = None: must be a number"),
    (dict(extrapolate="no"), r"extrapolate = 'no': must be True or False"),
    (dict(seed="x"), r"seed = 'x': must be an integer in \[0, 2\*\*32\)"),
    (dict(seed=-1), r"seed = -1: must be an integer in \[0, 2\*\*32\)"),
])
def test_solve_spectrum_refuses_arguments_of_the_wrong_kind(kwargs, match):
    """The findings' API cases: raw TypeErrors, and True / 'no' silently read as 1 / yes."""
    args = {"eta": 0.5, "g": 5.0, "n_levels": 10, **kwargs}
    with pytest.raises(ValueError, match=match):
        solve_spectrum(**args)


def test_train_on_a_folder_that_is_not_a_dataset_names_the_flag(tmp_path, monkeypatch, capsys):
    from qchaos.cli import main

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    (tmp_path / "cases").mkdir()
    assert main(["train", "density-cnn", "--dataset", str(tmp_path / "cases"), "--quiet"]) == 4
    err = capsys.readouterr().err
    assert f"--dataset {tmp_path / 'cases'}:" in err and "not a dataset published by qchaos" in err
