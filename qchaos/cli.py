"""The ``qchaos`` command line: a thin layer over the Python API (each subcommand has ``--help``).

Failures end in one line on stderr and an exit code by kind (:mod:`qchaos.errors`): 2 a bad parameter (also
argparse's usage errors), 3 something not found, 4 damaged data, 5 the environment (an unwritable path, an
unreachable Hub or scheduler, no CUDA), 6 a resource to build first, 7 non-finite numbers, 1 a job that ran and
failed. ``--debug`` (before the subcommand) shows the traceback instead.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path

from generation.systems import get_system
from modeling.kinds import KINDS

from .errors import EnvironmentFault, ParameterError, QchaosError, exit_code
from .hub import DatasetIntegrityError
from .scales import SCALES, USER_SCALES


class CLIError(ParameterError):
    """A usage error reported as one line (exit code 2); the CLI's name for :class:`qchaos.errors.ParameterError`."""


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from exc
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value} must be >= 1")
    return value


def _text(text: str) -> str:
    """A string flag's value; blank or whitespace-only is refused (it would silently mean the default)."""
    if not text.strip():
        raise argparse.ArgumentTypeError(f"{text!r} is blank: give a value, or leave the flag out for the default")
    return text


def _items(text: str) -> str:
    """A comma-separated list flag's value (e.g. ``--holdout-N 30,33``): blank, or no item (``',,,'``), refused."""
    _text(text)
    if not any(part.strip() for part in text.split(",")):
        raise argparse.ArgumentTypeError(f"{text!r} lists no value: give e.g. '0.5,1' or '30,33'")
    return text


def _path(text: str) -> Path:
    """A path flag's value; blank is refused (``Path('')`` would silently be the current folder)."""
    return Path(_text(text))


