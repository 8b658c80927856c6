"""Publish a sweep's Zarr store as a Hugging Face dataset repo folder (``qchaos publish``).

Output (the layout of the Hub repo of the same id, ``hub.md`` §2-3)::

    <hub>/datasets/<org>/<name>/
      README.md                                   dataset card (YAML configs/dataset_info + physics + parameters)
      data/manifest.json                          sha256, size and rows of every shard (qchaos.hub.verify_dataset)
      data/<config>/<split>-NNNNN-of-MMMMM.parquet

Tables (configs):

* two atoms: ``wavefunctions`` (one row per stored eigenstate: ``psi`` Array2D((P, P), float32), ``eta``, ``g``,
  ``level``, ``parity``, ``energy``, ``label``) and ``spectra`` (one row per point: the level lists);
* tribaker: ``resonances`` (one row per selected state: right/left vectors as re/im lists, ``z``, ``norm_ratio``,
  ``label``, ``image`` Array2D((P, P), float32), ``index`` into the spectrum) and ``spectra`` (one row per (N, R)).

Writing (route B of ``hub.md`` §3): ``pyarrow.parquet.ParquetWriter`` with ``FEATURES.arrow_schema`` (the
``datasets`` features travel in the schema metadata), one row group per Zarr chunk (state tables) or per point
(spectra), constant memory; arrays are handed to Arrow without any cast, so values round-trip bit for bit.
Content-defined chunking, page index and page checksums are on where the installed pyarrow has them.

Determinism: rows in store order (points in config order, states in stored order), split assignment from a
seeded permutation, no timestamps anywhere (card, manifest, parquet): the same store published twice gives the
same bytes in every file.

Splits: states (the ``wavefunctions`` / ``resonances`` tables) are split at random with a fixed seed: 70/15/15
train/validation/test for the two atoms (``twobody.md`` §5), 80/20 train/validation for the tribaker map, per
reflectivity R (``tribaker.md`` §5). The per-point ``spectra`` tables have one split ``train`` with every point.
Optional held-out parameters (whole ``eta`` values, or whole ``N`` values) go to an extra split ``holdout`` in
every table, so no eigenstate of a held-out Hamiltonian is in train/validation/test.
"""

from __future__ import annotations

import inspect
import json
import math
import shutil
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import zarr

SPLIT_SEED = 42
"""Default seed of the random state split [choice; the papers fix a seed but do not give it]."""

STATE_SPLITS = {
    "twobody": (("train", 0.70), ("validation", 0.15), ("test", 0.15)),
    "tribaker": (("train", 0.80), ("validation", 0.20)),
}
SPLIT_ORDER = ("train", "validation", "test", "holdout")
MAX_SHARD_BYTES = 256 * 2**20
"""Start a new shard once a shard holds this many (uncompressed Arrow) bytes (Hub advice: 100-500 MB shards)."""

LICENSE = "cc-by-4.0"
SYSTEMS = ("twobody", "tribaker")
STATE_CONFIG = {"twobody": "wavefunctions", "tribaker": "resonances"}
assert all(tuple(n for n, _ in fr) == SPLIT_ORDER[:len(fr)] for fr in STATE_SPLITS.values())  # codes index both


def _writer_options() -> dict:
    """Parquet options: deterministic, plus CDC / page index / page checksums where supported."""
    opts = {"compression": "snappy", "use_dictionary": False, "write_statistics": True,
            "use_content_defined_chunking": True, "write_page_index": True, "write_page_checksum": True}
    try:
        params = inspect.signature(pq.ParquetWriter.__init__).parameters
    except (TypeError, ValueError):  # pragma: no cover
        params = {}
    return {k: v for k, v in opts.items() if k in params}


