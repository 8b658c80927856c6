"""Run experiments and write ``reports/<preset>/``: ``results.json``, the figures and their data, ``report.md``.

``results.json`` (format ``qchaos-evaluate/1``)::

    {"format", "preset", "meta": {version, git_commit, torch, threads, machine, finished, seconds},
     "experiments": {NAME: {"title", "status": "ok" | "failed" | "missing", "seconds", "params", "metrics",
                            "summary", "figures": [{"file", "caption"}], "data": [file, ...], "error"?,
                            "sittings", "run": {git_commit, version, finished}}}}

Every run merges: the experiments it finishes replace theirs in the ``results.json`` on disk at that moment (under a
short lock, so two runs into one folder keep each other's experiments), the others are kept
(a run of all experiments interrupted half-way loses nothing). An experiment interrupted while it runs (Ctrl-C,
or SIGTERM through the CLI) leaves its elapsed seconds in ``runs/interrupted.json``; the sitting that finishes it
adds them, so ``seconds`` is its compute over every sitting and ``sittings`` how many it took. While a run is
going, ``meta.complete`` is false and ``meta.pending`` lists what has not run yet; it becomes true when the run
ends. ``report.md`` is rewritten with ``results.json``, so the two always agree. The last *complete* file found
before the run is kept as ``results.previous.json`` (the "previous run" column of the report), written with the
run's first result (a run killed before it finished anything leaves every file as it was); a partial file left
by an interrupted run never overwrites it. A failing experiment is recorded (status and error) and the others still run; the exit status says so.
"""

from __future__ import annotations

import json
import platform
import sys
import time
import traceback
from datetime import datetime, timezone
from pathlib import Path

from qchaos.errors import ParameterError
from qchaos.hub import write_json

from .core import PRESETS, Context, experiment_names, get_experiment, to_jsonable, undeclared_metrics
from .report import load_targets, render_report
from .resources import MissingResourceError, Resources

__all__ = ["evaluate", "write_report"]

FORMAT = "qchaos-evaluate/1"


def _static_meta() -> dict:
    """The part of ``meta`` that does not change during a run (version, commit, torch, threads, machine)."""
    import torch

    from generation.store import provenance

    prov = provenance()
    return {"version": prov.get("package_version"), "git_commit": prov.get("git_commit"), "torch": torch.__version__,
            "threads": torch.get_num_threads(), "machine": f"{platform.machine()} {platform.system()}, "
            f"{_cpu_count()} CPUs"}