def _seed(text: str) -> int:
    """A random seed: an integer in [0, 2**32) (what NumPy and the stores accept; torch takes it too)."""
    try:
        value = int(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not an integer") from exc
    if not 0 <= value < 2**32:
        raise argparse.ArgumentTypeError(f"{value} must be an integer in [0, 2**32)")
    return value


def _float(text: str) -> float:
    from fractions import Fraction

    try:
        return float(Fraction(text))
    except (ValueError, ZeroDivisionError) as exc:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from exc


# -- the environment -----------------------------------------------------------------------------------------------
def _can_create_in(folder: Path) -> str:
    """'' if a file can be created in ``folder``, else why not.

    Tried for real: ``os.access`` says yes to root even in /proc or on a read-only file system.
    """
    import tempfile

    try:
        with tempfile.NamedTemporaryFile(dir=folder, prefix=".qchaos-probe-"):
            return ""
    except OSError as exc:
        return f"{folder}: {exc.strerror or exc}"


def _writable(path: Path, what: str, folder: bool = False) -> Path:
    """``path``, a file or folder to create, if its nearest existing ancestor is a writable folder.

    ``folder``: it must be a folder. Otherwise :class:`EnvironmentFault` naming ``what`` (e.g. ``--out``) and the
    path.
    """
    path = Path(path).expanduser()
    probe = path.absolute()
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if probe == path.absolute() and probe.is_dir():
        ok, why = os.access(probe, os.W_OK | os.X_OK), "a folder without write permission"
    elif probe == path.absolute():
        ok, why = os.access(probe, os.W_OK) and os.access(probe.parent, os.W_OK), "a file without write permission"
        if folder:
            ok, why = False, f"{probe} is a file, not a folder"
    else:
        ok = probe.is_dir() and os.access(probe, os.W_OK | os.X_OK)
        why = f"{probe} is a file, not a folder" if not probe.is_dir() else f"{probe} is not writable"
        if ok:
            why = _can_create_in(probe)
            ok = not why
    if not ok:
        raise EnvironmentFault(f"{what} = {path}: cannot write there ({why}); choose a writable location")
    return path


def _hub_writable() -> Path:
    """The local hub folder (``$QCHAOS_HUB`` or the user cache), checked writable."""
    from .hub import hub_root

    return _writable(hub_root(), "QCHAOS_HUB" if os.environ.get("QCHAOS_HUB") else "the local hub (QCHAOS_HUB unset)")


def _hub_reachable(what: str) -> None:
    """Fail fast, before any work, when ``--push`` cannot reach the Hub (``HF_ENDPOINT``)."""
    from huggingface_hub import HfApi

    from .hub import hub_errors

    with hub_errors(f"{what} --push"):
        HfApi().whoami()


def _device(text: str) -> str:
    """A torch device the machine has: ``cpu``, ``cuda[:i]`` with CUDA available, ``mps`` on Apple silicon."""
    import torch

    try:
        dev = torch.device(text)
    except (RuntimeError, ValueError) as exc:
        raise ParameterError(f"--device = {text!r}: not a torch device (cpu, cuda, cuda:0, mps)") from exc
    if dev.type not in ("cpu", "cuda", "mps"):
        raise ParameterError(f"--device = {text!r}: not a device that computes (cpu, cuda, cuda:0, mps)")
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise EnvironmentFault(f"--device = {text}: CUDA is not available here (torch {torch.__version__}, "
                                   f"CUDA build {torch.version.cuda or 'none'}, {torch.cuda.device_count()} GPUs); "
                                   "use --device cpu")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise EnvironmentFault(f"--device = {text}: only {torch.cuda.device_count()} CUDA device(s) here")
    elif dev.type == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise EnvironmentFault(f"--device = {text}: MPS is not available here; use --device cpu")
    return text


# -- generate ------------------------------------------------------------------------------------------------------
def _add_sweep_flags(p: argparse.ArgumentParser) -> None:
    p.add_argument("--preset", type=_text, default="mini", help="named preset (default: mini)")
    p.add_argument("--out", type=_path, help="Zarr store path (default: data/<system>-<preset>.zarr; "
                                            "data/<system>-custom-<hash>.zarr when parameters are overridden)")
    p.add_argument("--workers", type=int, help="local Dask worker processes (default: cores, max 8; 0 = in-process)")
    where = p.add_mutually_exclusive_group()
    where.add_argument("--scheduler", type=_text,
                       help="address of a running Dask scheduler (e.g. tcp://host:8786); default: "
                            "$DASK_SCHEDULER_ADDRESS, else a local cluster")
    where.add_argument("--scheduler-file", type=_path, metavar="PATH",
                       help="a Dask scheduler file (dask scheduler --scheduler-file PATH; HPC launchers)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")


def _cmd_generate(args) -> int:
    from generation.build import build, resolve_config, store_path

    overrides = get_system(args.system).flag_overrides(args)
    config, base = resolve_config(args.system, args.preset, overrides)
    out = _writable(args.out or store_path(args.system, args.preset, config, base), "--out")

    def header(result) -> None:
        if not args.quiet:
            print(f"{args.system} [{args.preset}{' + overrides' if result.custom else ''}] -> {result.store}  "
                  f"({result.points} points)")

    result = build(args.system, args.preset, overrides=overrides, out=out, workers=args.workers,
                   scheduler=args.scheduler, scheduler_file=args.scheduler_file, progress=not args.quiet,
                   on_start=header)
    report = result.report
    for key, problems in report.damaged.items():
        print(f"qchaos: warning: point {key} was damaged ({'; '.join(problems[:3])}); recomputed", file=sys.stderr)
    if not args.quiet:
        print(f"done in {report.seconds:.1f} s: {len(report.computed)} computed, {len(report.skipped)} already "
              f"complete")
    return 0


def _dumps(obj) -> str:
    """Strict JSON (RFC 8259): non-finite floats (e.g. the infinite decay rate of z = 0) become null."""
    import math

    def clean(v):
        if isinstance(v, float) and not math.isfinite(v):
            return None
        if isinstance(v, dict):
            return {k: clean(x) for k, x in v.items()}
        if isinstance(v, (list, tuple)):
            return [clean(x) for x in v]
        return v

    return json.dumps(clean(obj), allow_nan=False)


# -- twobody -------------------------------------------------------------------------------------------------------
def _print_levels(levels: list[dict], meta: dict, as_json: bool) -> None:
    if as_json:
        print(_dumps({**meta, "levels": levels}))
        return
    for k, v in meta.items():
        print(f"# {k}: {v}")
    print(f"{'level':>7} {'parity':>6} {'energy':>20}")
    for lv in levels:
        print(f"{lv['level']:>7} {lv['parity']:>6} {lv['energy']:>20.10f}")


def _cmd_twobody_spectrum(args) -> int:
    from generation.twobody.spectrum import solve_spectrum

    spec = solve_spectrum(args.eta, args.g, args.levels, args.parity, basis_factor=args.basis_factor,
                          extrapolate=not args.raw)
    names = ("even", "odd")
    levels = [{"energy": float(e), "parity": names[p], "level": int(lv)}
              for e, p, lv in zip(spec.energy, spec.parity, spec.level)]
    meta = {"eta": spec.eta, "g": spec.g, "basis_size": spec.basis_size, "extrapolated": spec.extrapolated,
            "top_rel_error": spec.top_rel_error,
            "max_error": float(spec.error.max()) if spec.extrapolated else None}
    _print_levels(levels, meta, args.json)
    return 0


def _cmd_twobody_bethe(args) -> int:
    from generation.twobody.bethe import bethe_levels

    ba = bethe_levels(args.eta, args.g, args.levels, args.parity)
    names = ("even", "odd")
    levels = [{"energy": float(e), "parity": names[p], "level": int(lv)}
              for e, p, lv in zip(ba.energy, ba.parity, ba.level)]
    from fractions import Fraction

    _print_levels(levels, {"eta": float(Fraction(args.eta)), "g": args.g, "method": "bethe-ansatz"}, args.json)
    return 0


# -- tribaker ------------------------------------------------------------------------------------------------------
def _cmd_tribaker_resonances(args) -> int:
    import numpy as np

    from generation.tribaker.generate import norm_ratios
    from generation.tribaker.resonances import resonances

    res = resonances(args.N, args.R)
    mu = norm_ratios(res.right, res.left)
    rows = [{"z_re": float(z.real), "z_im": float(z.imag), "abs_z": float(abs(z)), "decay": float(d),
             "norm_ratio": float(m)} for z, d, m in zip(res.z, res.decay, mu)]
    if args.json:
        print(_dumps({"N": res.N, "R": res.R, "resonances": rows}))
        return 0
    print(f"# N = {res.N}, R = {res.R}: {res.N} resonances sorted by |z| (norm ratio: 1 coherent state, "
          f"{res.N / 2:g} uniform)")
    print(f"{'#':>5} {'|z|':>10} {'arg z/pi':>10} {'decay':>12} {'norm ratio':>11}")
    for i, r in enumerate(rows):
        arg = float(np.arctan2(r["z_im"], r["z_re"]) / np.pi)
        print(f"{i:>5} {r['abs_z']:>10.6f} {arg:>10.6f} {r['decay']:>12.6g} {r['norm_ratio']:>11.4f}")
    return 0


# -- publish -------------------------------------------------------------------------------------------------------
def _cmd_publish(args) -> int:
    from generation.publish import publish

    store = args.store or Path("data") / f"{args.system}-{args.preset}.zarr"
    if args.push:
        _hub_reachable("publish")
    _hub_writable()
    holdout = getattr(args, get_system(args.system).holdout_name, None)  # --holdout-eta / --holdout-N
    report = publish(args.system, store, args.repo_id, preset=args.preset, allow_partial=args.allow_partial,
                     holdout=holdout, split_seed=args.split_seed, push=args.push, progress=not args.quiet)
    if not args.quiet:
        rows = "; ".join(f"{cfg}: " + ", ".join(f"{s} {n}" for s, n in splits.items())
                         for cfg, splits in report.splits.items())
        print(f"{args.system} {store} -> {report.path}  ({len(report.files)} shards; {rows})")
        if report.missing:
            print(f"partial: {len(report.missing)} points missing (listed in the card)")
        if report.pushed:
            print(f"pushed {report.repo_id}: {report.pushed}")
        print(f"done in {report.seconds:.1f} s")
    return 0


# -- train -------------------------------------------------------------------------------------------------------
def _cmd_train(args) -> int:
    from modeling.train import train

    _device(args.device)
    _hub_writable()
    if args.log is not None:
        _writable(args.log, "--log")
    if args.push:
        _hub_reachable("train")
    etas = None
    if args.eta:
        from generation.presets import parse_etas

        etas = parse_etas(args.eta)
    try:
        result = train(args.model, args.preset, args.dataset, seed=args.seed, epochs=args.epochs, push=args.push,
                       repo_id=args.repo_id, log_path=args.log, progress=not args.quiet, batch_size=args.batch_size,
                       lr=args.lr, schedule=args.schedule, etas=etas, reflectivity=args.R, max_N=args.max_N,
                       arch=args.arch, grid_size=args.grid_size, device=args.device,
                       augment=True if args.augment else None)
    except DatasetIntegrityError as exc:  # the one dataset a training reads: name the flag that chose it
        what = args.dataset if args.dataset is not None else f"the {args.preset} default"
        raise DatasetIntegrityError(f"--dataset {what}: {exc}") from exc
    if not args.quiet:
        acc = ", ".join(f"{split} {v:.4f}" for split, v in result.metrics.get("accuracy", {}).items())
        print(f"{args.model} on {result.settings.dataset}: best epoch {result.best_epoch}/{result.settings.epochs}; "
              f"accuracy {acc}")
        for name in ("fgsm_accuracy", "quantum_accuracy"):
            if result.metrics.get(name):
                print(f"  {name}: " + ", ".join(f"{s} {v:.4f}" for s, v in result.metrics[name].items()))
        if result.path:
            print(f"checkpoint {result.repo_id} -> {result.path}")
        print(f"log -> {result.log_path}")
        if result.pushed:
            print(f"pushed {result.repo_id}: {result.pushed}")
        print(f"done in {result.seconds:.1f} s")
    return 0


# -- list ----------------------------------------------------------------------------------------------------------
def _meta_summary(entry: dict) -> str:
    classes = "/".join(entry.get("classes") or [])
    if entry["kind"] == "model":
        shape = "x".join(str(d) for d in entry.get("input_shape") or []) or "?"
        data = entry.get("dataset") or "?"
        if entry.get("dataset_config"):
            data += f" [{entry['dataset_config']}]"
        return f"{entry.get('model_class')}, input {shape}, classes {classes}, data {data}"
    configs = ", ".join(c + ("*" if c == entry.get("default_config") else "") for c in entry.get("configs", []))
    return f"{entry.get('system')} {entry.get('preset')}: configs {configs}; classes {classes}"


def _cmd_list(args) -> int:
    from qchaos.registry import get_dataset, get_model, list_datasets, list_models, local_status

    if args.name:
        entries = [get_model(args.name) if args.what == "models" else get_dataset(args.name)]
    else:
        entries = list_models() if args.what == "models" else list_datasets()
    for entry in entries:
        status = local_status(entry["name"])
        entry["local"], entry["local_path"] = status["local"], status["path"]
        if "shipped" in status:
            entry["shipped"] = status["shipped"]
    if args.json:
        print(json.dumps(entries, indent=2))
        return 0
    rows = [(e["name"], (e.get("revision") or "-")[:12],
             (e["sha256"] or "not trained")[:12] if e["kind"] == "model" else "-",
             "yes" if e["local"] else "shipped" if e.get("shipped") else "no", _meta_summary(e)) for e in entries]
    header = ("name", "revision", "sha256", "local", "meta")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(4)]
    for r in [header, *rows]:
        print("  ".join(c.ljust(w) for c, w in zip(r[:4], widths)) + "  " + r[4])
    return 0


