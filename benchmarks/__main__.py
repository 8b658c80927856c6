"""``python -m benchmarks [--preset mini|paper] [--only NAME ...] [--out DIR] [--full] [--threads N] [--list]``.

Runs the registered benchmarks, prints a table and writes ``<out>/<preset>.json`` (default ``benchmarks/results``).
Entries of an existing results file that were not run now are kept (each entry carries its own date and load).
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
import traceback
from pathlib import Path

from qchaos.scales import USER_SCALES

RESULTS = Path(__file__).resolve().parent / "results"


def _parse(argv):
    p = argparse.ArgumentParser(prog="python -m benchmarks", description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default=USER_SCALES[0], choices=USER_SCALES,
                   help="problem sizes and repeats (mini: a few minutes; paper: the issue's sizes)")
    p.add_argument("--only", nargs="+", metavar="NAME", help="run only these benchmarks (names or families)")
    p.add_argument("--out", type=Path, default=RESULTS, help="folder of the results JSON (default %(default)s)")
    p.add_argument("--full", action="store_true",
                   help="also run the optional very large baselines (levels5000: dense eigvalsh of one "
                        "20000 x 20000 block of the 4x basis, ~3 GB and many minutes at paper scale)")
    p.add_argument("--threads", type=int, default=None,
                   help="BLAS/OpenMP threads for both sides (sets OMP/OPENBLAS/MKL_NUM_THREADS before numpy is "
                        "imported); default: the libraries' default (one per core)")
    p.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    p.add_argument("--quiet", action="store_true", help="no progress lines on stderr")
    return p.parse_args(argv)


def _fmt_s(x) -> str:
    if x is None or (isinstance(x, float) and not math.isfinite(x)):
        return "-"
    return f"{x:.3g}" if x < 100 else f"{x:.0f}"


def print_table(entries: list[dict], file=sys.stdout) -> None:
    head = ("benchmark", "baseline s", "candidate s", "ratio", "target", "speed", "accuracy")
    rows = []
    for e in entries:
        if e.get("status") != "ok":
            rows.append((e["name"], "-", "-", "-", "-", "ERROR", e.get("error", "")[:60]))
            continue
        tgt = e["target"]["min_ratio"]
        met = {True: "met", False: "NOT met", None: "-"}[e["target_met"]]
        if e.get("code_changed_during_run"):
            met += " (code changed!)"
        acc_met = {True: "ok", False: "FAIL", None: ""}[e.get("accuracy_met")]
        rows.append((e["name"], _fmt_s(e["baseline"]["seconds"]), _fmt_s(e["candidate"]["seconds"]),
                     f"{e['ratio']:.2f}x", f">= {tgt}x" if tgt else "-", met,
                     (acc_met + " " if acc_met else "") + ", ".join(
                         f"{k}={v:.3g}" if isinstance(v, float) else f"{k}={v}"
                         for k, v in e.get("accuracy_summary", {}).items())))
    widths = [max(len(str(r[i])) for r in rows + [head]) for i in range(len(head))]
    line = "  ".join(h.ljust(w) for h, w in zip(head, widths))
    print(line, file=file)
    print("-" * len(line), file=file)
    for r in rows:
        print("  ".join(str(c).ljust(w) for c, w in zip(r, widths)), file=file)
    print(file=file)
    for e in entries:
        if e.get("status") == "ok":
            print(f"{e['name']}: {e['compared']}", file=file)
            print(f"    baseline : {e['baseline']['label']}" + (f"  [{e['baseline']['note']}]"
                                                                if e["baseline"].get("note") else ""), file=file)
            print(f"    candidate: {e['candidate']['label']}" + (f"  [{e['candidate']['note']}]"
                                                                 if e["candidate"].get("note") else ""), file=file)
            for n in e.get("notes", []):
                print(f"    note: {n}", file=file)


def _json_default(x):
    import numpy as np

    if isinstance(x, np.integer):
        return int(x)
    if isinstance(x, np.floating):
        return float(x)
    if isinstance(x, np.bool_):
        return bool(x)
    if isinstance(x, np.ndarray):
        return x.tolist()
    if isinstance(x, Path):
        return str(x)
    raise TypeError(f"not JSON serialisable: {type(x).__name__}")


def main(argv=None) -> int:
    args = _parse(argv)
    if args.threads is not None:
        if args.threads < 1:
            raise SystemExit("--threads: must be >= 1")
        for var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
            os.environ[var] = str(args.threads)

    from ._core import Context, code_fingerprint, load_families, machine_info, now, registry

    import_errors = load_families()
    for mod, err in import_errors.items():
        print(f"warning: benchmark family {mod!r} failed to import: {err}", file=sys.stderr)
    benches = registry()
    if args.list:
        for b in benches.values():
            print(f"{b.name:16s} {b.family:10s} {b.summary}")
        return 0
    selected = list(benches.values())
    if args.only:
        unknown = [n for n in args.only if n not in benches and n not in {b.family for b in benches.values()}]
        if unknown:
            raise SystemExit(f"--only: unknown benchmark(s) {unknown}; choose from {sorted(benches)} or a family "
                             f"{sorted({b.family for b in benches.values()})}")
        selected = [b for b in selected if b.name in args.only or b.family in args.only]

    ctx = Context(preset=args.preset, full=args.full, verbose=not args.quiet)
    machine = machine_info()
    print(f"benchmarks, preset {args.preset}: {len(selected)} to run on {machine['cpu_count']} cores "
          f"({machine['cpu_model']}), numpy {machine['numpy']}, scipy {machine['scipy']}, BLAS threads "
          f"{machine['blas_threads'] or 'unknown'}, load {machine['loadavg']}", file=sys.stderr, flush=True)

    entries = []
    for b in selected:
        print(f"-- {b.name} ({b.family}): {b.summary}", file=sys.stderr, flush=True)
        load_before = os.getloadavg()
        code_before = code_fingerprint()
        t0 = time.perf_counter()
        try:
            entry = {"name": b.name, "family": b.family, "status": "ok", **b.fn(ctx)}
        except Exception as exc:  # noqa: BLE001 - record and go on with the next benchmark
            traceback.print_exc()
            entry = {"name": b.name, "family": b.family, "status": "error", "error": f"{type(exc).__name__}: {exc}"}
        entry.update({"preset": args.preset, "date": now(), "wall_seconds": round(time.perf_counter() - t0, 2),
                      "loadavg_before": [round(x, 2) for x in load_before],
                      "loadavg_after": [round(x, 2) for x in os.getloadavg()], "code_fingerprint": code_before})
        if code_fingerprint() != code_before:
            entry["code_changed_during_run"] = True
            print(f"   WARNING: the project's code changed while {b.name} ran; its numbers mix two versions",
                  file=sys.stderr, flush=True)
        entries.append(entry)
        if entry["status"] == "ok":
            tgt = entry["target"]["min_ratio"]
            print(f"   {b.name}: ratio {entry['ratio']:.2f}x (target {f'>= {tgt}x' if tgt else 'none'}), "
                  f"accuracy {entry.get('accuracy_summary', {})}", file=sys.stderr, flush=True)

    args.out.mkdir(parents=True, exist_ok=True)
    path = args.out / f"{args.preset}.json"
    old = {}
    if path.exists():
        try:
            old = {e["name"]: e for e in json.loads(path.read_text()).get("benchmarks", [])}
        except (ValueError, KeyError, TypeError):
            old = {}
    merged = {**old, **{e["name"]: e for e in entries}}
    order = list(registry())
    doc = {
        "preset": args.preset,
        "date": now(),
        "machine": machine,
        "settings": {
            "threads": args.threads if args.threads is not None else "library default (one per core) for both sides",
            "full": args.full,
            "timing": "time.perf_counter; sides alternated (B C / C B); seconds = best of the runs listed; "
                      "ratio = baseline seconds / candidate seconds, measured in the same run",
        },
        "import_errors": import_errors,
        "benchmarks": sorted(merged.values(), key=lambda e: order.index(e["name"]) if e["name"] in order else 1e9),
    }
    path.write_text(json.dumps(doc, indent=2, default=_json_default) + "\n")
    print()
    print(f"preset {args.preset}, {machine['cpu_count']} cores, load before/after the run: "
          f"{entries[0]['loadavg_before'] if entries else '-'} / {list(round(x, 2) for x in os.getloadavg())}")
    print_table(entries)
    print(f"\nwritten {path}")
    return 0 if all(e["status"] == "ok" for e in entries) else 1


if __name__ == "__main__":
    sys.exit(main())
