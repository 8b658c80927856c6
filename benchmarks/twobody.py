"""Benchmarks of the two-atom generator (``generation.twobody``, ``generation.sweep``).

* ``window100``: 100 eigenpairs around level 1000 of a ~3000-state parity block, spectrum slicing
  (``block_eigh(..., method="slice")``) against dense ``scipy.linalg.eigh`` of the whole block. Target >= 10x.
* ``levels5000``: the 5000 lowest levels of eta = 1/3, g = 10 by ``solve_spectrum`` (Richardson over bases of 10000
  and 40000 states) against dense ``scipy.linalg.eigvalsh`` of both parity blocks of the 10000-state basis only;
  both checked against the Bethe ansatz. Target >= 3x and max relative error <= 1e-4 (paper preset; ``mini``
  runs 1500 levels). ``--full`` adds dense eigvalsh of one 20000-state block of the 40000-state basis.
* ``images``: batched ``wavefunction_images`` against the per-state ``wavefunction_image_loop`` (timed on a subset,
  scaled per state). Target >= 10x, equal to 1e-5.
* ``sweep_workers``: the Dask sweep (``run_sweep`` + ``compute_point``) on 2 workers against 1 worker, fresh stores,
  which must hold identical arrays. No target (ideal 2x on 2 cores).

Timed regions: only the computation being compared; building the dense matrix of a baseline is excluded (it
favours the baseline) and reported in ``params``.
"""

from __future__ import annotations

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
@register("levels5000", "twobody",
          "5000 lowest levels of eta=1/3, g=10: solve_spectrum (Richardson) vs dense eigvalsh, vs Bethe ansatz")