def _cmd_evaluate(args) -> int:
    from evaluation import evaluate, experiment_names, get_experiment

    if args.list:
        for name in experiment_names():
            print(f"{name:20s} {get_experiment(name).TITLE}")
        return 0
    _writable(args.out, "--out", folder=True)
    if not args.no_build:
        _hub_writable()
    import signal

    def _terminated(signum, frame):  # `kill` like Ctrl-C: the running experiment records what it spent
        raise KeyboardInterrupt

    before = signal.signal(signal.SIGTERM, _terminated)
    try:
        doc = evaluate(args.preset, args.names or None, out=args.out, build=not args.no_build,
                       progress=not args.quiet, resume=args.resume)
    finally:
        signal.signal(signal.SIGTERM, before)
    if doc["failed"]:
        print(f"qchaos: failed: experiment(s) {', '.join(doc['failed'])} did not finish; see "
              f"{Path(args.out) / args.preset / 'report.md'}", file=sys.stderr)
        entries = [doc.get("experiments", {}).get(name, {}) for name in doc["failed"]]
        for name, entry in zip(doc["failed"], entries):  # why, in one line each (the report has the details)
            why = ((entry.get("error") or "?").splitlines() or ["?"])[0]
            print(f"  {name} ({entry.get('status', 'failed')}): {why}", file=sys.stderr)
        return 1
    return 0


