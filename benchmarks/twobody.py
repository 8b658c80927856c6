"""Benchmarks of the two-atom generator (``generation.twobody``, ``generation.sweep``).

* ``window100``: 100 eigenpairs around level 1000 of a ~3000-state parity block, spectrum slicing
  (``block_eigh(..., method="slice")``) against dense ``scipy.linalg.eigh`` of the whole block. Target >= 10x.
* ``levels5000``: the 5000 lowest levels of eta = 1/3, g = 10 by ``solve_spectrum`` scheme "effective" (one
  7500-state basis, ``docs/spectra.md``) against dense ``scipy.linalg.eigvalsh`` of both Richardson bases (10000 and
  40000 states, the same accuracy), checked against the Bethe ansatz; an accuracy table at eta = 1/3 and 1, g = 1,
  10, 50; the same spectrum on 2 Dask workers vs 1. Targets >= 10x, max relative error <= 2e-5, 2 vs 1 >= 1.7x.
  The 40000-state dense half is measured with ``--full`` (and for ``mini``), else scaled from the measured
  10000-state one by the ratio measured here before. ``python -m benchmarks --preset paper --only levels5000`` runs
  just this spectra case.
* ``images``: batched ``wavefunction_images`` against the per-state ``wavefunction_image_loop`` (timed on a subset,
  scaled per state). Target >= 10x, equal to 1e-5.
* ``sweep_workers``: the Dask sweep (``run_sweep`` + ``compute_point``) on 2 workers against 1 worker, fresh stores,
  which must hold identical arrays. No target (ideal 2x on 2 cores).

Timed regions: only the computation being compared; building the dense matrix of a baseline is excluded (it
favours the baseline) and reported in ``params``.
"""

from __future__ import annotations

import contextlib
import math
import tempfile
from pathlib import Path

from ._core import comparison, interleave, register, side, timed

G = 10.0

WINDOW = {"eta": 0.5, "g": G, "n_states": 6000, "parity": "odd", "k": 1000, "half": 50}
WINDOW_ROUNDS = {"mini": {"dense": 1, "slice": 3}, "paper": {"dense": 2, "slice": 5}}

LEVELS = {"mini": 1500, "paper": 5000}
LEVELS_ETA = "1/3"
LEVELS_BASELINE_ROUNDS = 2  # B C B: the baseline before and after the (long) candidate

IMAGES = {"eta": 0.5, "g": G, "n_states": 2400, "block_lo": 100, "per_parity": 100, "size": 100}
IMAGES_ROUNDS = {"mini": {"loop": 2, "batched": 5, "loop_states": 20},
                 "paper": {"loop": 3, "batched": 7, "loop_states": 50}}

SWEEP = {"etas": (0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9), "levels": 600, "window": (100, 299), "image_size": 48}
SWEEP_ROUNDS = {"mini": 1, "paper": 2}