def _meta(static: dict, seconds: float) -> dict:
    return {**static, "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "seconds": round(seconds, 2)}


def _cpu_count() -> int:
    import os

    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


def _read_json(path: Path) -> dict | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _write_text(path: Path, text: str) -> None:
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(text, encoding="utf-8")
    tmp.replace(path)


def _interrupted(folder: Path) -> dict:
    """``{name: {"seconds", "sittings", "params"}}``: the compute of experiments interrupted in earlier sittings."""
    doc = _read_json(folder / "runs" / "interrupted.json")
    return doc if isinstance(doc, dict) else {}


def _set_interrupted(folder: Path, name: str, record: dict | None) -> None:
    """Record (or, with None, clear) the compute an interrupted experiment has spent so far."""
    doc = _interrupted(folder)
    if doc.pop(name, None) is None and record is None:
        return  # nothing recorded, nothing to clear
    if record is not None:
        doc[name] = record
    (folder / "runs").mkdir(parents=True, exist_ok=True)
    write_json(folder / "runs" / "interrupted.json", doc)


def _spent(earlier: dict, t0: float) -> dict:
    """``{"seconds", "sittings"}`` of an experiment started at ``t0`` in this sitting, earlier sittings included."""
    return {"seconds": round(float(earlier.get("seconds", 0.0)) + time.perf_counter() - t0, 2),
            "sittings": int(earlier.get("sittings", 0)) + 1}


def _merge_entry(folder: Path, doc: dict, name: str, entry: dict, order: list[str], targets, shown,
                 save_previous: dict | None = None) -> dict:
    """Write ``entry`` into ``results.json`` as it is on disk now, under a short lock.

    Another run into the same folder may have finished other experiments since this one started: theirs are kept.
    The report is rendered from the merged document. ``save_previous`` (the run's first result only): the last
    complete document, written as ``results.previous.json`` first. Returns the merged document (and updates
    ``doc["experiments"]``).
    """
    from qchaos.atomic import writer_lock

    path = folder / "results.json"
    with writer_lock(path, "out", wait=True):
        if save_previous is not None:  # before results.json changes: a kill in between loses nothing
            write_json(folder / "results.previous.json", save_previous)
        on_disk = _read_json(path)
        if isinstance(on_disk, dict) and isinstance(on_disk.get("experiments"), dict):
            doc["experiments"] = {**on_disk["experiments"], **{k: v for k, v in doc["experiments"].items()
                                                              if k not in on_disk["experiments"]}}
        doc["experiments"][name] = entry
        doc["experiments"] = {k: doc["experiments"][k] for k in order if k in doc["experiments"]}
        results = to_jsonable(doc)
        write_json(path, results)
        _write_text(folder / "report.md", render_report(results, targets, shown))  # always matches results.json
    return results


def write_report(folder, previous: dict | None = None, targets: dict | None = None) -> Path:
    """(Re)write ``report.md`` of a report folder from its ``results.json``; returns its path."""
    folder = Path(folder)
    results = _read_json(folder / "results.json")
    if results is None:
        raise ParameterError(f"folder = {folder}: has no readable results.json; run `qchaos evaluate` first")
    if previous is None:
        previous = _read_json(folder / "results.previous.json")
    path = folder / "report.md"
    _write_text(path, render_report(results, targets if targets is not None else load_targets(), previous))
    return path


def evaluate(preset: str = "mini", names=None, *, out="reports", build: bool = True, progress: bool = True,
             resources: Resources | None = None, params: dict | None = None, resume: bool = False) -> dict:
    """Run experiments of ``preset`` and write the report folder ``<out>/<preset>/``.

    Parameters:
        preset: ``mini`` (``make evaluate``), ``paper`` (the full reproduction) or ``tiny`` (tests; needs
            ``resources`` with explicit datasets).
        names: experiment names (CLI or module names); None = all, in report order.
        out: parent folder of the report folders.
        build: generate / publish / train missing datasets and checkpoints (else a clear error per experiment).
        progress: progress bars and per-experiment timings on stdout.
        resources: the datasets / checkpoints provider (default ``Resources(preset, build=build)``).
        params: ``{name: {param: value}}`` overrides of the experiments' ``PARAMS[preset]``.
        resume: keep the experiments that ``results.json`` already holds finished (status ok) with the same
            parameters, and run only the others (a long run spread over several sittings).

    Returns the results document (also written as ``results.json``).
    """
    if preset not in PRESETS:
        raise ParameterError(f"preset = {preset!r}: must be one of {list(PRESETS)}")
    order = experiment_names()  # report order
    selected = order if not names else [get_experiment(n).NAME for n in names]
    folder = Path(out) / preset
    folder.mkdir(parents=True, exist_ok=True)
    resources = resources or Resources(preset, build=build, progress=progress, runs_dir=folder / "runs")
    params = params or {}
    previous = _read_json(folder / "results.json")
    if not isinstance(previous, dict) or not isinstance(previous.get("experiments"), dict):
        previous = None
    doc = {"format": FORMAT, "preset": preset, "meta": {},
           "experiments": {k: v for k, v in (previous or {}).get("experiments", {}).items() if k in order}}
    previous_complete = previous is not None and (previous.get("meta") or {}).get("complete", True)
    # the last complete record becomes results.previous.json together with this run's first result (just before
    # results.json changes, under the merge lock): a run killed before it finished anything changes no file, so
    # report.md's "previous run" column always shows results.previous.json; a partial file (an interrupted run)
    # never replaces the last complete record
    save_previous = previous if previous_complete else None
    static_meta = _static_meta()
    shown = previous if previous_complete else _read_json(folder / "results.previous.json")
    targets = load_targets()
    results = None
    start = time.perf_counter()
    failed = []
    for i, name in enumerate(selected, 1):
        module = get_experiment(name)
        p = dict(module.PARAMS[preset])
        p.update(params.get(name, {}))
        done = doc["experiments"].get(name) or {}
        if resume and done.get("status") == "ok" and done.get("params") == to_jsonable(p):
            if progress:
                print(f"[{i}/{len(selected)}] {name}: finished earlier ({done.get('seconds')} s), kept", flush=True)
            continue
        ctx = Context(name=name, preset=preset, params=p, out=folder, resources=resources, progress=progress)
        if progress:
            print(f"[{i}/{len(selected)}] {name}: {module.TITLE}", flush=True)
        t0 = time.perf_counter()
        entry = {"title": module.TITLE, "status": "ok", "params": to_jsonable(p)}
        earlier = _interrupted(folder).get(name) or {}
        if earlier.get("params") != entry["params"]:  # other parameters: that compute was for another job
            earlier = {}
        try:
            out_ = module.run(ctx) or {}
            entry["metrics"] = to_jsonable(out_.get("metrics", {}))
            entry["summary"] = out_.get("summary", "")
            stray = undeclared_metrics(getattr(module, "METRICS", ()), entry["metrics"])
            if stray:  # kept (hours of compute), but flagged: the tests refuse it, the report shows it
                entry["undeclared_metrics"] = stray
                print(f"qchaos: warning: {name}: metrics not declared in its METRICS: {', '.join(stray)}",
                      file=sys.stderr, flush=True)
        except MissingResourceError as exc:
            entry.update(status="missing", error=str(exc), metrics={}, summary="")
            failed.append(name)
        except Exception as exc:  # noqa: BLE001 - one failing experiment must not lose the others' results
            entry.update(status="failed", error=f"{type(exc).__name__}: {exc}\n\n{traceback.format_exc(limit=6)}",
                         metrics={}, summary="")
            failed.append(name)
        except BaseException:  # interrupted: keep what it spent, so the sitting that finishes it counts it all
            _set_interrupted(folder, name, {**_spent(earlier, t0), "params": entry["params"]})
            raise
        entry.update(_spent(earlier, t0))
        _set_interrupted(folder, name, None)
        # each entry says which code and when: a report merged over several sittings mixes runs
        entry["run"] = {"git_commit": static_meta.get("git_commit"), "version": static_meta.get("version"),
                        "finished": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC")}
        entry["figures"], entry["data"] = ctx.figures, ctx.data
        doc["meta"] = {**_meta(static_meta, time.perf_counter() - start), "complete": i == len(selected),
                       "pending": selected[i:]}
        results = _merge_entry(folder, doc, name, entry, order, targets, shown, save_previous)
        save_previous = None
        if progress:
            verdict = "done" if entry["status"] == "ok" else entry["status"].upper()
            print(f"[{i}/{len(selected)}] {name}: {verdict} in {entry['seconds']:.1f} s", flush=True)
            if entry["status"] != "ok":
                print(f"    {entry['error'].splitlines()[0]}", flush=True)
    if results is None:  # nothing ran (a finished run): the report of the results.json on disk
        if save_previous is not None:
            write_json(folder / "results.previous.json", save_previous)
        report = write_report(folder, previous=save_previous)
    else:
        report = folder / "report.md"
    if progress:
        total = time.perf_counter() - start
        print(f"evaluation [{preset}]: {len(selected) - len(failed)}/{len(selected)} experiments ok in {total:.1f} s "
              f"-> {report}", flush=True)
    doc["failed"] = failed
    return doc
