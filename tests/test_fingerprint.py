"""Behaviour fingerprint of a tiny generate -> publish -> train -> evaluate chain, for refactors that must change
nothing.

Both systems: a tiny store is generated (in-process sweep), published (with a held-out parameter, so the holdout
split and its card text are covered) and trained on (density-cnn-adv with FGSM + quantum samples and augmentation,
and quantum-net; 1 thread, fixed seed). The fingerprint records

* the store: per point, the recorded digest of every array and of the attributes (``integrity``);
* the published repo: the manifest (every shard's sha256, size and rows; the splits; the card's sha256) and a
  sha256 of every shard's decoded table content (values, not bytes, so a change of the writer is told apart from a
  change of the data);
* the training: the log's per-step losses and per-epoch metrics, the final metrics, the best epoch, the checkpoint's
  meta (description, training settings) and per weight tensor its sum and L2 norm;
* the evaluation: every metric of a physics experiment (level statistics) and a training one (tribaker subsets)
  run at the ``tiny`` preset on the chain's repos (:data:`EVALUATED`).

The provenance written into a store (package version, git commit) is pinned, since the commit changes with every
commit and is printed in the card. The store and the repo are compared exactly (they are byte-identical by
design); the training numbers are compared to a relative 1e-4, since float32 training on another CPU (another
SIMD width, another BLAS kernel) differs in the last bits (seen: 1e-7 relative) while a change of behaviour moves
them by far more.

Re-record (only when a change of behaviour is intended): ``QCHAOS_RECORD_FINGERPRINT=1 pytest
tests/test_fingerprint.py``.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import pytest

RECORD = Path(__file__).parent / "data" / "fingerprint.json"
TB_ID, TRI_ID = "qchaos/twobody-fptiny", "qchaos/tribaker-fptiny"


def _sha(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()


def _store_fingerprint(store: Path) -> dict:
    import zarr

    root = zarr.open_group(str(store), mode="r")
    out = {"attrs": _sha(dict(root.attrs))}
    for key in sorted(k for k in os.listdir(store / "points") if (store / "points" / k).is_dir()):
        integ = dict(zarr.open_group(str(store / "points" / key), mode="r").attrs)["integrity"]
        out[key] = {"attrs_sha256": integ["attrs_sha256"],
                    "arrays": {n: a["sha256"] for n, a in sorted(integ["arrays"].items())}}
    return out


def _repo_fingerprint(repo: Path) -> dict:
    import pyarrow.parquet as pq

    manifest = json.loads((repo / "data" / "manifest.json").read_text())
    decoded = {}
    for rel in sorted(manifest["files"]):
        table = pq.read_table(repo / rel)
        h = hashlib.sha256(str(table.schema.remove_metadata()).encode())
        for name in table.column_names:
            h.update(name.encode())
            h.update(json.dumps(table.column(name).to_pylist()).encode())
        decoded[rel] = h.hexdigest()
    return {"manifest": manifest, "decoded": decoded}


def _train_fingerprint(result) -> dict:
    import torch

    weights = {}
    for name, tensor in sorted(result.model.state_dict().items()):
        t = tensor.detach().cpu().double()
        weights[name] = [float(t.sum()), float(t.norm())]
    log = result.log
    meta = result.model.hub_meta
    return {"weights": weights, "best_epoch": log["best_epoch"], "final": log["final"],
            "steps": log["steps"], "epochs": log["epochs"], "rows": log["rows"], "etas": log["etas"],
            "dataset_config": log["dataset_config"], "settings": log["settings"],
            "meta": {k: meta.get(k) for k in ("description", "dataset", "dataset_config", "training")},
            "torch": torch.__version__}


def _chain(root: Path) -> dict:
    import torch

    from generation.presets import TribakerConfig, TwobodyConfig
    from generation.publish import publish
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.tribaker.generate import compute_point as tri_task
    from generation.twobody.generate import compute_point as tb_task
    from modeling.train import train

    hub = root / "hub"
    out = {}
    for system, config, task, repo, holdout in (
        ("twobody", TwobodyConfig(etas=(0.3, 1 / 3, 0.5, 0.75, 1.0), levels=60, window=(10, 29), image_size=16,
                                  rough_images=True), tb_task, TB_ID, "0.3"),
        ("tribaker", TribakerConfig(N0=30, K=4, per_side=3, image_size=16), tri_task, TRI_ID, "39"),
    ):
        store = root / f"{system}.zarr"
        run_sweep(PointStore.open(store, system, "tiny", config.to_dict()), config.points(), task, workers=0,
                  progress=False)
        publish(system, store, repo, out=hub / "datasets" / repo, holdout=holdout)
        out[system] = {"store": _store_fingerprint(store), "repo": _repo_fingerprint(hub / "datasets" / repo)}
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for model, dataset, kw in (
            ("density-cnn-adv", TB_ID, dict(epochs=2, batch_size=8, augment=True)),
            ("quantum-net", TRI_ID, dict(epochs=2, batch_size=8, grid_size=8)),
        ):
            result = train(model, "mini", dataset, seed=3, log_path=root / f"{model}.json", save=False,
                           progress=False, source="local", **kw)
            out[model] = _train_fingerprint(result)
        out["evaluate"] = _evaluate_fingerprint(root)
    finally:
        torch.set_num_threads(before)
    return json.loads(json.dumps(out, sort_keys=True, default=str))


EVALUATED = ("level-statistics", "tribaker-subsets")
"""The experiments of the chain's last link: one physics-only, one that trains (seeded) on the tiny repos."""


