"""The density-CNN experiments (cnn-training, confidence, robustness) on the tiny datasets, and their helpers."""

from __future__ import annotations

import csv
import json
import math
import shutil

import numpy as np
import pytest
import torch
from conftest import EVAL_TB_ID, EVAL_TRI_ID, run_experiment

from evaluation import cnn_training, confidence, robustness
from evaluation.core import metric_value
from evaluation.runner import evaluate

TINY_ROWS_PER_ETA = 30  # the tiny fixture stores images of levels 10-39 for every eta


def _run(name, resources, tmp_path):
    return run_experiment(name, resources, tmp_path)


def _csv(path):
    with open(path, newline="", encoding="utf-8") as fh:
        return list(csv.DictReader(fh))


def _m(entry, key):
    return metric_value(entry["metrics"][key])


# -- pure helpers -------------------------------------------------------------------------------------------------
def test_scan_plan_merges_and_flags_training_ratios():
    plan = cnn_training.scan_plan([0.3, 1 / 3, 0.5, 0.9], [1 / 3 + 1e-12, 0.5, 1.0])
    assert [round(e, 6) for e, _ in plan] == [0.3, 0.333333, 0.5, 0.9, 1.0]
    assert [seen for _, seen in plan] == [False, True, True, False, True]


def test_near_integrable_mask_and_band():
    etas = [0.3, 1 / 3, 0.34, 0.5, 0.98, 1.0]
    seen = [False, False, False, True, False, True]
    mask = cnn_training.near_integrable_mask(etas, seen, 0.02)
    assert mask.tolist() == [False, False, True, False, True, False]  # 0.3 is 0.033 away; 1/3, 1 are the points
    b = cnn_training.band(np.array([[0.1, 1.0], [0.3, 0.0]]))
    assert np.allclose(b["mean"], [0.2, 0.5]) and np.allclose(b["min"], [0.1, 0.0]) and np.allclose(b["max"],
                                                                                                      [0.3, 1.0])


def test_crossing_eps_interpolates_and_flags_censoring():
    eps = [0.0, 0.1, 0.2]
    assert robustness.crossing_eps(eps, [1.0, 0.95, 0.85], 0.9) == pytest.approx((0.15, True))
    assert robustness.crossing_eps(eps, [1.0, 0.95, 0.91], 0.9) == (0.2, False)
    assert robustness.crossing_eps(eps, [0.8, 0.7, 0.6], 0.9) == (0.0, True)
    assert robustness.breaking_threshold(0.99, 0.9) == (0.9, False)
    assert robustness.breaking_threshold(0.8, 0.9) == pytest.approx((0.72, True))


def test_group_accuracies():
    labels = torch.tensor([1, 1, 0, 0, 0])
    pred = torch.tensor([1, 0, 0, 0, 1])
    acc = robustness.group_accuracies(pred, labels)
    assert acc == pytest.approx({"all": 0.6, "integrable": 0.5, "non-integrable": 2 / 3})
    assert math.isnan(robustness.group_accuracies(torch.tensor([0]), torch.tensor([0]))["integrable"])


def test_integrable_index_and_nearest_unseen():
    assert confidence.integrable_index(("non-integrable", "integrable"), ["non-integrable", "integrable"]) == 1
    with pytest.raises(ValueError, match="do not match"):
        confidence.integrable_index(("integrable", "non-integrable"), ["non-integrable", "integrable"])
    etas = [0.3, 1 / 3, 0.34, 0.5, 1.0]
    seen = [False, False, False, True, True]
    assert confidence.nearest_unseen(etas, seen, 1 / 3, confidence.is_integrable_eta) == 2  # 0.34 (0.0067 away)
    assert confidence.nearest_unseen(etas, seen, 1 / 3, confidence.is_integrable_eta, "below") == 0
    assert confidence.nearest_unseen(etas, [True] * 5, 1 / 3, confidence.is_integrable_eta) is None


