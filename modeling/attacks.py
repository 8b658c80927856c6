"""Adversarial perturbations with one calling convention: ``attack(model, x, y, eps) -> x_adv`` (``docs/twobody.md`` §7 (adversarial)).

* :func:`fgsm` / :class:`FGSM` (Eq. 17): ``x_adv = clip_[0,1](x + eps sign(grad_x J(theta, x, y)))``, ``J`` the
  cross-entropy of the model's logits. ``x``: density images in [0, 1] (``density_images``), shape (B, P, P) or
  (B, 1, P, P).
* :func:`pgd` / :class:`PGD`: projected gradient descent in the L-infinity ball: optional uniform random start in
  the ball, ``steps`` signed-gradient steps of size ``alpha`` (default ``2.5 eps / steps``), each followed by the
  projection onto ``{|x_adv - x| <= eps} ∩ [0, 1]``.
* :class:`QuantumPerturbation` (Eq. 18): works on **wavefunctions**: ``x = psi`` (B, P, P) signed, and returns
  ``psi' = ||psi|| (psi + eps phi~) / ||psi + eps phi~||`` with ``phi~ = phi ||psi|| / ||phi||`` the partner
  rescaled to psi's norm (for normalized states this is exactly ``(psi + eps phi)/||psi + eps phi||``; the output
  has the norm of the input, and ``eps = 0`` returns ``psi`` bit for bit). Norms are the continuum L2 norm on the
  cell-centre grid, ``||psi|| = sqrt(mean(psi**2))`` (the published states have ``mean(psi**2) ~= 1``). The
  partner ``phi`` of each state comes from a :class:`PartnerBank`: **a state of the other class, same g, with the
  nearest level number** (ties: the mass ratio nearest to psi's, then the smaller eta, then the lower level)
  [our choice; the paper only says "phi belongs to the category other than psi"]. Recompute the densities
  afterwards: ``model(density_images(x_adv))``.

``eps`` is a number or a tensor (B,) (one value per sample), ``>= 0``. The gradient attacks evaluate the model in
eval mode (dropout off; the previous mode is restored) and never touch the parameters' ``.grad``.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from qchaos.errors import ParameterError

__all__ = ["fgsm", "pgd", "FGSM", "PGD", "batched_attack", "grid_norm", "quantum_perturbation", "PartnerBank",
           "QuantumPerturbation"]


def _eps(eps, x: torch.Tensor, name: str = "eps") -> torch.Tensor:
    """``eps`` as a tensor broadcastable against ``x`` (B, ...): scalar or one value per sample."""
    e = torch.as_tensor(eps, dtype=x.dtype, device=x.device)
    if e.ndim == 0:
        e = e.expand(x.shape[0])
    if e.ndim != 1 or e.shape[0] != x.shape[0]:
        raise ParameterError(f"{name}: a number or one value per sample (shape ({x.shape[0]},)), got shape "
                         f"{tuple(e.shape)}")
    if not bool(torch.all(torch.isfinite(e))) or bool(torch.any(e < 0)):
        raise ParameterError(f"{name} = {eps}: must be finite and >= 0")
    return e.view(-1, *([1] * (x.ndim - 1)))


def _check_xy(x, y, clip) -> None:
    """``ParameterError`` unless ``x`` is a finite tensor (B, ...) inside ``clip`` and ``y`` holds B labels."""
    from qchaos.errors import ParameterError

    if not isinstance(x, torch.Tensor) or x.ndim < 1:
        raise ParameterError(f"x: must be a torch tensor of inputs (B, ...), got {type(x).__name__}")
    if x.is_complex() or not x.is_floating_point():
        raise ParameterError(f"x: must be a real floating-point tensor, got {x.dtype}")
    if x.numel() and not bool(torch.isfinite(x).all()):
        raise ParameterError(f"x: has {int((~torch.isfinite(x)).sum())} non-finite values (NaN or inf)")
    if clip is not None and x.numel():
        lo, hi = clip
        mn, mx = float(x.min()), float(x.max())
        if mn < lo or mx > hi:
            raise ParameterError(f"x: values must lie in clip = [{lo:g}, {hi:g}], got [{mn:g}, {mx:g}]")
    yt = torch.as_tensor(y)
    if yt.shape != (x.shape[0],):
        raise ParameterError(f"y: must hold one label per sample, shape ({x.shape[0]},); got {tuple(yt.shape)}")


def _input_gradient(model, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    """d(sum of cross-entropies)/dx in eval mode; the model's mode is restored, parameter grads untouched."""
    was = model.training
    model.eval()
    try:
        with torch.enable_grad():
            xg = x.detach().clone().requires_grad_(True)
            loss = F.cross_entropy(model(xg), torch.as_tensor(y, device=x.device).long(), reduction="sum")
            (grad,) = torch.autograd.grad(loss, xg)
    finally:
        model.train(was)
    return grad


