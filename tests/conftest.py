"""Shared fixtures: the tiny published datasets of the evaluation tests."""

from __future__ import annotations

import pytest

EVAL_TB_ID = "qchaos/twobody-evaltiny"
EVAL_TRI_ID = "qchaos/tribaker-evaltiny"
EVAL_ETAS = (0.3, 1 / 3, 0.5, 0.75, 1.0)


def run_experiment(name: str, resources, out):
    """Run one experiment at ``tiny`` into ``out/tiny`` with the checks every experiment must pass: status ok,
    figures with captions and data files written, every metric declared in its ``METRICS`` and every declared
    (not optional) metric produced. Returns ``(entry, folder)``."""
    from evaluation.core import get_experiment
    from evaluation.runner import evaluate

    doc = evaluate("tiny", [name], out=out, resources=resources, progress=False)
    entry = doc["experiments"][name]
    assert entry["status"] == "ok", entry.get("error")
    folder = out / "tiny"
    for f in entry["figures"]:
        assert (folder / f["file"]).stat().st_size > 1000 and f["caption"]
    for f in entry["data"]:
        assert (folder / f).stat().st_size > 0
    assert not entry.get("undeclared_metrics"), f"{name}: undeclared metrics {entry.get('undeclared_metrics')}"
    declared = get_experiment(name).METRICS
    missing = [m.name for m in declared if not m.optional and not any(m.matches(k) for k in entry["metrics"])]
    assert not missing, f"{name}: declared metrics not produced by the tiny run: {missing}"
    return entry, folder


@pytest.fixture(scope="session")
def eval_hub(tmp_path_factory):
    """A local hub folder with tiny datasets for the evaluation experiments (``preset="tiny"``).

    Two atoms: eta in {0.3, 1/3, 0.5, 0.75, 1}, g = 10, 80 levels, images of levels 10-39 at 16 x 16.
    Tribaker: N = 30..45 (K = 6), closed and R = 0.2, 3 + 3 states per N, 16 x 16 images.
    Returns the hub root; use the ``eval_resources`` fixture for a :class:`evaluation.Resources` on it.
    """
    from generation.presets import TribakerConfig, TwobodyConfig
    from generation.publish import publish
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.tribaker.generate import compute_point as tri_task
    from generation.twobody.generate import compute_point as tb_task

    root = tmp_path_factory.mktemp("evalhub")
    hub = root / "hub"
    for system, config, task, repo in (
        ("twobody", TwobodyConfig(etas=EVAL_ETAS, levels=80, window=(10, 39), image_size=16,
                                  basis_factor=3.0, rough_images=True), tb_task, EVAL_TB_ID),
        ("tribaker", TribakerConfig(N0=30, K=6, per_side=3, image_size=16), tri_task, EVAL_TRI_ID),
    ):
        store = root / f"{system}.zarr"
        run_sweep(PointStore.open(store, system, "tiny", config.to_dict()), config.points(), task, workers=0,
                  progress=False)
        publish(system, store, repo, out=hub / "datasets" / repo, progress=False)
    return hub


@pytest.fixture()
def eval_resources(eval_hub, tmp_path, monkeypatch):
    """``Resources("tiny")`` on the tiny datasets: nothing is built, trainings run 1 epoch with batch 8 and an
    8 x 8 coherent-state grid; ``QCHAOS_HUB`` points at the tiny hub (checkpoints saved there stay per test run)."""
    import torch

    from evaluation.resources import Resources

    monkeypatch.setenv("QCHAOS_HUB", str(eval_hub))
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield Resources("tiny", build=True, progress=False, source="local", runs_dir=tmp_path / "runs",
                    datasets={"twobody": EVAL_TB_ID, "twobody-fine": EVAL_TB_ID, "twobody-images": EVAL_TB_ID, "twobody-train": EVAL_TB_ID,
                              "tribaker": EVAL_TRI_ID},
                    train_overrides={"epochs": 1, "batch_size": 8, "grid_size": 8})
    torch.set_num_threads(before)


@pytest.fixture(scope="session", autouse=True)
def _private_user_cache(tmp_path_factory):
    """The per-user cache (the default local hub ``$XDG_CACHE_HOME/qchaos/hub``) in a temporary folder, so no test
    writes into the real ``~/.cache`` (tests that need a hub set ``QCHAOS_HUB``)."""
    import os

    old = os.environ.get("XDG_CACHE_HOME")
    os.environ["XDG_CACHE_HOME"] = str(tmp_path_factory.mktemp("user-cache"))
    yield
    if old is None:
        os.environ.pop("XDG_CACHE_HOME", None)
    else:
        os.environ["XDG_CACHE_HOME"] = old
