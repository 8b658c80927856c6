"""The front door, as a new user meets it: the built wheel installed without the repository, offline, from an empty
directory; where things live; and every failure of the environment as one line with its exit code.

The wheel test builds ``dist/*.whl`` (``pip wheel --no-build-isolation`` of a copy of the checkout), installs it
with ``--no-deps`` into a throwaway venv that sees the test interpreter's dependencies (a ``.pth`` line, so the
checkout's editable install is not picked up), and runs ``qchaos --help`` / ``list``, every block of the README
(the quick start generates and publishes a mini repo), ``from_pretrained`` of every shipped checkpoint,
``datasets.load_dataset`` of the published repo and one experiment there, with ``HF_HUB_OFFLINE=1`` and ``QCHAOS_HUB`` / ``XDG_CACHE_HOME`` / ``HF_HOME``
in the temporary directory.
"""

from __future__ import annotations

import json
import os
import shutil
import socket
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest
from mdsnippets import blocks, run_blocks

ROOT = Path(__file__).resolve().parent.parent
MODEL_IDS = ["qchaos/density-cnn-adv-twobody-paper", "qchaos/density-cnn-twobody-paper",
             "qchaos/quantum-net-tribaker-paper"]
GEN_TINY = ["generate", "twobody", "--eta", "0.5,1", "--levels", "60", "--window", "10", "29", "--image-size", "16",
            "--rough-images", "--workers", "0", "--quiet"]