# -- features ------------------------------------------------------------------------------------------------------
def features(system: str, image_size: int) -> dict:
    """``{config: datasets.Features}`` of a system's tables (P = ``image_size``)."""
    from datasets import Array2D, ClassLabel, Features, List, Value

    P = int(image_size)
    f64, i32 = Value("float64"), Value("int32")
    if system == "twobody":
        label = ClassLabel(names=["non-integrable", "integrable"])
        return {
            "wavefunctions": Features({
                "psi": Array2D((P, P), "float32"), "eta": f64, "g": f64, "level": i32,
                "parity": ClassLabel(names=["even", "odd"]), "energy": f64, "label": label}),
            "spectra": Features({
                "eta": f64, "g": f64, "energy": List(f64), "raw": List(f64), "error": List(f64),
                "parity": List(Value("int8")), "level": List(i32), "horizontal": List(Value("bool")),
                "label": label, "top_rel_error": f64}),
        }
    if system == "tribaker":
        return {
            "resonances": Features({
                "N": i32, "R": f64, "closed": Value("bool"), "right_re": List(f64), "right_im": List(f64),
                "left_re": List(f64), "left_im": List(f64), "z_re": f64, "z_im": f64, "norm_ratio": f64,
                "label": ClassLabel(names=["localized", "non-localized"]), "image": Array2D((P, P), "float32"),
                "index": i32}),
            "spectra": Features({
                "N": i32, "R": f64, "closed": Value("bool"), "z_re": List(f64), "z_im": List(f64),
                "decay": List(f64), "norm_ratio": List(f64)}),
        }
    raise ValueError(f"system = {system!r}: must be one of {list(SYSTEMS)}")


def _array2d(values: np.ndarray, type_: pa.DataType) -> pa.Array:
    """(n, a, b) numpy -> datasets Array2D extension array, zero-copy values (no cast)."""
    n, a, b = values.shape
    flat = pa.array(np.ascontiguousarray(values).reshape(-1))
    inner = pa.ListArray.from_arrays(pa.array(np.arange(0, n * a * b + 1, b, dtype=np.int32)), flat)
    outer = pa.ListArray.from_arrays(pa.array(np.arange(0, n * a + 1, a, dtype=np.int32)), inner)
    return pa.ExtensionArray.from_storage(type_, outer)


def _lists(rows: list[np.ndarray], type_: pa.DataType) -> pa.Array:
    """A list column from per-row 1-D numpy arrays (values exactly as given; ``type_`` is the list type)."""
    offsets = np.concatenate([[0], np.cumsum([r.size for r in rows])]).astype(np.int32)
    values = pa.array(np.concatenate(rows) if rows else np.empty(0), type=type_.value_type)
    return pa.ListArray.from_arrays(pa.array(offsets), values)


def _table(schema: pa.Schema, columns: dict) -> pa.Table:
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


# -- the store -----------------------------------------------------------------------------------------------------
@dataclass
class _Source:
    path: Path
    attrs: dict
    config: object  # TwobodyConfig | TribakerConfig
    points: dict  # key -> params, config order
    present: list[str]
    missing: list[str]

    def group(self, key: str):
        return zarr.open_group(str(self.path / "points" / key), mode="r")


def _open_source(system: str, store_path: Path, preset: str | None, progress: bool = False) -> _Source:
    from qchaos.errors import IntegrityError, ParameterError

    from .presets import TribakerConfig, TwobodyConfig
    from .verify import check_store

    store_path = Path(store_path)
    if not store_path.exists():
        raise ParameterError(f"store = {store_path}: does not exist (run `qchaos generate {system} ...` first)")
    try:
        attrs = dict(zarr.open_group(str(store_path), mode="r").attrs)
    except Exception as exc:  # noqa: BLE001
        raise ParameterError(f"store = {store_path}: not a qchaos Zarr store ({exc})") from exc
    if attrs.get("system") != system:
        raise ParameterError(f"store = {store_path}: holds system {attrs.get('system')!r}, not {system!r}")
    stored_preset = str(attrs.get("preset", ""))
    if preset is not None and stored_preset.split("+")[0] != preset:
        raise ParameterError(f"preset = {preset!r}: the store {store_path} was generated with preset "
                             f"{stored_preset!r}")
    cls = TwobodyConfig if system == "twobody" else TribakerConfig
    try:
        config = cls(**attrs["config"])
    except (KeyError, TypeError, ValueError) as exc:
        raise IntegrityError(f"store = {store_path}: its recorded config is not valid ({exc})") from exc
    points = config.points()
    _, status = check_store(store_path, progress)  # every complete point verified before anything is read
    damaged = {k: p for k, (st, p) in status.items() if st == "damaged"}
    if damaged:
        shown = "; ".join(f"{k}: {', '.join(p[:2])}" for k, p in list(damaged.items())[:5])
        raise IntegrityError(f"store = {store_path}: {len(damaged)} damaged point(s), nothing published ({shown}); "
                             f"rerun `qchaos generate {system}` with the same parameters to recompute them "
                             f"(`qchaos verify {store_path}` lists every problem)")
    done = {k for k, (st, _) in status.items() if st in ("ok", "unverified")}
    return _Source(store_path, attrs, config, points, [k for k in points if k in done],
                   [k for k in points if k not in done])