def _evaluate_fingerprint(root: Path) -> dict:
    """Every metric value of the tiny run of :data:`EVALUATED` on the chain's repos (what the report prints)."""
    from evaluation.resources import Resources
    from evaluation.runner import evaluate

    resources = Resources("tiny", build=False, progress=False, source="local", runs_dir=root / "runs",
                          datasets={"twobody": TB_ID, "twobody-fine": TB_ID, "tribaker": TRI_ID},
                          train_overrides={"epochs": 1, "batch_size": 8, "grid_size": 8})
    doc = evaluate("tiny", list(EVALUATED), out=root / "reports", resources=resources, progress=False)
    out = {}
    for name in EVALUATED:
        entry = doc["experiments"][name]
        assert entry["status"] == "ok", entry.get("error")
        out[name] = {k: (v["value"] if isinstance(v, dict) else v) for k, v in sorted(entry["metrics"].items())}
    return out


TRAINED = ("density-cnn-adv", "quantum-net", "evaluate")


def _diff(a, b, path="", rtol=0.0) -> list[str]:
    """Differences between two fingerprints; floats within ``rtol`` (relative, absolute floor 1e-6) are equal."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{path}/{k}: only in {'recorded' if k in a else 'current'}" for k in sorted(set(a) ^ set(b))]
        for k in sorted(set(a) & set(b)):
            out += _diff(a[k], b[k], f"{path}/{k}", rtol=1e-4 if not path and k in TRAINED else rtol)
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _diff(x, y, f"{path}[{i}]", rtol)]
    if rtol and isinstance(a, float) and isinstance(b, float):
        return [] if abs(a - b) <= rtol * max(abs(a), abs(b), 1e-2) else [f"{path}: recorded {a!r} != current {b!r}"]
    return [] if a == b else [f"{path}: recorded {str(a)[:120]} != current {str(b)[:120]}"]


def test_diff_tolerates_float_noise_in_training_only():
    """The comparison itself: last-bit noise in a training number passes, in a store digest or a real change not."""
    rec = {"density-cnn-adv": {"final": {"loss": 0.69937531153361}, "weights": {"w": [1.0, 2.0]}},
           "twobody": {"store": {"p": 0.5}}}
    assert _diff(rec, json.loads(json.dumps(rec))) == []
    noisy = {"density-cnn-adv": {"final": {"loss": 0.6993752320607504}, "weights": {"w": [1.0000001, 2.0]}},
             "twobody": {"store": {"p": 0.5}}}
    assert _diff(rec, noisy) == []
    changed = {"density-cnn-adv": {"final": {"loss": 0.70}, "weights": {"w": [1.0, 2.0]}},
               "twobody": {"store": {"p": 0.5000001}}}
    assert _diff(rec, changed) == ["/density-cnn-adv/final/loss: recorded 0.69937531153361 != current 0.7",
                                   "/twobody/store/p: recorded 0.5 != current 0.5000001"]


@pytest.fixture()
def pinned(monkeypatch, tmp_path):
    """Fixed provenance of the stores (the git commit changes with every commit) and a private local hub."""
    import generation.store

    monkeypatch.setattr(generation.store, "provenance",
                        lambda: {"package_version": "fingerprint", "git_commit": "fingerprint"})
    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    return tmp_path


def test_tiny_chain_matches_the_recorded_fingerprint(pinned):
    current = _chain(pinned)
    if os.environ.get("QCHAOS_RECORD_FINGERPRINT"):
        RECORD.parent.mkdir(parents=True, exist_ok=True)
        RECORD.write_text(json.dumps(current, indent=1, sort_keys=True) + "\n")
        pytest.skip(f"recorded {RECORD}")
    recorded = json.loads(RECORD.read_text())
    problems = _diff(recorded, current)
    assert not problems, "\n".join(problems[:40])