def test_robustness_subsample_keeps_rows_aligned():
    from modeling.data import TwobodyData

    n = 10
    psi = torch.arange(n, dtype=torch.float32)[:, None, None].expand(n, 2, 2).clone()
    data = TwobodyData(psi=psi, images=psi + 100, label=torch.arange(n) % 2, eta=torch.arange(n) / 10.0,
                       g=torch.full((n,), 100.0), level=torch.arange(n) + 200, parity=torch.arange(n) % 2,
                       rows=np.arange(n) + 1000)
    sub, kept = robustness.subsample(data, 4, seed=0)
    keep = np.sort(np.random.default_rng(0).choice(n, size=4, replace=False))
    assert len(sub) == 4 and sub.rows.tolist() == (keep + 1000).tolist() and kept.tolist() == keep.tolist()
    # every field follows the same rows, in published order
    assert sub.psi[:, 0, 0].tolist() == keep.tolist() and sub.images[:, 0, 0].tolist() == (keep + 100).tolist()
    assert sub.level.tolist() == (keep + 200).tolist() and sub.label.tolist() == (keep % 2).tolist()
    for n_keep in (None, 50):
        whole, kept = robustness.subsample(data, n_keep)
        assert whole is data and kept.tolist() == list(range(n))


def test_image_size_mismatch_is_a_clear_error(eval_resources):
    from modeling.data import load_table
    from modeling.density_cnn import DensityCNN

    table = load_table(EVAL_TB_ID, "wavefunctions", "test", source="local")
    with pytest.raises(ValueError, match="images are 16 x 16, the density CNN takes 8 x 8"):
        cnn_training.check_image_size(DensityCNN(image_size=8), {"test": table}, "dataset")


# -- the experiments on the tiny datasets -------------------------------------------------------------------------
def test_cnn_training_tiny(eval_resources, tmp_path):
    entry, folder = _run("cnn-training", eval_resources, tmp_path)
    names = {f["file"] for f in entry["figures"]}
    assert names == {"cnn-training_curves.png", "cnn-training_accuracy_vs_eta.png"}
    for key in ("cnn_validation_accuracy", "cnn_test_accuracy", "cnn_test_accuracy_seed_min",
                "cnn_test_accuracy_seed_max", "cnn_accuracy_unseen_mean", "cnn_accuracy_near_integrable_mean"):
        assert 0.0 <= _m(entry, key) <= 1.0, key
    # the reference checkpoint is seed 0 with the same settings, so its recomputed accuracy is one of the seeds'
    assert _m(entry, "cnn_test_accuracy_seed_min") - 1e-12 <= _m(entry, "cnn_test_accuracy") \
        <= _m(entry, "cnn_test_accuracy_seed_max") + 1e-12
    curves = json.loads((folder / "cnn-training_curves.json").read_text())
    assert len(curves["epochs"]) == 1 and len(curves["steps"]) == curves["epochs"][0]["steps"]
    rows = _csv(folder / "cnn-training_accuracy_vs_eta.csv")
    assert [round(float(r["eta"]), 4) for r in rows] == [0.3, 0.3333, 0.5, 0.75, 1.0]
    seen = {round(float(r["eta"]), 4): r["training_ratio"] == "True" for r in rows}
    assert seen == {0.3: False, 0.3333: True, 0.5: True, 0.75: True, 1.0: True}
    n = {round(float(r["eta"]), 4): int(r["n"]) for r in rows}
    assert n[0.3] == TINY_ROWS_PER_ETA and all(0 < n[e] < TINY_ROWS_PER_ETA for e in (0.3333, 0.5, 0.75, 1.0))
    for r in rows:
        seeds = [float(r["seed0"]), float(r["seed1"])]
        assert float(r["min"]) == min(seeds) and float(r["max"]) == max(seeds)
    # the unseen-ratio mean is the seed mean at eta = 0.3, the only unseen ratio of the tiny data
    assert _m(entry, "cnn_accuracy_unseen_mean") == pytest.approx(float(rows[0]["mean"]))


