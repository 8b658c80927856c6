"""The presets and the image-quality rule of the two-atom datasets: every preset with images meets it, known-bad
settings are refused (or stored flagged with ``rough_images``), the Nyquist limit against a brute-force count."""

from __future__ import annotations

import itertools

import pytest

from generation.presets import (
    IMAGE_MIN_BASIS_FACTOR,
    IMAGE_MIN_G,
    IMAGE_MIN_LEVEL,
    TWOBODY_PRESETS,
    TwobodyConfig,
    image_quality_issues,
    max_quantum_number,
)
from qchaos.errors import ParameterError

GOOD = dict(etas=(1 / 3, 0.5), g=100.0, levels=449, window=(200, 449), image_size=64, basis_factor=8.0)


def _brute_max_quantum_number(eta: float, level: int) -> int:
    """max(n, m) over the lowest ``level`` product states (a degenerate group completed), by plain enumeration."""
    states = sorted(((n * n + eta * m * m, n, m) for n, m in itertools.product(range(1, 160), repeat=2)))
    e_last = states[level - 1][0]
    return max(max(n, m) for e, n, m in states if e <= e_last * (1 + 1e-12))


@pytest.mark.parametrize("eta,level", [(1.0, 3), (1.0, 5), (0.5, 100), (0.1, 449), (1 / 3, 1199)])
def test_max_quantum_number_matches_enumeration(eta, level):
    assert max_quantum_number(eta, level) == _brute_max_quantum_number(eta, level)


def test_max_quantum_number_small_known_values():
    # eta = 1: n^2 + m^2 = 2 (1,1); 5 (1,2),(2,1); 8 (2,2); 10 (1,3),(3,1)
    assert [max_quantum_number(1.0, k) for k in (1, 3, 4, 5)] == [1, 2, 2, 3]


def test_every_preset_with_images_meets_the_rule():
    with_images = [name for name, c in TWOBODY_PRESETS.items() if c.window is not None]
    assert {"mini-images", "paper-cnn", "paper-scan"} <= set(with_images)
    for name in with_images:
        config = TWOBODY_PRESETS[name]
        assert not config.rough_images, name
        assert image_quality_issues(config) == [], name
        assert config.g >= IMAGE_MIN_G and config.basis_factor >= IMAGE_MIN_BASIS_FACTOR
        assert config.window[0] >= IMAGE_MIN_LEVEL
    # the spectra-only presets store no images at all
    for name in ("mini", "paper", "paper-fine"):
        assert TWOBODY_PRESETS[name].window is None
        assert all(p["window"] is None for p in TWOBODY_PRESETS[name].points().values())


@pytest.mark.parametrize("change,needle", [
    (dict(g=10.0), "g = 10 < 100"),                                      # the old mini / g = 10 images
    (dict(basis_factor=2.0), "basis_factor = 2 < 8"),                     # the old 2 basis states per level
    (dict(levels=449, window=(50, 249)), "level 50 < 200"),               # not highly excited
    (dict(image_size=40, etas=(0.1, 0.5)), "eta = 0.1 needs > 43"),      # aliased heavy-atom nodes
])
def test_known_bad_image_settings_are_refused(change, needle):
    with pytest.raises(ParameterError, match="rough_images") as info:
        TwobodyConfig(**{**GOOD, **change})
    assert needle in str(info.value)
    flagged = TwobodyConfig(**{**GOOD, **change}, rough_images=True)
    assert any(needle in issue for issue in flagged.image_issues)
    assert flagged.to_dict()["rough_images"] is True  # recorded: the card and every trained model show it


def test_the_old_mini_images_would_be_refused():
    old = dict(etas=(0.1, 1 / 3, 0.5, 1.0), g=10.0, levels=400, window=(50, 249), image_size=48)
    with pytest.raises(ParameterError) as info:
        TwobodyConfig(**old)
    text = str(info.value)
    assert "g = 10" in text and "basis_factor = 2" in text and "level 50" in text


def test_default_is_not_recorded_and_spectra_only_configs_pass():
    good = TwobodyConfig(**GOOD)
    assert "rough_images" not in good.to_dict() and good.image_issues == []
    spectra = TwobodyConfig(etas=(0.5,), g=10.0, levels=60, window=None)
    assert spectra.to_dict()["window"] is None and spectra.image_issues == []


def test_nyquist_limit_is_per_image_eta():
    # 64 pixels resolve levels up to 449 for eta = 0.03 (m up to 59) but not for eta = 0.02 (m up to 65)
    assert max_quantum_number(0.03, 449) < 64 <= max_quantum_number(0.02, 449)
    ok = TwobodyConfig(**{**GOOD, "etas": (0.02, 0.03, 0.5), "image_etas": (0.03, 0.5)})
    assert ok.image_issues == []
    with pytest.raises(ParameterError, match="eta = 0.02"):
        TwobodyConfig(**{**GOOD, "etas": (0.02, 0.5)})


def test_cli_refuses_rough_images_without_the_flag(capsys, tmp_path):
    from qchaos.cli import main

    argv = ["generate", "twobody", "--eta", "0.5", "--levels", "60", "--window", "10", "29", "--image-size", "16",
            "--workers", "0", "--quiet", "--out", str(tmp_path / "s.zarr")]
    rc = main(argv)
    err = capsys.readouterr().err
    assert rc == 2 and "known to be wrong" in err and "--rough-images" in err
    assert not (tmp_path / "s.zarr").exists()
    assert main(argv + ["--rough-images"]) == 0


def test_spectrum_basis_factor_rules_and_recording():
    """The energies' basis may be smaller than the images' only with the effective scheme and a window; configs
    without the field keep their dict (and store hash)."""
    base = dict(etas=(0.5,), g=100.0, levels=300, window=(200, 299), image_size=64, basis_factor=8.0,
                scheme="effective")
    assert "spectrum_basis_factor" not in TwobodyConfig(**base).to_dict()
    cfg = TwobodyConfig(**base, spectrum_basis_factor=2.0)
    assert cfg.to_dict()["spectrum_basis_factor"] == 2.0
    assert all(p["spectrum_basis_factor"] == 2.0 for p in cfg.points().values())
    for bad in (9.0, 1.0, True):
        with pytest.raises(ParameterError, match="spectrum_basis_factor"):
            TwobodyConfig(**base, spectrum_basis_factor=bad)
    with pytest.raises(ParameterError, match="only with scheme = 'effective'"):
        TwobodyConfig(**{**base, "scheme": "richardson"}, spectrum_basis_factor=2.0)
    assert TWOBODY_PRESETS["paper-scan"].spectrum_basis_factor == 2.0
    assert TWOBODY_PRESETS["paper-cnn"].spectrum_basis_factor is None
