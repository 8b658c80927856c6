"""Tribaker benchmarks.

* ``husimi300``: Husimi functions of all N = 300 closed-map eigenstates on the N x N lattice, FFT route
  (``coherent.husimi``, O(N^2 log N) per state) against the dense coherent-state matrix (N^2 x N, built with the
  explicit formula, then one matrix product); the same for the LR representation of the open map (R = 0.2).
* ``tribaker_build``: the whole dataset build of the preset (``qchaos generate tribaker``) on 2 Dask workers against
  in-process on one core; wall seconds and peak resident memory of each, identical stores.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from pathlib import Path

from ._core import comparison, interleave, register, side, timed

N_HUSIMI = 300


def _dense_overlaps(psi, n):
    """<q_a, p_b | psi> for all lattice centres by the explicit coherent-state matrix (the baseline)."""
    import numpy as np

    from generation.tribaker.coherent import coherent_states

    centres = (np.arange(n) + 0.5) / n
    cs = coherent_states(n, centres[:, None], centres[None, :]).reshape(n * n, n)  # (N^2, N)
    return (cs.conj() @ psi).reshape(n, n, -1)


@register("husimi300", "tribaker", "Husimi/LR images of all N=300 eigenstates: FFT lattice route vs dense "
                                   "coherent-state matrix")
def husimi300(ctx) -> dict:
    import numpy as np

    from generation.tribaker.coherent import husimi, lr_representation
    from generation.tribaker.resonances import resonances

    n = N_HUSIMI
    closed, opened = resonances(n, 1.0), resonances(n, 0.2)
    psi = closed.right  # (N, N) columns
    husimi(psi[:, :2].T)
    _dense_overlaps(psi[:, :2], n)  # warm-up

    def baseline():
        c = _dense_overlaps(psi, n)
        cr, cl = _dense_overlaps(opened.right, n), _dense_overlaps(opened.left, n)
        s = np.abs(np.einsum("jk,jk->k", opened.left.conj(), opened.right))
        return np.moveaxis(np.abs(c) ** 2, -1, 0), np.moveaxis(np.abs(cr * cl.conj()) / s, -1, 0)

    def candidate():
        return husimi(psi.T), lr_representation(opened.right.T, opened.left.T)

    res = interleave(baseline, candidate, 2, 2, log=ctx.log)
    (hb, lb), (hc, lc) = res["baseline_result"], res["candidate_result"]
    diff_h = float(np.max(np.abs(hb - hc)) / np.max(np.abs(hb)))
    diff_lr = float(np.max(np.abs(lb - lc)) / np.max(np.abs(lb)))
    return comparison(
        compared=f"Husimi of all {n} closed eigenstates + LR of all {n} open (R = 0.2) resonances on the "
                 f"{n} x {n} lattice",
        baseline=side("dense coherent-state matrix (N^2 x N, explicit formula) and matrix products", res["baseline"]),
        candidate=side("FFT lattice route (coherent.husimi, coherent.lr_representation)", res["candidate"]),
        target_ratio=None,
        accuracy={"max_rel_diff_husimi": diff_h, "max_rel_diff_lr": diff_lr},
        accuracy_met=bool(diff_h < 1e-10 and diff_lr < 1e-10),
        accuracy_summary={"max_rel_diff": max(diff_h, diff_lr)},
        params={"N": n, "states": n},
    )


_PEAK = """
import resource, subprocess, sys, time
t = time.perf_counter()
rc = subprocess.run(sys.argv[1:]).returncode
dt = time.perf_counter() - t
print(dt, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, rc)
"""


def _build(preset: str, workers: int, out: Path) -> dict:
    """One ``qchaos generate tribaker`` in a fresh process: wall seconds and the peak RSS of its process tree."""
    cmd = [sys.executable, "-m", "qchaos", "generate", "tribaker", "--preset", preset, "--out", str(out),
           "--workers", str(workers), "--quiet"]
    env = dict(os.environ)
    line = subprocess.run([sys.executable, "-c", _PEAK, *cmd], capture_output=True, text=True, env=env,
                          check=True).stdout.split()
    seconds, peak_kib, rc = float(line[0]), int(line[1]), int(line[2])
    if rc != 0:
        raise RuntimeError(f"qchaos generate tribaker --preset {preset} failed (exit {rc})")
    return {"seconds": seconds, "peak_rss_mib": peak_kib / 1024}


def _digest(path: Path) -> dict:
    import hashlib

    import zarr

    points = zarr.open_group(str(path / "points"), mode="r")
    out = {}
    for key, group in sorted(points.groups()):
        h = hashlib.sha256()
        for name in ("spectrum/z", "spectrum/norm_ratio", "states/right", "states/left", "states/image"):
            h.update(group[name][...].tobytes())
        out[key] = h.hexdigest()
    return out


@register("tribaker_build", "tribaker", "whole tribaker dataset build of the preset: 2 Dask workers vs in-process")
def tribaker_build(ctx) -> dict:
    from generation.presets import TRIBAKER_PRESETS

    config = TRIBAKER_PRESETS[ctx.preset]
    with tempfile.TemporaryDirectory() as tmp:
        runs = {"baseline": [], "candidate": []}
        peaks = {"baseline": [], "candidate": []}
        for i, (name, workers) in enumerate((("baseline", 0), ("candidate", 2))):
            out = Path(tmp) / f"{name}.zarr"
            ctx.log(f"qchaos generate tribaker --preset {ctx.preset} --workers {workers}")
            r = _build(ctx.preset, workers, out)
            runs[name].append(r["seconds"])
            peaks[name].append(r["peak_rss_mib"])
        same = _digest(Path(tmp) / "baseline.zarr") == _digest(Path(tmp) / "candidate.zarr")
        n_files = sum(len(f) for _, _, f in os.walk(Path(tmp) / "candidate.zarr"))
        size_mb = sum(p.stat().st_size for p in (Path(tmp) / "candidate.zarr").rglob("*") if p.is_file()) / 1e6
    return comparison(
        compared=f"qchaos generate tribaker --preset {ctx.preset}: {len(config.points())} points "
                 f"(N = {config.dimensions[0]}..{config.dimensions[-1]}, R = {list(config.reflectivities)})",
        baseline=side("in-process (--workers 0), one BLAS thread", runs["baseline"],
                      note=f"peak RSS {max(peaks['baseline']):.0f} MiB"),
        candidate=side("Dask LocalCluster, 2 workers", runs["candidate"],
                       note=f"peak RSS of the largest process {max(peaks['candidate']):.0f} MiB"),
        target_ratio=None,
        accuracy={"stores_identical": same},
        accuracy_met=same,
        accuracy_summary={"identical": same, "files": n_files, "MB": round(size_mb, 1)},
        params={"points": len(config.points()), "peak_rss_mib": {k: max(v) for k, v in peaks.items()},
                "store_files": n_files, "store_mb": size_mb, "config": json.loads(json.dumps(config.to_dict()))},
        notes=["seconds include process start-up and imports (what a user waits for); the Dask side includes "
               "starting the local cluster"],
    )