def _describe_point(system: str, params: dict) -> str:
    if system == "twobody":
        return f"eta = {params['eta']:.10g} (g = {params['g']:g})"
    return f"N = {params['N']}, R = {params['R']:g}"


def _holdout_keys(system: str, src: _Source, holdout) -> set[str]:
    if not holdout:
        return set()
    if system == "twobody":
        from .presets import parse_etas

        values = parse_etas(holdout if isinstance(holdout, str) else ",".join(str(v) for v in holdout))
        etas = list(src.config.etas)
        keys = set()
        for v in values:
            hit = [e for e in etas if abs(e - v) <= 1e-9]
            if not hit:
                raise ValueError(f"holdout_eta = {v:g}: not a mass ratio of this store (etas: "
                                 f"{', '.join(f'{e:.6g}' for e in etas)})")
            keys.add(src.config.point_key(hit[0]))
        return keys
    if isinstance(holdout, str):
        try:
            values = [int(x) for x in holdout.split(",") if x.strip()]
        except ValueError as exc:
            raise ValueError(f"holdout_N = {holdout!r}: give comma-separated integers like 30,33") from exc
    else:
        values = [int(v) for v in holdout]
    dims = src.config.dimensions
    bad = [v for v in values if v not in dims]
    if bad:
        raise ValueError(f"holdout_N = {bad[0]}: not a dimension of this store (N = {dims[0]}..{dims[-1]} step 3)")
    return {k for k, p in src.points.items() if p["N"] in values}


def assign_splits(n: int, fractions, rng: np.random.Generator) -> np.ndarray:
    """Split codes (indices into ``fractions``) of ``n`` rows: ``perm = rng.permutation(n)``; row ``perm[i]``
    goes to split k when ``round(n c_{k-1}) <= i < round(n c_k)`` (c = cumulative fractions, halves up)."""
    cum = np.cumsum([f for _, f in fractions])
    bounds = [0] + [int(math.floor(n * c + 0.5)) for c in cum[:-1]] + [n]
    by_position = np.repeat(np.arange(len(fractions), dtype=np.int8), np.diff(bounds))
    codes = np.empty(n, dtype=np.int8)
    codes[rng.permutation(n)] = by_position
    return codes


def _state_split_codes(system: str, src: _Source, held: set[str], seed: int) -> dict[str, np.ndarray]:
    """Per point key: the SPLIT_ORDER code of each stored state row."""
    fractions = STATE_SPLITS[system]
    sizes = {}
    for key in src.present:
        g = src.group(key)
        try:
            sizes[key] = g["states/label"].shape[0]
        except KeyError:  # a two-atom point without images
            sizes[key] = 0
    if system == "twobody":
        strata = [[k for k in src.present if k not in held]]
    else:  # per reflectivity, in config order (R descending)
        strata = [[k for k in src.present if k not in held and src.points[k]["R"] == R]
                  for R in src.config.reflectivities]
    rng = np.random.default_rng(seed)
    out = {k: np.full(sizes[k], SPLIT_ORDER.index("holdout"), np.int8) for k in src.present if k in held}
    for keys in strata:
        codes = assign_splits(sum(sizes[k] for k in keys), fractions, rng)
        start = 0
        for k in keys:
            out[k] = codes[start:start + sizes[k]]
            start += sizes[k]
    return out


