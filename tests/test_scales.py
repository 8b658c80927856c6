"""One table of scales (``qchaos.scales``): every layer's per-scale settings are keyed by exactly its names.

A scale added to (or misspelt in) one table but not the others would make ``--preset NAME`` work for one job and
fail deep inside another; these tests fail instead.
"""

from __future__ import annotations

import pytest

from qchaos.errors import ParameterError
from qchaos.scales import SCALES, USER_SCALES, get_scale


def test_the_scales_are_tiny_mini_paper_and_users_get_mini_and_paper():
    assert list(SCALES) == ["tiny", "mini", "paper"]
    assert USER_SCALES == ("mini", "paper")  # the first is the CLI's default
    assert get_scale("paper").name == "paper" and get_scale("tiny", user=False).user is False
    with pytest.raises(ParameterError, match=r"preset = 'tiny': must be one of \['mini', 'paper'\]"):
        get_scale("tiny")
    with pytest.raises(ParameterError, match=r"scale = 'huge': must be one of \['tiny', 'mini', 'paper'\]"):
        get_scale("huge", user=False, what="scale")


def test_every_experiment_model_kind_role_and_benchmark_is_keyed_by_the_scales():
    from benchmarks._core import PRESETS as BENCH
    from evaluation import core
    from modeling.kinds import KINDS
    from qchaos import registry

    assert core.PRESETS == tuple(SCALES) and BENCH == USER_SCALES
    for name in core.experiment_names():
        assert set(core.get_experiment(name).PARAMS) == set(SCALES), name
    for kind in KINDS.values():
        assert set(kind.presets) == set(USER_SCALES), kind.name
    for role in registry.ROLES.values():
        assert set(role.presets) == set(USER_SCALES), role.name


def test_roles_map_scales_to_named_configs_of_their_system():
    """The other kind of preset: a role's dataset at a scale is a named config of a system (``generate --preset``)."""
    from generation.systems import SYSTEMS
    from qchaos import registry

    for role in registry.ROLES.values():
        for scale, (system, config) in role.presets.items():
            assert config in SYSTEMS[system].presets, (role.name, scale, config)
    # the scale and the config share a name only where the dataset is the scale's plain one
    assert registry.ROLES["twobody-images"].presets == {"mini": ("twobody", "mini-images"),
                                                        "paper": ("twobody", "paper-scan")}


@pytest.mark.parametrize("command", [["train", "density-cnn"], ["evaluate"]])
def test_cli_offers_exactly_the_user_scales(command, capsys):
    from qchaos.cli import main

    with pytest.raises(SystemExit) as exc:
        main([*command, "--preset", "tiny"])
    assert exc.value.code == 2
    assert "invalid choice: 'tiny' (choose from mini, paper)" in capsys.readouterr().err.replace("'mini', 'paper'",
                                                                                              "mini, paper")


def test_an_evaluation_at_a_user_scale_trains_with_that_scales_settings():
    from evaluation.resources import Resources

    assert Resources("paper", build=False).train_preset == "paper"
    assert Resources("mini", build=False).train_preset == "mini"
    assert Resources("tiny", build=False, datasets={}).train_preset == "mini"  # tests override what they need


def test_a_missing_dataset_names_the_commands_of_its_own_config():
    from modeling.data import _how_to_make

    assert _how_to_make("qchaos/twobody-mini-images", "twobody") == (
        "`qchaos generate twobody --preset mini-images && qchaos publish twobody --preset mini-images`")
    assert "--out data/twobody-custom.zarr" in _how_to_make("qchaos/twobody-custom", "twobody")
