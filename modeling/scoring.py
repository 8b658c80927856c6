"""Scores of a trained classifier.

Loss and accuracy on a set (:func:`evaluate`), per reflectivity (:func:`reflectivity_accuracy`) and under the
adversarial attacks (:func:`robust_metrics`).
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

from .attacks import PartnerBank, QuantumPerturbation, batched_attack, fgsm
from .density_cnn import density_images

__all__ = ["evaluate", "reflectivity_accuracy", "robust_metrics"]


@torch.no_grad()
def evaluate(model, x: torch.Tensor, y: torch.Tensor, batch_size: int = 128, device: str = "cpu") -> dict:
    """Mean cross-entropy and accuracy of ``model`` on inputs ``x`` / labels ``y`` (eval mode, mode restored).

    Returns ``{"loss": float, "accuracy": float, "n": int}`` (NaNs for an empty set).
    """
    n = int(y.shape[0])
    if n == 0:
        return {"loss": float("nan"), "accuracy": float("nan"), "n": 0}
    was = model.training
    model.eval()
    total, correct = 0.0, 0
    try:
        for i in range(0, n, batch_size):
            xb, yb = x[i:i + batch_size].to(device), y[i:i + batch_size].to(device)
            logits = model(xb)
            total += float(F.cross_entropy(logits.float(), yb, reduction="sum"))
            correct += int((logits.argmax(dim=1) == yb).sum())
    finally:
        model.train(was)
    return {"loss": total / n, "accuracy": correct / n, "n": n}


def reflectivity_accuracy(model, data: dict, device: str = "cpu") -> dict:
    """Accuracy per split and per reflectivity of a quantum-net: ``{split: {"R=1": acc, "R=0.2": acc}}``.

    ``data``: split -> :class:`~modeling.data.ResonanceData`; R = 1 is the closed map.
    """
    out = {}
    for split, d in data.items():
        if len(d) == 0:
            continue
        out[split] = {}
        for R in sorted(set(d.R.tolist()), reverse=True):
            keep = d.R == R
            out[split][f"R={R:g}"] = evaluate(model, d.x[keep], d.label[keep], device=device)["accuracy"]
    return out


def robust_metrics(model, data: dict, fgsm_eps: float, quantum_eps: float, device: str = "cpu") -> dict:
    """FGSM and quantum-perturbation accuracies of a density model on validation / test.

    eps = the maxima; ``data``: split -> :class:`~modeling.data.TwobodyData`, every split a partner candidate.
    """
    bank = PartnerBank.from_parts(data)  # every split; each split's states found in it by their bank rows
    quantum = QuantumPerturbation(bank)
    out = {"fgsm_accuracy": {}, "quantum_accuracy": {}}
    for split in ("validation", "test"):
        d = data.get(split)
        if d is None or len(d) == 0:
            continue
        adv = batched_attack(fgsm, model, d.images, d.label, fgsm_eps, 128, device=device)
        out["fgsm_accuracy"][split] = evaluate(model, adv, d.label, device=device)["accuracy"]
        try:
            psi_q = quantum(model, d.psi, d.label, quantum_eps, index=bank.rows_of[split])
        except ValueError:  # no partner of the other class with the same g
            continue
        out["quantum_accuracy"][split] = evaluate(model, density_images(psi_q), d.label, device=device)["accuracy"]
    return {k: v for k, v in out.items() if v}