def _split_rule(system: str, seed: int, held_desc: list[str]) -> str:
    fr = STATE_SPLITS[system]
    names = "/".join(n for n, _ in fr)
    pct = "/".join(f"{round(100 * f)}" for _, f in fr)
    table = STATE_CONFIG[system]
    if system == "twobody":
        strata = "all stored eigenstates together"
        order = "points in ascending eta, states in ascending level"
    else:
        strata = "each reflectivity R separately (closed map first, then R descending)"
        order = "points in ascending N, then the stored states of each point, localized first"
    cum = np.cumsum([f for _, f in fr])
    rule = ", ".join(f"to `{name}` for i < round({c:.2f} n)" for (name, _), c in zip(fr[:-1], cum[:-1]))
    rule += f", else to `{fr[-1][0]}` (round: halves up)"
    draws = "" if system == "twobody" else " (one generator, the strata drawn in turn)"
    text = (f"`{table}`: {pct} % {names}, random over states with a fixed seed, for {strata}. The n eligible "
            f"rows of a stratum are numbered in store order ({order}); with `perm = numpy.random.default_rng("
            f"{seed}).permutation(n)`{draws}, row `perm[i]` goes {rule}. `spectra`: one split `train` with every "
            "point.")
    if held_desc:
        text += (f" Held out of every table and published as split `holdout`: {'; '.join(held_desc)} (all their "
                 "states and spectra; none of them is in train/validation/test).")
    return text


# -- rows ----------------------------------------------------------------------------------------------------------
def _twobody_rows(src: _Source, feats: dict, codes: dict,
                  held: set[str]) -> Iterator[tuple[str, pa.Table, np.ndarray]]:
    wf, sp = feats["wavefunctions"].arrow_schema, feats["spectra"].arrow_schema
    psi_type = wf.field("psi").type
    hold = SPLIT_ORDER.index("holdout")
    for key in src.present:
        g = src.group(key)
        a = dict(g.attrs)
        spec = {n: g[f"spectrum/{n}"][...] for n in ("energy", "raw", "error", "parity", "level", "horizontal")}
        yield "spectra", _table(sp, {
            "eta": [a["eta"]], "g": [a["g"]], "label": [a["label"]], "top_rel_error": [a["top_rel_error"]],
            **{n: _lists([v], sp.field(n).type) for n, v in spec.items()},
        }), np.array([hold if key in held else 0], np.int8)
        try:
            st = g["states"]
        except KeyError:
            continue
        psi = st["psi"]
        small = {n: st[n][...] for n in ("energy", "level", "parity", "label")}
        step = max(1, int(psi.chunks[0]))
        for s in range(0, psi.shape[0], step):
            e = min(s + step, psi.shape[0])
            block = psi[s:e]
            n = e - s
            yield "wavefunctions", _table(wf, {
                "psi": _array2d(block, psi_type), "eta": np.full(n, a["eta"]), "g": np.full(n, a["g"]),
                **{k: v[s:e] for k, v in small.items()},
            }), codes[key][s:e]


