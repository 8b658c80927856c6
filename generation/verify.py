"""``qchaos verify``: check a sweep store, a published dataset repo or a saved model, and say what is wrong where.

* **store** (a Zarr store of ``qchaos generate``): every point of the store's config is checked with
  :meth:`generation.store.PointStore.verify_point` (digests, shapes, dtypes, parameters, attributes) and against
  the arrays its parameters require (:func:`required_arrays`);
* **dataset repo** (``data/manifest.json``): every shard's size and sha256 (:func:`qchaos.hub.verify_dataset`),
  manifest paths confined to ``data/<config>/*.parquet``, and the card's sha256 if the manifest records it;
* **model** (``qchaos.json``): checked by :func:`modeling.hub_model.verify_folder` (weights, ``config.json`` and
  card digests); :func:`resolve_target` tells the kinds apart.

A problem is a ``(where, what)`` pair: the point key or file, and what is wrong with it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["VerifyReport", "required_arrays", "check_store", "verify_store", "verify_dataset_repo", "resolve_target",
           "verify"]


@dataclass
class VerifyReport:
    """Outcome of :func:`verify`: what was checked, problems ``(where, what)`` and warnings."""

    kind: str
    path: Path
    checked: int = 0
    problems: list[tuple[str, str]] = field(default_factory=list)
    warnings: list[tuple[str, str]] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems

    def lines(self) -> list[str]:
        out = [f"{self.kind} {self.path}: {self.checked} checked, {len(self.problems)} problem(s)"
               + (f", {len(self.missing)} point(s) not computed yet" if self.missing else "")]
        out += [f"  DAMAGED {where}: {what}" for where, what in self.problems]
        out += [f"  warning {where}: {what}" for where, what in self.warnings]
        return out


def required_arrays(system: str, params: dict) -> dict[str, tuple | None]:
    """The arrays a complete point with ``params`` must hold, ``{"table/name": shape or None}``.

    None: any shape; ``{}`` for an unknown system.
    """
    from .systems import SYSTEMS

    return SYSTEMS[system].required_arrays(params) if system in SYSTEMS else {}


def _config_points(system: str, config: dict) -> dict[str, dict]:
    from qchaos.errors import IntegrityError

    from .systems import SYSTEMS

    if system not in SYSTEMS:
        raise IntegrityError(f"system = {system!r}: the store's attributes name no known system")
    try:
        return SYSTEMS[system].config(config).points()
    except (TypeError, ValueError) as exc:
        raise IntegrityError(f"the store's recorded config is not valid ({exc})") from exc


def check_store(path: str | Path, progress: bool = False) -> tuple[dict, dict[str, tuple[str, list[str]]]]:
    """``(root attrs, {key: (status, problems)})`` for every point of the store's config (see module doc)."""
    import zarr
    from tqdm.auto import tqdm

    from qchaos.errors import IntegrityError, NotFoundError

    from .store import PointStore

    path = Path(path)
    if not path.is_dir():
        raise NotFoundError(f"store = {path}: does not exist")
    try:
        attrs = dict(zarr.open_group(str(path), mode="r").attrs)
    except Exception as exc:  # noqa: BLE001
        raise IntegrityError(f"store = {path}: root metadata unreadable ({exc})") from exc
    if not isinstance(attrs.get("config"), dict):
        raise IntegrityError(f"store = {path}: not a qchaos store (no config attribute)")
    system = attrs.get("system")
    points = _config_points(system, attrs["config"])
    store = PointStore(path, attrs["config"])
    out = {}
    for key in tqdm(points, desc="verify", unit="pt", disable=not progress, leave=False):
        out[key] = store.verify_point(key, points[key], required_arrays(system, points[key]))
    return attrs, out


def verify_store(path: str | Path, progress: bool = False) -> VerifyReport:
    attrs, status = check_store(path, progress)
    rep = VerifyReport("store", Path(path))
    for key, (st, problems) in status.items():
        if st in ("missing", "incomplete"):
            rep.missing.append(key)
            continue
        rep.checked += 1
        if st == "damaged":
            rep.problems += [(key, p) for p in problems] or [(key, "damaged")]
        elif st == "unverified":
            rep.warnings += [(key, p) for p in problems]
    return rep


def verify_dataset_repo(path: str | Path) -> VerifyReport:
    from qchaos.hub import read_manifest, sha256_file, verify_dataset

    path = Path(path)
    rep = VerifyReport("dataset", path)
    try:
        manifest = verify_dataset(path)
        rep.checked = len(manifest["files"])
    except (ValueError, OSError, KeyError, TypeError, AttributeError) as exc:
        rep.problems.append((str(path), str(exc)))
        try:
            manifest = read_manifest(path)
        except ValueError:
            return rep
    root = path.resolve()
    for rel in manifest.get("files", {}):
        parts = Path(rel).parts
        if Path(rel).is_absolute() or ".." in parts or len(parts) != 3 or parts[0] != "data" \
                or not rel.endswith(".parquet") or not (root / rel).resolve().is_relative_to(root):
            rep.problems.append((rel, "manifest path outside data/<config>/*.parquet"))
    card = manifest.get("card_sha256")
    if card is not None:
        readme = path / "README.md"
        if not readme.is_file():
            rep.problems.append(("README.md", "missing (the manifest records its sha256)"))
        elif sha256_file(readme) != card:
            rep.problems.append(("README.md", "differs from the sha256 the manifest records"))
    else:
        rep.warnings.append(("README.md", "no sha256 recorded (published by an older version)"))
    return rep


def resolve_target(target: str | Path) -> tuple[str, Path]:
    """``(kind, folder)`` of a store folder, a dataset or model repo folder, or a repo id of the local hub.

    A repo id is looked up as a dataset first; kind is ``"store"``, ``"dataset"`` or ``"model"``. Models are
    verified by :func:`modeling.hub_model.verify_folder` (this layer does not import modeling).
    """
    from qchaos.errors import NotFoundError
    from qchaos.hub import MANIFEST, local_repo_path

    path = Path(target)
    if not path.is_dir():
        text = str(target)
        if text.count("/") == 1 and not text.startswith((".", "/", "~")):
            for kind in ("dataset", "model"):
                candidate = local_repo_path(text, kind)
                if candidate.is_dir():
                    path = candidate
                    break
    if not path.is_dir():
        raise NotFoundError(f"target = {str(target)!r}: neither a folder nor a repo id of the local hub")
    if (path / "zarr.json").is_file():
        return "store", path
    if (path / MANIFEST).is_file() or (path / "data").is_dir():
        return "dataset", path
    if (path / "qchaos.json").is_file() or (path / "model.safetensors").is_file():
        return "model", path
    raise NotFoundError(f"target = {path}: not a qchaos store (zarr.json), dataset repo (data/manifest.json) or "
                        "model (qchaos.json)")


def verify(target: str | Path, progress: bool = False) -> VerifyReport:
    """Verify a store or a dataset repo (see :func:`resolve_target`).

    A model gives ``kind == "model"`` and no checks: use :func:`modeling.hub_model.verify_folder`.
    """
    kind, path = resolve_target(target)
    if kind == "store":
        return verify_store(path, progress)
    if kind == "dataset":
        return verify_dataset_repo(path)
    return VerifyReport("model", path)
