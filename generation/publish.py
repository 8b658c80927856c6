"""Publish a sweep's Zarr store as a Hugging Face dataset repo folder (``qchaos publish``).

Output (the layout of the Hub repo of the same id, ``docs/data-format.md`` §2 (dataset repos))::

    <hub>/datasets/<org>/<name>/
      README.md                                   dataset card (YAML configs/dataset_info + physics + parameters)
      data/manifest.json                          sha256, size and rows of every shard (qchaos.hub.verify_dataset)
      data/<config>/<split>-NNNNN-of-MMMMM.parquet

Tables (configs): each system's own, defined by its :class:`~generation.systems.System` (``features`` and
``rows``; :mod:`generation.systems.twobody`: ``wavefunctions`` + ``spectra``, :mod:`generation.systems.tribaker`:
``resonances`` + ``spectra``). This module is generic over the systems: it opens and checks the store, assigns the
splits, hands the rows to the shard writers (:mod:`generation.parquet`) and writes the card (:mod:`generation.card`)
and the manifest.

Writing (``docs/data-format.md`` §2.4): ``pyarrow.parquet.ParquetWriter`` with ``FEATURES.arrow_schema`` (the
``datasets`` features travel in the schema metadata), one row group per Zarr chunk (state tables) or per point
(spectra), constant memory; arrays are handed to Arrow without any cast, so values round-trip bit for bit.
Content-defined chunking, page index and page checksums are on where the installed pyarrow has them.

Determinism: rows in store order (points in config order, states in stored order), split assignment from a
seeded permutation, no timestamps anywhere (card, manifest, parquet): the same store published twice gives the
same bytes in every file.

Splits: states (the ``wavefunctions`` / ``resonances`` tables) are split at random with a fixed seed, in the
strata and fractions of the system (``System.strata``, ``System.state_splits``): 70/15/15 train/validation/test
over all states for the two atoms (``docs/twobody.md`` §5 (CNN dataset)), 80/20 train/validation per reflectivity R for the tribaker
map (``docs/tribaker.md`` §5 (dataset)). The per-point ``spectra`` tables have one split ``train`` with every point.
Optional held-out parameters (whole ``eta`` values, or whole ``N`` values) go to an extra split ``holdout`` in
every table, so no eigenstate of a held-out Hamiltonian is in train/validation/test.
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import zarr

from qchaos.errors import ParameterError

from .parquet import SPLIT_ORDER, SplitWriter, assign_splits
from .systems import SYSTEMS, System, get_system

SPLIT_SEED = 42
"""Default seed of the random state split [choice; the papers fix a seed but do not give it]."""

STATE_SPLITS = {name: s.state_splits for name, s in SYSTEMS.items()}
MAX_SHARD_BYTES = 256 * 2**20
"""Start a new shard once a shard holds this many (uncompressed Arrow) bytes (Hub advice: 100-500 MB shards)."""

STATE_CONFIG = {name: s.state_config for name, s in SYSTEMS.items()}
assert all(tuple(n for n, _ in fr) == SPLIT_ORDER[:len(fr)] for fr in STATE_SPLITS.values())  # codes index both


def features(system: str, image_size: int) -> dict:
    """``{config: datasets.Features}`` of a system's tables (P = ``image_size``)."""
    return get_system(system).features(image_size)


# -- the store -----------------------------------------------------------------------------------------------------
@dataclass
class _Source:
    path: Path
    attrs: dict
    config: object  # the system's config_class
    points: dict  # key -> params, config order
    present: list[str]
    missing: list[str]

    def group(self, key: str):
        return zarr.open_group(str(self.path / "points" / key), mode="r")