def test_confidence_tiny(eval_resources, tmp_path):
    entry, folder = _run("confidence", eval_resources, tmp_path)
    assert [f["file"] for f in entry["figures"]] == ["confidence.png"]
    value = _m(entry, "confidence_eta_1_3")
    per_seed = [_m(entry, "confidence_eta_1_3_seed0"), _m(entry, "confidence_eta_1_3_seed1")]
    assert 0.0 <= min(per_seed) <= value <= max(per_seed) <= 1.0
    assert value == pytest.approx(np.mean(per_seed))
    rows = {round(float(r["eta"]), 4): r for r in _csv(folder / "confidence.csv")}
    assert sorted(rows) == [0.3, 0.3333, 0.5, 0.75, 1.0]
    assert int(rows[0.3333]["n"]) == TINY_ROWS_PER_ETA  # 1/3 was never seen: every row
    assert int(rows[0.5]["n"]) < TINY_ROWS_PER_ETA and rows[0.5]["training_ratio"] == "True"
    assert [int(rows[e]["label"]) for e in sorted(rows)] == [0, 1, 0, 0, 1]
    assert all(0.0 <= float(r["min"]) <= float(r["mean"]) <= float(r["max"]) <= 1.0 for r in rows.values())
    # nearest non-integrable unseen ratio to 1/3 in the tiny data is 0.3 (0.5 is a training ratio)
    assert _m(entry, "confidence_nearest_nonintegrable_to_1_3") == pytest.approx(float(rows[0.3]["mean"]))
    neighbours = (float(rows[0.3]["mean"]) + float(rows[0.75]["mean"])) / 2  # 0.75 is unseen here
    assert _m(entry, "confidence_eta_1_3_minus_neighbours") == pytest.approx(float(rows[0.3333]["mean"]) - neighbours)


def test_robustness_tiny(eval_resources, tmp_path):
    entry, folder = _run("robustness", eval_resources, tmp_path)
    p = robustness.PARAMS["tiny"]
    for key in ("fgsm_hardened_minus_original", "quantum_hardened_minus_original_integrable",
                "quantum_to_fgsm_eps_ratio"):
        assert key in entry["metrics"]
    # the headline differences are those of the curves the figure shows, at the largest eps
    grad_rows = _csv(folder / "robustness_gradient.csv")
    q_rows = _csv(folder / "robustness_quantum.csv")

    def at_max(rows, attack, net, group):
        mine = [r for r in rows if r.get("attack", "quantum") == attack and r["net"] == net and r["group"] == group]
        return float(max(mine, key=lambda r: float(r["eps"]))["accuracy"])

    assert _m(entry, "fgsm_hardened_minus_original") == pytest.approx(
        at_max(grad_rows, "fgsm", "hardened", "all") - at_max(grad_rows, "fgsm", "original", "all"))
    assert _m(entry, "quantum_hardened_minus_original_integrable") == pytest.approx(
        at_max(q_rows, "quantum", "hardened", "integrable") - at_max(q_rows, "quantum", "original", "integrable"))
    for net in ("original", "hardened"):
        clean = _m(entry, f"clean_accuracy_{net}")
        for attack in ("fgsm", "pgd", "quantum"):
            assert _m(entry, f"{attack}_accuracy_{net}_eps0") == clean, (net, attack)  # eps = 0: no change
    grad = _csv(folder / "robustness_gradient.csv")
    quantum = _csv(folder / "robustness_quantum.csv")
    assert len(grad) == 2 * 2 * len(p["fgsm_eps"]) * 3 and len(quantum) == 2 * len(p["quantum_eps"]) * 3
    accs = [float(r["accuracy"]) for r in grad + quantum if r["accuracy"] != ""]
    assert accs and all(0.0 <= a <= 1.0 for a in accs)
    for r in grad + quantum:
        if r["group"] == "all":
            assert r["accuracy"] != ""
    # the checkpoints' meta records the FGSM / quantum test accuracies at eps = 0.05 / 0.5 (computed by the training
    # code on the same test rows and partner bank): the curves' last points must agree
    for net, kind in robustness.NETS.items():
        meta = eval_resources.model(kind).get_meta()["metrics"]
        assert _m(entry, f"fgsm_accuracy_{net}_max_eps") == pytest.approx(meta["fgsm_accuracy"]["test"])
        assert _m(entry, f"quantum_accuracy_{net}_max_eps") == pytest.approx(meta["quantum_accuracy"]["test"])
    example = json.loads((folder / "robustness_examples.json").read_text())
    assert [p["name"].split()[0] for p in example["panels"]] == ["clean", "FGSM", "PGD", "quantum"]
    assert all(0.0 <= q <= 1.0 for p in example["panels"] for q in p["p_integrable"].values())


