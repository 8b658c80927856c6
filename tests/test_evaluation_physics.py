"""The physics experiments of the evaluation: ed-accuracy, level-statistics, verdict-time (tiny preset) and their
pure helpers (known answers)."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import run_experiment

from evaluation import ed_accuracy, level_statistics, verdict_time
from evaluation.core import metric_value
from generation.twobody.bethe import bethe_levels, horizontal_energies

THIRD = 1 / 3


def _run(name, resources, tmp_path):
    exp, _ = run_experiment(name, resources, tmp_path)
    return exp, {k: metric_value(v) for k, v in exp["metrics"].items()}


# ------------------------------------------------------------------------------------------------ ed-accuracy
def test_ed_accuracy_tiny(eval_resources, tmp_path):
    exp, m = _run("ed-accuracy", eval_resources, tmp_path)
    assert {f["file"] for f in exp["figures"]} == {"ed-accuracy_levels.png", "ed-accuracy_errors.png"}
    assert set(exp["data"]) == {"ed-accuracy_levels.json", "ed-accuracy_errors.csv"}
    # 100 levels at g = 10 with the 1600-state minimum basis: ~2e-8 (scheme "effective"; Richardson ~1.5e-4),
    # raw ED ~1e-2; the lower bound only says the comparison is not trivially exact
    assert 1e-11 < m["ed_bethe_max_rel_error"] < 5e-4
    assert m["ed_raw_max_rel_error"] > 10 * m["ed_bethe_max_rel_error"]
    assert m["ed_bethe_max_rel_error_g10"] == m["ed_bethe_max_rel_error"]
    assert m["ed_bethe_parity_counts_match"] == 1
    assert m["horizontal_levels_first_5000"] == 649  # exact D6 counting (docs/twobody.md §3.3)
    assert m["horizontal_levels_ed"] == m["horizontal_levels_exact"] == horizontal_energies(100).size
    assert m["first_horizontal_level"] == 8 and m["first_horizontal_level_constant"] == 1
    assert m["second_horizontal_level"] == 16  # level 18 at g = 0, crossed twice below g = 10
    rows = (tmp_path / "tiny" / "ed-accuracy_errors.csv").read_text().splitlines()
    assert len(rows) == 1 + 2 * 100  # header + 100 levels for each of eta = 1/3, 1


def test_pair_with_bethe_is_exact_on_bethe_input():
    ba = bethe_levels(THIRD, 7.0, 60)
    shuffled = np.random.default_rng(0).permutation(60)
    pair = ed_accuracy.pair_with_bethe(ba.energy[shuffled], ba.parity[shuffled], THIRD, 7.0)
    np.testing.assert_array_equal(pair["level"], np.arange(1, 61))
    np.testing.assert_allclose(pair["ed"], pair["ba"], rtol=1e-12)
    assert np.all(ed_accuracy.relative_error(pair["ed"], pair["ba"]) < 1e-12)
    assert ed_accuracy.relative_error([1.1, 2.0], [1.0, 2.0]) == pytest.approx([0.1, 0.0])


def test_horizontal_helpers():
    flags = ed_accuracy.flag_horizontal([1.0, 2.0 + 1e-12, 3.5, 5.0], [2.0, 5.0])
    assert flags.tolist() == [False, True, False, True]
    assert ed_accuracy.flag_horizontal([1.0, 4.0], [4.0]).tolist() == [False, True]
    assert not ed_accuracy.flag_horizontal([1.0], []).any()
    assert ed_accuracy.distinct_count([3.0, 1.0, 3.0 * (1 + 1e-13), 2.0]) == 3
    assert ed_accuracy.distinct_count([]) == 0
    # small dense ED: level 8 (28 pi^2/8) is g-independent, nothing is flagged at g = 0
    scan = ed_accuracy.small_basis_scan(THIRD, [0.0, 5.0], 12, 200)
    assert not scan[0]["horizontal"].any()
    assert np.flatnonzero(scan[1]["horizontal"]).tolist() == [7]
    assert scan[1]["energy"][7] == pytest.approx(28 * np.pi**2 / 8, rel=1e-12)
    curves = ed_accuracy.bethe_curves([0.0, 3.0, 9.0], 10)
    flat = [c["energy"] for c in curves.values() if c["horizontal"]]
    assert len(flat) >= 1 and all(np.ptp(e) == 0 for e in flat)
    moving = [c["energy"] for c in curves.values() if not c["horizontal"] and np.all(np.isfinite(c["energy"]))]
    assert all(np.all(np.diff(e) > 0) for e in moving)  # the other levels rise with g


# ------------------------------------------------------------------------------------------------ level-statistics
def test_level_statistics_tiny(eval_resources, tmp_path):
    exp, m = _run("level-statistics", eval_resources, tmp_path)
    assert {f["file"] for f in exp["figures"]} == {f"level-statistics_{s}.png" for s in ("spacings", "omega", "fine")}
    for key in ("omega_eta_1_3", "omega_eta_1", "omega_nonintegrable_min", "omega_critical_line_separation",
                "mean_r_integrable", "mean_r_nonintegrable"):
        assert key in m
    # the headline numbers are those of the per-ratio table the figure shows (the fits themselves are tested on
    # synthetic Poisson / GOE / Brody spectra in test_spectra.py)
    import csv

    table = list(csv.DictReader((tmp_path / "tiny" / "level-statistics_omega.csv").open()))
    omega = {round(float(r["eta"]), 6): float(r["both_omega"]) for r in table}
    label = {round(float(r["eta"]), 6): int(r["label"]) for r in table}
    assert label == {0.3: 0, 0.333333: 1, 0.5: 0, 0.75: 0, 1.0: 1}
    assert m["omega_eta_1_3"] == pytest.approx(omega[0.333333]) and m["omega_eta_1"] == pytest.approx(omega[1.0])
    assert m["omega_nonintegrable_min"] == pytest.approx(min(omega[e] for e in (0.3, 0.5, 0.75)))
    right = sum((omega[e] < 0) == bool(label[e]) and omega[e] != 0 for e in omega)
    assert m["omega_critical_line_separation"] == pytest.approx(right / 5)
    # 80 levels with 10 bins make the histogram fit noisy; the binning-free MLE and <r> already order the fixture's
    # ratios: both integrable ones below every non-integrable one (measured MLE: 1/3 +0.29, 1 -0.03, others >= 0.40)
    assert m["omega_mle_eta_1"] < m["omega_mle_eta_1_3"] < m["omega_mle_nonintegrable_min"]
    assert m["mean_r_integrable"] < m["mean_r_nonintegrable"]
    rows = (tmp_path / "tiny" / "level-statistics_omega.csv").read_text().splitlines()
    assert len(rows) == 1 + 5


def test_select_levels_and_separation():
    energy = np.array([5.0, 1.0, 3.0, 2.0, 4.0])
    parity = np.array([0, 1, 1, 0, 1])
    level = np.array([5, 1, 3, 2, 4])
    np.testing.assert_array_equal(level_statistics.select_levels(energy, parity, level, None, "both"), [1, 2, 3, 4, 5])
    np.testing.assert_array_equal(level_statistics.select_levels(energy, parity, level, 3, "odd"), [1, 3])
    np.testing.assert_array_equal(level_statistics.select_levels(energy, parity, level, 4, "even"), [2])
    with pytest.raises(ValueError, match="regime"):
        level_statistics.select_levels(energy, parity, level, 3, "all")
    assert level_statistics.separation_fraction([-0.1, 0.2, 0.3, -0.05], [True, False, False, False]) == 0.75
    assert level_statistics.separation_fraction([0.0], [True]) == 0.0  # omega = 0 is on neither side


def test_level_stats_known_answers():
    rng = np.random.default_rng(1)
    poisson = np.cumsum(rng.exponential(size=3000))
    st = level_statistics.level_stats(poisson)
    assert st["n"] == 3000 and st["bins"] == 50 and st["s"].shape == (2999,)
    assert abs(st["omega"]) < 0.1 and abs(st["omega_mle"]) < 0.1
    assert st["mean_r"] == pytest.approx(2 * np.log(2) - 1, abs=0.02)
    goe = []
    for _ in range(6):  # bulk of GOE matrices: Wigner-Dyson spacings
        a = rng.normal(size=(400, 400))
        e = np.linalg.eigvalsh(a + a.T)
        goe.append(e[100:300])
    omegas = [level_statistics.level_stats(e)["omega_mle"] for e in goe]
    assert np.mean(omegas) == pytest.approx(1.0, abs=0.2)
    assert np.mean([level_statistics.level_stats(e)["mean_r"] for e in goe]) == pytest.approx(0.5307, abs=0.03)


# ------------------------------------------------------------------------------------------------ verdict-time
def test_verdict_time_tiny(eval_resources, tmp_path):
    import csv

    exp, m = _run("verdict-time", eval_resources, tmp_path)
    assert [f["file"] for f in exp["figures"]] == ["verdict-time.png"]
    params = verdict_time.PARAMS["tiny"]
    with open(tmp_path / "tiny" / "verdict-time.csv") as fh:
        rows = list(csv.DictReader(fh))
    # one timed verdict per route, count and held-out eta, each with the truth of its eta
    expected = {("cnn", str(n), str(e)) for n in params["cnn_states"] for e in params["etas"]}
    expected |= {("stats", str(n), str(e)) for n in params["stat_levels"] for e in params["etas"]}
    assert {(r["route"], r["count"], r["eta_text"]) for r in rows} == expected
    assert all((r["integrable"] == "True") == (r["eta_text"] == "1/3") for r in rows)
    assert all((r["correct"] == "True") == (r["verdict"] == r["integrable"]) for r in rows)
    # every verdict of route B is the sign of its Brody omega
    assert all((r["verdict"] == "True") == (float(r["omega"]) < 0) for r in rows if r["route"] == "stats")
    # the reported reliable counts and speed-up follow from the table by the protocol's rule
    for route, counts, key in (("cnn", params["cnn_states"], "cnn_reliable_states"),
                               ("stats", params["stat_levels"], "stats_reliable_levels")):
        ok = [all(r["correct"] == "True" for r in rows if r["route"] == route and r["count"] == str(n))
              for n in counts]
        first = next((n for i, n in enumerate(counts) if all(ok[i:])), None)
        assert m[key] == first
    if m["cnn_reliable_states"] is not None:
        secs = {route: np.mean([float(r["seconds"]) for r in rows if r["route"] == route
                                and r["count"] == str(int(m[key]))])
                for route, key in (("cnn", "cnn_reliable_states"), ("stats", "stats_reliable_levels"))}
        assert m["verdict_speedup"] == pytest.approx(secs["stats"] / secs["cnn"])


def test_reliable_count_known_answers():
    T, F = True, False
    counts = [1, 2, 4, 8]
    assert verdict_time.reliable_count(counts, [[F, T], [T, T], [T, T], [T, T]]) == 2
    # a lucky small count does not count: reliability must hold from there on
    assert verdict_time.reliable_count(counts, [[T, T], [T, T], [T, F], [T, T]]) == 8
    assert verdict_time.reliable_count(counts, [[T, T], [T, T], [T, T], [F, T]]) is None
    assert verdict_time.reliable_count(counts, [[T, T]] * 4) == 1
    with pytest.raises(ValueError, match="increasing"):
        verdict_time.reliable_count([1, 1, 2, 3], [[T]] * 4)
    with pytest.raises(ValueError, match="rows"):
        verdict_time.reliable_count(counts, [[T]] * 3)


def test_verdict_curve_known_answer():
    rows = [{"route": "cnn", "count": n, "eta": e, "correct": ok, "seconds": s}
            for n, e, ok, s in ((1, 0.5, True, 1.0), (1, 1.0, False, 3.0), (2, 0.5, True, 2.0), (2, 1.0, True, 4.0))]
    c = verdict_time.curve(rows + [{"route": "stats", "count": 1, "eta": 0.5, "correct": False, "seconds": 9.0}],
                           "cnn", [1, 2])
    assert c["reliability"].tolist() == [0.5, 1.0] and c["seconds"].tolist() == [2.0, 3.0]
    assert c["correct"].tolist() == [[True, False], [True, True]]


def test_verdict_helpers(eval_resources):
    from tests.conftest import EVAL_TB_ID

    setup = verdict_time.dataset_window(EVAL_TB_ID, "local")
    # the tiny fixture's generation config (basis_factor from the published manifest)
    assert setup == {"g": 10.0, "window": (10, 39), "image_size": 16, "basis_factor": 3.0}
    v = verdict_time.cnn_verdict([[0.2, 0.8], [0.6, 0.4], [0.1, 0.9]])
    assert v["integrable"] and v["fraction"] == pytest.approx(2 / 3) and v["confidence"] == pytest.approx(0.7)
    assert not verdict_time.cnn_verdict([[0.5, 0.5], [0.9, 0.1]])["integrable"]
    best = verdict_time.fastest([{"stages": {"a": 1.0, "b": 2.0}, "k": 1}, {"stages": {"a": 0.5, "b": 2.0}, "k": 2}])
    assert best["k"] == 2 and best["seconds"] == 2.5