def fgsm(model, x: torch.Tensor, y: torch.Tensor, eps, *, clip=(0.0, 1.0)) -> torch.Tensor:
    """Fast gradient sign method: ``clip(x + eps * sign(grad_x CE(model(x), y)))``.

    Parameters:
        model: maps ``x`` to logits (B, C).
        x: inputs (B, ...), e.g. density images (B, P, P) in [0, 1].
        y: integer labels (B,).
        eps: step (L-infinity size), a number or a tensor (B,), >= 0.
        clip: (low, high) bounds of valid inputs, or None.
    Returns:
        detached tensor like ``x``.
    """
    _check_xy(x, y, clip)
    e = _eps(eps, x)
    x_adv = x.detach() + e * _input_gradient(model, x, y).sign()
    return x_adv.clamp(*clip) if clip is not None else x_adv


def pgd(model, x: torch.Tensor, y: torch.Tensor, eps, *, steps: int = 10, alpha=None, random_start: bool = True,
        generator: torch.Generator | None = None, clip=(0.0, 1.0)) -> torch.Tensor:
    """Projected gradient descent (L-infinity, Madry et al.): stays in ``|x_adv - x| <= eps`` and in ``clip``.

    Parameters:
        model, x, y, eps: as :func:`fgsm`.
        steps: number of signed-gradient steps (>= 1).
        alpha: step size, a number or (B,) tensor (default ``2.5 * eps / steps``).
        random_start: start from a uniform random point of the ball (``generator`` for reproducibility; default
            the global torch RNG).
        clip: (low, high) bounds of valid inputs, or None.
    Returns:
        detached tensor like ``x``.
    """
    if int(steps) != steps or steps < 1:
        raise ParameterError(f"steps = {steps!r}: must be a positive integer")
    _check_xy(x, y, clip)
    e = _eps(eps, x)
    a = 2.5 * e / int(steps) if alpha is None else _eps(alpha, x, "alpha")
    x0 = x.detach()
    lo, hi = x0 - e, x0 + e
    if clip is not None:
        lo, hi = lo.clamp(*clip), hi.clamp(*clip)
    x_adv = x0.clone()
    if random_start:
        noise = torch.rand(x0.shape, generator=generator, dtype=x0.dtype, device="cpu" if generator is None
                           else generator.device).to(x0.device)
        x_adv = torch.minimum(torch.maximum(x0 + (2 * noise - 1) * e, lo), hi)
    for _ in range(int(steps)):
        x_adv = x_adv + a * _input_gradient(model, x_adv, y).sign()
        x_adv = torch.minimum(torch.maximum(x_adv, lo), hi)
    return x_adv.detach()


def batched_attack(attack, model, x: torch.Tensor, y: torch.Tensor, eps, batch_size: int = 128,
                   device=None) -> torch.Tensor:
    """``attack(model, x, y, eps)`` applied to consecutive batches of ``batch_size`` rows.

    Each batch is moved to ``device`` when given; the results are concatenated (rows in the order of ``x``).
    """

    def to(t):
        return t if device is None else t.to(device)

    return torch.cat([attack(model, to(x[i:i + batch_size]), to(y[i:i + batch_size]), eps)
                      for i in range(0, len(y), batch_size)])


class FGSM:
    """:func:`fgsm` as an object with the common call ``attack(model, x, y, eps)``."""

    name = "fgsm"

    def __init__(self, clip=(0.0, 1.0)):
        self.clip = clip

    def __call__(self, model, x, y, eps):
        return fgsm(model, x, y, eps, clip=self.clip)

    def __repr__(self):
        return f"FGSM(clip={self.clip})"


class PGD:
    """:func:`pgd` with fixed settings; ``seed`` makes the random start reproducible (a fresh generator per call)."""

    name = "pgd"

    def __init__(self, steps: int = 10, alpha=None, random_start: bool = True, seed: int | None = 0,
                 clip=(0.0, 1.0)):
        self.steps, self.alpha, self.random_start, self.seed, self.clip = steps, alpha, random_start, seed, clip

    def __call__(self, model, x, y, eps):
        gen = torch.Generator().manual_seed(self.seed) if self.seed is not None else None
        return pgd(model, x, y, eps, steps=self.steps, alpha=self.alpha, random_start=self.random_start,
                   generator=gen, clip=self.clip)

    def __repr__(self):
        return f"PGD(steps={self.steps}, alpha={self.alpha}, random_start={self.random_start}, seed={self.seed})"