# ------------------------------------------------------------------------------------------------ window100
@register("window100", "twobody", "100 eigenpairs at level 1000 of a 3000-state block: slicing vs dense eigh")
def window100(ctx) -> dict:
    import numpy as np
    import scipy.linalg as sla

    from generation.twobody.basis import basis_by_count
    from generation.twobody.eigensolve import block_eigh
    from generation.twobody.hamiltonian import BlockHamiltonian

    p = WINDOW
    rounds = WINDOW_ROUNDS[ctx.preset]
    block = basis_by_count(p["eta"], p["n_states"]).block(p["parity"])
    k_lo, k_hi = p["k"] - p["half"], p["k"] + p["half"]
    t_build, h = timed(lambda: BlockHamiltonian(block, p["g"]).dense())
    ctx.log(f"block of {block.dim} states (eta={p['eta']}, {p['parity']}), window [{k_lo}, {k_hi}); warm-up")
    small = basis_by_count(p["eta"], 800).block(p["parity"])
    block_eigh(BlockHamiltonian(small, p["g"]), 100, 140, vectors=True, method="slice")
    sla.eigh(BlockHamiltonian(small, p["g"]).dense())

    res = interleave(
        lambda: sla.eigh(h),
        lambda: block_eigh(BlockHamiltonian(block, p["g"]), k_lo, k_hi, vectors=True, method="slice"),
        rounds["dense"], rounds["slice"], log=ctx.log)
    e_all, v_all = res["baseline_result"]
    e, v = res["candidate_result"]
    e_ref, v_ref = e_all[k_lo:k_hi], v_all[:, k_lo:k_hi]
    ham = BlockHamiltonian(block, p["g"])
    max_diff = float(np.max(np.abs(e - e_ref)))
    rel = max_diff / float(np.max(np.abs(e_ref)))
    resid = float(np.max(np.linalg.norm(ham.matvec(v) - v * e, axis=0)))
    ortho = float(np.max(np.abs(v.T @ v - np.eye(v.shape[1]))))
    # subspace check (robust to signs and to degenerate pairs inside the window)
    subspace = float(np.max(1.0 - np.sum((v_ref.T @ v) ** 2, axis=0)))
    accuracy = {"max_abs_eigenvalue_diff": max_diff, "max_rel_eigenvalue_diff": rel, "max_residual_norm": resid,
                "max_orthonormality_error": ortho, "max_subspace_defect": subspace,
                "energy_range": [float(e_ref[0]), float(e_ref[-1])]}
    return comparison(
        compared="window of 100 eigenpairs (block indices 950-1049) of one parity block, eigenvalues and vectors",
        baseline=side("scipy.linalg.eigh(H) of the whole dense block (all eigenpairs, driver evr)", res["baseline"],
                      note="dense matrix built beforehand, not timed"),
        candidate=side("block_eigh(ham, 950, 1050, vectors=True, method='slice') incl. BlockHamiltonian setup",
                       res["candidate"]),
        target_ratio=10.0,
        accuracy=accuracy,
        accuracy_met=bool(rel <= 1e-10 and subspace <= 1e-8),
        accuracy_summary={"max_abs_dE": max_diff},
        params={**p, "block_dim": block.dim, "k_lo": k_lo, "k_hi": k_hi, "dense_build_seconds": round(t_build, 4)},
        notes=["accuracy_met: max relative eigenvalue difference <= 1e-10 and subspace defect <= 1e-8"],
    )


# ------------------------------------------------------------------------------------------------ levels5000
EFFECTIVE_FACTOR = 1.5
"""Basis states per level of the one-basis scheme in this benchmark (max rel err ~8e-6 at 2000 levels, g = 10)."""
DENSE_4D_OVER_D = 955.58 / 16.15
"""Dense eigvalsh time of the 40000-state over the 10000-state basis, both measured on this machine in the --full
paper run of 2026-11-21 (benchmarks/results/paper.json before this change): scales the 4d half of the baseline
when it is not run (the cubic law would say 64)."""
TABLE_LEVELS = {"mini": 1500, "paper": 2000}
"""Levels of the accuracy table over eta in {1/3, 1} and g in {1, 10, 50} (the g = 10, eta = 1/3 row of the paper
preset is the 5000-level candidate itself)."""


@register("levels5000", "twobody",
          "5000 lowest levels of eta=1/3, g=10: one-basis 'effective' scheme vs dense eigvalsh of both Richardson "
          "bases, vs the Bethe ansatz; the same spectrum on 2 Dask workers vs 1")
