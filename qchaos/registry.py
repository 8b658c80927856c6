"""The registry of the package's known Hub repos: pretrained models and published datasets (``qchaos list``).

Entries are plain data. A model entry pins the Hub ``revision`` (commit) and the ``sha256`` of its
``model.safetensors``: the shipped checkpoint, package data of ``qchaos`` (``qchaos/pretrained/<name>/``, found
through ``importlib.resources`` whatever the working directory or ``$QCHAOS_HUB``: :func:`shipped_path`);
``revision`` stays ``None`` until the checkpoint is pushed to a remote Hub (``sha256`` None: not trained yet).
``HubModel.from_pretrained`` (``modeling.hub_model``) uses them for a registered name: the revision pins a Hub
download, and the weights must match the sha256 wherever they come from (the shipped checkpoint, the local hub
folder, a Hub download); a model retrained locally under a registered name loads with ``verify_registry=False``
(checked against its own ``qchaos.json`` only).

Names are repo ids ``qchaos/<name>``; the functions also accept the bare ``<name>``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

from generation.systems import SYSTEMS

from .hub import DEFAULT_ORG, RepoNotFoundError, local_repo_path, parse_repo_id

PRETRAINED = "pretrained"
"""The folder of ``qchaos`` (package data) that holds the shipped checkpoints, one ``<name>/`` per model."""


MODELS: dict[str, dict] = {
    "qchaos/density-cnn-twobody-paper": {
        "revision": None, "sha256": "1a2cdb1d0759adafe86d3e2e8e3024c7b460f61f4d8946e98d72137625e623eb",
        "model_class": "DensityCNN",
        "description": "CNN telling integrable from non-integrable two-atom Hamiltonians from the probability "
                       "density of one eigenstate (Lang et al., arXiv:2402.16244). Shipped checkpoint: trained here "
                       "on qchaos/twobody-paper-cnn, the paper's scale (levels 200-1199 at 100 x 100, g = 100, "
                       "eigenvectors from 8 basis states per level) for "
                       "the training mass ratios 1/3, 1/2, 3/4, 1 (2800 training images), 2 CPU cores",
        "input": "eigenstate density |psi(x1, x2)|^2 on the 100 x 100 grid, scaled by its maximum to [0, 1]",
        "input_shape": [1, 100, 100],
        "dataset": "qchaos/twobody-paper-cnn", "dataset_config": "wavefunctions",
    },
    "qchaos/density-cnn-adv-twobody-paper": {
        "revision": None, "sha256": "6a880e4f622aa550e360a90aa65dd7cecf6bc70a10d810160e0d3bd4a357815f",
        "model_class": "DensityCNN",
        "description": "DensityCNN adversarially trained on original + FGSM + quantum-perturbation samples "
                       "(Lang et al., arXiv:2402.16244, section 'adversarial learning'). Shipped checkpoint: trained "
                       "here on qchaos/twobody-paper-cnn (the paper's scale, see density-cnn-twobody-paper)",
        "input": "eigenstate density |psi(x1, x2)|^2 on the 100 x 100 grid, scaled by its maximum to [0, 1]",
        "input_shape": [1, 100, 100],
        "dataset": "qchaos/twobody-paper-cnn", "dataset_config": "wavefunctions",
    },
    "qchaos/quantum-net-tribaker-paper": {
        "revision": None, "sha256": "ecb93062a206ce9552092eda6f7ff9fad1c29baf940fe3c5a5d12fdd8f80befd",
        "model_class": "QuantumLocalizationNet",
        "description": "coherent-state 'quantum' layer + AlexNet-like CNN classifying resonances of the open "
                       "quantum tribaker map as localized or not (Montes et al., arXiv:2406.00363). Shipped "
                       "checkpoint: trained here on qchaos/tribaker-paper, the paper-scale dataset (N = 30..177, "
                       "5 + 5 states per N, closed and R = 0.2 together), 64 x 64 coherent-state centres, compact CNN",
        "input": "right and left resonance eigenvectors R, L (complex, length N = 30..177, any N)",
        "input_shape": ["N", 2],
        "dataset": "qchaos/tribaker-paper", "dataset_config": "resonances",
    },
}

DATASETS: dict[str, dict] = {
    "qchaos/twobody-mini": {
        "revision": None, "system": "twobody", "preset": "mini",
        "configs": ["spectra"], "default_config": "spectra",
        "description": "two mass-imbalanced atoms in a hard-wall trap, small preset: 400-level spectra of 15 mass "
                       "ratios at g = 10 (level statistics)",
    },
    "qchaos/twobody-mini-images": {
        "revision": None, "system": "twobody", "preset": "mini-images",
        "configs": ["wavefunctions", "spectra"], "default_config": "wavefunctions",
        "description": "density-CNN data with the paper's physics at a small count: 64 x 64 images of levels 200-699 "
                       "of 13 mass ratios at g = 100, 8 basis states per level",
    },
    "qchaos/twobody-paper": {
        "revision": None, "system": "twobody", "preset": "paper",
        "configs": ["spectra"], "default_config": "spectra",
        "description": "two mass-imbalanced atoms in a hard-wall trap at the paper's scale: 1000-level spectra of "
                       "121 mass ratios at g = 10 (the coarse omega scan, Fig. 7 of arXiv:2402.16244)",
    },
    "qchaos/twobody-paper-fine": {
        "revision": None, "system": "twobody", "preset": "paper-fine",
        "configs": ["spectra"], "default_config": "spectra",
        "description": "5000-level spectra of the fine scans next to eta = 1/3 and 1 at g = 10 (Fig. 8 of "
                       "arXiv:2402.16244)",
    },
    "qchaos/twobody-paper-cnn": {
        "revision": None, "system": "twobody", "preset": "paper-cnn",
        "configs": ["wavefunctions", "spectra"], "default_config": "wavefunctions",
        "description": "the DensityCNN training data at the paper's scale: 100 x 100 images of levels 200-1199 of the "
                       "four training mass ratios 1/3, 1/2, 3/4, 1 at g = 100, 8 basis states per level (what the shipped "
                       "checkpoints saw)",
    },
    "qchaos/twobody-paper-scan": {
        "revision": None, "system": "twobody", "preset": "paper-scan",
        "configs": ["wavefunctions", "spectra"], "default_config": "wavefunctions",
        "description": "the images of the DensityCNN experiments over the paper's eta grid from 0.03 (0.01 steps, "
                       "0.005 near the integrable ratios, the D_2n ratios): levels 200-1199 at 100 x 100, g = 100 "
                       "(Figs. 12-13)",
    },
    "qchaos/tribaker-mini": {
        "revision": None, "system": "tribaker", "preset": "mini",
        "configs": ["resonances", "spectra"], "default_config": "resonances",
        "description": "open quantum tribaker map, small preset: N = 30..117, closed and partially open, "
                       "resonance vectors + 32 x 32 LR/Husimi images",
    },
    "qchaos/tribaker-paper": {
        "revision": None, "system": "tribaker", "preset": "paper",
        "configs": ["resonances", "spectra"], "default_config": "resonances",
        "description": "open quantum tribaker map at the paper's scale: N = 30..177, 5 + 5 states per N, closed "
                       "and partially open (arXiv:2406.00363)",
    },
    "qchaos/tribaker-largeN": {
        "revision": None, "system": "tribaker", "preset": "largeN",
        "configs": ["resonances", "spectra"], "default_config": "resonances",
        "description": "large-N resonances of the open tribaker map: N = 30..6000 (13 values), closed and R = 0.2, "
                       "200 rank-uniformly sampled resonances per N with |z|, decay, norm ratio, right and left "
                       "vectors and 64 x 64 LR images",
    },
    "qchaos/tribaker-largeN-mini": {
        "revision": None, "system": "tribaker", "preset": "largeN-mini",
        "configs": ["resonances", "spectra"], "default_config": "resonances",
        "description": "the large-N corpus at the mini scale: N = 30..1920 (10 values), closed and R = 0.2, 100 "
                       "rank-uniformly sampled resonances per N with 32 x 32 LR images",
    },
}


@dataclass(frozen=True)
class DatasetRole:
    """What a dataset is used for in the evaluation, and which registered dataset plays it at each preset.

    Parameters
    ----------
    name : str
        The role (``twobody-train``), as experiments and model kinds name it.
    description : str
        What for, in words (``docs/evaluation.md``).
    presets : dict[str, tuple[str, str]]
        Evaluation preset -> ``(system, generation preset)``; the repo id is ``qchaos/<system>-<generation preset>``,
        a key of :data:`DATASETS`.
    """

    name: str
    description: str
    presets: dict

    def repo_id(self, preset: str) -> str | None:
        """The dataset of this role at the evaluation ``preset`` (None: the role has none there)."""
        if preset not in self.presets:
            return None
        system, gen_preset = self.presets[preset]
        return f"{DEFAULT_ORG}/{system}-{gen_preset}"


ROLES: dict[str, DatasetRole] = {r.name: r for r in (
    DatasetRole("twobody", "spectra over eta (g = 10, Fig. 7)",
                {"mini": ("twobody", "mini"), "paper": ("twobody", "paper")}),
    DatasetRole("twobody-fine", "fine scans near 1/3 and 1 (Fig. 8)",
                {"mini": ("twobody", "mini"), "paper": ("twobody", "paper-fine")}),
    DatasetRole("twobody-images", "eigenstate images over eta (Figs. 12-13)",
                {"mini": ("twobody", "mini-images"), "paper": ("twobody", "paper-scan")}),
    DatasetRole("twobody-train", "the density models' training data",
                {"mini": ("twobody", "mini-images"), "paper": ("twobody", "paper-cnn")}),
    DatasetRole("twobody-shipped", "the test split of the shipped density checkpoints",
                {"mini": ("twobody", "paper-cnn"), "paper": ("twobody", "paper-cnn")}),
    DatasetRole("tribaker", "resonances, closed and open (Figs. 3-4)",
                {"mini": ("tribaker", "mini"), "paper": ("tribaker", "paper")}),
    DatasetRole("tribaker-largeN", "sampled resonances to large N (localization-vs-n, which publishes it)",
                {"mini": ("tribaker", "largeN-mini"), "paper": ("tribaker", "largeN")}),
)}
"""Dataset role name -> :class:`DatasetRole` (read by ``evaluation.resources`` and the model kinds' ``role``)."""


def _with_classes(entry: dict, after: str, classes: list[str]) -> dict:
    """``entry`` with ``"classes": classes`` inserted after the key ``after`` (the order ``qchaos list`` shows)."""
    out = {}
    for k, v in entry.items():
        out[k] = v
        if k == after:
            out["classes"] = classes
    return out


# the class names come from the system of the dataset (a model's: of the dataset it was trained on)
DATASETS.update({k: _with_classes(v, "default_config", list(SYSTEMS[v["system"]].class_names))
                 for k, v in DATASETS.items()})
MODELS.update({k: _with_classes(v, "input_shape", list(DATASETS[v["dataset"]]["classes"]))
               for k, v in MODELS.items()})


def _lookup(table: dict[str, dict], kind: str, name: str) -> tuple[str, dict]:
    repo_id = name if "/" in str(name) else f"{DEFAULT_ORG}/{name}"
    if repo_id not in table:
        raise RepoNotFoundError(f"{kind} = {name!r}: unknown; known {kind}s: {', '.join(sorted(table))}")
    return repo_id, table[repo_id]


def _entry(repo_id: str, kind: str, data: dict) -> dict:
    return {"name": repo_id, "kind": kind, **copy.deepcopy(data)}


def list_models() -> list[dict]:
    """Every registered model: ``{"name", "kind": "model", "revision", "sha256", "model_class", ...}``, by name."""
    return [_entry(k, "model", v) for k, v in sorted(MODELS.items())]


def list_datasets() -> list[dict]:
    """Every registered dataset: ``{"name", "kind": "dataset", "revision", "configs", ...}``, by name."""
    return [_entry(k, "dataset", v) for k, v in sorted(DATASETS.items())]


def get_model(name: str) -> dict:
    """The entry of ``qchaos/<name>`` (or ``<name>``); ``RepoNotFoundError`` (a ``ValueError``) listing the known models otherwise."""
    repo_id, data = _lookup(MODELS, "model", name)
    return _entry(repo_id, "model", data)


def get_dataset(name: str) -> dict:
    """The entry of ``qchaos/<name>`` (or ``<name>``); ``RepoNotFoundError`` (a ``ValueError``) listing the known datasets otherwise."""
    repo_id, data = _lookup(DATASETS, "dataset", name)
    return _entry(repo_id, "dataset", data)


def shipped_path(repo_id: str) -> Path | None:
    """The folder of the checkpoint of a registered model shipped with the package, or ``None``.

    The folder is ``qchaos/pretrained/<name>``, read through ``importlib.resources``; ``None`` if ``repo_id`` is
    not a shipped checkpoint.
    """
    from importlib import resources

    if str(repo_id).count("/") != 1 or repo_id not in MODELS:
        return None
    org, name = parse_repo_id(repo_id)
    folder = Path(str(resources.files("qchaos") / PRETRAINED / name))
    return folder if org == DEFAULT_ORG and (folder / "qchaos.json").is_file() else None


def local_status(name: str, root=None) -> dict:
    """Whether a registered repo is in the local hub: ``{"name", "kind", "path", "local": bool}``.

    For a model also ``"shipped": bool`` (a checkpoint that comes with the package, :func:`shipped_path`).

    ``root`` defaults to ``$QCHAOS_HUB`` (:func:`qchaos.hub.hub_root`). :class:`~qchaos.hub.RepoNotFoundError`
    listing every known name if ``name`` is not registered.
    """
    repo_id = name if "/" in str(name) else f"{DEFAULT_ORG}/{name}"
    if repo_id in MODELS:
        kind = "model"
    elif repo_id in DATASETS:
        kind = "dataset"
    else:
        raise RepoNotFoundError(f"name = {name!r}: unknown; known models: {', '.join(sorted(MODELS))}; "
                         f"known datasets: {', '.join(sorted(DATASETS))}")
    path = local_repo_path(repo_id, kind, root)
    marker = "qchaos.json" if kind == "model" else "README.md"
    status = {"name": repo_id, "kind": kind, "path": str(path), "local": (path / marker).is_file()}
    if kind == "model":
        status["shipped"] = shipped_path(repo_id) is not None
    return status
