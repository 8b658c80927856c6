"""Zarr v3 stores of parameter sweeps: one group per parameter point, provenance in the attributes.

Layout::

    <name>.zarr/                      root attrs: system, preset, config, config_hash, package_version, git_commit
      points/<key>/                   attrs: the point's parameters and scalar results; "complete": true when done
        <table>/<array>               e.g. spectrum/energy (L,), states/psi (k, P, P) chunked and sharded

Guarantees:

* **Config check**: opening an existing store with another config raises ``ParameterError`` listing the differing
  parameters; nothing is written. Creation is atomic (built beside, renamed into place), so a store killed while it
  is created leaves nothing a rerun would refuse.
* **One writer**: :meth:`PointStore.writing` holds an exclusive lock (``.<name>.lock`` beside the store); a second
  ``generate`` on the same store is refused at once (:class:`~qchaos.errors.EnvironmentFault`).
* **Atomic points**: a point is written completely into ``.staging/`` inside the store, marked ``complete``, then
  renamed into ``points/<key>``; a leftover of a killed job is removed on the next run.
* **Verifiable bytes**: every chunk carries a crc32c (after zstd), and a complete point records in its attributes
  (``integrity``) the shape, dtype and sha256 of every array, its parameters, and a sha256 of its attributes.
  :meth:`PointStore.verify_point` checks all of it; damaged points are recomputed by ``generate`` and never
  published.
* **Few files**: every array of a point is one shard file (chunks inside), so a store has O(10) files per point.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import subprocess
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path

import numpy as np
import zarr

CHUNK_BYTES = 4 * 2**20
"""Target uncompressed chunk size (inner chunks of a shard)."""


def config_hash(config: dict) -> str:
    """sha256 (first 16 hex digits) of the canonical JSON of ``config``."""
    return hashlib.sha256(json.dumps(config, sort_keys=True, default=float).encode()).hexdigest()[:16]


def provenance() -> dict:
    """Package version and git commit of the code that writes."""
    try:
        version = metadata.version("qchaos-hub")
    except metadata.PackageNotFoundError:  # running from a source tree without install
        version = "unknown"
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                                cwd=Path(__file__).parent).stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        commit = "unknown"
    return {"package_version": version, "git_commit": commit}


@dataclass
class PointResult:
    """What one parameter point produces.

    Attributes:
        arrays: ``"table/name" -> array``; the first axis of arrays with ndim >= 2 is chunked.
        attrs: JSON-serialisable scalars (parameters, convergence, labels).
    """

    arrays: dict[str, np.ndarray]
    attrs: dict = field(default_factory=dict)


def _chunks(shape: tuple[int, ...], itemsize: int) -> tuple[int, ...]:
    if len(shape) <= 1:
        return (max(1, shape[0]),) if shape else ()
    per_row = itemsize * math.prod(shape[1:])
    rows = max(1, min(shape[0], CHUNK_BYTES // max(per_row, 1)))
    return (rows,) + tuple(shape[1:])


INTEGRITY_FORMAT = "qchaos-point/1"
"""Format tag of a point's ``integrity`` attribute."""


def _codecs() -> dict:
    """Inner-chunk codecs: zstd, then a crc32c of the compressed bytes (damage is detected chunk by chunk)."""
    from zarr.codecs import Crc32cCodec, ZstdCodec

    return {"compressors": (ZstdCodec(level=0, checksum=False), Crc32cCodec())}


def array_digest(value: np.ndarray) -> str:
    """sha256 of an array's dtype, shape and C-order bytes (what a point's ``integrity`` records per array)."""
    value = np.ascontiguousarray(value)
    h = hashlib.sha256(f"{value.dtype.str}{list(value.shape)}".encode())
    h.update(value.view(np.uint8).reshape(-1) if value.size else b"")
    return h.hexdigest()


def attrs_digest(attrs: dict) -> str:
    """sha256 of a point's attributes (as stored), without ``complete`` and the digest itself."""
    body = {k: v for k, v in attrs.items() if k != "complete"}
    body["integrity"] = {k: v for k, v in dict(attrs.get("integrity") or {}).items() if k != "attrs_sha256"}
    return hashlib.sha256(json.dumps(body, sort_keys=True, default=str).encode()).hexdigest()


def _jsonable(params: dict | None) -> dict | None:
    return None if params is None else json.loads(json.dumps(params, default=float))