# -- verify --------------------------------------------------------------------------------------------------------
def _cmd_verify(args) -> int:
    from generation.verify import VerifyReport, resolve_target, verify
    from qchaos.errors import IntegrityError, QchaosError, exit_code

    try:
        kind, path = resolve_target(args.target)
        if kind == "model":
            from modeling.hub_model import verify_folder

            report = VerifyReport("model", path, checked=1)
            for where, what in verify_folder(path):
                (report.warnings if what.startswith("no sha256") else report.problems).append((where, what))
        else:
            report = verify(path, progress=not args.quiet)
    except QchaosError as exc:
        print(f"qchaos: error: {exc}", file=sys.stderr)
        return exit_code(exc)
    for line in report.lines():
        print(line)
    return 0 if report.ok else IntegrityError.exit_code


# -- flags that do not apply -----------------------------------------------------------------------------------------
_SETTING_FLAGS = {"etas": ("--eta", "eta"), "augment": ("--augment", "augment"),
                  "grid_size": ("--grid-size", "grid_size"), "arch": ("--arch", "arch"), "reflectivity": ("--R", "R"),
                  "max_N": ("--max-N", "max_N")}
"""``TrainSettings`` field -> (its ``qchaos train`` flag, the argparse attribute), for the settings that belong to
one system's models (``modeling.systems.TRAINING[system].settings``)."""


