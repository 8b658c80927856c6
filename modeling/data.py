"""Training data from the published datasets (never ad-hoc files): loading, selection, tensors, collation.

* :func:`load_table` — one split of a published config through :func:`qchaos.hub.load` (shards verified against
  the manifest), from the local hub folder ``$QCHAOS_HUB/datasets/<org>/<name>`` or the Hub; a dataset that is
  nowhere raises :class:`DatasetNotFoundError` saying how to make it (``qchaos generate ... && qchaos publish
  ...``).
* :func:`load_twobody` — the ``wavefunctions`` config as tensors (:class:`TwobodyData`): signed ``psi``
  (n, P, P) float32, their density images (``density_images``), labels, eta, g, level.
* :func:`load_resonances` — the ``resonances`` config as the packed complex (n, N_max + 1, 2) input of
  ``QuantumLocalizationNet`` (:class:`ResonanceData`).
* :func:`collate_resonances` — ``DataLoader`` collate function: published ``resonances`` rows (dicts with ``N``,
  ``right_re``, ``right_im``, ``left_re``, ``left_im``, ``label``; lists, numpy or torch values) -> ``(x, y)`` with
  ``x`` the packed batch (B, N_max + 1, 2) complex128 and ``y`` int64 (B,).

Rows keep the published order (and dtypes: ``with_format("torch", dtype=None)``).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch

from generation.presets import select_points
from generation.systems import SYSTEMS
from qchaos.errors import EnvironmentFault, NotFoundError, ParameterError

from .coherent_layer import pack_resonances
from .density_cnn import density_images

__all__ = ["DatasetNotFoundError", "load_table", "dataset_info", "TwobodyData", "twobody_tensors", "load_twobody",
           "ResonanceData", "resonance_tensors", "load_resonances", "collate_resonances", "DEFAULT_TRAIN_ETAS"]

DEFAULT_TRAIN_ETAS = (1 / 3, 0.5, 0.75, 1.0)
"""Mass ratios of the DensityCNN training set [choice, docs/twobody.md §5.3]: integrable 1/3, 1; non-integrable 0.5, 0.75."""

_SYSTEM_OF_CONFIG = {s.state_config: name for name, s in SYSTEMS.items()}


class DatasetNotFoundError(NotFoundError, ValueError):
    """A published dataset is neither in the local hub folder nor downloadable.

    The message says how to make it; exit code 3. Also a ``ValueError``, as before the typed hierarchy.
    """


def _how_to_make(repo_id: str, system: str) -> str:
    """The commands that build ``repo_id``: its own named config when the name is ``<system>-<config>``."""
    name = repo_id.split("/")[-1]
    preset = name[len(system) + 1:] if name.startswith(system + "-") else ""
    if system in SYSTEMS and preset in SYSTEMS[system].presets:
        return (f"`qchaos generate {system} --preset {preset} && qchaos publish {system} --preset {preset}`")
    return (f"`qchaos generate {system} --preset mini --out data/{name}.zarr [overrides] && qchaos publish "
            f"{system} --preset mini --store data/{name}.zarr --repo-id {repo_id}`")


def load_table(dataset: str, config: str, split: str | None = None, *, source: str = "auto", **kwargs):
    """One split (or all, a ``DatasetDict``) of a published dataset config, verified (:func:`qchaos.hub.load`).

    Parameters:
        dataset: repo id ``org/name`` (local hub folder first, then the Hub) or a folder.
        config: ``wavefunctions`` (two atoms) or ``resonances`` (tribaker).
        split: ``train``, ``validation``, ``test``, ``holdout``; None for all.
        source: ``"auto"``, ``"local"`` (never the network) or ``"hub"``.
        kwargs: passed to ``datasets.load_dataset`` (e.g. ``cache_dir``).

    Raises :class:`DatasetNotFoundError` (with the commands that create the dataset) when it is nowhere
    (:class:`~qchaos.hub.RepoMissingError`) or the Hub cannot be reached (:class:`~qchaos.errors.EnvironmentFault`),
    :class:`~qchaos.hub.RepoNotFoundError` (a ``ValueError``) for a config or split the dataset does not have and
    :class:`~qchaos.hub.DatasetIntegrityError` for a damaged shard.
    """
    from qchaos.hub import RepoMissingError, hub_root, load, local_repo_path

    system = _SYSTEM_OF_CONFIG.get(config, "twobody")
    try:
        return load(dataset, config, split, source=source, **kwargs)
    except RepoMissingError as exc:  # no folder, and (source != "local") not on the Hub either
        where = local_repo_path(dataset) if str(dataset).count("/") == 1 else dataset
        raise DatasetNotFoundError(
            f"dataset = {dataset!r}: not found (no folder {where}; QCHAOS_HUB = {hub_root()}). Make it with "
            f"{_how_to_make(str(dataset), system)}, or point QCHAOS_HUB at the hub folder that has it") from exc
    except EnvironmentFault as exc:  # the Hub unreachable / offline without a cached copy
        where = local_repo_path(dataset) if str(dataset).count("/") == 1 else dataset
        first = str(exc).splitlines()[0] if str(exc) else ""
        raise DatasetNotFoundError(
            f"dataset = {dataset!r}: not in the local hub ({where}; QCHAOS_HUB = {hub_root()}) and not "
            f"downloadable from the Hub ({type(exc).__name__}: {first}). Make it with "
            f"{_how_to_make(str(dataset), system)}, or set HF_ENDPOINT / QCHAOS_HUB") from exc


def dataset_info(dataset: str) -> dict:
    """The manifest of a dataset in the local hub folder (``{}`` if it is not local): system, splits, hash."""
    from qchaos.hub import local_repo_path, read_manifest

    path = Path(dataset) if Path(str(dataset)).is_dir() else local_repo_path(dataset)
    if not path.is_dir():
        return {}
    try:
        return read_manifest(path)
    except ValueError:
        return {}


# -- two atoms ----------------------------------------------------------------------------------------------------
@dataclass
class TwobodyData:
    """One split of ``wavefunctions`` as tensors (rows in published order).

    Attributes:
        psi: signed wavefunctions (n, P, P) float32 (``mean(psi**2) ~= 1``).
        images: ``density_images(psi)`` (n, P, P) float32 in [0, 1].
        label: int64 (n,) (0 non-integrable, 1 integrable).
        eta, g: float64 (n,); level: int64 (n,) (1-based level number); parity: int64 (n,) (0 even, 1 odd).
        rows: indices of these rows in the published split.
    """

    psi: torch.Tensor
    images: torch.Tensor
    label: torch.Tensor
    eta: torch.Tensor
    g: torch.Tensor
    level: torch.Tensor
    parity: torch.Tensor
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.label.shape[0])

    @property
    def image_size(self) -> int:
        return int(self.psi.shape[-1])


def twobody_tensors(ds, etas=None) -> TwobodyData:
    """A loaded ``wavefunctions`` split (``datasets.Dataset``) as :class:`TwobodyData`.

    Only the mass ratios ``etas`` are kept (to ``generation.presets.PARAM_TOL``; None keeps all). Only the selected
    rows' images are read.
    """
    eta_all = np.asarray(ds.data.table.column("eta").to_numpy(), dtype=np.float64)
    rows = np.arange(eta_all.shape[0]) if etas is None else np.flatnonzero(select_points(eta_all, etas))
    sub = ds.select(rows.tolist()) if rows.shape[0] != eta_all.shape[0] else ds
    sub = sub.select_columns(["psi", "eta", "g", "level", "parity", "label"]).with_format("torch", dtype=None)
    if len(sub) == 0:
        P = ds.features["psi"].shape[-1]
        empty = torch.empty(0, dtype=torch.int64)
        psi = torch.empty((0, P, P), dtype=torch.float32)
        return TwobodyData(psi, psi.clone(), empty, empty.double(), empty.double(), empty, empty, rows)
    t = sub[:]
    psi = t["psi"]
    return TwobodyData(psi=psi, images=density_images(psi), label=t["label"].long(), eta=t["eta"].double(),
                       g=t["g"].double(), level=t["level"].long(), parity=t["parity"].long(), rows=rows)


def load_twobody(dataset: str, split: str | None = None, etas=None, *, source: str = "auto", **kwargs):
    """Load a two-atom dataset's ``wavefunctions`` config as tensors.

    Parameters:
        dataset: repo id or folder.
        split: ``train``, ``validation``, ``test`` or ``holdout``; None: every split (one verified load), returned
            as ``{split: TwobodyData}``.
        etas: keep only these mass ratios (to ``generation.presets.PARAM_TOL``); None keeps all.
        source, kwargs: see :func:`load_table`.
    """
    ds = load_table(dataset, SYSTEMS["twobody"].state_config, split, source=source, **kwargs)
    if split is None:
        return {name: twobody_tensors(part, etas) for name, part in ds.items()}
    return twobody_tensors(ds, etas)


# -- tribaker -----------------------------------------------------------------------------------------------------
@dataclass
class ResonanceData:
    """One split of ``resonances`` as the packed model input (rows in published order).

    Attributes:
        x: complex128 (n, N_max + 1, 2): column 0 R, column 1 L, zero padded, last row (N, N).
        label: int64 (n,) (0 localized, 1 non-localized).
        N: int64 (n,); R: float64 (n,) reflectivity (1 = closed map); norm_ratio: float64 (n,).
        rows: indices of these rows in the published split.
    """

    x: torch.Tensor
    label: torch.Tensor
    N: torch.Tensor
    R: torch.Tensor
    norm_ratio: torch.Tensor
    rows: np.ndarray

    def __len__(self) -> int:
        return int(self.label.shape[0])


_RES_COLUMNS = ["N", "R", "right_re", "right_im", "left_re", "left_im", "norm_ratio", "label"]


def _vectors(row: dict, side: str) -> torch.Tensor:
    re = torch.as_tensor(np.asarray(row[f"{side}_re"], dtype=np.float64))
    im = torch.as_tensor(np.asarray(row[f"{side}_im"], dtype=np.float64))
    return torch.complex(re.to(torch.float64), im.to(torch.float64))


def collate_resonances(rows, n_max: int | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """Collate published ``resonances`` rows into ``(x, y)``.

    Parameters:
        rows: a list of row dicts (``datasets`` rows, any format: lists, numpy or torch values) with ``N``,
            ``right_re``, ``right_im``, ``left_re``, ``left_im`` and (optionally) ``label``.
        n_max: rows of ``x`` before the last (default: the largest N of the batch; use the dataset's N_max for the
            paper's fixed layout).
    Returns:
        ``x`` complex128 (B, n_max + 1, 2) (column 0 R, column 1 L, last row N), ``y`` int64 (B,) (-1 where a row
        has no label).
    """
    rows = list(rows)
    rights, lefts = [], []
    for i, row in enumerate(rows):
        r, l = _vectors(row, "right"), _vectors(row, "left")
        n = int(row["N"])
        if r.shape[0] != n or l.shape[0] != n:
            raise ParameterError(f"row {i}: N = {n} but the vectors have {r.shape[0]} / {l.shape[0]} amplitudes")
        rights.append(r)
        lefts.append(l)
    x = pack_resonances(rights, lefts, n_max)
    y = torch.tensor([int(row["label"]) if row.get("label") is not None else -1 for row in rows], dtype=torch.int64)
    return x, y


def resonance_tensors(ds, reflectivity=None, max_N: int | None = None, n_max: int | None = None) -> ResonanceData:
    """A loaded ``resonances`` split (``datasets.Dataset``) as :class:`ResonanceData`.

    The filters are those of :func:`load_resonances`.
    """
    table = ds.data.table
    R = np.asarray(table.column("R").to_numpy(), dtype=np.float64)
    N = np.asarray(table.column("N").to_numpy(), dtype=np.int64)
    keep = np.ones(R.shape[0], dtype=bool)
    if reflectivity is not None:
        keep &= select_points(R, np.atleast_1d(reflectivity))
    if max_N is not None:
        keep &= N <= int(max_N)
    rows = np.flatnonzero(keep)
    sub = ds.select(rows.tolist()) if rows.shape[0] != R.shape[0] else ds
    sub = sub.select_columns(_RES_COLUMNS).with_format("torch", dtype=None)
    if len(sub) == 0:
        e = torch.empty(0, dtype=torch.int64)
        return ResonanceData(torch.empty((0, (n_max or 3) + 1, 2), dtype=torch.complex128), e, e, e.double(),
                             e.double(), rows)
    t = sub[:]
    recs = [{"N": int(t["N"][i]), "right_re": t["right_re"][i], "right_im": t["right_im"][i],
             "left_re": t["left_re"][i], "left_im": t["left_im"][i], "label": int(t["label"][i])}
            for i in range(len(sub))]
    x, y = collate_resonances(recs, n_max)
    return ResonanceData(x=x, label=y, N=t["N"].long(), R=t["R"].double(), norm_ratio=t["norm_ratio"].double(),
                         rows=rows)


def load_resonances(dataset: str, split: str | None = None, reflectivity=None, max_N: int | None = None, *,
                    n_max: int | None = None, source: str = "auto", **kwargs):
    """Load a tribaker dataset's ``resonances`` config as packed tensors.

    Parameters:
        dataset: repo id or folder.
        split: ``train``, ``validation`` or ``holdout``; None: every split (one verified load), returned as
            ``{split: ResonanceData}``.
        reflectivity: keep only this R (1 = closed map; a number or a list); None keeps all.
        max_N: keep only N <= max_N (Fig. 3 protocol: training on the first n dimensions).
        n_max: packed rows before the last (default: the largest N of each split).
        source, kwargs: see :func:`load_table`.
    """
    ds = load_table(dataset, SYSTEMS["tribaker"].state_config, split, source=source, **kwargs)
    if split is None:
        return {name: resonance_tensors(part, reflectivity, max_N, n_max) for name, part in ds.items()}
    return resonance_tensors(ds, reflectivity, max_N, n_max)