def levels5000(ctx) -> dict:
    import numpy as np
    import scipy.linalg as sla

    from generation.twobody.basis import basis_by_count, parse_eta
    from generation.twobody.bethe import bethe_levels
    from generation.twobody.hamiltonian import BlockHamiltonian
    from generation.twobody.spectrum import MIN_BASIS, RICHARDSON_FACTOR, solve_spectrum

    n_levels = LEVELS[ctx.preset]
    eta = parse_eta(LEVELS_ETA)
    basis = basis_by_count(eta, max(MIN_BASIS, int(math.ceil(2.0 * n_levels))))  # solve_spectrum's basis d
    ctx.log(f"{n_levels} levels, basis d = {basis.dim} states (4d = {RICHARDSON_FACTOR * basis.dim}); warm-up")
    solve_spectrum(eta, G, 100)  # imports (torch probe in block_eigh, ARPACK) and caches
    t_build, dense = timed(lambda: {c: BlockHamiltonian(basis.block(c), G).dense() for c in (0, 1)})
    sla.eigvalsh(dense[0][:200, :200])
    block_seconds = {0: [], 1: []}

    def baseline():
        out = {}
        for c in (0, 1):
            t, out[c] = timed(lambda: sla.eigvalsh(dense[c]))
            block_seconds[c].append(round(t, 4))
        return out

    res = interleave(baseline, lambda: solve_spectrum(eta, G, n_levels), LEVELS_BASELINE_ROUNDS, 1, log=ctx.log)
    spec, ev = res["candidate_result"], res["baseline_result"]
    del dense
    if spec.basis_size != basis.dim:
        raise RuntimeError(f"solve_spectrum used a basis of {spec.basis_size} states, the baseline {basis.dim}")

    ba = bethe_levels(eta, G, n_levels)
    acc: dict = {"per_parity": {}}
    worst = {"candidate": 0.0, "baseline": 0.0, "raw": 0.0, "raw_vs_dense": 0.0, "estimated": 0.0}
    for c, name in ((0, "even"), (1, "odd")):
        e_ba = ba.energy[ba.parity == c]
        s = spec.select(c)
        n = min(e_ba.size, len(s))
        rel_c = np.abs(s.energy[:n] - e_ba[:n]) / np.abs(e_ba[:n])
        rel_b = np.abs(ev[c][:n] - e_ba[:n]) / np.abs(e_ba[:n])
        rel_raw = np.abs(s.raw[:n] - e_ba[:n]) / np.abs(e_ba[:n])
        raw_vs_dense = np.abs(s.raw - ev[c][s.block_index]) / np.abs(ev[c][s.block_index])  # same basis: ~1e-12
        est = s.error / np.abs(s.energy)
        acc["per_parity"][name] = {
            "levels_ba": int(e_ba.size), "levels_spectrum": int(len(s)),
            "max_rel_err": float(rel_c.max()), "median_rel_err": float(np.median(rel_c)),
            "baseline_max_rel_err": float(rel_b.max()), "raw_max_rel_err": float(rel_raw.max()),
            "raw_vs_dense_max_rel_diff": float(raw_vs_dense.max()), "estimated_max_rel_err": float(np.nanmax(est)),
        }
        for k, v in (("candidate", rel_c.max()), ("baseline", rel_b.max()), ("raw", rel_raw.max()),
                     ("raw_vs_dense", raw_vs_dense.max()), ("estimated", np.nanmax(est))):
            worst[k] = max(worst[k], float(v))
    counts_ok = all(v["levels_ba"] == v["levels_spectrum"] for v in acc["per_parity"].values())
    acc.update({"max_rel_err": worst["candidate"], "baseline_max_rel_err": worst["baseline"],
                "raw_max_rel_err": worst["raw"], "raw_vs_dense_max_rel_diff": worst["raw_vs_dense"],
                "estimated_max_rel_err": worst["estimated"], "top_rel_error": float(spec.top_rel_error),
                "parity_counts_match_ba": counts_ok, "target_max_rel_err": 1e-4})
    small = side(f"scipy.linalg.eigvalsh of both dense parity blocks of the {basis.dim}-state basis",
                 res["baseline"], note="dense matrices built beforehand, not timed; per block seconds in params")
    extra = {"small_basis_baseline": {**small, "ratio": small["seconds"] / min(res["candidate"]),
                                      "max_rel_err": worst["baseline"]}}
    baseline = small
    notes = ["candidate = solve_spectrum default (Richardson 2 E(4d) - E(d), method auto: slicing on this CPU)"]
    # The same-accuracy baseline: the tolerance needs the Richardson pair, i.e. dense on BOTH bases (d and 4d).
    if ctx.full or ctx.preset != "paper":
        big = _dense_big(ctx, eta, basis.dim * RICHARDSON_FACTOR)
        extra["dense_4d_basis"] = big
        baseline = side(f"dense eigvalsh of both blocks of both bases ({basis.dim} and "
                        f"{RICHARDSON_FACTOR * basis.dim} states): the same Richardson accuracy",
                        [small["seconds"] + big["seconds_both_blocks"]],
                        note="sum of the best small-basis run and one run on the 4x basis; matrices built "
                             "beforehand, not timed")
        notes.append("ratio = dense on both bases (same accuracy) / candidate; the small-basis-only dense baseline "
                     "(which misses the tolerance) is reported in extra.small_basis_baseline")
    else:
        notes.append(f"ratio = dense eigvalsh of the SMALLER basis only ({basis.dim} states) / candidate: that "
                     f"baseline misses the 1e-4 tolerance (max rel err {worst['baseline']:.1e}); the same-accuracy "
                     f"baseline needs dense on the {RICHARDSON_FACTOR}x basis too (--full, ~3 GB per block, minutes)")
    notes.append(f"small-basis baseline runs {LEVELS_BASELINE_ROUNDS}x around the single candidate run (B C B), "
                 "best taken")
    if ctx.preset != "paper":
        notes.append(f"scaled down to {n_levels} levels for preset {ctx.preset}; the 3x target is stated for 5000 "
                     "levels (preset paper)")
    return comparison(
        compared=f"{n_levels} lowest levels (both parities) of eta=1/3, g={G}",
        baseline=baseline,
        candidate=side(f"solve_spectrum(1/3, {G}, {n_levels}) (bases {basis.dim} and "
                       f"{RICHARDSON_FACTOR * basis.dim}, Richardson)", res["candidate"]),
        target_ratio=3.0,
        accuracy=acc,
        accuracy_met=bool(worst["candidate"] <= 1e-4 and counts_ok),
        accuracy_summary={"max_rel_err": worst["candidate"], "baseline_max_rel_err": worst["baseline"]},
        params={"eta": LEVELS_ETA, "g": G, "levels": n_levels, "basis_d": basis.dim,
                "basis_4d": RICHARDSON_FACTOR * basis.dim, "block_dims": [basis.block(0).dim, basis.block(1).dim],
                "baseline_block_seconds": {"even": block_seconds[0], "odd": block_seconds[1]},
                "dense_build_seconds": round(t_build, 3)},
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
        seconds[name], _ = timed(lambda: sla.eigvalsh(h, overwrite_a=True, check_finite=False))
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
