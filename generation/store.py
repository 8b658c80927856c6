"""Zarr v3 stores of parameter sweeps: one group per parameter point, provenance in the attributes.

Layout::

    <name>.zarr/                      root attrs: system, preset, config, config_hash, package_version, git_commit
      points/<key>/                   attrs: the point's parameters and scalar results; "complete": true when done
        <table>/<array>               e.g. spectrum/energy (L,), states/psi (k, P, P) chunked and sharded

Guarantees:

* **Config check**: opening an existing store with another config raises ``ValueError`` listing the differing
  parameters; nothing is written.
* **Atomic points**: a point is written completely, then marked ``complete``; an incomplete group left by a
  killed job is removed and recomputed on the next run, complete ones are never touched again.
* **Few files**: every array of a point is one shard file (chunks inside), so a store has O(10) files per point.
"""

from __future__ import annotations

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


class PointStore:
    """A sweep's Zarr v3 store (see module docstring). Construct with :meth:`open`."""

    def __init__(self, path: Path, config: dict):
        self.path = Path(path)
        self.config = config

    @classmethod
    def open(cls, path: str | Path, system: str, preset: str, config: dict) -> "PointStore":
        """Create the store, or reopen it if it was written with the same config (else ``ValueError``)."""
        path = Path(path)
        h = config_hash(config)
        if path.exists():
            try:
                root = zarr.open_group(str(path), mode="r")
                attrs = dict(root.attrs)
            except Exception as exc:  # noqa: BLE001 - any unreadable folder is refused, never overwritten
                raise ValueError(f"out = {path}: exists and is not a qchaos Zarr store ({exc})") from exc
            if attrs.get("config_hash") != h:
                old = attrs.get("config", {})
                diff = sorted(k for k in set(old) | set(config) if old.get(k) != config.get(k))
                raise ValueError(
                    f"out = {path}: this store was written with another config (preset {attrs.get('preset')!r}, "
                    f"hash {attrs.get('config_hash')}, differing: {', '.join(diff) or 'unknown'}); "
                    "choose another --out path or remove the old store"
                )
            return cls(path, config)
        path.parent.mkdir(parents=True, exist_ok=True)
        root = zarr.open_group(str(path), mode="w-")
        root.attrs.update({"system": system, "preset": preset, "config": config, "config_hash": h,
                           **provenance()})
        root.create_group("points")
        return cls(path, config)

    # -- reading -------------------------------------------------------------------------------------------------
    def _points(self, mode: str = "r"):
        return zarr.open_group(str(self.path / "points"), mode=mode)

    def completed(self) -> set[str]:
        """Keys of the points that are complete."""
        return {k for k, g in self._points().groups() if g.attrs.get("complete")}

    def point_attrs(self, key: str) -> dict:
        return dict(self._points()[key].attrs)

    def read(self, key: str, name: str) -> np.ndarray:
        """One array ``"table/name"`` of point ``key``."""
        return self._points()[key][name][...]

    # -- writing -------------------------------------------------------------------------------------------------
    def write_point(self, key: str, result: PointResult) -> None:
        """Write one point atomically: any incomplete leftover is replaced; a complete point is never rewritten."""
        points = self._points("a")
        if key in points:
            if points[key].attrs.get("complete"):
                return
            del points[key]
        group = points.create_group(key)
        for name, value in result.arrays.items():
            value = np.ascontiguousarray(value)
            chunks = _chunks(value.shape, value.dtype.itemsize)
            shards = None
            if value.ndim >= 2:
                shards = (math.ceil(value.shape[0] / chunks[0]) * chunks[0],) + tuple(value.shape[1:])
            group.create_array(name, data=value, chunks=chunks, shards=shards)
        group.attrs.update({**result.attrs, "complete": False})
        group.attrs["complete"] = True