def _clean_env(tmp: Path, **extra) -> dict:
    """An environment without the checkout on the path, offline, every location inside ``tmp``."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGINGFACE_", "QCHAOS_", "DASK_")) and k not in ("PYTHONPATH", "XDG_CACHE_HOME")}
    env.update({"HF_HUB_OFFLINE": "1", "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HOME": str(tmp / "hf-home"),
                "XDG_CACHE_HOME": str(tmp / "cache"), "TQDM_DISABLE": "1", "OMP_NUM_THREADS": "1",
                "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **extra})
    return env


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


# -- where things live -----------------------------------------------------------------------------------------------
def test_hub_root_is_explicit(tmp_path, monkeypatch):
    from qchaos.hub import hub_root

    monkeypatch.delenv("QCHAOS_HUB", raising=False)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert hub_root() == tmp_path / "xdg" / "qchaos" / "hub"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert hub_root() == tmp_path / "home" / ".cache" / "qchaos" / "hub"
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "mine"))
    assert hub_root() == tmp_path / "mine"


def test_shipped_checkpoints_win_unless_asked(tmp_path, monkeypatch):
    """A shipped id loads the shipped checkpoint from any working directory and whatever QCHAOS_HUB holds; a model
    saved under the same name in the local hub is used with source='local' and verify_registry=False (the registry's
    sha256 pin refuses it otherwise); HubModel dispatches on the class."""
    import torch

    from modeling.density_cnn import DensityCNN
    from modeling.hub_model import HubModel
    from qchaos import registry

    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    shipped = HubModel.from_pretrained("qchaos/density-cnn-twobody-paper")
    assert type(shipped) is DensityCNN
    torch.manual_seed(1)
    mine = DensityCNN(**shipped._hub_mixin_config)
    mine.save_to_local_hub("qchaos/density-cnn-twobody-paper")
    again = HubModel.from_pretrained("qchaos/density-cnn-twobody-paper")
    # the registry pins the name's weights: a local model saved under it is refused unless asked for explicitly
    from modeling.hub_model import ModelIntegrityError

    with pytest.raises(ModelIntegrityError, match="registry"):
        HubModel.from_pretrained("qchaos/density-cnn-twobody-paper", source="local")
    local = HubModel.from_pretrained("qchaos/density-cnn-twobody-paper", source="local", verify_registry=False)
    w = "features.0.weight" if "features.0.weight" in shipped.state_dict() else next(iter(shipped.state_dict()))
    assert torch.equal(again.state_dict()[w], shipped.state_dict()[w])
    assert torch.equal(local.state_dict()[w], mine.state_dict()[w])
    assert not torch.equal(local.state_dict()[w], shipped.state_dict()[w])
    assert registry.local_status("density-cnn-twobody-paper") == {
        "name": "qchaos/density-cnn-twobody-paper", "kind": "model", "local": True, "shipped": True,
        "path": str(tmp_path / "hub" / "models" / "qchaos" / "density-cnn-twobody-paper")}


def test_unknown_model_class_lists_the_registered(tmp_path):
    from modeling.hub_model import HubModel
    from qchaos.errors import NotFoundError
    from qchaos.registry import shipped_path

    folder = tmp_path / "odd"
    shutil.copytree(shipped_path("qchaos/quantum-net-tribaker-paper"), folder)
    record = json.loads((folder / "qchaos.json").read_text())
    record["model_class"], record["module"] = "MysteryNet", "elsewhere.mystery"
    (folder / "qchaos.json").write_text(json.dumps(record))
    with pytest.raises(NotFoundError, match="model class 'MysteryNet'.*not registered; known classes: DensityCNN, "
                                            "(.*, )?QuantumLocalizationNet"):
        HubModel.from_pretrained(str(folder))


# -- failures of the environment: one line, exit code by kind ----------------------------------------------------------
def _cli(args, env=None, cwd=None):
    return subprocess.run([sys.executable, "-m", "qchaos", *args], capture_output=True, text=True, timeout=300,
                          env=env, cwd=cwd)


def _one_line(proc, code: int, *needles: str) -> None:
    err = proc.stderr.strip()
    assert proc.returncode == code, (proc.returncode, err[-3000:])
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    for needle in needles:
        assert needle in err, (needle, err)


@pytest.fixture(scope="module")
def blocker(tmp_path_factory) -> Path:
    """A plain file: paths below it can be created by nobody (root included)."""
    path = tmp_path_factory.mktemp("env") / "a-file"
    path.write_text("not a folder\n")
    return path


def test_unwritable_paths(blocker, tmp_path, monkeypatch, capsys):
    from qchaos.cli import main
    from qchaos.errors import EnvironmentFault

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    cases = [
        (["generate", "twobody", "--eta", "0.5", "--out", str(blocker / "x.zarr")], "--out = "),
        (["evaluate", "ed-accuracy", "--out", str(blocker / "reports")], "--out = "),
        (["train", "density-cnn", "--log", str(blocker / "log.json"), "--dataset", str(tmp_path)], "--log = "),
    ]
    for argv, what in cases:
        assert main(argv) == 5, argv
        err = capsys.readouterr().err
        assert err.startswith(f"qchaos: environment: {what}") and "cannot write there" in err \
            and str(blocker) in err and len(err.strip().splitlines()) == 1, err
    with pytest.raises(EnvironmentFault, match="--out = "):  # --debug: the exception itself, with its traceback
        main(["--debug", "generate", "twobody", "--eta", "0.5", "--out", str(blocker / "x.zarr")])
    monkeypatch.setenv("QCHAOS_HUB", str(blocker / "hub"))
    for argv in (["publish", "twobody", "--store", str(tmp_path / "none.zarr")],
                 ["train", "quantum-net", "--dataset", str(tmp_path)]):
        assert main(argv) == 5, argv
        err = capsys.readouterr().err
        assert err.startswith(f"qchaos: environment: QCHAOS_HUB = {blocker / 'hub'}: cannot write there"), err


def test_device_without_cuda(tmp_path, monkeypatch, capsys):
    import torch

    from qchaos.cli import main

    if torch.cuda.is_available():
        pytest.skip("this machine has CUDA")
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    assert main(["train", "density-cnn", "--device", "cuda", "--dataset", str(tmp_path)]) == 5
    err = capsys.readouterr().err
    assert err.startswith("qchaos: environment: --device = cuda: CUDA is not available here") \
        and "use --device cpu" in err, err
    assert main(["train", "density-cnn", "--device", "gpu7", "--dataset", str(tmp_path)]) == 2
    assert "--device = 'gpu7': not a torch device" in capsys.readouterr().err


def test_push_to_an_unreachable_hub(tmp_path):
    url = f"http://127.0.0.1:{_free_port()}"
    env = _clean_env(tmp_path, HF_ENDPOINT=url, HF_TOKEN="hf_x", HF_HUB_DISABLE_XET="1",
                     QCHAOS_HUB=str(tmp_path / "hub"), PYTHONPATH=str(ROOT))
    env.pop("HF_HUB_OFFLINE")
    for argv in (["publish", "twobody", "--store", str(tmp_path / "none.zarr"), "--push"],
                 ["train", "density-cnn", "--dataset", str(tmp_path), "--push"]):
        _one_line(_cli(argv, env, tmp_path), 5, f"qchaos: environment: {argv[0]} --push: the Hub {url} failed",
                  "check the network, HF_ENDPOINT and HF_TOKEN")


def test_corrupt_shard_is_an_integrity_error(tmp_path, monkeypatch, capsys):
    """A damaged shard is exit 4 (not 2, 'usage'), naming the file."""
    from qchaos.cli import main

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    monkeypatch.chdir(tmp_path)
    assert main(GEN_TINY + ["--out", "tiny.zarr"]) == 0
    assert main(["publish", "twobody", "--store", "tiny.zarr", "--repo-id", "qchaos/twobody-tiny", "--quiet"]) == 0
    folder = tmp_path / "hub" / "datasets" / "qchaos" / "twobody-tiny"
    shard = sorted((folder / "data" / "wavefunctions").glob("train-*.parquet"))[0]
    data = bytearray(shard.read_bytes())
    data[len(data) // 2] ^= 0xFF
    shard.write_bytes(bytes(data))
    capsys.readouterr()
    assert main(["train", "density-cnn", "--dataset", "qchaos/twobody-tiny", "--epochs", "1", "--quiet"]) == 4
    err = capsys.readouterr().err
    rel = shard.relative_to(folder).as_posix()
    # the flag that chose the dataset, then the damaged file
    assert err.startswith(f"qchaos: integrity error: --dataset qchaos/twobody-tiny: {rel}: corrupted"), err
    assert "re-download or re-publish" in err, err


# -- the wheel, installed without the repository -------------------------------------------------------------------------
@pytest.fixture(scope="session")
def wheel_env(tmp_path_factory) -> dict:
    """Build the wheel from a copy of the checkout and install it (no deps) into a throwaway venv that reuses the
    test interpreter's installed dependencies. Returns {"python", "bin", "wheel", "tmp"}."""
    tmp = tmp_path_factory.mktemp("wheel")
    src = tmp / "src"
    skip = {".git", ".venv", "data", "reports", "runs", "hub", "build", "dist", ".pytest_cache", "__pycache__"}
    shutil.copytree(ROOT, src, ignore=lambda d, names: [n for n in names if n in skip or n.endswith(".egg-info")])
    dist = tmp / "dist"
    proc = subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
                           str(src), "-w", str(dist)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    wheel = next(dist.glob("qchaos_hub-*.whl"))
    venv = tmp / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", "--system-site-packages", str(venv)], check=True,
                   timeout=120)
    python = venv / "bin" / "python"
    site = Path(subprocess.run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                               capture_output=True, text=True, check=True).stdout.strip())
    # the dependencies of the test interpreter, after the venv's own site-packages (a plain path: its .pth files,
    # e.g. the checkout's editable install, are not run)
    (site / "zz_reuse_deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    proc = subprocess.run([sys.executable, "-m", "pip", "--python", str(python), "install", "-q", "--no-deps",
                           "--no-build-isolation", str(wheel)], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-3000:]
    return {"python": python, "bin": venv / "bin", "wheel": wheel, "tmp": tmp}