def levels5000(ctx) -> dict:
    import numpy as np
    import scipy.linalg as sla

    from generation.twobody.basis import basis_by_count, parse_eta
    from generation.twobody.bethe import bethe_levels
    from generation.twobody.hamiltonian import BlockHamiltonian
    from generation.twobody.spectrum import RICHARDSON_FACTOR, solve_spectrum

    n_levels = LEVELS[ctx.preset]
    eta = parse_eta(LEVELS_ETA)
    try:
        import torch
        cuda = "CUDA available" if torch.cuda.is_available() else "no CUDA"
    except ImportError:  # pragma: no cover - torch is a dependency
        cuda = "no torch"
    basis = basis_by_count(eta, int(math.ceil(2.0 * n_levels)))  # Richardson's basis d (basis_factor 2)
    ctx.log(f"{n_levels} levels; candidate basis {int(EFFECTIVE_FACTOR * n_levels)} states; dense baseline on the "
            f"{basis.dim}-state basis (and {RICHARDSON_FACTOR}x); warm-up")
    solve_spectrum(eta, G, 100, basis_factor=EFFECTIVE_FACTOR)
    dense = {c: BlockHamiltonian(basis.block(c), G).dense() for c in (0, 1)}
    res = interleave(lambda: {c: sla.eigvalsh(dense[c]) for c in (0, 1)},  # noqa: F821 - called before the del below
                     lambda: solve_spectrum(eta, G, n_levels, basis_factor=EFFECTIVE_FACTOR), 1, 1, log=ctx.log)
    del dense
    spec = res["candidate_result"]
    small = min(res["baseline"])
    extra = {}
    if ctx.full or ctx.preset != "paper":
        big = _dense_big(ctx, eta, basis.dim * RICHARDSON_FACTOR)
        extra["dense_4d_basis"] = big
        both, how = small + big["seconds_both_blocks"], "measured"
        t_rich, rich = timed(lambda: solve_spectrum(eta, G, n_levels, scheme="richardson"))
        extra["richardson"] = {"seconds": t_rich, "ratio_vs_candidate": t_rich / min(res["candidate"])}
    else:
        both, how = small * (1.0 + DENSE_4D_OVER_D), f"scaled x{DENSE_4D_OVER_D:.1f} from the measured d basis"
        rich = None
    ba = bethe_levels(eta, G, n_levels)
    rel = np.abs(spec.energy - ba.energy) / ba.energy
    baseline_rel = float(np.max(np.abs(np.sort(np.concatenate([res["baseline_result"][0], res["baseline_result"][1]]))
                                       [:n_levels] - ba.energy) / ba.energy))
    acc = {"max_rel_err": float(rel.max()), "median_rel_err": float(np.median(rel)),
           "estimated_max_rel_err": float(np.max(spec.error / spec.energy)),
           "raw_max_rel_err": float(np.nanmax(np.abs(spec.raw - ba.energy) / ba.energy)),
           "dense_d_basis_max_rel_err": baseline_rel, "target_max_rel_err": 2e-5}
    if rich is not None:
        acc["richardson_max_rel_err"] = float(np.max(np.abs(rich.energy - ba.energy) / ba.energy))
    table, n_table = {}, TABLE_LEVELS[ctx.preset]
    for name in ("1/3", "1"):
        for g in (1.0, G, 50.0):
            ctx.log(f"accuracy table: eta={name}, g={g:g}, {n_table} levels")
            t, s = timed(lambda: solve_spectrum(name, g, n_table, basis_factor=EFFECTIVE_FACTOR))
            e = bethe_levels(name, g, n_table).energy
            table[f"eta={name},g={g:g}"] = {
                "levels": n_table, "seconds": round(t, 3), "max_rel_err": float(np.max(np.abs(s.energy - e) / e)),
                "estimated_max_rel_err": float(np.max(s.error / s.energy)),
                "raw_max_rel_err": float(np.nanmax(np.abs(s.raw - e) / e))}
    acc["table"] = table
    # the same spectrum with the dense solves in torch double precision (MKL's LAPACK on the CPU here)
    ctx.log("in process, method='torch' (torch.linalg.eigvalsh, float64)")
    t_torch = [timed(lambda: solve_spectrum(eta, G, n_levels, basis_factor=EFFECTIVE_FACTOR, method="torch"))
               for _ in range(2)]
    spec_torch = t_torch[-1][1]
    extra["torch_in_process"] = {
        "seconds": min(t for t, _ in t_torch), "runs": [round(t, 3) for t, _ in t_torch],
        "ratio_vs_default": min(res["candidate"]) / min(t for t, _ in t_torch),
        "max_rel_err": float(np.max(np.abs(spec_torch.energy - ba.energy) / ba.energy)),
        "max_rel_diff_vs_default": float(np.max(np.abs(spec_torch.energy - spec.energy) / spec.energy))}
    # the same spectrum with its 8 independent dense solves as tasks on 1 and on 2 Dask workers: both clusters up and
    # warm (modules imported, a small spectrum solved) before any timing, the sides alternated, best of 2 each
    from dask.distributed import Client, LocalCluster

    with contextlib.ExitStack() as stack:
        clients = {}
        for n in (1, 2):
            cluster = stack.enter_context(LocalCluster(n_workers=n, threads_per_worker=1, processes=True,
                                                       dashboard_address=None, silence_logs=40))
            clients[n] = stack.enter_context(Client(cluster))
            for method in ("auto", "torch"):  # imports and first calls out of the timings
                solve_spectrum(eta, G, 200, basis_factor=EFFECTIVE_FACTOR, client=clients[n], method=method)

        def on(n, method):
            return lambda: solve_spectrum(eta, G, n_levels, basis_factor=EFFECTIVE_FACTOR, client=clients[n],
                                          method=method)

        by_method = {}
        for method in ("auto", "torch"):
            ctx.log(f"1 vs 2 Dask workers, method={method!r} (alternated, best of 2)")
            by_method[method] = interleave(on(1, method), on(2, method), 2, 2, log=ctx.log)
    fields = ("energy", "raw", "error", "level", "parity", "block_index")
    workers = {}
    for method, runs in by_method.items():
        spectra = {1: runs["baseline_result"], 2: runs["candidate_result"]}
        times = {1: min(runs["baseline"]), 2: min(runs["candidate"])}
        # bitwise 1 vs 2 workers (both single-threaded BLAS); the in-process candidate ran with library BLAS
        # threads, whose reductions differ in the last bits, so it is compared by its largest relative difference
        reference = spec if method == "auto" else spec_torch
        workers[method] = {
            "seconds_1": times[1], "seconds_2": times[2], "runs_1": runs["baseline"], "runs_2": runs["candidate"],
            "ratio_2_vs_1": times[1] / times[2], "target_ratio": 1.7, "target_met": times[1] / times[2] >= 1.7,
            "identical": all(np.array_equal(getattr(spectra[1], k), getattr(spectra[2], k), equal_nan=k == "raw")
                             for k in fields),
            "vs_in_process_max_rel_diff": float(np.max(np.abs(spectra[1].energy - reference.energy)
                                                       / reference.energy))}
    extra["workers_vs_in_process_max_rel_diff"] = workers["auto"]["vs_in_process_max_rel_diff"]
    identical = all(w["identical"] for w in workers.values())
    workers = {**workers["auto"], "torch": workers["torch"]}
    extra["workers"] = workers
    notes = [f"baseline = dense eigvalsh of both parity blocks of both Richardson bases ({basis.dim} and "
             f"{RICHARDSON_FACTOR * basis.dim} states), the 4d part {how}",
             f"candidate = solve_spectrum(1/3, {G}, {n_levels}, basis_factor={EFFECTIVE_FACTOR}) (scheme 'effective',"
             " 8 dense solves of the 7500-state basis, in process, library BLAS threads)",
             f"accuracy table at {n_table} levels (the 5000-level g = 10 eta = 1/3 numbers are the top-level "
             "accuracy fields)",
             "workers: wall time of the same solve_spectrum with client= a LocalCluster of 1 or 2 single-threaded "
             "processes (both clusters started and warmed first; runs alternated, best of 2 each); identical = "
             "bitwise equal arrays on 1 and 2 workers",
             "torch_in_process / workers.torch: the same spectrum with method='torch' (torch.linalg.eigvalsh in "
             f"float64; on the CPU here, torch's LAPACK); GPU: {cuda}"]
    return comparison(
        compared=f"{n_levels} lowest levels (both parities) of eta=1/3, g={G}",
        baseline=side(f"dense eigvalsh of both bases ({basis.dim} + {RICHARDSON_FACTOR * basis.dim} states, "
                      "Richardson's same-accuracy route)", [both],
                      note=f"measured dense eigvalsh of the {basis.dim}-state basis: {small:.2f} s; 4d part {how}"),
        candidate=side(f"solve_spectrum scheme 'effective' ({int(EFFECTIVE_FACTOR * n_levels)}-state basis)",
                       res["candidate"]),
        target_ratio=10.0,
        accuracy=acc,
        accuracy_met=bool(rel.max() <= 2e-5 and identical),
        accuracy_summary={"max_rel_err": float(rel.max()), "workers_2_vs_1": workers["ratio_2_vs_1"],
                          "workers_target_1.7_met": workers["target_met"],
                          "torch_vs_default_in_process": extra["torch_in_process"]["ratio_vs_default"],
                          "torch_workers_2_vs_1": workers["torch"]["ratio_2_vs_1"]},
        params={"eta": LEVELS_ETA, "g": G, "levels": n_levels, "basis_factor": EFFECTIVE_FACTOR,
                "basis_d": basis.dim, "basis_4d": RICHARDSON_FACTOR * basis.dim, "dense_d_seconds": small,
                "gpu": cuda},
        notes=notes,
        extra=extra,
    )