def _tribaker_rows(src: _Source, feats: dict, codes: dict,
                   held: set[str]) -> Iterator[tuple[str, pa.Table, np.ndarray]]:
    rs, sp = feats["resonances"].arrow_schema, feats["spectra"].arrow_schema
    image_type = rs.field("image").type
    hold = SPLIT_ORDER.index("holdout")
    for key in src.present:
        g = src.group(key)
        a = dict(g.attrs)
        z = g["spectrum/z"][...]
        yield "spectra", _table(sp, {
            "N": [a["N"]], "R": [a["R"]], "closed": [a["closed"]],
            "z_re": _lists([np.ascontiguousarray(z.real)], sp.field("z_re").type),
            "z_im": _lists([np.ascontiguousarray(z.imag)], sp.field("z_im").type),
            "decay": _lists([g["spectrum/decay"][...]], sp.field("decay").type),
            "norm_ratio": _lists([g["spectrum/norm_ratio"][...]], sp.field("norm_ratio").type),
        }), np.array([hold if key in held else 0], np.int8)
        st = g["states"]
        right, left, zs = st["right"][...], st["left"][...], st["z"][...]
        n = right.shape[0]
        lt = rs.field("right_re").type
        yield "resonances", _table(rs, {
            "N": np.full(n, a["N"]), "R": np.full(n, a["R"]), "closed": np.full(n, a["closed"]),
            "right_re": _lists(list(np.ascontiguousarray(right.real)), lt),
            "right_im": _lists(list(np.ascontiguousarray(right.imag)), lt),
            "left_re": _lists(list(np.ascontiguousarray(left.real)), lt),
            "left_im": _lists(list(np.ascontiguousarray(left.imag)), lt),
            "z_re": np.ascontiguousarray(zs.real), "z_im": np.ascontiguousarray(zs.imag),
            "norm_ratio": st["norm_ratio"][...], "label": st["label"][...],
            "image": _array2d(st["image"][...], image_type), "index": st["index"][...],
        }), codes[key]


# -- writing -------------------------------------------------------------------------------------------------------
class _SplitWriter:
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
            self._close_shard()
            self.folder.mkdir(parents=True, exist_ok=True)
            path = self.folder / f".{self.split}-{len(self.tmp):05d}.parquet.tmp"
            self.writer = pq.ParquetWriter(str(path), self.schema, **_writer_options())
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

    def _close_shard(self) -> None:
        if self.writer is not None:
            self.writer.close()
            self.writer = None

    def close(self) -> list[tuple[Path, int]]:
        self._close_shard()
        m = len(self.tmp)
        out = []
        for i, (tmp, rows) in enumerate(zip(self.tmp, self.rows)):
            final = self.folder / f"{self.split}-{i:05d}-of-{m:05d}.parquet"
            tmp.replace(final)
            out.append((final, rows))
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


def _package_version() -> str:
    from importlib import metadata

    try:
        return metadata.version("qchaos-hub")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
        return "unknown"


def _size_category(n: int) -> str:
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return name
    return "100M<n<1B"


def default_repo_id(system: str, store_attrs: dict) -> str:
    """``qchaos/<system>-<preset>``; a custom store (``preset+custom``) gets ``-custom-<hash8>``."""
    from qchaos.hub import DEFAULT_ORG

    preset = str(store_attrs.get("preset", "custom"))
    if "+" in preset:
        preset = f"{preset.split('+')[0]}-custom-{str(store_attrs.get('config_hash', ''))[:8]}"
    return f"{DEFAULT_ORG}/{system}-{preset}"


def _md_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.12g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_md_value(x) for x in v) + "]" if v else "[] (all)"
    return str(v)


