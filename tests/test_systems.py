"""The systems as objects (``generation.systems``): what each holds, and that the generic layers do not branch on
a system's name."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from generation.parquet import SPLIT_ORDER
from generation.systems import SYSTEMS, System, get_system
from qchaos.errors import ParameterError

ROOT = Path(__file__).resolve().parents[1]


def test_get_system_names_the_known_systems():
    assert get_system("twobody") is SYSTEMS["twobody"] and get_system("tribaker") is SYSTEMS["tribaker"]
    with pytest.raises(ParameterError, match=r"system = 'threebody': must be one of \['twobody', 'tribaker'\]"):
        get_system("threebody")


@pytest.mark.parametrize("name", ["twobody", "tribaker"])
def test_each_system_holds_its_tables_classes_splits_and_card(name):
    from qchaos.hub import package_file

    system = SYSTEMS[name]
    assert isinstance(system, System) and system.name == name
    feats = system.features(8)
    assert list(feats) == [system.state_config, "spectra"]  # the state table is the default config
    assert tuple(feats[system.state_config]["label"].names) == system.class_names
    assert tuple(n for n, _ in system.state_splits) == SPLIT_ORDER[:len(system.state_splits)]
    assert sum(f for _, f in system.state_splits) == pytest.approx(1.0, abs=1e-12)
    assert package_file("dataset_cards", system.card_template).is_file()
    assert all(isinstance(c, system.config_class) for c in system.presets.values())
    assert system.preset("mini") is system.presets["mini"]
    with pytest.raises(ValueError, match=r"preset = 'nope': must be one of"):
        system.preset("nope")
    assert callable(system.task)


def test_known_answers_of_the_system_rules():
    tb, tri = SYSTEMS["twobody"], SYSTEMS["tribaker"]
    assert tb.describe_point({"eta": 1 / 3, "g": 10.0}) == "eta = 0.3333333333 (g = 10)"
    assert tri.describe_point({"N": 33, "R": 0.2}) == "N = 33, R = 0.2"
    assert tri.required_arrays({"N": 30, "per_side": 2, "image_size": 8}) == {
        "spectrum/z": (30,), "spectrum/decay": (30,), "spectrum/norm_ratio": (30,), "states/right": (4, 30),
        "states/left": (4, 30), "states/image": (4, 8, 8), "states/z": (4,), "states/norm_ratio": (4,),
        "states/label": (4,), "states/index": (4,)}
    assert tb.required_arrays({"window": None})["spectrum/energy"] is None
    assert tb.required_arrays({"window": [10, 29], "image_size": 16})["states/psi"] == (20, 16, 16)


def test_no_generic_module_branches_on_a_system_name():
    pattern = re.compile(r"""system\s*[!=]=\s*["']""")
    hits = []
    for package in ("generation", "modeling", "qchaos"):
        for path in sorted((ROOT / package).rglob("*.py")):
            if path.parent.name == "systems" and path.parent.parent.name == "generation":
                continue
            for i, line in enumerate(path.read_text().splitlines(), 1):
                if pattern.search(line):
                    hits.append(f"{path.relative_to(ROOT)}:{i}: {line.strip()}")
    assert hits == []


def test_cli_publish_reads_each_systems_holdout_flag(tmp_path, monkeypatch):
    """``qchaos publish <system> --holdout-eta / --holdout-N``: the CLI takes the flag its system names."""
    import json

    from generation.presets import TribakerConfig, TwobodyConfig
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from qchaos.cli import main

    monkeypatch.setenv("QCHAOS_HUB", str(tmp_path / "hub"))
    for name, config, flag, value, held in (
        ("twobody", TwobodyConfig(etas=(0.5, 1.0), levels=40, window=(10, 19), image_size=8, rough_images=True),
         "--holdout-eta", "1", ["eta1.0000000000"]),
        ("tribaker", TribakerConfig(N0=30, K=2, per_side=2, image_size=8), "--holdout-N", "33",
         ["R0.2000_N00033", "R1.0000_N00033"]),
    ):
        store = tmp_path / f"{name}.zarr"
        run_sweep(PointStore.open(store, name, "tiny", config.to_dict()), config.points(), SYSTEMS[name].task,
                  workers=0, progress=False)
        assert main(["publish", name, "--store", str(store), "--preset", "tiny", "--repo-id", f"qchaos/{name}-cli",
                     flag, value, "--quiet"]) == 0
        manifest = json.loads((tmp_path / "hub" / "datasets" / "qchaos" / f"{name}-cli" / "data" /
                               "manifest.json").read_text())
        assert manifest["holdout"] == held