# -- the quantum perturbation ------------------------------------------------------------------------------------
def grid_norm(psi: torch.Tensor) -> torch.Tensor:
    """Continuum L2 norm of wavefunctions on the P x P cell-centre grid.

    ``sqrt(mean(psi**2))`` over the last two axes, shape (..., 1, 1).
    """
    return torch.sqrt((psi * psi).mean(dim=(-2, -1), keepdim=True))


def quantum_perturbation(psi: torch.Tensor, phi: torch.Tensor, eps) -> torch.Tensor:
    """Eq. 18: ``psi' = ||psi|| (psi + eps phi~) / ||psi + eps phi~||``, ``phi~ = phi ||psi|| / ||phi||``.

    Parameters:
        psi: signed wavefunctions (B, P, P).
        phi: partner wavefunctions (B, P, P) (one per row of ``psi``, of the other class).
        eps: a number or a tensor (B,), >= 0.
    Returns:
        tensor (B, P, P) with the norms of ``psi`` (unit-norm in, unit-norm out); ``eps = 0`` returns ``psi``
        exactly. Differentiable.
    """
    if psi.shape != phi.shape or psi.ndim != 3:
        raise ValueError(f"psi, phi: must both have shape (B, P, P); got {tuple(psi.shape)} and {tuple(phi.shape)}")
    e = _eps(eps, psi)
    n_psi = grid_norm(psi)
    n_phi = grid_norm(phi)
    if bool(torch.any(n_phi == 0)) or bool(torch.any(n_psi == 0)):
        raise ValueError("psi, phi: an all-zero wavefunction has no direction to perturb / perturb with")
    mixed = psi + e * (phi * (n_psi / n_phi))
    return mixed * (n_psi / grid_norm(mixed))


class PartnerBank:
    """The states that can serve as quantum-perturbation partners, with the pairing rule.

    Parameters:
        psi: wavefunctions (M, P, P) (the published ``psi`` column, float32).
        label: class of each (M,) (0 non-integrable, 1 integrable).
        level: level number of each (M,).
        eta: mass ratio of each (M,) (tie-break; default all equal).
        g: interaction strength of each (M,) (partners must share it; default all equal).

    Pairing rule (:meth:`partner_index`): among the bank's states of the **other class with the same g**
    (``|g - g'| <= 1e-9``), the one with the **nearest level number**; ties by the mass ratio nearest to the
    state's own, then the smaller eta, then the lower level, then the lower bank index. Deterministic.
    """

    def __init__(self, psi, label, level, eta=None, g=None):
        self.psi = torch.as_tensor(psi)
        m = self.psi.shape[0]
        if self.psi.ndim != 3:
            raise ParameterError(f"psi: must have shape (M, P, P), got {tuple(self.psi.shape)}")
        self.label = np.asarray(torch.as_tensor(label).cpu(), dtype=np.int64).reshape(-1)
        self.level = np.asarray(torch.as_tensor(level).cpu(), dtype=np.int64).reshape(-1)
        self.eta = np.zeros(m) if eta is None else np.asarray(torch.as_tensor(eta).cpu(), np.float64).reshape(-1)
        self.g = np.zeros(m) if g is None else np.asarray(torch.as_tensor(g).cpu(), np.float64).reshape(-1)
        for name, v in (("label", self.label), ("level", self.level), ("eta", self.eta), ("g", self.g)):
            if v.shape[0] != m:
                raise ParameterError(f"{name}: {v.shape[0]} values for {m} states")
        self.rows_of: dict = {}

    @classmethod
    def from_parts(cls, parts) -> PartnerBank:
        """A bank of every state of ``parts``, concatenated in order.

        ``parts``: e.g. the splits of a dataset as ``TwobodyData``; anything with the attributes ``psi``, ``label``,
        ``level``, ``eta`` and ``g``. Parts without rows are skipped. A dict ``{name: part}`` also records each
        part's bank rows in :attr:`rows_of` (``{name: (n,) int64}``), the identity of its states in the bank (no
        lookup by values needed).
        """
        named = dict(parts) if isinstance(parts, dict) else dict(enumerate(parts))
        kept = {k: p for k, p in named.items() if len(p.label)}
        bank = cls(torch.cat([p.psi for p in kept.values()]), torch.cat([p.label for p in kept.values()]),
                   torch.cat([p.level for p in kept.values()]), torch.cat([p.eta for p in kept.values()]),
                   torch.cat([p.g for p in kept.values()]))
        start, bank.rows_of = 0, {}
        for k, p in named.items():
            n = len(p.label)
            bank.rows_of[k] = np.arange(start, start + n, dtype=np.int64)
            start += n
        return bank

    def __len__(self) -> int:
        return self.psi.shape[0]

    def partner_index(self, label, level, eta=None, g=None) -> np.ndarray:
        """Bank index of the partner of each query state (arrays (B,)); ``ValueError`` if one has no partner."""
        label = np.atleast_1d(np.asarray(label, dtype=np.int64))
        level = np.atleast_1d(np.asarray(level, dtype=np.int64))
        b = label.shape[0]
        eta = np.zeros(b) if eta is None else np.atleast_1d(np.asarray(eta, np.float64))
        g = np.zeros(b) if g is None else np.atleast_1d(np.asarray(g, np.float64))
        out = np.empty(b, dtype=np.int64)
        order = np.arange(len(self))
        for i in range(b):
            ok = np.flatnonzero((self.label != label[i]) & (np.abs(self.g - g[i]) <= 1e-9))
            if ok.size == 0:
                raise ValueError(f"no partner for a state with label {label[i]}, g = {g[i]:g}, level {level[i]}: "
                                 "the partner bank has no state of the other class with the same g")
            keys = (order[ok], self.level[ok], self.eta[ok], np.abs(self.eta[ok] - eta[i]),
                    np.abs(self.level[ok] - level[i]))
            out[i] = ok[np.lexsort(keys)[0]]
        return out

    def rows(self, index) -> np.ndarray:
        """``index`` as bank rows (B,) int64, checked to lie in the bank (:class:`ParameterError` otherwise)."""
        idx = np.asarray(index, dtype=np.int64).reshape(-1)
        if idx.size and (idx.min() < 0 or idx.max() >= len(self)):
            raise ParameterError(f"index: bank rows must lie in [0, {len(self) - 1}], got {idx.min()}..{idx.max()}")
        return idx

    def partners(self, *, index) -> torch.Tensor:
        """The partner wavefunctions (B, P, P) of the bank's states ``index``.

        ``index``: bank rows, e.g. from :attr:`rows_of` (a state's identity is its row, never its values).
        """
        idx = self.rows(index)
        pidx = self.partner_index(self.label[idx], self.level[idx], self.eta[idx], self.g[idx])
        return self.psi[torch.as_tensor(pidx)]