def _render_card(system: str, src: _Source, repo_id: str, feats: dict, splits: dict, labels: dict,
                 nbytes: dict, files: dict, held_desc: list[str], seed: int) -> str:
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard, DatasetCardData


    configs_yaml = []
    infos = {}
    state_cfg = STATE_CONFIG[system]
    for i, cfg in enumerate(feats):
        names = [s for s in SPLIT_ORDER if splits[cfg].get(s)]
        entry = {"config_name": cfg,
                 "data_files": [{"split": s, "path": f"data/{cfg}/{s}-*.parquet"} for s in names]}
        if i == 0:
            entry["default"] = True
        configs_yaml.append(entry)
        sd = SplitDict()
        for s in names:
            sd.add(SplitInfo(name=s, num_bytes=nbytes[cfg][s], num_examples=splits[cfg][s]))
        infos[cfg] = DatasetInfo(features=feats[cfg], splits=sd, dataset_size=sum(nbytes[cfg].values()),
                                 download_size=sum(f["size"] for f in files.values() if f["config"] == cfg))
    n_rows = sum(splits[state_cfg].values()) if state_cfg in feats else 0
    tags = ["physics", "quantum-chaos", "exact-diagonalization"] + (
        ["integrability", "eigenstates", "wavefunctions", "level-statistics"] if system == "twobody"
        else ["quantum-maps", "localization", "resonances", "open-systems", "husimi"])
    pretty = {"twobody": "Two mass-imbalanced atoms in a hard-wall trap: eigenstates and spectra",
              "tribaker": "Open quantum tribaker map: resonances and localization"}[system]
    card_data = DatasetCardData(license=LICENSE, pretty_name=f"{pretty} ({src.attrs.get('preset')})",
                                size_categories=[_size_category(n_rows)], task_categories=["image-classification"],
                                tags=tags, configs=configs_yaml)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)

    cfg_dict = dict(src.attrs["config"])
    params = "\n".join(f"| `{k}` | {_md_value(v)} |" for k, v in cfg_dict.items())
    split_rows = []
    label_names = feats[state_cfg]["label"].names if state_cfg in feats else []
    for cfg in feats:
        for s in SPLIT_ORDER:
            if splits[cfg].get(s):
                lab = labels.get(cfg, {}).get(s, {})
                counts = ", ".join(f"{label_names[k]}: {c}" for k, c in sorted(lab.items())) if cfg == state_cfg \
                    else ""
                split_rows.append(f"| `{cfg}` | `{s}` | {splits[cfg][s]} | {counts} |")
    file_rows = "\n".join(f"| `{rel}` | {f['num_rows']} | {f['size']} | `{f['sha256']}` |"
                          for rel, f in sorted(files.items()))
    missing = [f"- `{k}`: {_describe_point(system, src.points[k])}" for k in src.missing]
    from qchaos.hub import package_file

    template = package_file("dataset_cards", f"{system}_dataset.md")  # package data (importlib.resources)
    card = DatasetCard.from_template(
        card_data, template_path=str(template), repo_id=repo_id, pretty_name=card_data.pretty_name,
        preset=src.attrs.get("preset"), config_hash=src.attrs.get("config_hash"),
        package_version=src.attrs.get("package_version"), git_commit=src.attrs.get("git_commit"),
        publisher_version=_package_version(), params=params, n_points=len(src.points), n_present=len(src.present),
        missing="\n".join(missing), split_rule=_split_rule(system, seed, held_desc), split_seed=seed,
        split_rows="\n".join(split_rows), file_rows=file_rows, image_size=cfg_dict.get("image_size"),
        basis_factor=cfg_dict.get("basis_factor"),
        n_states=n_rows, default_config=next(iter(feats)),
    )
    text = str(card)
    return text if text.endswith("\n") else text + "\n"


