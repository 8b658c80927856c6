"""The tribaker experiments of ``make evaluate`` (tribaker-subsets, galleries, localization-vs-n) on the tiny
datasets, and their helper functions against known answers."""

import csv
import json
import math

import numpy as np
import pytest
import torch
from conftest import run_experiment

from evaluation import galleries, localization_vs_n, tribaker_subsets

TINY_N = (30, 45)  # the tiny tribaker dataset: N = 30..45 (K = 6), closed and R = 0.2, 3 + 3 states per N


def _run(name, resources, out):
    return run_experiment(name, resources, out)


def _value(metric):
    return metric["value"] if isinstance(metric, dict) else metric


# -- tribaker-subsets ---------------------------------------------------------------------------------------------
def test_tribaker_subsets_tiny(eval_resources, tmp_path):
    entry, folder = _run("tribaker-subsets", eval_resources, tmp_path)
    m = entry["metrics"]
    K = 6
    assert {"quantum_net_accuracy_closed", "quantum_net_accuracy_open", "subsets_to_99_open_minus_closed",
            "loss_stable_step_open"} <= set(m)
    with open(folder / "tribaker-subsets_accuracy.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 * 2 * 1  # n in {1, 6} x two maps x one seed
    assert {int(r["max_N"]) for r in rows} == {30, 45}
    for R in ("1.0", "0.2"):
        mine = sorted((int(r["n"]), int(r["train_rows"])) for r in rows if r["R"] == R)
        assert mine[0][1] < mine[1][1]  # more N-subsets, more training rows
        acc_K = [float(r["val_accuracy"]) for r in rows if r["R"] == R and int(r["n"]) == K]
        key = "quantum_net_accuracy_closed" if R == "1.0" else "quantum_net_accuracy_open"
        assert m[key] == pytest.approx(np.mean(acc_K))
    for r in rows:
        assert 0.0 <= float(r["val_accuracy"]) <= 1.0
    n_c, n_o = _value(m["subsets_to_99_closed"]), _value(m["subsets_to_99_open"])
    # the smallest n of the accuracy table that reaches 0.99 (one seed here), K + 1 when none does
    for n99, R in ((n_c, "1.0"), (n_o, "0.2")):
        reach = [int(r["n"]) for r in rows if r["R"] == R and float(r["val_accuracy"]) >= 0.99]
        assert n99 == (min(reach) if reach else K + 1), R
    assert m["subsets_to_99_open_minus_closed"] == (None if n_c == n_o == K + 1 else n_o - n_c)
    loss = json.loads((folder / "tribaker-subsets_loss.json").read_text())
    steps = len(loss["0.2"]["loss"])
    assert steps == _value(m["steps_per_epoch"])  # 1 epoch in the tiny trainings
    expected = tribaker_subsets.stable_step(loss["0.2"]["loss"], 0.1)
    stable = m["loss_stable_step_open"]  # NaN is written as null
    assert (stable is None) if math.isnan(expected) else (stable == expected and 1 <= stable <= steps)


def test_stable_step_known_answers():
    f = tribaker_subsets.stable_step
    assert f([0.5, 0.05, 0.2, 0.05, 0.01], 0.1) == 4.0
    assert f([0.05, 0.01], 0.1) == 1.0
    assert math.isnan(f([0.05, 0.2], 0.1))
    assert math.isnan(f([0.05, float("nan")], 0.1))  # NaN counts as not below
    assert f([float("nan"), 0.05, 0.02], 0.1) == 2.0
    assert math.isnan(f([], 0.1))


def test_subset_helpers():
    assert tribaker_subsets.dimensions([36, 30, 33, 30, 45]) == (30, 6)
    with pytest.raises(ValueError, match="step-3"):
        tribaker_subsets.dimensions([30, 31])
    assert tribaker_subsets.subset_max_N(30, 1) == 30 and tribaker_subsets.subset_max_N(30, 12) == 63
    assert tribaker_subsets.subset_list([1, 2, 50, 0], 12) == [1, 2, 12]
    ns, acc = [1, 2, 4, 12], [0.5, 0.995, float("nan"), 0.99]
    assert tribaker_subsets.smallest_reaching(ns, acc, 0.99, 13) == 2
    assert tribaker_subsets.smallest_reaching(ns, acc, 0.999, 13) == 13
    rows = [{"R": 1.0, "n": 1, "val_accuracy": a} for a in (0.5, 0.7)] + [{"R": 0.2, "n": 1, "val_accuracy": 0.9}]
    assert tribaker_subsets.seed_stats(rows, 1.0, [1]) == {"mean": [0.6], "min": [0.5], "max": [0.7]}


# -- galleries ----------------------------------------------------------------------------------------------------
def test_galleries_tiny(eval_resources, tmp_path):
    entry, folder = _run("galleries", eval_resources, tmp_path)
    m = entry["metrics"]
    shown = 0
    for which in ("closed", "open"):
        data = json.loads((folder / f"galleries_{which}.json").read_text())
        k = len(data["row"])
        assert 1 <= k <= 9 and len(set(data["row"])) == k
        correct = np.mean(np.array(data["pred"]) == np.array(data["label"]))
        assert m[f"gallery_accuracy_{which}"] == pytest.approx(correct)
        assert all(0.5 <= c <= 1.0 for c in data["confidence"])  # the winning class of two
        img = np.array(data["image"])
        assert img.shape == (k, 8, 8) and np.allclose(img.mean(axis=(1, 2)), 1.0, atol=1e-3)  # mean-normalised
        act = json.loads((folder / f"galleries_activations_{which}.json").read_text())
        assert sorted(a["label"] for a in act) == [0, 1]
        for a in act:
            means = np.array(a["first"]["mean"])
            assert np.all(np.diff(means) <= 1e-9) and np.array(a["last"]["maps"]).shape[-2:] == (2, 2)
        shown += k
    assert _value(m["gallery_states"]) == shown
    assert 0.0 <= _value(m["centre_displacement_mean"]) <= _value(m["centre_displacement_max"]) <= math.sqrt(0.5)


def test_centre_displacement_of_an_untrained_net_is_zero():
    from modeling.quantum_net import QuantumLocalizationNet

    d = galleries.centre_displacements(QuantumLocalizationNet(grid_size=8).quantum)
    assert d["displacement"].shape == (8, 8)
    assert np.allclose(d["displacement"], 0.0, atol=1e-12)
    assert np.allclose(d["q0"][:, 0], (np.arange(8) + 0.5) / 8) and np.allclose(d["p0"][0], (np.arange(8) + 0.5) / 8)


def test_torus_displacement_wraps():
    f = galleries.torus_displacement
    assert f(0.99, 0.5, 0.01, 0.5) == pytest.approx(0.02)
    assert f(0.5, 0.02, 0.5, 0.98) == pytest.approx(0.04)
    assert f(0.1, 0.1, 0.13, 0.14) == pytest.approx(0.05)


def test_gallery_helpers():
    a = np.zeros((4, 2, 2))
    a[2] += 3.0
    a[0] += 1.0
    a[3, 0, 0] = 2.0  # mean 0.5
    assert list(galleries.top_channels(a, 3)) == [2, 0, 3]
    idx = galleries.draw_gallery(5, 9, seed=0)
    assert sorted(idx) == [0, 1, 2, 3, 4] and list(idx) == list(galleries.draw_gallery(5, 9, seed=0))
    assert galleries.pick_examples([1, 1, 0], [0, 1, 1, 0, 1], np.array([4, 2, 3])) == {0: 3, 1: 4}
    assert galleries.pick_examples([1, 1], [1, 0, 1], np.array([2, 0])) == {0: 1, 1: 2}


def test_conv_activations_shapes():
    from modeling.coherent_layer import pack_resonances
    from modeling.quantum_net import QuantumLocalizationNet

    torch.manual_seed(0)
    net = QuantumLocalizationNet(grid_size=8).eval()
    psi = torch.randn(3, 30, dtype=torch.complex128)
    acts = galleries.conv_activations(net, pack_resonances(psi))
    assert acts["first"].shape == (3, 32, 8, 8) and acts["last"].shape == (3, 64, 2, 2)
    assert acts["first"].min() >= 0 and acts["last"].min() >= 0  # post-ReLU
    assert not any(m._forward_hooks for m in net.features)  # hooks removed


# -- localization-vs-n --------------------------------------------------------------------------------------------
def test_localization_vs_n_tiny(eval_resources, tmp_path):
    entry, folder = _run("localization-vs-n", eval_resources, tmp_path)
    m = entry["metrics"]
    with open(folder / "localization-vs-n.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert sorted({int(r["N"]) for r in rows}) == [30, 48]  # N0 = 30, step 18, stop 48: one N past the trained 45
    for r in rows:
        N, n = int(r["N"]), int(r["n"])
        assert n == N  # every resonance classified
        for k in ("frac_net", "frac_net_long", "frac_base", "frac_base_long", "mean_mu_scaled"):
            assert 0.0 <= float(r[k]) <= 1.0
        assert 2 / N - 1e-9 <= float(r["mean_mu_scaled"])  # mu >= 1 (coherent state)
        f = float(r["frac_net"])
        assert float(r["err_net"]) == pytest.approx(math.sqrt(f * (1 - f) / n))
        if float(r["R"]) == 1.0:
            assert int(r["n_long"]) == N  # all |z| = 1
        else:
            assert N // 2 <= int(r["n_long"]) <= N // 2 + 1
    thr = json.loads((folder / "localization-vs-n_thresholds.json").read_text())
    for t in thr.values():
        assert 0.0 < t["threshold"] < 1.0 and t["train_accuracy"] == 1.0  # the dataset's classes are separable in mu
    closed = [float(r["frac_net"]) for r in rows if float(r["R"]) == 1.0]
    opened = [float(r["frac_net"]) for r in rows if float(r["R"]) != 1.0]
    assert _value(m["more_localization_open"]) == pytest.approx(np.mean(np.subtract(opened, closed)))
    assert _value(m["frac_localized_closed_maxN"]) == pytest.approx(closed[-1])
    # two N values: the least-squares slope against ln N is the difference quotient
    assert _value(m["slope_open_per_lnN"]) == pytest.approx((opened[1] - opened[0]) / math.log(48 / 30))
    assert _value(m["slope_closed_per_lnN"]) == pytest.approx((closed[1] - closed[0]) / math.log(48 / 30))


def test_fit_threshold_known_answers():
    rng = np.random.default_rng(1)
    x0, x1 = rng.uniform(0.1, 0.3, 20), rng.uniform(0.6, 0.9, 20)
    x = np.concatenate([x0, x1])
    y = np.repeat([0, 1], 20)
    t, acc = localization_vs_n.fit_threshold(x, y)
    assert acc == 1.0 and t == pytest.approx((x0.max() + x1.min()) / 2)
    # overlapping classes: one 0 at 0.5 among the 1s: best is 5/6, the smallest best threshold wins
    t, acc = localization_vs_n.fit_threshold([0.1, 0.2, 0.5, 0.4, 0.6, 0.7], [0, 0, 0, 1, 1, 1])
    assert acc == pytest.approx(5 / 6) and t == pytest.approx(0.3)


def test_localization_helpers():
    assert localization_vs_n.n_grid(30, 48, 18) == [30, 48]
    with pytest.raises(ValueError, match="multiples of 3"):
        localization_vs_n.n_grid(30, 60, 10)
    f, e, n = localization_vs_n.binomial_fraction([True, False, False, False])
    assert (f, n) == (0.25, 4) and e == pytest.approx(math.sqrt(0.25 * 0.75 / 4))
    assert math.isnan(localization_vs_n.binomial_fraction([])[0])
    z = np.array([0.9, 0.5, 0.7, 0.6])
    assert list(localization_vs_n.long_lived(z, 0.5)) == [True, False, True, False]
    assert localization_vs_n.long_lived(np.ones(5), 0.5).all()
    N = np.array([30, 60, 120])
    assert localization_vs_n.log_slope(N, 0.2 + 0.1 * np.log(N)) == pytest.approx(0.1)


def test_classify_spectrum_matches_the_published_norm_ratios(eval_hub, monkeypatch):
    """The experiment's own mu of all resonances equals the generator's published spectrum (tiny dataset)."""
    from conftest import EVAL_TRI_ID

    from modeling.data import load_table
    from modeling.quantum_net import QuantumLocalizationNet

    monkeypatch.setenv("QCHAOS_HUB", str(eval_hub))
    t = load_table(EVAL_TRI_ID, "spectra", "train", source="local").data.table.to_pylist()
    net = QuantumLocalizationNet(grid_size=8).eval()
    for R in (1.0, 0.2):
        row = next(r for r in t if r["N"] == 33 and r["R"] == R)
        spec = localization_vs_n.classify_spectrum(net, 33, R)
        assert np.allclose(np.sort(spec["x"] * 33 / 2), np.sort(row["norm_ratio"]), rtol=1e-9)
        assert spec["localized"].shape == (33,) and spec["localized"].dtype == bool