class QuantumPerturbation:
    """Eq. 18 as an attack ``attack(model, x, y, eps) -> x_adv`` on **wavefunctions** ``x = psi`` (B, P, P).

    Parameters:
        bank: :class:`PartnerBank` holding the states and the candidate partners (each state's partner chosen by
            the bank's rule).

    ``__call__(model, x, y, eps, partners=None, index=None)``: ``model`` is unused (the perturbation does not look
    at the network; it is there for the common convention); ``index`` (B,): the bank rows of the states ``x``
    (their identity, e.g. ``bank.rows_of[split]``); ``y`` (B,) is checked against the bank's labels (pass None to
    skip); ``partners`` (B, P, P) gives the partners instead. One of ``index`` and ``partners`` is required.
    Returns ``psi'`` (B, P, P); classify it with ``model(density_images(psi'))``.
    """

    name = "quantum"

    def __init__(self, bank: PartnerBank):
        self.bank = bank

    def __call__(self, model, x, y, eps, partners=None, index=None):
        psi = torch.as_tensor(x)
        if partners is None:
            if index is None:
                raise ParameterError("index: the bank rows of the states x are required (e.g. bank.rows_of[split]), "
                                     "or pass partners=")
            idx = self.bank.rows(index)
            if idx.shape[0] != psi.shape[0]:
                raise ParameterError(f"index: {idx.shape[0]} bank rows for {psi.shape[0]} states")
            if y is not None:
                yy = np.asarray(torch.as_tensor(y).cpu(), dtype=np.int64).reshape(-1)
                bad = np.flatnonzero(yy != self.bank.label[idx])
                if bad.size:
                    raise ValueError(f"y[{bad[0]}] = {yy[bad[0]]}: the bank records label "
                                     f"{self.bank.label[idx[bad[0]]]} for that state")
            pidx = self.bank.partner_index(self.bank.label[idx], self.bank.level[idx], self.bank.eta[idx],
                                           self.bank.g[idx])
            partners = self.bank.psi[torch.as_tensor(pidx)]
        partners = torch.as_tensor(partners).to(device=psi.device, dtype=psi.dtype)
        return quantum_perturbation(psi, partners, eps)

    def __repr__(self):
        return f"QuantumPerturbation(bank of {len(self.bank)} states)"
