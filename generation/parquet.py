"""Arrow tables and parquet shards of the published datasets, with no knowledge of any system.

* :func:`array2d`, :func:`lists`, :func:`table` build Arrow columns/tables from numpy arrays without casting a float
  (values round-trip bit for bit);
* :class:`SplitWriter` writes the shards of one (config, split): ``<split>-NNNNN-of-MMMMM.parquet``, one row group
  per table written, a new shard after ``max_bytes`` uncompressed bytes;
* :data:`SPLIT_ORDER` and :func:`assign_splits`: the split codes every table uses.
"""

from __future__ import annotations

import inspect
import math
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

__all__ = ["SPLIT_ORDER", "HOLDOUT", "assign_splits", "writer_options", "array2d", "lists", "table", "SplitWriter"]

SPLIT_ORDER = ("train", "validation", "test", "holdout")
"""Every split a published table can have, in card order; a row's split code indexes this tuple."""

HOLDOUT = SPLIT_ORDER.index("holdout")
"""The split code of the held-out rows."""


def assign_splits(n: int, fractions, rng: np.random.Generator) -> np.ndarray:
    """Split codes (indices into ``fractions``) of ``n`` rows.

    With ``perm = rng.permutation(n)``, row ``perm[i]`` goes to split k when ``round(n c_{k-1}) <= i < round(n c_k)``
    (c = cumulative fractions, halves up).
    """
    cum = np.cumsum([f for _, f in fractions])
    bounds = [0] + [int(math.floor(n * c + 0.5)) for c in cum[:-1]] + [n]
    by_position = np.repeat(np.arange(len(fractions), dtype=np.int8), np.diff(bounds))
    codes = np.empty(n, dtype=np.int8)
    codes[rng.permutation(n)] = by_position
    return codes


def writer_options() -> dict:
    """Parquet options: deterministic, plus CDC / page index / page checksums where supported."""
    opts = {"compression": "snappy", "use_dictionary": False, "write_statistics": True,
            "use_content_defined_chunking": True, "write_page_index": True, "write_page_checksum": True}
    try:
        params = inspect.signature(pq.ParquetWriter.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover
        params = {}
    return {k: v for k, v in opts.items() if k in params}


def array2d(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """(n, a, b) numpy -> datasets Array2D extension array, zero-copy values (no cast)."""
    n, a, b = values.shape
    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, n * a * b + 1, b, dtype=np.int32)), flat)
    outer = pa.ListArray.from_arrays(pa.array(np.arange(0, n * a + 1, a, dtype=np.int32)), inner)
    return pa.ExtensionArray.from_storage(type_, outer)


def lists(rows: list[np.ndarray], type_: pa.DataType) -> pa.Array:
    """A list column from per-row 1-D numpy arrays (values exactly as given; ``type_`` is the list type)."""
    offsets = np.concatenate([[0], np.cumsum([r.size for r in rows])]).astype(np.int32)
    values = pa.array(np.concatenate(rows) if rows else np.empty(0), type=type_.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def table(schema: pa.Schema, columns: dict) -> pa.Table:
    """A table of ``schema`` from ``columns``.

    Arrow arrays are taken as given; numpy values are widened for integer/bool only, ``TypeError`` for a float that
    would need a cast.
    """
    arrays = []
    for f in schema:
        v = columns[f.name]
        if isinstance(v, pa.Array):
            arrays.append(v)
        else:
            v = np.asarray(v)
            if v.dtype != f.type.to_pandas_dtype():  # only integer/bool widening (ClassLabel is int64)
                if v.dtype.kind == "f":
                    raise TypeError(f"column {f.name}: refusing to cast floats {v.dtype} -> {f.type}")
                v = v.astype(f.type.to_pandas_dtype())
            arrays.append(pa.array(v, type=f.type))
    return pa.Table.from_arrays(arrays, schema=schema)


class SplitWriter:
    """Shards of one (config, split): ``<split>-NNNNN-of-MMMMM.parquet``, renamed on close once M is known."""

    def __init__(self, folder: Path, split: str, schema: pa.Schema, max_bytes: int):
        self.folder, self.split, self.schema, self.max_bytes = folder, split, schema, max_bytes
        self.writer = None
        self.tmp: list[Path] = []
        self.rows: list[int] = []
        self.shard_bytes = 0
        self.num_bytes = 0
        self.labels: dict[int, int] = {}

    def write(self, table: pa.Table) -> None:
        if self.writer is None or self.shard_bytes >= self.max_bytes:
            self.close_shard()
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f".{self.split}-{len(self.tmp):05d}.parquet.tmp"
            self.writer = pq.ParquetWriter(str(path), self.schema, **writer_options())
            self.tmp.append(path)
            self.rows.append(0)
            self.shard_bytes = 0
        self.writer.write_table(table, row_group_size=max(1, table.num_rows))
        self.rows[-1] += table.num_rows
        self.shard_bytes += table.nbytes
        self.num_bytes += table.nbytes
        if "label" in table.column_names:
            for v, c in zip(*np.unique(table.column("label").to_numpy(), return_counts=True)):
                self.labels[int(v)] = self.labels.get(int(v), 0) + int(c)

    def close_shard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def close(self) -> list[tuple[Path, int]]:
        self.close_shard()
        m = len(self.tmp)
        out = []
        for i, (tmp, rows) in enumerate(zip(self.tmp, self.rows)):
            final = self.folder / f"{self.split}-{i:05d}-of-{m:05d}.parquet"
            tmp.replace(final)
            out.append((final, rows))
        return out
