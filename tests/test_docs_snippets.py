"""Documentation that runs: every Python and shell block of the dataset and model cards (the README's run in the
wheel test of ``tests/test_frontdoor.py``, outside the checkout), and ``qchaos.hub.load`` of every config and split
on a cold cache from a (loopback) Hub.

Blocks run from a temporary directory with the checkout on ``PYTHONPATH`` and the local hub in the temporary
directory (``tests/mdsnippets.py``); the model cards offline (``HF_HUB_OFFLINE=1``), the dataset cards
against ``tests/hubserver.py`` after the tiny repos were published and pushed (``load_dataset("qchaos/<name>",
...)`` from the Hub, and the local-hub equivalent). Blocks after ``<!-- skip-test -->`` are counted and reported.
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from mdsnippets import blocks, run_blocks

ROOT = Path(__file__).resolve().parent.parent
REPOS = {"twobody": "qchaos/twobody-tiny", "tribaker": "qchaos/tribaker-tiny"}


def _env(tmp: Path, **extra) -> dict:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("HF_", "HUGGINGFACE_", "QCHAOS_", "DASK_")) and k != "XDG_CACHE_HOME"}
    env.update({"PYTHONPATH": str(ROOT), "PATH": os.pathsep.join([str(Path(sys.executable).parent), env["PATH"]]),
                "HF_HOME": str(tmp / "hf-home"), "XDG_CACHE_HOME": str(tmp / "cache"), "QCHAOS_HUB": str(tmp / "qhub"),
                "HF_HUB_DISABLE_TELEMETRY": "1", "HF_HUB_DISABLE_XET": "1", "TQDM_DISABLE": "1",
                "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", **extra})
    return env


def _report(name: str, counts: dict) -> None:
    print(f"\n{name}: {counts['ran']} blocks ran, {counts['skipped']} skipped (skip-test marker), "
          f"{counts['other']} not code")


def test_readme_blocks_are_all_run_or_marked():
    """The README's blocks: python / bash, all run by the wheel test (tests/test_frontdoor.py, outside the checkout,
    offline) except the one marked skip-test (`make evaluate` / `make test`)."""
    items = blocks((ROOT / "README.md").read_text(encoding="utf-8"), "README.md")
    assert {b.lang for b in items} <= {"python", "bash"}
    skipped = [b for b in items if b.skip]
    assert len(skipped) == 1 and "make evaluate" in skipped[0].code and len(items) - len(skipped) >= 3


def test_model_card_snippets(tmp_path):
    """The cards of the three shipped checkpoints, offline (one interpreter, a fresh namespace per block)."""
    template = blocks((ROOT / "dataset_cards" / "model_card.md").read_text(encoding="utf-8"))
    items = []
    for name in ("density-cnn-twobody-paper", "density-cnn-adv-twobody-paper", "quantum-net-tribaker-paper"):
        card = ROOT / "qchaos" / "pretrained" / name / "README.md"
        mine = blocks(card.read_text(encoding="utf-8"), str(card.relative_to(ROOT)))
        assert [b.lang for b in mine] == [b.lang for b in template] and mine
        items += mine
    counts = run_blocks(items, python=sys.executable, cwd=tmp_path, env=_env(tmp_path, HF_HUB_OFFLINE="1"))
    _report("model cards", counts)
    assert counts["ran"] == len(items) == 3


# -- a loopback Hub with the tiny repos of both systems ----------------------------------------------------------------
@pytest.fixture(scope="module")
def hub(tmp_path_factory):
    """Tiny repos of both systems published into a local hub and pushed to a loopback Hub; yields
    ``{"url", "local": {system: folder}, "tmp"}``."""
    from generation.presets import TribakerConfig, TwobodyConfig
    from generation.publish import publish
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.tribaker.generate import compute_point as tri_task
    from generation.twobody.generate import compute_point as tb_task

    tmp = tmp_path_factory.mktemp("docs-hub")
    local = {}
    for system, config, task in (
        ("twobody", TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True), tb_task),
        ("tribaker", TribakerConfig(N0=30, K=3, per_side=3, image_size=16), tri_task),
    ):
        store = tmp / f"{system}.zarr"
        run_sweep(PointStore.open(store, system, "tiny", config.to_dict()), config.points(), task, workers=0,
                  progress=False)
        local[system] = publish(system, store, REPOS[system], out=tmp / "qhub" / "datasets" / REPOS[system],
                                progress=False).path
    spec = importlib.util.spec_from_file_location("qchaos_tests_hubserver", Path(__file__).with_name("hubserver.py"))
    hubserver = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(hubserver)
    srv = hubserver.HubServer(root=tmp / "server").start()
    try:
        push = "from qchaos.hub import push_folder\n" + "".join(
            f"push_folder({str(local[s])!r}, {REPOS[s]!r})\n" for s in REPOS)
        proc = subprocess.run([sys.executable, "-c", push], env=_env(tmp, HF_ENDPOINT=srv.url, HF_TOKEN="hf_x"),
                              capture_output=True, text=True, timeout=300)
        assert proc.returncode == 0, proc.stderr[-3000:]
        yield {"url": srv.url, "local": local, "tmp": tmp}
    finally:
        srv.stop()
    assert srv.unknown == [], f"the clients called routes the loopback Hub does not implement: {srv.unknown}"


def test_dataset_card_snippets(hub, tmp_path):
    """The rendered cards of the published repos of both systems: their blocks (load_dataset from the Hub, from
    the local hub, the verified loader) run against the loopback Hub with a cold HF cache."""
    items = []
    for system, repo in REPOS.items():
        card = hub["local"][system] / "README.md"
        mine = blocks(card.read_text(encoding="utf-8"), f"{repo}/README.md")
        template = blocks((ROOT / "dataset_cards" / f"{system}_dataset.md").read_text(encoding="utf-8"))
        assert [b.lang for b in mine] == [b.lang for b in template] and len(mine) == 3
        assert any(f'load_dataset("{repo}", ' in b.code for b in mine)  # the Hub form
        assert any("local_repo_path(" in b.code for b in mine)  # the local-hub form
        items += mine
    env = _env(tmp_path, HF_ENDPOINT=hub["url"], QCHAOS_HUB=str(hub["tmp"] / "qhub"))
    counts = run_blocks(items, python=sys.executable, cwd=tmp_path, env=env)
    _report("dataset cards", counts)
    assert counts["ran"] == len(items) == 6


COLD = """
import json, shutil, sys
from pathlib import Path
from huggingface_hub import constants
from qchaos.hub import load
out = {}
for repo, config, split in json.loads(sys.argv[1]):
    shutil.rmtree(constants.HF_HUB_CACHE, ignore_errors=True)  # a cold cache for every load
    cache = Path(sys.argv[2]) / f"ds-{len(out)}"
    got = load(repo, config, split, source="hub", cache_dir=str(cache))
    out[f"{repo}|{config}|{split}"] = {k: v.num_rows for k, v in got.items()} if split is None else got.num_rows