def _dense_big(ctx, eta, dim_4d) -> dict:
    """Dense eigvalsh of both parity blocks of the 4x basis: the other half of the same-accuracy baseline."""
    import scipy.linalg as sla

    from generation.twobody.basis import basis_by_count
    from generation.twobody.hamiltonian import BlockHamiltonian

    basis = basis_by_count(eta, dim_4d)
    seconds = {}
    for c, name in ((0, "even"), (1, "odd")):
        block = basis.block(c)
        ctx.log(f"dense eigvalsh of the {name} block of the {dim_4d}-state basis ({block.dim} x {block.dim}, "
                f"{block.dim ** 2 * 8 / 2**30:.2f} GiB)")
        h = BlockHamiltonian(block, G).dense()
        seconds[name], _ = timed(lambda: sla.eigvalsh(h, overwrite_a=True, check_finite=False))  # noqa: F821 - called before the del below
        del h
    return {"label": f"scipy.linalg.eigvalsh of both dense blocks of the {dim_4d}-state basis",
            "block_seconds": seconds, "seconds_both_blocks": sum(seconds.values())}


# ------------------------------------------------------------------------------------------------ images
@register("images", "twobody", "200 wavefunction images 100x100 of a 2400-state basis: batched vs per-state loop")
def images(ctx) -> dict:
    import numpy as np
    import scipy.linalg as sla

    from generation.twobody.basis import basis_by_count
    from generation.twobody.hamiltonian import BlockHamiltonian
    from generation.twobody.images import fix_sign, wavefunction_image_loop, wavefunction_images

    p = IMAGES
    rounds = IMAGES_ROUNDS[ctx.preset]
    basis = basis_by_count(p["eta"], p["n_states"])
    lo, k = p["block_lo"], p["per_parity"]
    rows = []
    for c in (0, 1):  # real eigenstates: block indices lo .. lo+k-1 of each parity, embedded in the full basis
        _, v = sla.eigh(BlockHamiltonian(basis.block(c), p["g"]).dense(), subset_by_index=[lo, lo + k - 1])
        full = np.zeros((k, basis.dim))
        full[:, np.flatnonzero(basis.parity == c)] = v.T
        rows.append(full)
    coeffs = fix_sign(np.concatenate(rows))
    n_states, size = coeffs.shape[0], p["size"]
    subset = np.unique(np.linspace(0, n_states - 1, rounds["loop_states"]).round().astype(int))
    scale = n_states / subset.size
    ctx.log(f"{n_states} states of a {basis.dim}-state basis at {size}x{size}; loop timed on {subset.size} states; "
            "warm-up")
    wavefunction_images(basis, coeffs[:2], size)
    wavefunction_image_loop(basis, coeffs[:1], size)

    res = interleave(lambda: wavefunction_image_loop(basis, coeffs[subset], size),
                     lambda: wavefunction_images(basis, coeffs, size),
                     rounds["loop"], rounds["batched"], log=ctx.log)
    ref, out = res["baseline_result"], res["candidate_result"]
    diff = float(np.max(np.abs(out[subset].astype(np.float64) - ref)))
    rel = diff / float(np.max(np.abs(ref)))
    return comparison(
        compared=f"{n_states} signed wavefunction images {size}x{size} (float32 output) of a {basis.dim}-state basis",
        baseline=side("wavefunction_image_loop (one state, one basis function at a time)", res["baseline"],
                      scale=scale, note=f"timed on {subset.size} of the {n_states} states, scaled x{scale:g} per "
                                        "state (the loop's cost is linear in the states)"),
        candidate=side("wavefunction_images (batched matrix products, chunk 256)", res["candidate"]),
        target_ratio=10.0,
        accuracy={"max_abs_diff": diff, "max_rel_diff": rel, "states_compared": int(subset.size),
                  "tolerance": 1e-5},
        accuracy_met=bool(diff <= 1e-5),
        accuracy_summary={"max_abs_diff": diff},
        params={**p, "basis_dim": basis.dim, "states": n_states, "loop_states": int(subset.size)},
        notes=["target 10x is ours (the issue asks for the comparison and equality to 1e-5)"],
    )