def test_robustness_missing_checkpoint_is_a_clear_error(eval_hub, tmp_path, monkeypatch):
    from evaluation.resources import Resources

    hub = tmp_path / "hub"
    shutil.copytree(eval_hub / "datasets", hub / "datasets")  # datasets only: no checkpoint, whatever ran before
    monkeypatch.setenv("QCHAOS_HUB", str(hub))
    resources = Resources("tiny", build=False, progress=False, source="local", runs_dir=tmp_path / "runs",
                          datasets={"twobody": EVAL_TB_ID, "twobody-images": EVAL_TB_ID, "twobody-train": EVAL_TB_ID,
                                    "tribaker": EVAL_TRI_ID})
    doc = evaluate("tiny", ["robustness"], out=tmp_path / "reports", resources=resources, progress=False)
    entry = doc["experiments"]["robustness"]
    assert entry["status"] == "missing"
    assert "checkpoint qchaos/density-cnn-twobody-evaltiny is not in the local hub" in entry["error"]
    assert "qchaos train density-cnn" in entry["error"]


def test_robustness_summary_known_curves():
    """Known answers of the headline numbers on hand-made curves: differences at the largest eps, breaking eps by
    linear interpolation (FGSM crosses 0.5 at 0.1 * 0.5 / 0.6, the quantum perturbation at 0.25), their ratio."""
    def c(all_, integ, non):
        return {"all": all_, "integrable": integ, "non-integrable": non}

    curves = {"fgsm": {"original": [c(1.0, 1.0, 1.0), c(0.4, 0.2, 0.6)],
                       "hardened": [c(1.0, 1.0, 1.0), c(0.9, 0.8, 1.0)]},
              "pgd": {"original": [c(1.0, 1.0, 1.0), c(0.3, 0.1, 0.5)],
                      "hardened": [c(1.0, 1.0, 1.0), c(0.8, 0.7, 0.9)]},
              "quantum": {"original": [c(1.0, 1.0, 1.0), c(0.8, 0.6, 1.0), c(0.2, 0.0, 0.4)],
                          "hardened": [c(1.0, 1.0, 1.0), c(0.9, 0.9, 0.9), c(0.7, 0.7, 0.7)]}}
    clean = {"original": c(1.0, 1.0, 1.0), "hardened": c(1.0, 1.0, 1.0)}
    out = robustness.summarize(curves, clean, [0.0, 0.1], [0.0, 0.2, 0.4], 0.5, 10)
    m = {k: _m({"metrics": out["metrics"]}, k) for k in out["metrics"]}
    assert m["fgsm_hardened_minus_original"] == pytest.approx(0.5)
    assert m["quantum_hardened_minus_original_integrable"] == pytest.approx(0.7)
    assert m["fgsm_breaking_eps"] == pytest.approx(0.1 * 0.5 / 0.6)
    assert m["quantum_breaking_eps"] == pytest.approx(0.2 + 0.2 * (0.8 - 0.5) / 0.6)
    assert m["quantum_to_fgsm_eps_ratio"] == pytest.approx((0.2 + 0.1) / (0.1 * 0.5 / 0.6))
    assert m["fgsm_hardened_minus_original_grid_mean"] == pytest.approx(0.25)
    assert m["pgd_accuracy_original_max_eps"] == pytest.approx(0.3)
    assert m["quantum_accuracy_original_integrable_max_eps"] == pytest.approx(0.0)