def _refuse_other_kinds_flags(args) -> None:
    """Refuse the training flags of another system's models, naming the model kinds that take them."""
    from modeling.kinds import KINDS
    from modeling.systems import foreign_settings

    foreign = foreign_settings(KINDS[args.model].system)
    given = [(field, flag) for field, (flag, attr) in _SETTING_FLAGS.items()
             if field in foreign and getattr(args, attr, None) not in (None, False)]
    if given:
        fields_ = {field for field, _ in given}
        takers = [k for k in KINDS.values() if not fields_ & set(foreign_settings(k.system))]
        raise CLIError(f"{', '.join(flag for _, flag in given)}: only for {', '.join(k.name for k in takers)} "
                       f"({takers[0].system} data), not {args.model}")


def _check_applies(args) -> None:
    """:class:`CLIError` for a flag given with a command or model it does not apply to (it would be ignored)."""
    command = getattr(args, "command", None)
    if command == "generate" and getattr(args, "workers", None) is not None and (args.scheduler or args.scheduler_file):
        where = "--scheduler" if args.scheduler else "--scheduler-file"
        raise CLIError(f"--workers = {args.workers}: does not apply with {where} (the scheduler's workers compute the "
                       "points); give one of them")
    if command == "train":
        _refuse_other_kinds_flags(args)
    if command == "evaluate" and args.list:
        given = [flag for flag, value in (("NAME", args.names), ("--resume", args.resume),
                                          ("--no-build", args.no_build)) if value]
        if given:
            raise CLIError(f"{', '.join(given)}: does not apply with --list (it only lists the experiments)")


