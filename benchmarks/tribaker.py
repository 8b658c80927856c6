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

from ._core import comparison, interleave, register, side

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


# -- large N ------------------------------------------------------------------------------------------------------
LARGEN_NS = {"mini": (300, 600, 1200, 2400), "paper": (300, 600, 1200, 2400, 4200, 6000)}
LARGEN_DENSE_MAX = {"mini": 1200, "paper": 2400}
LARGEN_SAMPLE = 24  # resonances timed per N (cost per resonance)
LARGEN_POINT_N = {"mini": 3000, "paper": 6000}


def _probe(kind: str, n: int, m: int) -> dict:
    """Time the large-N stages at one N in this process (run in a fresh one: ru_maxrss is its peak)."""
    import resource
    import time

    import numpy as np
    import torch

    from generation.tribaker.generate import norm_ratios
    from generation.tribaker.propagator import apply_tribaker
    from generation.tribaker.resonances import leading_resonances, resonances
    from generation.tribaker.sampling import sampled_resonances, sector_eigenvalues
    from generation.tribaker.summaries import lr_summaries
    from modeling.coherent_layer import CoherentStateLayer, pack_resonances

    out = {"N": n, "kind": kind}
    t = time.perf_counter
    if kind == "dense":
        s = t()
        res = resonances(n, 0.2)
        out["dense_eig_s"] = t() - s
        s = t()
        norm_ratios(res.right, res.left)
        out["dense_norm_ratios_s"] = t() - s
        out["dense_per_resonance_s"] = (out["dense_eig_s"] + out["dense_norm_ratios_s"]) / n
    else:
        x = np.random.default_rng(0).standard_normal((8, n)) + 0j
        apply_tribaker(x, 0.2)
        s = t()
        for _ in range(10):
            apply_tribaker(x, 0.2)
        out["matvec_s"] = (t() - s) / 80
        s = t()
        leading_resonances(n, 0.2, 8)
        out["arnoldi_k8_s"] = t() - s
        s = t()
        spec = sector_eigenvalues(n, 0.2)
        out["sector_eigenvalues_s"] = t() - s
        s = t()
        res = sampled_resonances(n, 0.2, m, spectrum=spec)
        out["vectors_per_resonance_s"] = (t() - s) / m
        s = t()
        lr_summaries(res.right.T, res.left.T, 27)
        out["lr_summaries_per_state_s"] = (t() - s) / m
        layer = CoherentStateLayer(64)
        xb = pack_resonances(res.right.T, res.left.T)
        with torch.no_grad():
            s = t()
            layer(xb)
        out["coherent_layer_S64_per_state_s"] = (t() - s) / m
    out["peak_rss_mib"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def _run_probe(kind: str, n: int, m: int) -> dict:
    code = f"import json; from benchmarks.tribaker import _probe; print(json.dumps(_probe({kind!r}, {n}, {m})))"
    line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=dict(os.environ)).stdout.strip().splitlines()[-1]
    return json.loads(line)


def _fit_exponent(N, y) -> float:
    import numpy as np

    return float(np.polyfit(np.log(N), np.log(y), 1)[0])


@register("tribaker_largen", "tribaker", "large-N resonances: cost per resonance and peak memory against N (Arnoldi "
                                         "step, sector eigenvalues, inverse iteration, streamed LR, coherent layer) "
                                         "vs the dense path; Dask scaling over N points")