def _write_repo(system: str, src: _Source, staging: Path, repo_id: str, held: set, held_desc: list[str],
                split_seed: int, max_shard_bytes: int, progress: bool) -> tuple[dict, dict]:
    """Write the complete new repo version (shards, manifest, card) into ``staging``; ``(splits, files)``."""
    from tqdm.auto import tqdm

    from qchaos.hub import MANIFEST, MANIFEST_FORMAT, sha256_file

    all_feats = features(system, src.attrs["config"]["image_size"])
    codes = _state_split_codes(system, src, held, split_seed)
    # the published configs: a spectra-only store (no point stores states) has no state config
    feats = {cfg: f for cfg, f in all_feats.items() if cfg != STATE_CONFIG[system] or any(map(len, codes.values()))}
    rows = _twobody_rows if system == "twobody" else _tribaker_rows
    schemas = {cfg: f.arrow_schema for cfg, f in feats.items()}
    writers: dict[tuple[str, str], _SplitWriter] = {}
    try:
        bar = tqdm(total=len(src.present), desc=f"publish {system}", unit="pt", disable=not progress)
        for cfg, table, split_codes in rows(src, all_feats, codes, held):
            for code in np.unique(split_codes):
                split = SPLIT_ORDER[int(code)]
                w = writers.get((cfg, split))
                if w is None:
                    w = writers[(cfg, split)] = _SplitWriter(staging / "data" / cfg, split, schemas[cfg],
                                                             max_shard_bytes)
                idx = np.flatnonzero(split_codes == code)
                w.write(table if idx.size == table.num_rows else table.take(pa.array(idx)))
            if cfg == "spectra":
                bar.update()
        bar.close()
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
    except BaseException:
        for w in writers.values():  # each closed on its own: a full disk must not stop the cleanup
            try:
                w._close_shard()
            except Exception:  # noqa: BLE001
                pass
        raise
    if STATE_CONFIG[system] in feats and not splits[STATE_CONFIG[system]].get("train"):
        raise ValueError(f"store = {src.path}: no state left for the train split (stored states: "
                         f"{sum(splits[STATE_CONFIG[system]].values())})")
    card = _render_card(system, src, repo_id, feats, splits, labels, nbytes, files, held_desc, split_seed)
    (staging / "README.md").write_text(card, encoding="utf-8")
    manifest = {
        "format": MANIFEST_FORMAT, "repo_id": repo_id, "system": system, "preset": src.attrs.get("preset"),
        "config_hash": src.attrs.get("config_hash"), "config": src.attrs.get("config"),
        "default_config": next(iter(feats)),
        "configs": {cfg: {s: splits[cfg][s] for s in SPLIT_ORDER if s in splits[cfg]} for cfg in feats},
        "split_seed": split_seed, "holdout": sorted(held), "missing_points": src.missing, "files": files,
        "card_sha256": sha256_file(staging / "README.md"),
    }
    (staging / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return splits, files


def publish(system: str, store: str | Path, repo_id: str | None = None, *, preset: str | None = None,
            out: str | Path | None = None, allow_partial: bool = False, holdout=None, split_seed: int = SPLIT_SEED,
            max_shard_bytes: int = MAX_SHARD_BYTES, push: bool = False, progress: bool = False) -> PublishReport:
    """Convert a store into a dataset repo folder (and optionally push it).

    Parameters:
        system: ``"twobody"`` or ``"tribaker"``.
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
    from qchaos.atomic import recover, staging_path, swap_in, writer_lock
    from qchaos.errors import ParameterError
    from qchaos.hub import MANIFEST, local_repo_path, parse_repo_id, push_folder, verify_dataset

    start = time.perf_counter()
    if system not in SYSTEMS:
        raise ValueError(f"system = {system!r}: must be one of {list(SYSTEMS)}")
    if int(max_shard_bytes) < 1:
        raise ValueError(f"max_shard_bytes = {max_shard_bytes}: must be >= 1")
    if isinstance(split_seed, bool) or not isinstance(split_seed, (int, np.integer)) or not 0 <= split_seed < 2**32:
        raise ParameterError(f"split_seed = {split_seed!r}: must be an integer in [0, 2**32)")
    src = _open_source(system, Path(store), preset, progress)
    repo_id = repo_id or default_repo_id(system, src.attrs)
    parse_repo_id(repo_id)
    if src.missing and not allow_partial:
        shown = "; ".join(_describe_point(system, src.points[k]) for k in src.missing[:5])
        more = f" and {len(src.missing) - 5} more" if len(src.missing) > 5 else ""
        raise ValueError(f"store = {src.path}: incomplete, {len(src.missing)} of {len(src.points)} points missing "
                         f"({shown}{more}); finish the sweep (rerun `qchaos generate`) or pass --allow-partial")
    if not src.present:
        raise ValueError(f"store = {src.path}: no complete point to publish")
    held = _holdout_keys(system, src, holdout)
    if held and not [k for k in src.present if k not in held]:
        raise ValueError("holdout: every point of the store is held out; nothing would be left for training")
    held_desc = []
    if held and system == "twobody":
        values = ", ".join(f"{src.points[k]['eta']:.10g}" for k in src.points if k in held)
        held_desc = [f"eta in {{{values}}}"]
    elif held:
        values = ", ".join(str(n) for n in sorted({src.points[k]["N"] for k in held}))
        held_desc = [f"N in {{{values}}} (every R)"]

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
        try:
            splits, files = _write_repo(system, src, staging, repo_id, held, held_desc, split_seed,
                                        int(max_shard_bytes), progress)
            swap_in(staging, dest, keep_extras=True)
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