class PointStore:
    """A sweep's Zarr v3 store (see module docstring). Construct with :meth:`open`."""

    def __init__(self, path: Path, config: dict):
        self.path = Path(path)
        self.config = config

    @classmethod
    def open(cls, path: str | Path, system: str, preset: str, config: dict) -> "PointStore":
        """Create the store, or reopen it if it was written with the same config (else ``ParameterError``).

        Creation is atomic: the store is built beside ``path`` and renamed into place, so a killed creation leaves
        only a stray ``.<name>.creating-<pid>`` folder (removed by the next :meth:`writing`).
        """
        from qchaos.atomic import staging_path
        from qchaos.errors import ParameterError

        path = Path(path)
        h = config_hash(config)
        if not path.exists():
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                tmp = staging_path(path, "creating")
                if tmp.exists():
                    import shutil

                    shutil.rmtree(tmp)
                root = zarr.open_group(str(tmp), mode="w-")
                root.attrs.put({"system": system, "preset": preset, "config": config, "config_hash": h,
                                **provenance()})
                root.create_group("points")
                try:
                    tmp.rename(path)
                except OSError:  # another process created it meanwhile: check that one below
                    import shutil

                    shutil.rmtree(tmp, ignore_errors=True)
                    if not path.exists():
                        raise
                else:
                    return cls(path, config)
            except OSError as exc:
                from qchaos.errors import EnvironmentFault

                raise EnvironmentFault(f"out = {path}: cannot create the store ({exc})") from exc
        try:
            root = zarr.open_group(str(path), mode="r")
            attrs = dict(root.attrs)
        except Exception as exc:  # noqa: BLE001 - any unreadable folder is refused, never overwritten
            raise ParameterError(f"out = {path}: exists and is not a qchaos Zarr store ({exc})") from exc
        if "config_hash" not in attrs:
            raise ParameterError(f"out = {path}: exists and is not a qchaos Zarr store (no config_hash attribute); "
                                 "choose another --out path")
        if attrs.get("config_hash") != h:
            old = attrs.get("config", {}) if isinstance(attrs.get("config"), dict) else {}
            diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
            raise ParameterError(
                f"out = {path}: this store was written with another config (preset {attrs.get('preset')!r}, "
                f"hash {attrs.get('config_hash')}, differing: {', '.join(diff) or 'unknown'}); "
                "choose another --out path or remove the old store"
            )
        return cls(path, config)

    # -- one writer ----------------------------------------------------------------------------------------------
    @contextlib.contextmanager
    def writing(self):
        """Hold the store's exclusive writer lock for the ``with`` block.

        On entry, stray temporary files of killed writers (``.staging/``, zarr ``*.partial`` files,
        ``.<name>.creating-*``) are removed.
        """
        import shutil

        from qchaos.atomic import clean_stray, writer_lock

        with writer_lock(self.path, "out"):
            clean_stray(self.path)
            shutil.rmtree(self.path / ".staging", ignore_errors=True)
            for p in self.path.rglob("*.partial"):
                p.unlink(missing_ok=True)
            try:
                yield self
            finally:
                shutil.rmtree(self.path / ".staging", ignore_errors=True)

    # -- reading -------------------------------------------------------------------------------------------------
    def _points(self, mode: str = "r"):
        return zarr.open_group(str(self.path / "points"), mode=mode)

    def keys(self) -> list[str]:
        """Keys of every point group present (complete or not), sorted."""
        folder = self.path / "points"
        return sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith(".")) \
            if folder.is_dir() else []

    def completed(self) -> set[str]:
        """Keys of the points marked complete (not verified: see :meth:`verify_point`)."""
        done = set()
        for key in self.keys():
            try:
                if zarr.open_group(str(self.path / "points" / key), mode="r").attrs.get("complete"):
                    done.add(key)
            except Exception:  # noqa: BLE001 - unreadable metadata: not complete
                continue
        return done

    def point_attrs(self, key: str) -> dict:
        return dict(self._points()[key].attrs)

    def read(self, key: str, name: str) -> np.ndarray:
        """One array ``"table/name"`` of point ``key``."""
        return self._points()[key][name][...]

    def verify_point(self, key: str, params: dict | None = None,
                     required: dict[str, tuple | None] | None = None) -> tuple[str, list[str]]:
        """Check point ``key``: ``(status, problems)``.

        Status is ``"ok"``, ``"missing"``, ``"incomplete"``, ``"damaged"`` or ``"unverified"`` (complete, written
        before digests were recorded).

        Checks: readable metadata, the ``complete`` flag, the attributes' sha256, the recorded parameters (and the
        attributes of the same name) against ``params`` (the config's), exactly the recorded arrays present, each
        with the recorded shape and dtype, readable (chunk crc32c) and with the recorded sha256, and, when
        ``required`` (``{"table/name": shape or None}``, ``System.required_arrays``) is given, every array the
        point's parameters require recorded with that shape.
        """
        gpath = self.path / "points" / key
        if not gpath.is_dir():
            return "missing", []
        try:
            group = zarr.open_group(str(gpath), mode="r")
            attrs = dict(group.attrs)
        except Exception as exc:  # noqa: BLE001
            return "damaged", [f"unreadable metadata ({type(exc).__name__}: {exc})"]
        if not attrs.get("complete"):
            return "incomplete", []
        integ = attrs.get("integrity")
        if integ is None:
            return "unverified", ["no digests recorded (written by an older version)"]
        problems = []
        if not isinstance(integ, dict) or integ.get("format") != INTEGRITY_FORMAT or \
                not isinstance(integ.get("arrays"), dict):
            return "damaged", ["integrity record unreadable"]
        if attrs_digest(attrs) != integ.get("attrs_sha256"):
            problems.append("attributes changed since the point was written (sha256 mismatch)")
        if params is not None:
            want = _jsonable(params)
            if integ.get("params") is not None and integ["params"] != want:
                problems.append(f"parameters {integ.get('params')} differ from the config's {want}")
            for k, v in want.items():
                if k in attrs and attrs[k] != v:
                    problems.append(f"attribute {k} = {attrs[k]!r}, the config says {v!r}")
        recorded = integ["arrays"]
        for name, shape in (required or {}).items():
            if name not in recorded:
                problems.append(f"{name}: required by the point's parameters, not stored")
            elif shape is not None and tuple(recorded[name].get("shape", ())) != tuple(shape):
                problems.append(f"{name}: shape {recorded[name].get('shape')}, the parameters need {list(shape)}")
        present = set()
        for name, arr in _walk_arrays(group):
            present.add(name)
        for name in sorted(present - set(recorded)):
            problems.append(f"{name}: array not recorded")
        for name, rec in sorted(recorded.items()):
            if name not in present:
                problems.append(f"{name}: array missing")
                continue
            try:
                arr = group[name]
                if list(arr.shape) != rec["shape"] or np.dtype(arr.dtype).str != rec["dtype"]:
                    problems.append(f"{name}: shape {list(arr.shape)} dtype {np.dtype(arr.dtype).str}, recorded "
                                    f"{rec['shape']} {rec['dtype']}")
                    continue
                if array_digest(arr[...]) != rec["sha256"]:
                    problems.append(f"{name}: content differs from the recorded sha256")
            except Exception as exc:  # noqa: BLE001 - crc32c / zstd / shard-index errors
                problems.append(f"{name}: unreadable ({type(exc).__name__}: {exc})")
        return ("damaged" if problems else "ok"), problems

    # -- writing -------------------------------------------------------------------------------------------------
    def write_point(self, key: str, result: PointResult, params: dict | None = None, replace: bool = False) -> None:
        """Write one point atomically.

        The point is built in ``.staging/``, marked complete with its digests and renamed into ``points/<key>`` (an
        incomplete or, with ``replace``, a damaged leftover is replaced); a complete point is otherwise never
        rewritten. ``params`` (the config's parameters of the point) are recorded and verified.
        """
        import shutil
        import uuid

        final = self.path / "points" / key
        if final.is_dir() and not replace:
            try:
                if zarr.open_group(str(final), mode="r").attrs.get("complete"):
                    return
            except Exception:  # noqa: BLE001 - unreadable leftover: replaced below
                pass
        tag = uuid.uuid4().hex[:12]
        tmp = self.path / ".staging" / f"{key}-{tag}"
        tmp.parent.mkdir(parents=True, exist_ok=True)
        try:
            group = zarr.open_group(str(tmp), mode="w-")
            records = {}
            for name, value in result.arrays.items():
                value = np.ascontiguousarray(value)
                chunks = _chunks(value.shape, value.dtype.itemsize)
                shards = None
                if value.ndim >= 2:
                    shards = (math.ceil(value.shape[0] / chunks[0]) * chunks[0],) + tuple(value.shape[1:])
                group.create_array(name, data=value, chunks=chunks, shards=shards, **_codecs())
                records[name] = {"shape": list(value.shape), "dtype": value.dtype.str, "sha256": array_digest(value)}
            group.attrs.put({**result.attrs, "complete": False})
            stored = dict(group.attrs)
            stored["integrity"] = {"format": INTEGRITY_FORMAT, "arrays": records, "params": _jsonable(params)}
            group.attrs.put(stored)
            stored = dict(zarr.open_group(str(tmp), mode="r").attrs)  # as read back (JSON round trip)
            stored["integrity"]["attrs_sha256"] = attrs_digest(stored)
            stored["complete"] = True
            group.attrs.put(stored)
            if final.exists():
                trash = self.path / ".staging" / f"old-{key}-{tag}"
                final.rename(trash)
                shutil.rmtree(trash, ignore_errors=True)
            tmp.rename(final)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp, ignore_errors=True)


def _walk_arrays(group, prefix: str = ""):
    """(``"table/name"``, array) of every array below ``group``."""
    for name, member in group.members():
        if isinstance(member, zarr.Array):
            yield prefix + name, member
        else:
            yield from _walk_arrays(member, prefix + name + "/")