print("RESULT " + json.dumps(out))
"""


def test_hub_load_every_config_and_split_on_a_cold_cache(hub, tmp_path):
    from qchaos.hub import read_manifest

    cases, want = [], {}
    for system, repo in REPOS.items():
        manifest = read_manifest(hub["local"][system])
        for config in manifest["configs"]:
            rows: dict[str, int] = {}
            for entry in manifest["files"].values():
                if entry["config"] == config:
                    rows[entry["split"]] = rows.get(entry["split"], 0) + entry["num_rows"]
            for split in [None, *sorted(rows)]:
                cases.append([repo, config, split])
                want[f"{repo}|{config}|{split}"] = rows if split is None else rows[split]
    assert len({(r, c) for r, c, _ in cases}) == 4  # both systems, both configs
    proc = subprocess.run([sys.executable, "-c", COLD, json.dumps(cases), str(tmp_path)], capture_output=True,
                          text=True, timeout=300, env=_env(tmp_path, HF_ENDPOINT=hub["url"],
                                                           QCHAOS_HUB=str(tmp_path / "empty")))
    assert proc.returncode == 0, proc.stderr[-5000:]
    line = [x for x in proc.stdout.splitlines() if x.startswith("RESULT ")][-1]
    assert json.loads(line[len("RESULT "):]) == want