# ------------------------------------------------------------------------------------------------ sweep_workers
@register("sweep_workers", "twobody", "Dask sweep of 8 mass ratios: 2 workers vs 1 worker, identical stores")
def sweep_workers(ctx) -> dict:
    import os

    from generation.presets import TwobodyConfig
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.twobody.generate import compute_point

    config = TwobodyConfig(**SWEEP)
    rounds = SWEEP_ROUNDS[ctx.preset]
    stores: dict[int, list[Path]] = {1: [], 2: []}
    with tempfile.TemporaryDirectory(prefix="qchaos-bench-sweep-") as tmp:
        def run(workers):
            path = Path(tmp) / f"w{workers}-{len(stores[workers])}.zarr"
            stores[workers].append(path)
            store = PointStore.open(path, "twobody", "bench", config.to_dict())
            return run_sweep(store, config.points(), compute_point, workers=workers, progress=False)

        ctx.log(f"{len(config.etas)} points (levels {config.levels}, window {config.window}, images "
                f"{config.image_size}^2), {rounds} round(s) per side, fresh store each")
        res = interleave(lambda: run(1), lambda: run(2), rounds, rounds, log=ctx.log)
        ref = _read_store(stores[1][0])
        mismatches, worst, differing = [], 0.0, {}
        for path in stores[1][1:] + stores[2]:
            msgs, rel = _compare_stores(ref, _read_store(path))
            mismatches += [f"{path.name} vs {stores[1][0].name}: {m}" for m in msgs]
            worst = max(worst, rel)
            for m in msgs:
                name = m.split(":")[0].split("/", 1)[-1]
                differing[name] = differing.get(name, 0) + 1
    n_arrays = len(ref["arrays"])
    identical = not mismatches
    return comparison(
        compared=f"run_sweep(compute_point) over {len(config.etas)} mass ratios into a fresh Zarr store",
        baseline=side("1 Dask worker (LocalCluster, 1 thread, 1 BLAS thread)", res["baseline"],
                      note="wall time incl. cluster start-up"),
        candidate=side("2 Dask workers (LocalCluster, 1 thread each, 1 BLAS thread each)", res["candidate"],
                       note="wall time incl. cluster start-up"),
        target_ratio=None,
        accuracy={"identical_arrays": identical, "arrays_compared": n_arrays, "stores_compared": 2 * rounds,
                  "max_rel_diff": worst, "equal_to_rel_1e-10": bool(worst <= 1e-10),
                  "differing_arrays": differing, "mismatches": mismatches[:40]},
        accuracy_met=identical,
        accuracy_summary={"identical": identical, "max_rel_diff": worst},
        params={**{k: list(v) if isinstance(v, tuple) else v for k, v in SWEEP.items()}, "g": config.g,
                "cpu_count": os.cpu_count()},
        notes=["no target: the ideal is 2x on 2 cores; the workers' BLAS is pinned to 1 thread by Dask's nanny "
               "(OMP/OPENBLAS/MKL_NUM_THREADS=1) on both sides",
               "identical = every array (values, dtype, shape) and every point attribute bitwise equal across all "
               "stores (the first 1-worker store is the reference); max_rel_diff = max |x - y| / max |x| otherwise"],
    )