# -- parser --------------------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="qchaos", description="Exact quantum-chaos data, Hugging Face datasets and classifiers.",
        epilog="Exit codes: 0 ok, 1 a job failed, 2 bad parameter, 3 not found, 4 damaged data, 5 environment "
               "(unwritable path, Hub/scheduler unreachable, no CUDA), 6 build a resource first, 7 non-finite numbers. "
               "Local hub: $QCHAOS_HUB, else ~/.cache/qchaos/hub ($XDG_CACHE_HOME).")
    parser.add_argument("--debug", action="store_true", help="show the traceback of a failure")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    gen = sub.add_parser("generate", help="generate a dataset into a Zarr store (Dask sweep, resumable)",
                         description="Generate a dataset into a Zarr v3 store. Finished points are kept; a rerun "
                                     "computes only the missing ones.")
    gen_sub = gen.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    tb = gen_sub.add_parser("twobody", help="two mass-imbalanced atoms in a hard-wall trap")
    _add_sweep_flags(tb)
    tb.add_argument("--eta", type=_items, help="mass ratios: list '0.2,1/3,0.5' and/or range '0.05:1:0.05'")
    tb.add_argument("--image-eta", type=_items, help="the subset of --eta that gets images (default: all)")
    tb.add_argument("--g", type=_float, help="contact interaction strength (>= 0)")
    tb.add_argument("--levels", type=_positive_int, help="levels per point (both parities)")
    tb.add_argument("--window", type=_positive_int, nargs=2, metavar=("LO", "HI"),
                    help="1-based inclusive level window of the images")
    tb.add_argument("--image-size", type=_positive_int, help="grid points per axis of the images")
    tb.add_argument("--basis-factor", type=_float, help="basis states per level (images need >= 8)")
    tb.add_argument("--rough-images", action="store_true",
                    help="store images that break the image-quality rule (g >= 100, basis factor >= 8, window from "
                         "level 200, pixels above the window's Nyquist limit) anyway, flagged in the config and card")
    tb.add_argument("--seed", type=_seed, help="random seed")
    tb.set_defaults(func=_cmd_generate)

    tri = gen_sub.add_parser("tribaker", help="the open quantum tribaker map (closed and partially open)")
    _add_sweep_flags(tri)
    tri.add_argument("--R", type=_float, nargs="+", help="reflectivity of the partially open case(s), 0 <= R < 1; "
                                                        "the closed map (R = 1) is always included")
    tri.add_argument("--N0", type=_positive_int, help="first dimension (multiple of 3)")
    tri.add_argument("--K", type=_positive_int, help="number of dimensions N0, N0+3, ...")
    tri.add_argument("--per-side", type=_positive_int, help="states kept per N at each end of the norm ratio")
    tri.add_argument("--image-size", type=_positive_int, help="grid points per axis of the inspection images")
    tri.add_argument("--min-abs-z", type=float, help="keep only resonances with |z| above this (R = 0 needs it)")
    tri.add_argument("--seed", type=_seed, help="random seed")
    tri.set_defaults(func=_cmd_generate)

    pub = sub.add_parser("publish", help="convert a store into a Hugging Face dataset repo (local hub, --push)",
                         description="Convert a Zarr store into a dataset repo folder in the local hub "
                                     "($QCHAOS_HUB, default ~/.cache/qchaos/hub: datasets/<org>/<name>/): parquet shards, "
                                     "data/manifest.json (sha256 of every shard) and a README dataset card. "
                                     "--push uploads the folder to the Hub named by HF_ENDPOINT (HF_TOKEN).")
    pub_sub = pub.add_subparsers(dest="system", metavar="SYSTEM", required=True)
    for name, help_ in (("twobody", "two atoms: configs wavefunctions + spectra, 70/15/15 split over states"),
                        ("tribaker", "tribaker map: configs resonances + spectra, 80/20 split over states")):
        p = pub_sub.add_parser(name, help=help_, description=help_ + ".")
        p.add_argument("--preset", type=_text, default="mini",
                       help="preset the store was generated with (default: mini)")
        p.add_argument("--store", type=_path, help="Zarr store (default: data/<system>-<preset>.zarr)")
        p.add_argument("--repo-id", type=_text, help="org/name (default: qchaos/<system>-<preset>)")
        p.add_argument("--push", action="store_true", help="also upload to the Hub (HF_ENDPOINT, HF_TOKEN)")
        p.add_argument("--allow-partial", action="store_true",
                       help="publish a store whose sweep still misses points (the card lists them)")
        holdout = get_system(name)
        p.add_argument("--" + holdout.holdout_name.replace("_", "-"), type=_items, metavar=holdout.holdout_help[0],
                       help=holdout.holdout_help[1])
        p.add_argument("--split-seed", type=_seed, default=42, help="seed of the random state split (default: 42)")
        p.add_argument("--quiet", action="store_true", help="no progress bar")
        p.set_defaults(func=_cmd_publish)

    trb = sub.add_parser("tribaker", help="resonances of the open quantum tribaker map")
    trb_sub = trb.add_subparsers(dest="action", metavar="ACTION", required=True)
    p = trb_sub.add_parser("resonances", help="all resonances with decay rates and norm ratios",
                           description="All N resonances of U = U_B P_R, sorted by |z| (2 pi hbar = 1/N, "
                                       "antiperiodic boundary conditions).")
    p.add_argument("--N", type=int, required=True, help="Hilbert-space dimension (positive multiple of 3)")
    p.add_argument("--R", type=_float, default=1.0, help="reflectivity in [0, 1]; 1 = closed map (default)")
    p.add_argument("--json", action="store_true", help="one JSON object with a list 'resonances'")
    p.set_defaults(func=_cmd_tribaker_resonances)

    two = sub.add_parser("twobody", help="spectra of two atoms in a hard-wall trap (ED and Bethe ansatz)")
    two_sub = two.add_subparsers(dest="action", metavar="ACTION", required=True)
    for name, func, help_ in (("spectrum", _cmd_twobody_spectrum, "lowest levels by exact diagonalisation"),
                              ("bethe", _cmd_twobody_bethe, "exact Bethe-ansatz levels (eta = 1/3 or 1)")):
        p = two_sub.add_parser(name, help=help_, description=help_ + ". Units hbar = L = mu = 1.")
        p.add_argument("--eta", type=_text, required=True, help="mass ratio m_light/m_heavy in (0, 1], e.g. 0.5 or 1/3")
        p.add_argument("--g", type=_float, required=True, help="contact interaction strength (>= 0)")
        p.add_argument("--levels", type=int, required=True, help="number of levels")
        p.add_argument("--parity", choices=("even", "odd", "both"), default="both")
        p.add_argument("--json", action="store_true", help="one JSON object with a list 'levels'")
        if name == "spectrum":
            p.add_argument("--basis-factor", type=float, default=2.0, help="basis states per level (default 2)")
            p.add_argument("--raw", action="store_true", help="raw variational ED values (no extrapolation)")
        p.set_defaults(func=func)

    trn = sub.add_parser("train", help="train a classifier on a published dataset (local hub, --push)",
                         description="Train density-cnn (integrable vs non-integrable two-atom densities), "
                                     "density-cnn-adv (the same, adversarially trained on FGSM + quantum-"
                                     "perturbation samples) or quantum-net (coherent-state layer + CNN on tribaker "
                                     "resonances) with Adam and cross-entropy on a published dataset (default "
                                     "qchaos/<system>-<preset>). The best epoch by validation accuracy is saved to "
                                     "the local hub as qchaos/<model>-<dataset name> ($QCHAOS_HUB/models/...); the "
                                     "JSON log has every step's loss and every epoch's metrics. Same seed, same "
                                     "data, CPU: identical metrics.")
    trn.add_argument("model", choices=tuple(KINDS), help="what to train")
    trn.add_argument("--preset", default=USER_SCALES[0], choices=USER_SCALES,
                     help=f"scale of the training settings and the default dataset (default: {USER_SCALES[0]})")
    trn.add_argument("--dataset", type=_text,
                     help="dataset repo id (default: qchaos/twobody-<preset> or qchaos/tribaker-<preset>)")
    trn.add_argument("--seed", type=_seed, default=0, help="seed of initialisation, batch order, dropout (default 0)")
    trn.add_argument("--epochs", type=_positive_int, help="number of epochs (default: the preset's)")
    trn.add_argument("--batch-size", type=_positive_int, help="batch size (default: the preset's, 32)")
    trn.add_argument("--lr", type=float, help="Adam learning rate (default: the preset's)")
    trn.add_argument("--schedule", choices=("constant", "cosine"),
                     help="learning rate schedule: constant, or cosine annealing to 0 (default: the preset's)")
    trn.add_argument("--eta", type=_items,
                     help="density models: mass ratios to train on, e.g. '0.5,1' (default: 1/3,0.5,0.75,1 as present)")
    trn.add_argument("--augment", action="store_true",
                     help="density models: train on each image under a random mirror / transposition (symmetries "
                          "that map the billiard onto an equivalent one, see modeling.augment)")
    trn.add_argument("--R", type=_float, help="quantum-net: train on this reflectivity only (1 = closed map)")
    trn.add_argument("--max-N", type=_positive_int, help="quantum-net: train on rows with N <= MAX_N only")
    trn.add_argument("--arch", choices=("compact", "alexnet"), help="quantum-net CNN (default: compact)")
    trn.add_argument("--grid-size", type=_positive_int, help="quantum-net: S x S coherent-state centres")
    trn.add_argument("--device", type=_text, default="cpu",
                     help="torch device (default: cpu; identical metrics on CPU)")
    trn.add_argument("--repo-id", type=_text, help="checkpoint repo id (default: qchaos/<model>-<dataset name>)")
    trn.add_argument("--log", type=_path, help="JSON log path (default: runs/<repo name>-seed<seed>.json)")
    trn.add_argument("--push", action="store_true", help="also push the checkpoint to the Hub (HF_ENDPOINT, HF_TOKEN)")
    trn.add_argument("--quiet", action="store_true", help="no progress bars")
    trn.set_defaults(func=_cmd_train)

    ev = sub.add_parser("evaluate", help="run the papers' experiments and write reports/<preset>/ (make evaluate)",
                        description="Run the evaluation experiments (all, or the NAMEs given) and write "
                                    "reports/<preset>/: results.json, one PNG per figure with its data, report.md "
                                    "with every number beside the paper's value and the previous run's. Missing "
                                    "datasets and checkpoints are generated and trained unless --no-build.")
    ev.add_argument("names", type=_text, nargs="*", metavar="NAME",
                    help="experiments to run (default: all; see --list)")
    ev.add_argument("--preset", default=USER_SCALES[0], choices=USER_SCALES,
                    help="scale: " + "; ".join(f"{s}: {SCALES[s].description}" for s in USER_SCALES)
                    + f" (default: {USER_SCALES[0]})")
    ev.add_argument("--out", type=_path, default=Path("reports"), help="parent of the report folder (default: reports)")
    ev.add_argument("--no-build", action="store_true",
                    help="never generate, publish or train: a missing dataset or checkpoint is an error")
    ev.add_argument("--list", action="store_true", help="list the experiments and exit")
    ev.add_argument("--resume", action="store_true",
                    help="keep the experiments results.json holds finished with the same parameters; run the rest")
    ev.add_argument("--quiet", action="store_true", help="no progress bars")
    ev.set_defaults(func=_cmd_evaluate)

    lst = sub.add_parser("list", help="the registry of known model and dataset repos",
                         description="List the known repos (qchaos.registry): name, pinned revision, sha256 of the "
                                     "weights ('not trained' = not published yet), whether the repo folder is in "
                                     "the local hub ($QCHAOS_HUB, default ~/.cache/qchaos/hub; 'shipped': a "
                                     "checkpoint that comes with the package), and a summary of the metadata.")
    lst.add_argument("what", choices=("models", "datasets"), help="models or datasets")
    lst.add_argument("name", type=_text, nargs="?", help="only this repo (qchaos/<name> or <name>)")
    lst.add_argument("--json", action="store_true", help="a JSON list of the full entries (with 'local')")
    lst.set_defaults(func=_cmd_list)

    ver = sub.add_parser("verify", help="check a store, a dataset repo or a model for damage",
                         description="Check every stored byte: a Zarr store (each point's digests, shapes, "
                                     "parameters), a dataset repo (manifest, shards, card) or a model (weights, "
                                     "config.json, card). Lists what is wrong where; exit code 4 if anything is.")
    ver.add_argument("target", type=_text, help="a store folder, a repo folder, or a repo id of the local hub")
    ver.add_argument("--quiet", action="store_true", help="no progress bar")
    ver.set_defaults(func=_cmd_verify)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    try:
        _check_applies(args)
        return args.func(args)
    except Exception as exc:  # noqa: BLE001 - every failure ends in one line and an exit code by kind
        if args.debug:
            raise
        code, label = _classify(exc)
        print(f"qchaos: {label}: {_one_line(exc)}", file=sys.stderr)
        return code
    except KeyboardInterrupt:
        print("qchaos: interrupted", file=sys.stderr)
        return 130


_LABELS = {1: "failed", 2: "error", 3: "not found", 4: "integrity error", 5: "environment", 6: "missing",
           7: "numerical error"}


def _classify(exc: BaseException) -> tuple[int, str]:
    """(exit code, label) of a failure.

    The typed errors by class; an untyped ``ValueError`` is a bad parameter (2), an untyped ``OSError`` the
    environment (5), anything else a failed job (1).
    """
    if isinstance(exc, QchaosError):
        code = exit_code(exc)
    elif isinstance(exc, ValueError):
        code = 2
    elif isinstance(exc, OSError):
        code = 5
    else:
        code = 1
    return code, _LABELS.get(code, "failed")


def _one_line(exc: BaseException) -> str:
    """The message of ``exc``.

    An untyped ``OSError`` names its file and says what to do; multi-line messages (e.g. the failed points of a
    sweep) keep their lines.
    """
    if isinstance(exc, OSError) and not isinstance(exc, QchaosError) and exc.filename is not None:
        return f"{exc.filename}: {exc.strerror or exc} ({type(exc).__name__}); check the path and its permissions"
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, QchaosError) or isinstance(exc, (ValueError, RuntimeError)) \
        else f"{type(exc).__name__}: {text}"
