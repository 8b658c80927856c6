"""The dataset card (``README.md``) of a published repo.

YAML metadata (configs, ``dataset_info``) and the text rendered from the system's template
(``dataset_cards/<system>_dataset.md``), with no timestamp (same store, same bytes).
"""

from __future__ import annotations

import json

import numpy as np

from .parquet import SPLIT_ORDER

__all__ = ["LICENSE", "READER_OPTIONS", "package_version", "size_category", "split_rule", "render_card"]

LICENSE = "cc-by-4.0"


def package_version() -> str:
    """The installed version of ``qchaos-hub`` (``"unknown"`` in a source tree without install)."""
    from importlib import metadata

    try:
        return metadata.version("qchaos-hub")
    except metadata.PackageNotFoundError:  # pragma: no cover - source tree without install
        return "unknown"


def size_category(n: int) -> str:
    """The Hub's ``size_categories`` bucket of ``n`` rows."""
    for limit, name in ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"),
                        (1_000_000, "100K<n<1M"), (10_000_000, "1M<n<10M"), (100_000_000, "10M<n<100M")):
        if n < limit:
            return name
    return "100M<n<1B"


def _md_value(v) -> str:
    if isinstance(v, float):
        return f"{v:.12g}"
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_md_value(x) for x in v) + "]" if v else "[] (all)"
    return str(v)


def split_rule(system, seed: int, held_desc: list[str]) -> str:
    """The card's description of the state split of ``system`` (a :class:`~generation.systems.System`)."""
    fr = system.state_splits
    names = "/".join(n for n, _ in fr)
    pct = "/".join(f"{round(100 * f)}" for _, f in fr)
    cum = np.cumsum([f for _, f in fr])
    rule = ", ".join(f"to `{name}` for i < round({c:.2f} n)" for (name, _), c in zip(fr[:-1], cum[:-1]))
    rule += f", else to `{fr[-1][0]}` (round: halves up)"
    text = (f"`{system.state_config}`: {pct} % {names}, random over states with a fixed seed, for "
            f"{system.strata_text}. The n eligible rows of a stratum are numbered in store order ({system.order_text}); "
            f"with `perm = numpy.random.default_rng({seed}).permutation(n)`{system.draws_text}, row `perm[i]` goes "
            f"{rule}. `spectra`: one split `train` with every point.")
    if held_desc:
        text += (f" Held out of every table and published as split `holdout`: {'; '.join(held_desc)} (all their "
                 "states and spectra; none of them is in train/validation/test).")
    return text


READER_OPTIONS = {"fragment_scan_options": {"page_checksum_verification": True}}
"""Builder options every config of the card passes to ``datasets``' parquet reader: verify the CRC32 of every data
page (written by :func:`generation.parquet.writer_options`), so a plain ``load_dataset(repo, config)``, which never
sees the manifest's sha256, refuses a damaged shard instead of returning other numbers (``datasets`` >= 4.2 hands
the dict to ``pyarrow.dataset.ParquetFragmentScanOptions``)."""


def _yaml_configs(feats: dict, splits: dict, nbytes: dict, files: dict) -> tuple[list[dict], dict]:
    """The card's ``configs`` entries (with :data:`READER_OPTIONS`) and the ``dataset_info`` of every config."""
    from datasets import DatasetInfo, SplitDict, SplitInfo

    configs_yaml, infos = [], {}
    for i, cfg in enumerate(feats):
        names = [s for s in SPLIT_ORDER if splits[cfg].get(s)]
        entry = {"config_name": cfg,
                 "data_files": [{"split": s, "path": f"data/{cfg}/{s}-*.parquet"} for s in names],
                 **json.loads(json.dumps(READER_OPTIONS))}  # a copy per config: no YAML anchors
        if i == 0:
            entry["default"] = True
        configs_yaml.append(entry)
        sd = SplitDict()
        for s in names:
            sd.add(SplitInfo(name=s, num_bytes=nbytes[cfg][s], num_examples=splits[cfg][s]))
        infos[cfg] = DatasetInfo(features=feats[cfg], splits=sd, dataset_size=sum(nbytes[cfg].values()),
                                 download_size=sum(f["size"] for f in files.values() if f["config"] == cfg))
    return configs_yaml, infos


def _split_rows(state_cfg: str, feats: dict, splits: dict, labels: dict) -> list[str]:
    """The card's table of rows (and label counts of the state table) per config and split."""
    out = []
    label_names = feats[state_cfg]["label"].names if state_cfg in feats else []
    for cfg in feats:
        for s in SPLIT_ORDER:
            if splits[cfg].get(s):
                lab = labels.get(cfg, {}).get(s, {})
                counts = ", ".join(f"{label_names[k]}: {c}" for k, c in sorted(lab.items())) if cfg == state_cfg \
                    else ""
                out.append(f"| `{cfg}` | `{s}` | {splits[cfg][s]} | {counts} |")
    return out


def render_card(system, src, repo_id: str, feats: dict, splits: dict, labels: dict, nbytes: dict, files: dict,
                held_desc: list[str], seed: int) -> str:
    """The card text of a repo of ``system`` written from the store ``src`` (see :mod:`generation.publish`)."""
    from datasets.info import DatasetInfosDict
    from huggingface_hub import DatasetCard, DatasetCardData

    from qchaos.hub import package_file

    configs_yaml, infos = _yaml_configs(feats, splits, nbytes, files)
    state_cfg = system.state_config
    n_rows = sum(splits[state_cfg].values()) if state_cfg in feats else 0
    tags = ["physics", "quantum-chaos", "exact-diagonalization", *system.tags]
    card_data = DatasetCardData(license=LICENSE, pretty_name=f"{system.title} ({src.attrs.get('preset')})",
                                size_categories=[size_category(n_rows)], task_categories=["image-classification"],
                                tags=tags, configs=configs_yaml)
    DatasetInfosDict(infos).to_dataset_card_data(card_data)

    cfg_dict = dict(src.attrs["config"])
    params = "\n".join(f"| `{k}` | {_md_value(v)} |" for k, v in cfg_dict.items())
    file_rows = "\n".join(f"| `{rel}` | {f['num_rows']} | {f['size']} | `{f['sha256']}` |"
                          for rel, f in sorted(files.items()))
    missing = [f"- `{k}`: {system.describe_point(src.points[k])}" for k in src.missing]
    template = package_file("dataset_cards", system.card_template)  # package data (importlib.resources)
    card = DatasetCard.from_template(
        card_data, template_path=str(template), repo_id=repo_id, pretty_name=card_data.pretty_name,
        preset=src.attrs.get("preset"), config_hash=src.attrs.get("config_hash"),
        package_version=src.attrs.get("package_version"), git_commit=src.attrs.get("git_commit"),
        publisher_version=package_version(), params=params, n_points=len(src.points), n_present=len(src.present),
        missing="\n".join(missing), split_rule=split_rule(system, seed, held_desc), split_seed=seed,
        split_rows="\n".join(_split_rows(state_cfg, feats, splits, labels)), file_rows=file_rows,
        image_size=cfg_dict.get("image_size"), basis_factor=cfg_dict.get("basis_factor"),
        n_states=n_rows, default_config=next(iter(feats)),
    )
    text = str(card)
    return text if text.endswith("\n") else text + "\n"