def _read_store(path: Path) -> dict:
    """Every array (``point/table/name`` -> ndarray) and every point's attributes of a sweep store."""
    import zarr

    points = zarr.open_group(str(path / "points"), mode="r")
    arrays, attrs = {}, {}

    def walk(group, prefix):
        for name, arr in group.arrays():
            arrays[f"{prefix}/{name}"] = arr[...]
        for name, sub in group.groups():
            walk(sub, f"{prefix}/{name}")

    for key, group in points.groups():
        attrs[key] = dict(group.attrs)
        walk(group, key)
    return {"arrays": arrays, "attrs": attrs}


def _compare_stores(a: dict, b: dict) -> tuple[list[str], float]:
    """Differences between two stores read by :func:`_read_store`: ``(messages, max relative difference)``.

    Arrays must agree bitwise (values, dtype, shape); the maximum of ``|x - y| / max|x|`` over differing float
    arrays tells how far apart they are.
    """
    import numpy as np

    out, worst = [], 0.0
    for name in sorted(set(a["arrays"]) | set(b["arrays"])):
        x, y = a["arrays"].get(name), b["arrays"].get(name)
        if x is None or y is None:
            out.append(f"{name}: missing in one store")
            worst = float("inf")
        elif x.dtype != y.dtype or x.shape != y.shape:
            out.append(f"{name}: dtype/shape {x.dtype}{x.shape} vs {y.dtype}{y.shape}")
            worst = float("inf")
        elif not np.array_equal(x, y, equal_nan=x.dtype.kind == "f"):
            if x.dtype.kind in "fiu":
                diff = float(np.nanmax(np.abs(x.astype(np.float64) - y.astype(np.float64))))
                rel = diff / max(float(np.nanmax(np.abs(x.astype(np.float64)))), 1e-300)
                worst = max(worst, rel)
                out.append(f"{name}: values differ (max abs diff {diff:.3g}, relative {rel:.3g})")
            else:
                worst = float("inf")
                out.append(f"{name}: values differ")
    if a["attrs"] != b["attrs"]:
        keys = sorted(k for k in set(a["attrs"]) | set(b["attrs"]) if a["attrs"].get(k) != b["attrs"].get(k))
        out.append(f"point attributes differ: {keys}")
    return out, worst