def test_wheel_holds_the_package_data(wheel_env):
    import zipfile

    names = set(zipfile.ZipFile(wheel_env["wheel"]).namelist())
    for need in ["dataset_cards/model_card.md", "dataset_cards/twobody_dataset.md", "dataset_cards/tribaker_dataset.md",
                 "evaluation/targets.json"] + [f"qchaos/pretrained/{m.split('/')[1]}/{f}" for m in MODEL_IDS
                                                for f in ("model.safetensors", "config.json", "qchaos.json",
                                                          "README.md")]:
        assert need in names, need


def test_wheel_front_door_offline_from_an_empty_directory(wheel_env, tmp_path):
    """qchaos --help / list, the README (quick start: generate + publish a mini repo and load it; the pretrained
    snippet), from_pretrained of every shipped checkpoint (base class, class dispatch), datasets.load_dataset of the
    published repo and `qchaos evaluate ed-accuracy`: all from an empty directory, offline, with only the wheel
    installed."""
    work = tmp_path / "empty"
    work.mkdir()
    env = _clean_env(tmp_path, QCHAOS_HUB=str(tmp_path / "qhub"))
    qchaos = str(wheel_env["bin"] / "qchaos")

    def run(*argv):
        proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=300, env=env, cwd=work)
        assert proc.returncode == 0, (argv, proc.stdout[-2000:], proc.stderr[-3000:])
        return proc.stdout

    assert "Exit codes:" in run(qchaos, "--help")
    table = run(qchaos, "list", "models")
    assert all(f"{m} " in table for m in MODEL_IDS) and table.count(" shipped ") == 3, table
    # the README, every block (quick start: generate + publish qchaos/twobody-tiny, load it; pretrained models)
    items = blocks((ROOT / "README.md").read_text(encoding="utf-8"), "README.md")
    env_readme = {**env, "PATH": os.pathsep.join([str(wheel_env["bin"]), env["PATH"]])}
    counts = run_blocks(items, python=str(wheel_env["python"]), cwd=work, env=env_readme)
    print(f"\nREADME.md: {counts['ran']} blocks ran, {counts['skipped']} skipped (skip-test marker)")
    assert counts["ran"] >= 3 and counts["skipped"] == 1
    script = f"""
import json, sys
import datasets, qchaos
from modeling.hub_model import HubModel
assert qchaos.__file__.startswith({str(wheel_env['tmp'])!r}), qchaos.__file__
out = {{}}
for repo in {MODEL_IDS!r}:
    model = HubModel.from_pretrained(repo)
    out[repo] = type(model).__name__
folder = {str(tmp_path / 'qhub' / 'datasets' / 'qchaos' / 'twobody-tiny')!r}
ds = datasets.load_dataset(folder, "wavefunctions")
sp = datasets.load_dataset(folder, "spectra", split="train")
from qchaos.hub import load
out["rows"] = {{k: v.num_rows for k, v in ds.items()}}
out["verified"] = load("qchaos/twobody-tiny", "spectra", "train").num_rows
out["spectra"] = sp.num_rows
print("RESULT " + json.dumps(out))
"""
    line = [x for x in run(str(wheel_env["python"]), "-c", script).splitlines() if x.startswith("RESULT ")][-1]
    result = json.loads(line[len("RESULT "):])
    assert {m: result[m] for m in MODEL_IDS} == {MODEL_IDS[0]: "DensityCNN", MODEL_IDS[1]: "DensityCNN",
                                                 MODEL_IDS[2]: "QuantumLocalizationNet"}
    assert sum(result["rows"].values()) == 2 * 20 and result["spectra"] == result["verified"] >= 1
    # one experiment through the CLI (ed-accuracy needs no dataset; the report reads targets.json from the package)
    run(qchaos, "evaluate", "ed-accuracy", "--preset", "mini", "--no-build", "--quiet")
    report = (work / "reports" / "mini" / "report.md").read_text()
    assert "ed_bethe_max_rel_error" in report and "met" in report
    # nothing else in the working dir (the store's writer lock is removed when the run ends)
    assert sorted(p.name for p in work.iterdir()) == ["reports", "tiny.zarr"]
