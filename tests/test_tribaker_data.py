"""The tribaker dataset: selection, labels, stored vectors and images, CLI, against independent answers."""

import json

import numpy as np
import pytest

from generation.presets import TRIBAKER_PRESETS, TribakerConfig
from generation.store import PointStore
from generation.sweep import run_sweep
from generation.tribaker.coherent import coherent_states, husimi_on_grid
from generation.tribaker.generate import compute_point, norm_ratios, select_states
from generation.tribaker.propagator import tribaker
from qchaos.cli import main


def _params(N, R, per_side=4, image_size=16, min_abs_z=0.0):
    return {"N": N, "R": R, "per_side": per_side, "image_size": image_size, "min_abs_z": min_abs_z, "seed": 0}


@pytest.mark.parametrize("R", [1.0, 0.2])
def test_point_spectrum_matches_independent_eigenvalues(R):
    N = 36
    out = compute_point(_params(N, R)).arrays
    z = out["spectrum/z"]
    ref = np.linalg.eigvals(tribaker(N, R))
    assert np.all(np.diff(np.abs(z)) <= 1e-12)  # sorted by |z| descending
    # same multiset of eigenvalues (match each reference value to its nearest)
    assert np.max(np.min(np.abs(z[:, None] - ref[None, :]), axis=0)) < 1e-10
    assert np.allclose(out["spectrum/decay"], -2 * np.log(np.abs(z)))
    if R == 1.0:
        assert np.allclose(np.abs(z), 1.0, atol=1e-12)


@pytest.mark.parametrize("R", [1.0, 0.2])
def test_selected_states_and_labels(R):
    N, S = 45, 5
    out = compute_point(_params(N, R, per_side=S)).arrays
    mu_all = out["spectrum/norm_ratio"]
    mu, label = out["states/norm_ratio"], out["states/label"]
    assert list(label) == [0] * S + [1] * S
    # the S lowest and S highest of all N resonances, by an independent sort
    ranked = np.sort(mu_all)
    assert np.allclose(np.sort(mu[:S]), ranked[:S]) and np.allclose(np.sort(mu[S:]), ranked[-S:])
    assert mu[:S].max() < mu[S:].min()
    assert np.all((mu_all >= 1 - 1e-9) & (mu_all <= N / 2 + 1e-9))  # coherent state .. uniform distribution
    right, left = out["states/right"], out["states/left"]
    assert np.allclose(np.linalg.norm(right, axis=1), 1.0)
    assert np.allclose(np.einsum("kj,kj->k", left.conj(), right), 1.0)  # <L|R> = 1
    U = tribaker(N, R)
    z = out["states/z"]
    assert np.allclose(right @ U.T, right * z[:, None], atol=1e-10)  # U R = z R (rows are states)
    assert np.allclose(left.conj() @ U, left.conj() * z[:, None], atol=1e-10)  # L^H U = z L^H


def test_closed_image_is_the_husimi_function():
    out = compute_point(_params(30, 1.0, image_size=12)).arrays
    ref = husimi_on_grid(out["states/right"], 12)
    assert np.allclose(out["states/image"], ref, rtol=1e-5, atol=1e-7)


def test_norm_ratio_of_coherent_and_uniform_states():
    N = 60
    cs = coherent_states(N, np.array([0.3141, 0.5]), np.array([0.7777, 0.25])).T  # (N, 2) columns
    assert np.allclose(norm_ratios(cs, cs), 1.0, atol=1e-3)
    # a position eigenstate |q_j>: mu = sqrt(N) / 2 (docs/tribaker.md §4)
    q = np.zeros((N, 1), complex)
    q[7] = 1
    assert np.isclose(norm_ratios(q, q)[0], np.sqrt(N) / 2, rtol=1e-3)


def test_select_states_rejects_too_many():
    with pytest.raises(ValueError, match="per_side"):
        select_states(np.arange(10.0), 6)


def test_config_errors_name_the_parameter():
    with pytest.raises(ValueError, match="N = 31"):
        TribakerConfig(N0=31)
    with pytest.raises(ValueError, match="R = 1.5"):
        TribakerConfig(reflectivities=(1.0, 1.5))
    with pytest.raises(ValueError, match="per_side"):
        TribakerConfig(N0=30, per_side=16)
    with pytest.raises(ValueError, match="min_abs_z"):
        TribakerConfig(reflectivities=(0.0,))


def test_sweep_store_holds_both_cases(tmp_path):
    cfg = TribakerConfig(N0=30, K=2, per_side=3, image_size=8)
    store = PointStore.open(tmp_path / "t.zarr", "tribaker", "test", cfg.to_dict())
    report = run_sweep(store, cfg.points(), compute_point, workers=0, progress=False)
    assert sorted(report.computed) == sorted(cfg.points())
    assert {store.point_attrs(k)["R"] for k in store.completed()} == {1.0, 0.2}
    assert store.read("R0.2000_N00033", "states/right").shape == (6, 33)
    assert set(TRIBAKER_PRESETS) == {"mini", "paper", "largeN", "largeN-mini"}
    assert TRIBAKER_PRESETS["paper"].dimensions[-1] == 177


def test_cli_resonances_json(capsys):
    assert main(["tribaker", "resonances", "--N", "27", "--R", "0.5", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    rows = out["resonances"]
    assert len(rows) == 27 and set(rows[0]) == {"z_re", "z_im", "abs_z", "decay", "norm_ratio"}
    absz = [r["abs_z"] for r in rows]
    assert absz == sorted(absz, reverse=True) and max(absz) <= 1.0
    ref = np.sort(np.abs(np.linalg.eigvals(tribaker(27, 0.5))))[::-1]
    assert np.allclose(absz, ref, atol=1e-10)


@pytest.mark.parametrize("argv, name", [
    (["tribaker", "resonances", "--N", "31"], "N = 31"),
    (["tribaker", "resonances", "--N", "30", "--R", "-0.1"], "R = -0.1"),
    (["generate", "tribaker", "--per-side", "20", "--out", "unused.zarr"], "per_side"),
])
def test_cli_bad_input(argv, name, capsys):
    assert main(argv) == 2
    assert name in capsys.readouterr().err