def tribaker_largen(ctx) -> dict:
    import time

    Ns = LARGEN_NS[ctx.preset]
    m = LARGEN_SAMPLE
    rows = []
    for n in Ns:
        ctx.log(f"N = {n}: sampled path")
        rows.append(_run_probe("sampled", n, m))
        if n <= LARGEN_DENSE_MAX[ctx.preset]:
            ctx.log(f"N = {n}: dense path")
            rows.append(_run_probe("dense", n, m))
    samp = {r["N"]: r for r in rows if r["kind"] == "sampled"}
    dense = {r["N"]: r for r in rows if r["kind"] == "dense"}
    nd = max(dense)
    # time to the experiment's answer at the largest dense N: all N resonances + their norm ratios, against the
    # sector eigenvalues + 100 sampled resonances with their norm ratios (the mini preset's sample)
    base = dense[nd]["dense_eig_s"] + dense[nd]["dense_norm_ratios_s"]
    s = samp[nd]
    cand = s["sector_eigenvalues_s"] + 100 * (s["vectors_per_resonance_s"] + s["lr_summaries_per_state_s"])
    exps = {k: _fit_exponent(list(samp), [samp[n][k] for n in samp])
            for k in ("matvec_s", "sector_eigenvalues_s", "vectors_per_resonance_s", "lr_summaries_per_state_s",
                      "coherent_layer_S64_per_state_s")}
    exps["dense_eig_s"] = _fit_exponent(list(dense), [dense[n]["dense_eig_s"] for n in dense]) if len(dense) > 1 \
        else float("nan")

    # Dask scaling over N points: the same 4 sampled points with 1 and 2 workers
    import tempfile

    from generation.presets import TribakerConfig
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.tribaker.generate import compute_point

    cfg = TribakerConfig(N0=300, N_values=(300, 600), sample=40, leading=4, bins=27, image_size=16)
    dask = {}
    with tempfile.TemporaryDirectory() as tmp:
        for workers in (1, 2):
            st = PointStore.open(f"{tmp}/w{workers}.zarr", "tribaker", "bench", cfg.to_dict())
            t0 = time.perf_counter()
            run_sweep(st, cfg.points(), compute_point, workers=workers, progress=False)
            dask[workers] = time.perf_counter() - t0
    return comparison(
        compared=f"N = {nd}, R = 0.2: the dense path (all N resonances with left/right vectors + LR norm ratios) vs "
                 f"the sampled path (sector eigenvalues + 100 rank-uniform resonances with vectors + streamed LR)",
        baseline=side("dense: scipy.linalg.eig(U, left, right) + norm_ratios of all N", [base],
                      note=f"peak RSS {dense[nd]['peak_rss_mib']:.0f} MiB"),
        candidate=side("sampled: sector_eigenvalues + 100 x (inverse iteration + lr_summaries)", [cand],
                       note=f"peak RSS {s['peak_rss_mib']:.0f} MiB"),
        target_ratio=None,
        accuracy={"exponents_vs_N": exps},
        accuracy_summary={"dask_2w_speedup": round(dask[1] / dask[2], 2)},
        params={"N": list(Ns), "timed_per_N": m, "per_N": rows, "cost_exponents": exps,
                "dask_points": len(cfg.points()), "dask_seconds": {str(k): v for k, v in dask.items()},
                "dask_speedup_2_workers": dask[1] / dask[2]},
        notes=["per-resonance costs are timed on 24 resonances per N, each N in a fresh process (peak RSS is that "
               "process's); expected exponents: matvec ~N log N (1.1), lr_summaries ~N^2 log N (2.1-2.2), vectors "
               "~N^2, coherent layer S^2 N (1), sector eigenvalues and dense eig N^3",
               "the Dask scaling runs 4 (N, R) points (N = 300, 600, 40 sampled resonances) with 1 and 2 workers "
               "on the same machine; on a loaded 2-core machine the ratio is bounded by the free cores"],
    )


@register("tribaker_largen_point", "tribaker", "one large-N sweep point of the largeN preset (sample 200): wall time "
                                               "and peak memory, extrapolated to the paper run")
def tribaker_largen_point(ctx) -> dict:
    n = LARGEN_POINT_N[ctx.preset]
    code = ("import json, resource, time; from generation.tribaker.generate import compute_point; "
            "t = time.perf_counter(); "
            f"r = compute_point({{'N': {n}, 'R': 0.2, 'per_side': 100, 'image_size': 64, 'min_abs_z': 0.0, "
            "'seed': 0, 'sample': 200, 'leading': 8, 'bins': 27}); "
            "print(json.dumps({'seconds': time.perf_counter() - t, "
            "'peak_rss_mib': resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, "
            "'js': r.attrs['natural_js_husimi_natural_mean']}))")
    ctx.log(f"compute_point N = {n}, R = 0.2, sample 200 (fresh process)")
    line = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env=dict(os.environ)).stdout.strip().splitlines()[-1]
    r = json.loads(line)
    # paper run of localization-vs-n: 13 N values x 2 maps; the sector eigenvalues scale as N^3, the per-state
    # work as N^2 log N: extrapolate each point from this one by N^3 (an upper bound for the smaller N)
    from evaluation.localization_vs_n import PARAMS

    grid = PARAMS["paper"]["N_values"]
    est = sum(2 * r["seconds"] * (N / n) ** 3 for N in grid)
    return comparison(
        compared=f"one (N = {n}, R = 0.2) point of the largeN preset / localization-vs-n paper grid",
        baseline=side("compute_point, sample 200, leading 8, bins 27, 64 x 64 images", [r["seconds"]],
                      note=f"peak RSS {r['peak_rss_mib']:.0f} MiB"),
        candidate=side("same (single measurement)", [r["seconds"]]),
        target_ratio=None,
        accuracy={"js_natural_husimi_mean": r["js"]},
        params={"N": n, "peak_rss_mib": r["peak_rss_mib"], "paper_grid": grid,
                "paper_run_estimate_core_hours_upper": est / 3600},
        notes=["estimate of the paper-scale localization-vs-n sweep: sum over its 13 N x 2 maps of this point's time "
               "scaled by (N / N_measured)^3 (pessimistic for small N), in core-hours; a Dask cluster divides it by "
               "the number of workers (the largest points bound the wall time)"],
    )
