"""Replay the CLI cases of a bad-input findings file and classify what the current code does with each.

``python tests/replay_findings.py FINDINGS.md [--work DIR] [--only N,M,...] [--timeout 60] [--mem-gb 3]``

Not a test module (pytest collects ``test_*.py`` only): a measuring tool for the issue's closing note. It reads the
case table of the findings (``| # | case | `command` | rc | **verdict** | note | excerpt |``), keeps the CLI rows
(commands that run ``qchaos``), and runs:

1. the *setup* controls the bad inputs build on (the base stores, their published repos, the two tiny
   checkpoints: rows named ``base_tw``, ``base_tri``, ``pub-ok-tw``, ``pub-ok-tri``, ``trn-ok-density``,
   ``trn-ok-quantum``); the other controls (verdict ``ok`` in the findings) are skipped;
2. :func:`craft`, once the setup rows have built ``$W/tw.zarr`` and ``qchaos/tw-ok``: the findings' hostile
   artefacts rebuilt from them (``$W/crafted/*.zarr``: the base store with edited root attributes; ``evil/*``
   dataset repos: :func:`replay_api_findings._evil_dataset`, the same copies the API replay loads);
3. every other CLI row (a bad or hostile input) in table order, except those that need artefacts this tool does not
   rebuild (``$W/sec`` probe scripts, a ``python`` API probe, the findings' loopback Hub): they are listed as skipped
   with the reason (the API rows are replayed by ``tests/replay_api_findings.py``).

``generate twobody`` commands get ``--rough-images`` (:func:`adapt`): their tiny images break the image-quality
rule added after the findings, which would otherwise refuse every one of them for that reason alone.

Each command runs through ``bash -c`` in the scratch folder ``$W`` (``QCHAOS_HUB=$W/hub``, ``HF_HUB_OFFLINE=1``,
``HF_HOME=$W/hfhome``, ``qchaos`` = this checkout's CLI on ``PATH``), with a wall-clock timeout and an address-space
limit (``RLIMIT_AS``, set in the child before it starts). The classes:

* ``clear``: non-zero exit, no ``Traceback``, and the error line names a flag or parameter (``--flag``,
  ``argument X``, ``name = value``, or argparse's required/choice messages);
* ``unclear``: non-zero exit without a traceback, but the message names nothing;
* ``traceback``: a Python traceback in the output;
* ``oom``: killed by a signal or an allocation failure (MemoryError, ``Unable to allocate``, ``bad_alloc``);
* ``hang``: hit the timeout;
* ``ok``: exit status 0 (for a bad input: accepted, which the findings call silent-wrong unless it is right).

Prints one line per case and a summary; ``--json PATH`` writes the records.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

ROW = re.compile(r"^\| (\d+) \| ([^|]+?) \| `(.*?)` \| (\S+) \| \*\*([\w/-]+)\*\* \|(.*)$")
SETUP = ("base_tw", "base_tri", "pub-ok-tw", "pub-ok-tri", "trn-ok-density", "trn-ok-quantum")
ARTEFACTS = (("$W/sec", "a probe script of the harness"),
             ("HF_ENDPOINT=http://127.0.0.1:18765", "the findings' loopback Hub"))
NAMES = re.compile(r"--[A-Za-z]|argument |\b[A-Za-z_][\w.]* = |the following arguments are required|invalid choice"
                   r"|unrecognized arguments|\bNAME\b|error: [A-Za-z_][\w.]*: ")
OOM = re.compile(r"MemoryError|Unable to allocate|bad_alloc|Cannot allocate memory|out of memory")


def parse_cases(markdown: str) -> list[dict]:
    """The CLI rows of the findings' case table: ``{"n", "case", "command", "rc", "verdict"}``, in table order."""
    cases = []
    for line in markdown.splitlines():
        m = ROW.match(line)
        if m and re.search(r"(^|[\s;&(])qchaos( |$)", m.group(3)):
            cases.append({"n": int(m.group(1)), "case": m.group(2).strip(), "command": m.group(3),
                          "rc": m.group(4), "verdict": m.group(5)})
    return cases


