"""Publishing and loading benchmarks (the two-atom `wavefunctions` table, the largest).

* ``publish_throughput``: ``generation.publish.publish`` of a two-atom store (MB/s of image data) against the raw
  read of the same Zarr arrays (the floor any conversion pays).
* ``load_throughput``: ``qchaos.hub.load`` (= verified ``datasets.load_dataset``) + ``with_format("torch")`` +
  a torch ``DataLoader`` (batch 64) against reading the Zarr store directly into the same batches, samples/s.
"""

from __future__ import annotations

import tempfile
from pathlib import Path

from ._core import comparison, interleave, register, side

CONFIG = {"mini": dict(etas=(0.2, 1 / 3, 0.5, 1.0), levels=600, window=(100, 499), image_size=64),
          "paper": dict(etas=(0.2, 1 / 3, 0.5, 0.75, 1.0), levels=1400, window=(200, 1199), image_size=100)}


def _store(tmp: Path, preset: str) -> Path:
    from generation.presets import TwobodyConfig
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.twobody.generate import compute_point

    cfg = TwobodyConfig(**CONFIG[preset])
    path = tmp / "twobody-bench.zarr"
    store = PointStore.open(path, "twobody", "bench", cfg.to_dict())
    run_sweep(store, cfg.points(), compute_point, workers=0, progress=False)
    return path


def _read_zarr(path: Path) -> int:
    import zarr

    points = zarr.open_group(str(path / "points"), mode="r")
    nbytes = 0
    for _, group in sorted(points.groups()):
        nbytes += group["states/psi"][...].nbytes
    return nbytes


@register("publish_throughput", "hub", "publish a two-atom store to parquet (MB/s) vs the raw Zarr read")
def publish_throughput(ctx) -> dict:
    from generation.publish import publish

    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ctx.log("generating the store")
        store = _store(tmp, ctx.preset)
        n = iter(range(100))
        res = interleave(lambda: _read_zarr(store),
                         lambda: publish("twobody", store, "qchaos/bench", out=tmp / f"repo{next(n)}"), 2, 2,
                         log=ctx.log)
    mb = res["baseline_result"] / 1e6  # bytes of image data, as returned by the last timed _read_zarr
    return comparison(
        compared=f"{mb:.0f} MB of float32 wavefunction images (+ spectra) of {len(CONFIG[ctx.preset]['etas'])} "
                 "mass ratios",
        baseline=side("raw read of every states/psi array from the Zarr store", res["baseline"]),
        candidate=side("generation.publish.publish (parquet shards, card, manifest with sha256)", res["candidate"]),
        target_ratio=None,
        accuracy={"publish_MB_per_s": mb / min(res["candidate"]), "zarr_read_MB_per_s": mb / min(res["baseline"])},
        accuracy_summary={"publish_MB/s": round(mb / min(res["candidate"]), 1),
                          "zarr_MB/s": round(mb / min(res["baseline"]), 1)},
        params={"MB": mb, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in CONFIG[ctx.preset].items()}},
        notes=["ratio < 1 is expected: publishing reads the same chunks and also encodes, hashes and writes parquet"],
    )


@register("load_throughput", "hub", "load_dataset + torch DataLoader (samples/s) vs reading the Zarr store directly")
def load_throughput(ctx) -> dict:
    import numpy as np
    import torch
    import zarr

    from generation.publish import publish
    from qchaos.hub import load

    batch = 64
    with tempfile.TemporaryDirectory() as tmp:
        tmp = Path(tmp)
        ctx.log("generating and publishing the store")
        store = _store(tmp, ctx.preset)
        publish("twobody", store, "qchaos/bench", out=tmp / "repo")

        def via_datasets():
            ds = load(tmp / "repo", "wavefunctions", "train").with_format("torch")
            total = 0
            for b in torch.utils.data.DataLoader(ds, batch_size=batch, shuffle=False):
                total += b["psi"].shape[0]
            return total

        def via_zarr():
            points = zarr.open_group(str(store / "points"), mode="r")
            total = 0
            for _, group in sorted(points.groups()):
                psi = group["states/psi"]
                for s in range(0, psi.shape[0], batch):
                    total += torch.from_numpy(np.asarray(psi[s:s + batch])).shape[0]
            return total

        res = interleave(via_zarr, via_datasets, 2, 2, log=ctx.log)
    n_ds, n_zarr = res["candidate_result"], res["baseline_result"]
    rate_ds = n_ds / min(res["candidate"])
    rate_zarr = n_zarr / min(res["baseline"])
    return comparison(
        compared=f"one pass over wavefunction images in batches of {batch} as torch tensors",
        baseline=side(f"Zarr store read directly ({n_zarr} samples, all splits)", res["baseline"],
                      scale=n_ds / n_zarr),
        candidate=side(f"qchaos.hub.load + with_format('torch') + DataLoader (train split, {n_ds} samples)",
                       res["candidate"]),
        target_ratio=None,
        accuracy={"samples_per_s_datasets": rate_ds, "samples_per_s_zarr": rate_zarr},
        accuracy_summary={"datasets_samples/s": round(rate_ds), "zarr_samples/s": round(rate_zarr)},
        params={"batch": batch, **{k: (list(v) if isinstance(v, tuple) else v) for k, v in CONFIG[ctx.preset].items()}},
        notes=["the baseline seconds are scaled to the train split's sample count (same per-sample rate), so the "
               "ratio compares samples/s; load includes sha256 verification of the shards"],
    )
