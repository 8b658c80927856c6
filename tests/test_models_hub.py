"""Model repos: ``HubModel`` save/load (exact, verified, strict), the local hub, a Hub on loopback, the registry.

The Hub part runs the real ``huggingface_hub`` client (``PyTorchModelHubMixin.push_to_hub``, ``snapshot_download``)
in **subprocesses** (this file executed as a script, see ``_client_main``) against ``tests/hubserver.py`` running in
a thread of the pytest process: ``huggingface_hub`` reads ``HF_ENDPOINT``, ``HF_HUB_DISABLE_XET``, ``HF_HOME`` and
``HF_HUB_OFFLINE`` into constants when first imported, so only a fresh interpreter gets them right regardless of
test order (same reasoning as ``tests/test_publish.py``). Push, pull and the offline load each get a fresh process.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import struct
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.nn as nn

from modeling.hub_model import HubModel, ModelIntegrityError, load_weights

ROOT = Path(__file__).resolve().parent.parent
TINY_ID = "qchaos/tiny-net"
FILES = {"README.md", "config.json", "model.safetensors", "qchaos.json"}


class TinyNet(HubModel, tags=["test"]):
    classes = ("a", "b", "c")
    input_description = "four numbers"

    def __init__(self, n_in: int = 4, n_hidden: int = 8, n_out: int = 3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.register_buffer("scale", torch.ones(n_in))
        self.input_shape = (n_in,)

    def forward(self, x):
        return self.fc2(torch.relu(self.fc1(x * self.scale)))


class OtherNet(HubModel):
    """Same parameter names and shapes as TinyNet: only the class check can tell the checkpoints apart."""

    def __init__(self, n_in: int = 4, n_hidden: int = 8, n_out: int = 3):
        super().__init__()
        self.fc1 = nn.Linear(n_in, n_hidden)
        self.fc2 = nn.Linear(n_hidden, n_out)
        self.register_buffer("scale", torch.ones(n_in))

    def forward(self, x):
        return self.fc2(self.fc1(x * self.scale))


def make_tiny(seed: int = 0) -> TinyNet:
    torch.manual_seed(seed)
    model = TinyNet(n_hidden=6)
    with torch.no_grad():
        model.scale.uniform_(0.5, 1.5)  # a buffer must round-trip too
    return model.set_meta(description="A tiny test classifier.", dataset="qchaos/twobody-mini",
                          dataset_config="wavefunctions", metrics={"accuracy": {"test": 0.9876, "validation": 1.0}},
                          training={"epochs": 3, "seed": seed})


def inputs() -> torch.Tensor:
    return torch.linspace(-2.0, 2.0, 20).reshape(5, 4)


def outputs(model) -> list:
    with torch.no_grad():
        return model(inputs()).tolist()  # float32 -> exact Python floats -> exact through JSON


def state_digest(model) -> dict[str, str]:
    return {k: f"{v.dtype}|{list(v.shape)}|" + hashlib.sha256(v.contiguous().numpy().tobytes()).hexdigest()
            for k, v in model.state_dict().items()}


def _rerecord(folder: Path) -> None:
    """Make qchaos.json agree with whatever model.safetensors now holds (a record written for a bad file)."""
    record = json.loads((folder / "qchaos.json").read_text())
    data = (folder / "model.safetensors").read_bytes()
    record["weights"].update(sha256=hashlib.sha256(data).hexdigest(), size=len(data))
    from modeling.hub_model import record_digest

    record["record_sha256"] = record_digest(record)  # a consistent record, as a buggy writer would leave it
    (folder / "qchaos.json").write_text(json.dumps(record))


def _rewrite_tensors(folder: Path, change) -> None:
    from safetensors.torch import load_file, save_file

    tensors = load_file(folder / "model.safetensors")
    change(tensors)
    save_file(tensors, folder / "model.safetensors")
    _rerecord(folder)


# -- (a) local round trip ------------------------------------------------------------------------------------------
def test_round_trip_on_a_local_folder_is_exact(tmp_path):
    model = make_tiny().set_meta(name=TINY_ID)
    folder = tmp_path / "tiny"
    assert model.save_pretrained(folder) is None
    assert {p.name for p in folder.iterdir()} == FILES
    assert json.loads((folder / "config.json").read_text()) == {"n_hidden": 6, "n_in": 4, "n_out": 3}
    record = json.loads((folder / "qchaos.json").read_text())
    weights = (folder / "model.safetensors").read_bytes()
    assert record["model_class"] == "TinyNet"
    assert record["weights"] == {"file": "model.safetensors", "size": len(weights),
                                 "sha256": hashlib.sha256(weights).hexdigest()}
    assert record["meta"]["input_shape"] == [4] and record["meta"]["classes"] == ["a", "b", "c"]
    assert record["meta"]["dataset"] == "qchaos/twobody-mini" and record["meta"]["name"] == TINY_ID

    loaded = TinyNet.from_pretrained(folder)
    assert type(loaded) is TinyNet and not loaded.training
    assert loaded._hub_mixin_config == model._hub_mixin_config == {"n_in": 4, "n_hidden": 6, "n_out": 3}
    want, got = model.state_dict(), loaded.state_dict()
    assert list(got) == list(want) and all(torch.equal(got[k], want[k]) for k in want)
    assert outputs(loaded) == outputs(model)
    assert loaded.get_meta() == model.get_meta()
    # HubModel.from_pretrained builds the checkpoint's own class
    assert type(HubModel.from_pretrained(str(folder))) is TinyNet

    # deterministic bytes: saving the original again and saving the loaded copy give the same files
    def snapshot(f):
        return {p.name: p.read_bytes() for p in sorted(f.iterdir())}

    model.save_pretrained(tmp_path / "again")
    loaded.save_pretrained(tmp_path / "resaved")
    assert snapshot(tmp_path / "again") == snapshot(folder) == snapshot(tmp_path / "resaved")

    card = (folder / "README.md").read_text()
    front = card.split("---")[1]
    for needle in ("library_name: qchaos-hub", "license: mit", "datasets:\n- qchaos/twobody-mini",
                   "metrics:\n- accuracy", "- qchaos\n", "- test\n"):
        assert needle in front, needle
    for needle in ("# qchaos/tiny-net", "A tiny test classifier.", "`0 = a`, `1 = b`, `2 = c`",
                   "[`qchaos/twobody-mini`]", "`wavefunctions`", "| accuracy | test | 0.9876 |", "| `n_hidden` | `6` |",
                   f"from {TinyNet.__module__} import TinyNet", 'TinyNet.from_pretrained("qchaos/tiny-net")',
                   record["weights"]["sha256"], "| `epochs` | 3 |"):
        assert needle in card, needle
    with pytest.raises(ValueError, match="meta key 'accuracy': unknown"):
        model.set_meta(accuracy=1.0)


# -- (b) corrupted weights -----------------------------------------------------------------------------------------
@pytest.mark.parametrize("damage", ["bitflip", "truncate", "extra", "missing", "unparsable", "no-record"])
def test_damaged_weights_raise_a_clear_error(damage, tmp_path):
    folder = tmp_path / "tiny"
    make_tiny().save_pretrained(folder)
    path = folder / "model.safetensors"
    data = bytearray(path.read_bytes())
    if damage == "bitflip":
        data[-3] ^= 0x01  # inside the last tensor's values: still a valid file, only the sha256 can tell
        path.write_bytes(bytes(data))
        message = "model.safetensors: corrupted"
    elif damage == "truncate":
        path.write_bytes(bytes(data[: len(data) - 10]))
        message = "model.safetensors: truncated"
    elif damage == "extra":
        path.write_bytes(bytes(data) + b"\0")
        message = "model.safetensors: has extra bytes"
    elif damage == "missing":
        path.unlink()
        message = "model.safetensors: missing"
    elif damage == "unparsable":  # a record written for a broken file: safetensors' own error, made clear
        path.write_bytes(bytes(data[: len(data) // 2]))
        _rerecord(folder)
        message = "model.safetensors: not a readable safetensors file"
    else:  # a checkpoint without qchaos.json (e.g. plain PyTorchModelHubMixin): nothing to verify against
        (folder / "qchaos.json").unlink()
        message = "qchaos.json: missing"
    for loader in (TinyNet, HubModel):
        with pytest.raises(ModelIntegrityError, match=message):
            loader.from_pretrained(folder)
    assert issubclass(ModelIntegrityError, ValueError)


def test_load_weights_turns_safetensors_errors_into_clear_errors(tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(struct.pack("<Q", 10**6) + b"{}")  # header length beyond the end of the file
    with pytest.raises(ModelIntegrityError, match="model.safetensors: not a readable safetensors file"):
        load_weights(TinyNet(), bad)
    bad.write_bytes(b"definitely not safetensors")
    with pytest.raises(ModelIntegrityError, match="model.safetensors: not a readable safetensors file"):
        load_weights(TinyNet(), bad)


# -- (c) another class, another config, another architecture -------------------------------------------------------
def test_checkpoint_of_another_class_or_shape_is_refused(tmp_path):
    folder = tmp_path / "tiny"
    make_tiny().save_pretrained(folder)
    with pytest.raises(ValueError, match=r"a checkpoint of TinyNet \(see qchaos.json\), not of OtherNet; load it "
                                         r"with TinyNet.from_pretrained"):
        OtherNet.from_pretrained(folder)
    shape_error = (r"does not fit TinyNet\(n_hidden=7, n_in=4, n_out=3\) .*fc1.weight has shape \[6, 4\] in the "
                   r"checkpoint, the model expects \[7, 4\]")
    with pytest.raises(ValueError, match=shape_error):  # a keyword argument overriding config.json
        TinyNet.from_pretrained(folder, n_hidden=7)
    original = (folder / "config.json").read_text()
    config = json.loads(original)
    (folder / "config.json").write_text(json.dumps({**config, "n_hidden": 7}))  # config.json disagrees with weights
    with pytest.raises(ModelIntegrityError, match=r"config.json: differs from the sha256 qchaos.json records"):
        TinyNet.from_pretrained(folder)  # qchaos.json records config.json's sha256
    record = json.loads((folder / "qchaos.json").read_text())
    (folder / "qchaos.json").write_text(json.dumps({k: v for k, v in record.items()
                                                       if k not in ("config_sha256", "record_sha256")}))
    with pytest.raises(ValueError, match=shape_error):  # an older record: the shapes are still checked
        TinyNet.from_pretrained(folder)
    (folder / "config.json").write_text(original)
    assert outputs(TinyNet.from_pretrained(folder)) == outputs(make_tiny())

    # the architecture in the code changed since the checkpoint was saved (simulated on the checkpoint's side)
    extra = tmp_path / "extra"
    make_tiny().save_pretrained(extra)
    _rewrite_tensors(extra, lambda t: t.update({"head.weight": torch.zeros(2, 3)}))
    with pytest.raises(ValueError, match=r"the checkpoint's tensors \['head.weight'\] are not in the model"):
        TinyNet.from_pretrained(extra)
    fewer = tmp_path / "fewer"
    make_tiny().save_pretrained(fewer)
    _rewrite_tensors(fewer, lambda t: t.pop("fc2.bias"))
    with pytest.raises(ValueError, match=r"the model's tensors \['fc2.bias'\] are missing from the checkpoint"):
        TinyNet.from_pretrained(fewer)


# -- (d) repo ids resolve to the local hub -------------------------------------------------------------------------
def test_repo_id_resolves_to_the_local_hub_folder(tmp_path, monkeypatch):
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    model = make_tiny()
    folder = model.save_to_local_hub(TINY_ID)
    assert folder == tmp_path / "hub" / "models" / "qchaos" / "tiny-net"
    assert {p.name for p in folder.iterdir()} == FILES
    assert "name" not in model.hub_meta  # the name was used for this save only
    loaded = TinyNet.from_pretrained(TINY_ID)  # no network: the folder exists
    assert outputs(loaded) == outputs(model) and state_digest(loaded) == state_digest(model)
    assert loaded.hub_meta["name"] == TINY_ID
    assert 'TinyNet.from_pretrained("qchaos/tiny-net")' in (folder / "README.md").read_text()
    assert outputs(TinyNet.from_pretrained(TINY_ID, source="local")) == outputs(model)
    with pytest.raises(ValueError, match="'qchaos/nosuch': no such folder"):
        TinyNet.from_pretrained("qchaos/nosuch", source="local")
    with pytest.raises(ValueError, match="neither an existing folder nor a repo id"):
        TinyNet.from_pretrained("no-such-folder")
    with pytest.raises(ValueError, match="source = 'web'"):
        TinyNet.from_pretrained(TINY_ID, source="web")
    # a damaged local hub copy is caught the same way
    weights = folder / "model.safetensors"
    weights.write_bytes(weights.read_bytes()[:-1])
    with pytest.raises(ModelIntegrityError, match=f"{weights}: truncated"):
        TinyNet.from_pretrained(TINY_ID)


# -- (e) a Hub on loopback, then offline ---------------------------------------------------------------------------
def _client_main(mode: str, spec: dict) -> None:
    """Runs in a fresh interpreter whose environment the parent test prepared (HF_* variables)."""
    result: dict = {}
    if mode == "push":
        from huggingface_hub import HfApi

        model = TinyNet.from_pretrained(spec["src"])
        result["commit_url"] = str(model.push_to_hub(TINY_ID))
        result["files"] = sorted(HfApi().list_repo_files(TINY_ID))
    elif mode == "pull":
        from huggingface_hub import HfApi, hf_hub_download

        from qchaos import registry

        model = TinyNet.from_pretrained(TINY_ID)  # QCHAOS_HUB is empty: from the Hub
        result.update(outputs=outputs(model), state=state_digest(model), meta=model.hub_meta)
        result["card"] = Path(hf_hub_download(TINY_ID, "README.md")).read_text()
        # a registered id: the registry's revision is used and its sha256 must match
        commit = HfApi().model_info(TINY_ID).sha
        registry.MODELS[TINY_ID] = {"revision": commit, "sha256": "0" * 64}
        try:
            TinyNet.from_pretrained(TINY_ID)
        except ModelIntegrityError as exc:
            result["registry_error"] = str(exc)
        registry.MODELS[TINY_ID]["sha256"] = json.loads(Path(hf_hub_download(TINY_ID, "qchaos.json")).read_text())[
            "weights"]["sha256"]
        result["registry_outputs"] = outputs(TinyNet.from_pretrained(TINY_ID))
        del registry.MODELS[TINY_ID]
        # a corrupted file in the HF cache is refused; force_download fetches it again
        blob = Path(hf_hub_download(TINY_ID, "model.safetensors")).resolve()
        data = bytearray(blob.read_bytes())
        data[-1] ^= 0x40
        blob.write_bytes(bytes(data))
        try:
            TinyNet.from_pretrained(TINY_ID)
        except ModelIntegrityError as exc:
            result["cache_error"] = str(exc)
        result["redownloaded_outputs"] = outputs(TinyNet.from_pretrained(TINY_ID, force_download=True))
    elif mode == "offline":
        from huggingface_hub import constants

        assert constants.HF_HUB_OFFLINE
        result["cache_outputs"] = outputs(TinyNet.from_pretrained(TINY_ID))  # from the HF cache
        result["folder_outputs"] = outputs(TinyNet.from_pretrained(spec["src"]))
        os.environ["QCHAOS_HUB"] = spec["local_hub"]
        result["local_hub_outputs"] = outputs(HubModel.from_pretrained(TINY_ID))
    print("RESULT " + json.dumps(result))


def _run_client(mode: str, spec: dict, env_extra: dict, tmp: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HF_", "HUGGINGFACE_"))}
    env.update({"HF_HOME": str(tmp / "hf-home"), "HF_HUB_DISABLE_XET": "1", "HF_HUB_DISABLE_TELEMETRY": "1",
                "PYTHONPATH": os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")]).rstrip(os.pathsep),
                "QCHAOS_HUB": str(tmp / "empty-hub"), "TQDM_DISABLE": "1", **env_extra})
    proc = subprocess.run([sys.executable, __file__, mode, json.dumps(spec)], env=env, cwd=tmp,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, f"client ({mode}) failed:\n{proc.stdout[-4000:]}\n{proc.stderr[-8000:]}"
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    return json.loads(line[len("RESULT "):])


def test_push_pull_from_hub_and_offline(tmp_path):
    spec_ = importlib.util.spec_from_file_location("qchaos_tests_hubserver", Path(__file__).with_name("hubserver.py"))
    hubserver = importlib.util.module_from_spec(spec_)
    spec_.loader.exec_module(hubserver)
    model = make_tiny(seed=3)
    src = tmp_path / "src"
    model.save_pretrained(src)
    local_hub = tmp_path / "local-hub"
    model.save_to_local_hub(TINY_ID, root=local_hub)
    spec = {"src": str(src), "local_hub": str(local_hub)}

    srv = hubserver.HubServer(root=tmp_path / "hubserver").start()
    try:
        hub_env = {"HF_ENDPOINT": srv.url, "HF_TOKEN": "hf_loopback"}
        pushed = _run_client("push", spec, hub_env, tmp_path)
        pulled = _run_client("pull", spec, hub_env, tmp_path)
    finally:
        srv.stop()
    assert srv.unknown == [], f"the clients called routes the loopback Hub does not implement: {srv.unknown}"
    assert "qchaos/tiny-net" in pushed["commit_url"]
    assert set(pushed["files"]) == FILES | {".gitattributes"}

    want = outputs(model)
    assert pulled["outputs"] == want and pulled["state"] == state_digest(model)
    assert pulled["meta"]["name"] == TINY_ID and pulled["meta"]["dataset"] == "qchaos/twobody-mini"
    assert "library_name: qchaos-hub" in pulled["card"]
    assert 'TinyNet.from_pretrained("qchaos/tiny-net")' in pulled["card"]
    assert "differs from the registry's 0000000000000000" in pulled["registry_error"]
    assert pulled["registry_outputs"] == want
    assert "model.safetensors: corrupted" in pulled["cache_error"] and "force_download=True" in pulled["cache_error"]
    assert pulled["redownloaded_outputs"] == want

    # the server is gone: HF_HUB_OFFLINE=1 loads from the HF cache, a folder, and the local hub
    offline = _run_client("offline", spec, {"HF_ENDPOINT": srv.url, "HF_HUB_OFFLINE": "1"}, tmp_path)
    assert offline == {"cache_outputs": want, "folder_outputs": want, "local_hub_outputs": want}


# -- (f) registry and `qchaos list` --------------------------------------------------------------------------------
MODEL_IDS = ["qchaos/density-cnn-adv-twobody-paper", "qchaos/density-cnn-twobody-paper",
             "qchaos/quantum-net-tribaker-paper"]
DATASET_IDS = ["qchaos/tribaker-largeN", "qchaos/tribaker-largeN-mini", "qchaos/tribaker-mini", "qchaos/tribaker-paper", "qchaos/twobody-mini",
               "qchaos/twobody-mini-images", "qchaos/twobody-paper", "qchaos/twobody-paper-cnn",
               "qchaos/twobody-paper-fine", "qchaos/twobody-paper-scan"]


def test_registry_has_every_generation_preset():
    """Every preset that ``qchaos generate`` can make is a registered dataset with the configs it publishes."""
    from generation.presets import PRESETS
    from qchaos import registry

    assert sorted(f"qchaos/{system}-{name}" for system, presets in PRESETS.items() for name in presets) == DATASET_IDS
    for system, presets in PRESETS.items():
        for name, config in presets.items():
            entry = registry.get_dataset(f"qchaos/{system}-{name}")
            images = getattr(config, "window", True) is not None
            assert entry["system"] == system and entry["preset"] == name
            assert ("spectra" in entry["configs"]) and (len(entry["configs"]) == (2 if images else 1)), name


def test_every_role_is_played_by_registered_datasets_of_the_kinds_systems():
    """Each dataset role names a registered dataset at mini and at paper; each model kind trains on a role of its own
    system (its shipped checkpoint too), so no experiment can resolve a role to a dataset nobody can build."""
    from modeling.kinds import KINDS
    from qchaos import registry

    for role in registry.ROLES.values():
        for preset, (system, gen_preset) in role.presets.items():
            entry = registry.get_dataset(role.repo_id(preset))
            assert (entry["system"], entry["preset"]) == (system, gen_preset)
    assert registry.ROLES["twobody-images"].repo_id("paper") == "qchaos/twobody-paper-scan"
    assert registry.ROLES["tribaker"].repo_id("tiny") is None
    for kind in KINDS.values():
        for name in filter(None, (kind.role, kind.shipped_role)):
            assert {s for s, _ in registry.ROLES[name].presets.values()} == {kind.system}, (kind.name, name)


def test_registry_lists_and_gets(tmp_path, monkeypatch):
    from qchaos import registry

    assert [m["name"] for m in registry.list_models()] == MODEL_IDS
    assert [d["name"] for d in registry.list_datasets()] == DATASET_IDS
    cnn = registry.get_model("density-cnn-twobody-paper")
    assert cnn == registry.get_model("qchaos/density-cnn-twobody-paper")
    assert cnn["kind"] == "model" and cnn["model_class"] == "DensityCNN" and cnn["input_shape"] == [1, 100, 100]
    assert cnn["classes"] == ["non-integrable", "integrable"] and cnn["dataset"] == "qchaos/twobody-paper-cnn"
    assert len(cnn["sha256"]) == 64 and cnn["revision"] is None  # shipped in the local hub, not on a remote Hub
    net = registry.get_model("quantum-net-tribaker-paper")
    assert net["model_class"] == "QuantumLocalizationNet" and net["classes"] == ["localized", "non-localized"]
    assert net["dataset"] == "qchaos/tribaker-paper" and net["dataset_config"] == "resonances"
    tri = registry.get_dataset("tribaker-mini")
    assert tri["configs"] == ["resonances", "spectra"] and tri["default_config"] == "resonances" and tri["description"]
    cnn["classes"].append("oops")  # entries are copies
    assert registry.get_model("density-cnn-twobody-paper")["classes"] == ["non-integrable", "integrable"]
    with pytest.raises(ValueError, match="model = 'nosuch': unknown; known models: " + ", ".join(MODEL_IDS)):
        registry.get_model("nosuch")
    with pytest.raises(ValueError, match="dataset = 'qchaos/density-cnn-twobody-paper': unknown; known datasets: "
                                         + ", ".join(DATASET_IDS)):
        registry.get_dataset("qchaos/density-cnn-twobody-paper")
    with pytest.raises(ValueError, match="name = 'nosuch': unknown; known models: .*known datasets: "):
        registry.local_status("nosuch")

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    status = registry.local_status("twobody-mini")
    assert status == {"name": "qchaos/twobody-mini", "kind": "dataset", "local": False,
                      "path": str(tmp_path / "hub" / "datasets" / "qchaos" / "twobody-mini")}
    Path(status["path"]).mkdir(parents=True)
    (Path(status["path"]) / "README.md").write_text("---\n---\n")
    assert registry.local_status("qchaos/twobody-mini")["local"] is True
    make_tiny().save_to_local_hub("qchaos/density-cnn-twobody-paper")
    assert registry.local_status("density-cnn-twobody-paper")["local"] is True


def test_cli_list(tmp_path, monkeypatch, capsys):
    from qchaos.cli import main

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    make_tiny().save_to_local_hub("qchaos/quantum-net-tribaker-paper")
    assert main(["list", "models", "--json"]) == 0
    entries = json.loads(capsys.readouterr().out)
    assert [e["name"] for e in entries] == MODEL_IDS
    assert {e["name"]: e["local"] for e in entries} == dict(zip(MODEL_IDS, [False, False, True]))
    assert all(len(e["sha256"]) == 64 and e["input_shape"] and e["classes"] and e["dataset"] for e in entries)

    assert main(["list", "datasets"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["name", "revision", "sha256", "local", "meta"]
    assert [ln.split()[0] for ln in lines[1:]] == DATASET_IDS
    by_name = {ln.split()[0]: ln for ln in lines[1:]}
    images = by_name["qchaos/twobody-mini-images"]
    assert "wavefunctions*, spectra" in images and " no " in images
    assert "spectra*" in by_name["qchaos/twobody-mini"] and "wavefunctions" not in by_name["qchaos/twobody-mini"]

    assert main(["list", "models"]) == 0
    table = capsys.readouterr().out
    assert "6a880e4f622a" in table and "QuantumLocalizationNet, input Nx2" in table  # sha256 prefixes
    assert main(["list", "models", "nosuch"]) == 3  # NotFoundError (qchaos.errors)
    err = capsys.readouterr().err
    assert "model = 'nosuch': unknown" in err and all(m in err for m in MODEL_IDS)


if __name__ == "__main__":  # the client subprocess of test_push_pull_from_hub_and_offline
    _client_main(sys.argv[1], json.loads(sys.argv[2]))


# -- (g) the shipped pretrained checkpoints --------------------------------------------------------------------------
@pytest.mark.parametrize("repo_id", MODEL_IDS)
def test_shipped_checkpoints_load_offline_and_match_the_registry(repo_id, tmp_path, monkeypatch):
    """Every registered model is shipped with the package (qchaos/pretrained/): small, its weights' sha256 equal to
    the registry's, loadable with from_pretrained without a network whatever QCHAOS_HUB says, with the measured
    accuracies recorded in meta and card."""
    from modeling.hub_model import HubModel
    from qchaos import registry

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "empty-hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    entry = registry.get_model(repo_id)
    folder = registry.shipped_path(repo_id)
    assert folder is not None and folder.parent.name == "pretrained"
    weights = folder / "model.safetensors"
    assert weights.stat().st_size < 8 * 2**20  # a few MB
    assert hashlib.sha256(weights.read_bytes()).hexdigest() == entry["sha256"]
    model = HubModel.from_pretrained(repo_id, source="local")
    assert type(model).__name__ == entry["model_class"]
    meta = model.get_meta()
    assert meta["dataset"] == entry["dataset"]
    accuracy = meta["metrics"]["accuracy"]
    split = "test" if "test" in accuracy else "validation"
    # the targets (paper: ~99% for the density CNN, 100% closed and open for the quantum-layer net)
    assert accuracy[split] >= 0.99
    assert f"| accuracy | {split} | {accuracy[split]:.4g} |" in (folder / "README.md").read_text()
    if entry["model_class"] == "QuantumLocalizationNet":
        by_R = meta["metrics"]["accuracy_by_R"][split]
        assert set(by_R) == {"R=1", "R=0.2"} and min(by_R.values()) >= 0.99, by_R  # closed and open