def adapt(command: str) -> str:
    """The findings' command for today's CLI: ``generate twobody`` runs with tiny images (g = 10, 16 x 16) now need
    ``--rough-images`` (the image-quality rule came later), else every such case stops at that rule instead of the
    input it tests."""
    if "generate twobody" in command and "--rough-images" not in command:
        return command.replace("generate twobody", "generate twobody --rough-images", 1)
    return command


def skip_reason(case: dict) -> str | None:
    """Why a case is not replayed (None: it is)."""
    if case["case"] in SETUP:
        return None
    if case["verdict"] == "ok":
        return "control (valid input)"
    if case["command"].startswith("python "):
        return "needs an API probe, not a CLI case"
    for needle, why in ARTEFACTS:
        if needle in case["command"]:
            return f"needs {why}"
    if "--push" in case["command"] and "HF_ENDPOINT" not in case["command"] and "offline" not in case["case"]:
        return "needs a Hub"
    return None


#: the crafted stores: a copy of ``$W/tw.zarr`` whose root ``config`` attribute gets one hostile edit
CRAFTED_STORES = {
    "extra-key": lambda config: {**config, "evil": 1},
    "bad-levels": lambda config: {**config, "levels": "abc"},
    "no-config": None,  # the attribute removed
    "jinja": lambda config: config,  # the preset attribute below
    "gitcommit": lambda config: config,
}
#: the hostile dataset repos the CLI rows train on (built from ``qchaos/tw-ok`` as the API replay builds them)
EVIL_REPOS = ("readme-abs", "mkeyerr", "mabs-size")


def craft(work: Path) -> None:
    """Rebuild the findings' hostile artefacts from the setup rows' store and repo (see the module docstring)."""
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from replay_api_findings import _evil_dataset

    base = work / "tw.zarr"
    for name, edit in CRAFTED_STORES.items():
        dest = work / "crafted" / f"{name}.zarr"
        shutil.copytree(base, dest)
        meta_path = dest / "zarr.json"
        meta = json.loads(meta_path.read_text())
        attrs = meta["attributes"]
        if edit is None:
            del attrs["config"]
        else:
            attrs["config"] = edit(attrs["config"])
        if name == "jinja":
            attrs["preset"] = "{{ 7*7 }}"
        if name == "gitcommit":
            attrs["git_commit"] = "{% for x in range(9) %}{{ x }}{% endfor %}"
        meta_path.write_text(json.dumps(meta, indent=2))
    src = work / "hub" / "datasets" / "qchaos" / "tw-ok"
    for name in EVIL_REPOS:
        _evil_dataset(src, work / "hub" / "datasets" / "evil" / name, work, name)


def _limits(mem_bytes: int):
    def apply():
        os.setsid()
        resource.setrlimit(resource.RLIMIT_AS, (mem_bytes, mem_bytes))
    return apply


def classify(rc: int | None, out: str) -> tuple[str, str]:
    """(class, the message line) of one finished run (``rc`` None: timed out)."""
    lines = [x for x in out.strip().splitlines() if x.strip()]
    starts = [i for i, x in enumerate(lines) if re.match(r"^qchaos[\w -]*: ", x)]
    if starts:  # the last error line and the indented lines under it (e.g. the failed points of a sweep)
        i = starts[-1]
        block = [lines[i]] + [x for x in lines[i + 1:] if x.startswith(" ")]
        message = " | ".join(x.strip() for x in block)[:400]
    else:
        message = (lines or [""])[-1][:300]
    if rc is None:
        return "hang", message
    if OOM.search(out) or rc < 0:
        return "oom", message
    if "Traceback" in out:
        return "traceback", message
    if rc == 0:
        return "ok", message
    return ("clear" if NAMES.search(message) else "unclear"), message