def _open_source(system: System, store_path: Path, preset: str | None, progress: bool = False) -> _Source:
    from qchaos.errors import IntegrityError, ParameterError

    from .verify import check_store

    store_path = Path(store_path)
    name = system.name
    if not store_path.exists():
        raise ParameterError(f"store = {store_path}: does not exist (run `qchaos generate {name} ...` first)")
    try:
        attrs = dict(zarr.open_group(str(store_path), mode="r").attrs)
    except Exception as exc:  # noqa: BLE001
        raise ParameterError(f"store = {store_path}: not a qchaos Zarr store ({exc})") from exc
    if attrs.get("system") != name:
        raise ParameterError(f"store = {store_path}: holds system {attrs.get('system')!r}, not {name!r}")
    stored_preset = str(attrs.get("preset", ""))
    if preset is not None and stored_preset.split("+")[0] != preset:
        raise ParameterError(f"preset = {preset!r}: the store {store_path} was generated with preset "
                             f"{stored_preset!r}")
    if not isinstance(attrs.get("config"), dict):
        raise IntegrityError(f"store = {store_path}: its root attributes carry no config record (a 'config' "
                             "object); it was not written by `qchaos generate`, or its zarr.json was damaged")
    try:
        config = system.config(attrs["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"store = {store_path}: its recorded config is not valid ({exc})") from exc
    points = config.points()
    _, status = check_store(store_path, progress)  # every complete point verified before anything is read
    damaged = {k: p for k, (st, p) in status.items() if st == "damaged"}
    if damaged:
        shown = "; ".join(f"{k}: {', '.join(p[:2])}" for k, p in list(damaged.items())[:5])
        raise IntegrityError(f"store = {store_path}: {len(damaged)} damaged point(s), nothing published ({shown}); "
                             f"rerun `qchaos generate {name}` with the same parameters to recompute them "
                             f"(`qchaos verify {store_path}` lists every problem)")
    done = {k for k, (st, _) in status.items() if st in ("ok", "unverified")}
    return _Source(store_path, attrs, config, points, [k for k in points if k in done],
                   [k for k in points if k not in done])


def _state_split_codes(system: System, src: _Source, held: set[str], seed: int) -> dict[str, np.ndarray]:
    """Per point key: the SPLIT_ORDER code of each stored state row."""
    sizes = {}
    for key in src.present:
        g = src.group(key)
        try:
            sizes[key] = g["states/label"].shape[0]
        except KeyError:  # a two-atom point without images
            sizes[key] = 0
    rng = np.random.default_rng(seed)
    out = {k: np.full(sizes[k], SPLIT_ORDER.index("holdout"), np.int8) for k in src.present if k in held}
    for keys in system.strata(src, held):
        codes = assign_splits(sum(sizes[k] for k in keys), system.state_splits, rng)
        start = 0
        for k in keys:
            out[k] = codes[start:start + sizes[k]]
            start += sizes[k]
    return out


@dataclass
class PublishReport:
    """Outcome of :func:`publish`."""

    path: Path
    repo_id: str
    splits: dict[str, dict[str, int]] = field(default_factory=dict)  # config -> split -> rows
    files: list[str] = field(default_factory=list)
    missing: list[str] = field(default_factory=list)
    pushed: str | None = None
    seconds: float = 0.0


def default_repo_id(system: str, store_attrs: dict) -> str:
    """``qchaos/<system>-<preset>``; a custom store (``preset+custom``) gets ``-custom-<hash8>``."""
    from qchaos.hub import DEFAULT_ORG

    preset = str(store_attrs.get("preset", "custom"))
    if "+" in preset:
        preset = f"{preset.split('+')[0]}-custom-{str(store_attrs.get('config_hash', ''))[:8]}"
    return f"{DEFAULT_ORG}/{system}-{preset}"


def _write_shards(system: System, src: _Source, staging: Path, feats: dict, all_feats: dict, codes: dict,
                  held: set, max_shard_bytes: int, progress: bool) -> dict[tuple[str, str], SplitWriter]:
    """Write every row of the store into the shards of its (config, split); the closed writers."""
    from tqdm.auto import tqdm

    schemas = {cfg: f.arrow_schema for cfg, f in feats.items()}
    writers: dict[tuple[str, str], SplitWriter] = {}
    try:
        bar = tqdm(total=len(src.present), desc=f"publish {system.name}", unit="pt", disable=not progress)
        for cfg, table, split_codes in system.rows(src, all_feats, codes, held):
            for code in np.unique(split_codes):
                split = SPLIT_ORDER[int(code)]
                w = writers.get((cfg, split))
                if w is None:
                    w = writers[(cfg, split)] = SplitWriter(staging / "data" / cfg, split, schemas[cfg],
                                                            max_shard_bytes)
                idx = np.flatnonzero(split_codes == code)
                w.write(table if idx.size == table.num_rows else table.take(pa.array(idx)))
            if cfg == "spectra":
                bar.update()
        bar.close()
        return writers
    except BaseException:
        for w in writers.values():  # each closed on its own: a full disk must not stop the cleanup
            try:
                w.close_shard()
            except Exception:  # noqa: BLE001
                pass
        raise


def _manifest(system: System, src: _Source, repo_id: str, feats: dict, splits: dict, files: dict, held: set,
              split_seed: int, card_sha256: str) -> dict:
    """The content of ``data/manifest.json`` (:func:`qchaos.hub.verify_dataset` checks the files against it)."""
    from qchaos.hub import MANIFEST_FORMAT

    return {
        "format": MANIFEST_FORMAT, "repo_id": repo_id, "system": system.name, "preset": src.attrs.get("preset"),
        "config_hash": src.attrs.get("config_hash"), "config": src.attrs.get("config"),
        "default_config": next(iter(feats)),
        "configs": {cfg: {s: splits[cfg][s] for s in SPLIT_ORDER if s in splits[cfg]} for cfg in feats},
        "split_seed": split_seed, "holdout": sorted(held), "missing_points": src.missing, "files": files,
        "card_sha256": card_sha256,
    }


def _write_repo(system: System, src: _Source, staging: Path, repo_id: str, held: set, held_desc: list[str],
                split_seed: int, max_shard_bytes: int, progress: bool) -> tuple[dict, dict]:
    """Write the complete new repo version (shards, manifest, card) into ``staging``; ``(splits, files)``."""
    from qchaos.hub import MANIFEST, sha256_file

    from .card import render_card

    all_feats = system.features(src.attrs["config"]["image_size"])
    codes = _state_split_codes(system, src, held, split_seed)
    state_cfg = system.state_config
    # the published configs: a spectra-only store (no point stores states) has no state config
    feats = {cfg: f for cfg, f in all_feats.items() if cfg != state_cfg or any(map(len, codes.values()))}
    writers = _write_shards(system, src, staging, feats, all_feats, codes, held, max_shard_bytes, progress)
    splits: dict[str, dict[str, int]] = {cfg: {} for cfg in feats}
    labels: dict[str, dict[str, dict[int, int]]] = {cfg: {} for cfg in feats}
    nbytes: dict[str, dict[str, int]] = {cfg: {} for cfg in feats}
    files: dict[str, dict] = {}
    for (cfg, split), w in sorted(writers.items()):
        for path, n in w.close():
            rel = path.relative_to(staging).as_posix()
            files[rel] = {"config": cfg, "split": split, "num_rows": n, "size": path.stat().st_size,
                          "sha256": sha256_file(path)}
        splits[cfg][split] = sum(w.rows)
        labels[cfg][split] = w.labels
        nbytes[cfg][split] = w.num_bytes
    if state_cfg in feats and not splits[state_cfg].get("train"):
        raise ParameterError(f"store = {src.path}: no state left for the train split (stored states: "
                         f"{sum(splits[state_cfg].values())})")
    card = render_card(system, src, repo_id, feats, splits, labels, nbytes, files, held_desc, split_seed)
    (staging / "README.md").write_text(card, encoding="utf-8")
    manifest = _manifest(system, src, repo_id, feats, splits, files, held, split_seed,
                         sha256_file(staging / "README.md"))
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return splits, files


def _checked_source(system: System, store, preset: str | None, split_seed, max_shard_bytes,
                    progress: bool) -> _Source:
    """The opened store, after the checks of :func:`publish`'s arguments."""
    from qchaos.errors import ParameterError

    if int(max_shard_bytes) < 1:
        raise ParameterError(f"max_shard_bytes = {max_shard_bytes}: must be >= 1")
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) or not 0 <= split_seed < 2**32:
        raise ParameterError(f"split_seed = {split_seed!r}: must be an integer in [0, 2**32)")
    return _open_source(system, Path(store), preset, progress)


def _require_complete(system: System, src: _Source, allow_partial: bool) -> None:
    """``ValueError`` for a store that misses points (unless ``allow_partial``) or has none."""
    if src.missing and not allow_partial:
        shown = "; ".join(system.describe_point(src.points[k]) for k in src.missing[:5])
        more = f" and {len(src.missing) - 5} more" if len(src.missing) > 5 else ""
        raise ParameterError(f"store = {src.path}: incomplete, {len(src.missing)} of {len(src.points)} points missing "
                         f"({shown}{more}); finish the sweep (rerun `qchaos generate`) or pass --allow-partial")
    if not src.present:
        raise ParameterError(f"store = {src.path}: no complete point to publish")


def _held_out(system: System, src: _Source, holdout) -> tuple[set[str], list[str]]:
    """The held-out point keys and their description for the card (empty without ``holdout``)."""
    held = system.holdout_keys(src, holdout) if holdout else set()
    if held and not [k for k in src.present if k not in held]:
        raise ParameterError("holdout: every point of the store is held out; nothing would be left for training")
    return held, system.holdout_text(src, held) if held else []


def publish(system: str, store: str | Path, repo_id: str | None = None, *, preset: str | None = None,
            out: str | Path | None = None, allow_partial: bool = False, holdout=None, split_seed: int = SPLIT_SEED,
            max_shard_bytes: int = MAX_SHARD_BYTES, push: bool = False, progress: bool = False) -> PublishReport:
    """Convert a store into a dataset repo folder (and optionally push it).

    Parameters:
        system: a name of :data:`generation.systems.SYSTEMS` (``"twobody"``, ``"tribaker"``).
        store: the Zarr store written by ``qchaos generate``.
        repo_id: ``org/name`` (default :func:`default_repo_id`: ``qchaos/<system>-<preset>``).
        preset: if given, the store must have been generated with it.
        out: the repo folder (default ``$QCHAOS_HUB/datasets/<org>/<name>``). An existing folder is replaced
            (its ``data/`` and ``README.md``) only if it is a dataset published by qchaos.
        allow_partial: publish a store whose sweep still misses points (the card lists them); else ``ValueError``.
        holdout: whole parameter values kept out of train/validation/test, as the split ``holdout``: mass
            ratios (two atoms; ``"0.75,1/3"`` or a list) or dimensions N (tribaker; ``"30,33"`` or a list).
        split_seed: seed of the state split.
        max_shard_bytes: start a new parquet shard after this many uncompressed bytes.
        push: also upload the folder to the Hub named by ``HF_ENDPOINT`` (after verifying it).
        progress: tqdm bar over points.
    """
    from qchaos.atomic import disk_full, disk_full_fault, recover, staging_path, swap_in, writer_lock
    from qchaos.errors import ParameterError
    from qchaos.hub import MANIFEST, local_repo_path, parse_repo_id, push_folder, verify_dataset

    start = time.perf_counter()
    name, system = system, get_system(system)
    src = _checked_source(system, store, preset, split_seed, max_shard_bytes, progress)
    repo_id = repo_id or default_repo_id(name, src.attrs)
    parse_repo_id(repo_id)
    _require_complete(system, src, allow_partial)
    held, held_desc = _held_out(system, src, holdout)

    dest = Path(out) if out is not None else local_repo_path(repo_id, "dataset")
    with writer_lock(dest, "repo"):
        recover(dest, complete=lambda p: (p / MANIFEST).is_file() and (p / "README.md").is_file())
        if dest.exists() and any(dest.iterdir()) and not (dest / MANIFEST).is_file():
            raise ParameterError(f"out = {dest}: exists and is not a dataset published by qchaos (no {MANIFEST}); "
                                 "refusing to overwrite it")
        staging = staging_path(dest, "new")
        if staging.exists():
            shutil.rmtree(staging)
        staging.mkdir(parents=True)
        existed = dest.exists()
        try:
            splits, files = _write_repo(system, src, staging, repo_id, held, held_desc, split_seed,
                                        int(max_shard_bytes), progress)
            swap_in(staging, dest, keep_extras=True)
        except Exception as exc:
            if disk_full(exc):
                raise disk_full_fault("repo", dest, exc, "the repo is unchanged (" + (
                    "the previous version is intact" if existed else "nothing was published") + ")") from exc
            raise
        finally:
            shutil.rmtree(staging, ignore_errors=True)

    report = PublishReport(dest, repo_id, splits={c: dict(s) for c, s in splits.items()}, files=sorted(files),
                           missing=list(src.missing))
    if push:
        verify_dataset(dest)
        report.pushed = push_folder(dest, repo_id, "dataset",
                                    commit_message=f"Publish {repo_id} (config {src.attrs.get('config_hash')})")
    report.seconds = time.perf_counter() - start
    return report