def run_case(case: dict, work: Path, env: dict, timeout: float, mem_bytes: int) -> dict:
    """Run one case's command in ``work``; returns the case with ``got`` (class), ``exit``, ``seconds``, ``message``."""
    start = time.perf_counter()
    proc = subprocess.Popen(["bash", "-c", adapt(case["command"])], cwd=work, env=env, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, preexec_fn=_limits(mem_bytes))  # noqa: PLW1509 - no threads here
    try:
        out, _ = proc.communicate(timeout=timeout)
        rc = proc.returncode
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the case's own process group (setsid in the child)
        out, _ = proc.communicate()
        rc = None
    text = out.decode(errors="replace")
    got, message = classify(rc, text)
    return {**case, "got": got, "exit": rc, "seconds": round(time.perf_counter() - start, 1), "message": message}


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("findings", type=Path, help="the bad-input findings markdown")
    p.add_argument("--work", type=Path, default=Path("/tmp/qchaos-replay"), help="scratch folder $W (recreated)")
    p.add_argument("--only", help="comma-separated row numbers to replay (the setup rows always run)")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    p.add_argument("--mem-gb", type=float, default=3.0, help="address-space limit per case, GiB (default 3)")
    p.add_argument("--json", type=Path, help="write the records here")
    args = p.parse_args(argv)

    repo = Path(__file__).resolve().parent.parent
    work = args.work.resolve()
    if work.exists():
        shutil.rmtree(work)
    for sub in ("bin", "o", "runs", "cases", "reports", "det"):
        (work / sub).mkdir(parents=True)
    (work / "probe.py").write_text("# a plain file the cases use as a wrong --out / --store\n")
    wrapper = work / "bin" / "qchaos"
    wrapper.write_text(f"#!/bin/sh\nexec {sys.executable} -m qchaos \"$@\"\n")
    wrapper.chmod(0o755)
    env = {**os.environ, "W": str(work), "QCHAOS_HUB": str(work / "hub"), "HF_HUB_OFFLINE": "1",
           "HF_HOME": str(work / "hfhome"), "PYTHONPATH": str(repo), "TQDM_DISABLE": "1",
           "PATH": f"{work / 'bin'}:{os.environ.get('PATH', '')}"}
    env.pop("QCHAOS_MAX_BYTES", None)
    only = {int(x) for x in args.only.split(",")} if args.only else None

    cases = parse_cases(args.findings.read_text(encoding="utf-8"))
    records, skipped = [], []
    crafted = False
    for case in cases:
        if not crafted and case["n"] > 171 and (work / "tw.zarr").is_dir() \
                and (work / "hub" / "datasets" / "qchaos" / "tw-ok").is_dir():
            craft(work)  # after pub-ok-tw (row 171), before the first row that uses the artefacts
            crafted = True
        why = skip_reason(case)
        if why is None and only is not None and case["n"] not in only and case["case"] not in SETUP:
            why = "not in --only"
        if why is not None:
            skipped.append({**case, "skipped": why})
            continue
        rec = run_case(case, work, env, args.timeout, int(args.mem_gb * 2**30))
        rec["setup"] = case["case"] in SETUP
        records.append(rec)
        print(f"{rec['n']:>4} {rec['case']:<30} {rec['got']:<9} exit {rec['exit']!s:>4} {rec['seconds']:>6}s  "
              f"{rec['message'][:150]}", flush=True)

    bad = [r for r in records if not r["setup"]]
    counts = {}
    for r in bad:
        counts[r["got"]] = counts.get(r["got"], 0) + 1
    setup_failed = [r["case"] for r in records if r["setup"] and r["got"] != "ok"]
    print(f"\nreplayed {len(bad)} bad-input CLI cases of {len(cases)} CLI rows ({len(skipped)} skipped): "
          + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"clear: {counts.get('clear', 0)} / {len(bad)}")
    if setup_failed:
        print(f"setup controls that did not pass: {setup_failed}")
    reasons = {}
    for s in skipped:
        reasons[s["skipped"]] = reasons.get(s["skipped"], 0) + 1
    print("skipped: " + ", ".join(f"{v} ({k})" for k, v in sorted(reasons.items())))
    if args.json:
        args.json.write_text(json.dumps({"records": records, "skipped": skipped}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
