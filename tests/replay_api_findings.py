"""Replay the Python API cases of a bad-input findings file and classify what the current code does with each.

``python tests/replay_api_findings.py FINDINGS.md [--work DIR] [--only N,M,...] [--timeout 60] [--mem-gb 4]``

Not a test module (pytest collects ``test_*.py`` only): a measuring tool, the API companion of
``tests/replay_findings.py`` (which replays the CLI rows). It reads the case table of the findings
(``| # | case | `command` | rc | **verdict** | note | excerpt |``) and keeps the API rows: a Python expression such
as ``ss(0.5, 5.0, 10)  [sec/api_probe.py]``, ``m.predict_proba(...)``, ``qchaos.hub.load('evil/mabs', ...)``, or
the name of a probe of the findings' ``sec/hub_client.py`` (``push_registered``, ``evil_trav``, ...), or a
probe script the findings ran with ``python`` (:data:`SCRIPTS` gives the expression each one stands for).

The findings' own probe scripts are not part of this repository, so the artefacts the rows name are rebuilt in the
scratch folder ``$W`` first (:func:`setup`, in a child process):

* ``ss(eta, g, n, ...)`` = ``solve_spectrum(...)`` reduced to ``(len(energy), energy.min(), energy.max())``;
  ``bethe_levels``, ``resonances``, ``load`` (``qchaos.hub.load``), ``np``, ``torch``, ``Fraction``;
* ``qchaos/tw-ok`` (two etas, 60 levels, 16 x 16 images: 28 / 6 / 6 rows) and ``qchaos/tri-ok`` (N0 = 30,
  K = 2), generated and published into the local hub ``$QCHAOS_HUB = $W/hub``;
* ``m`` = ``qchaos/m-ok``, an untrained ``DensityCNN(image_size=16)`` (seed 0; ``P`` = 16), and ``q`` =
  ``qchaos/q-ok``, an untrained ``QuantumLocalizationNet(grid_size=8)``, saved into the local hub (the findings
  trained them for one epoch; the cases test input handling, not accuracy); ``hub`` / ``evil`` are the paths
  ``$W/hub`` and ``$W/hub/models/evil``;
* ``packed(fill=None, dtype=torch.complex128)``: the leading resonance of ``resonances(30, 0.2)`` packed with
  ``pack_resonances`` (1, 31, 2), every vector entry set to ``fill`` when given;
* the hostile model folders ``$W/hub/models/evil/<name>`` (copies of ``m-ok`` with one edit each, named as the
  rows' cases: ``cfg-list`` a JSON list as ``config.json``, ``rec-size-str`` the weights size recorded as a
  string, ...) and the hostile dataset repos ``$W/hub/datasets/evil/<name>`` (copies of ``tw-ok``: ``mabs``
  manifest entries naming ``/etc/hostname``, ``readme-unlisted`` a card ``data_files`` glob naming an unlisted
  parquet whose ``g`` column is the marker 12345, ...). The hostile folders are *self-consistent*: after an
  edit the digests ``qchaos.json`` records (``config_sha256``, ``record_sha256``) are recomputed, as the author of
  a hostile repo would, so each case reaches the check it is about instead of stopping at a digest;
* for the ``[sec/hub_client.py]`` rows and the cold-cache rows, a loopback Hub (``tests/hubserver.py``, run in
  this process on 127.0.0.1) with ``tw-ok`` / ``tri-ok`` / ``m-ok`` pushed as ``qchaos/tw-pushed``,
  ``qchaos/tri-pushed``, ``qchaos/m-pushed``, a 16 x 16 ``DensityCNN`` pushed under the registered name
  ``qchaos/density-cnn-twobody-paper``, and hostile dataset repos (a ``..`` file name, a manifest naming
  ``/etc/hostname``, a card naming a parquet file on the client's disk).

The cases then run in a child process per environment (offline: ``HF_HUB_OFFLINE=1``; hub: ``HF_ENDPOINT`` =
the loopback Hub), each case evaluated in-process there, with a per-case wall-clock timeout and an address-space
limit (``RLIMIT_AS``); a case that hangs or kills the child is recorded and the child restarted for the rest.
The classes:

* ``clear``: an exception that is a typed qchaos error (``QchaosError``: ``ParameterError``, ``IntegrityError``,
  ``NotFoundError``, ``EnvironmentFault``, ...), or another exception whose message names the parameter, flag or
  path (``name = value``, ``path: what``, an unexpected keyword argument) and is not an internal error class;
* ``unclear``: an exception that names nothing, or an internal error class (``AttributeError``, ``KeyError``,
  ``JSONDecodeError``, ``OverflowError``, ...) whatever it says;
* ``ok``: returned a value (correct for a control or a row the findings called a *bug*: the valid request
  works now);
* ``check``: returned a value on a row the findings called *silent-wrong* or *security*: right only if the value
  is; the value is printed so a human can judge;
* ``hang``: hit the timeout; ``oom``: ``MemoryError`` or the child was killed by a signal.

Prints one line per case and a summary (bad inputs, i.e. rows whose findings verdict is not ``ok``, apart from
the controls); ``--json PATH`` writes the records.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import re
import select
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from replay_findings import ROW, _limits  # noqa: E402 - the sibling tool, imported from this folder

TAG = re.compile(r"\s+\[sec/[\w.]+\]$")
COLD = " on a cold cache"
CLI = re.compile(r"(^|[\s;&(])qchaos( |$)")
SCRIPTS = ((re.compile(r"^python \$W/sec/model_dos\.py (\d+)$"), 'HubModel.from_pretrained(str(evil / "cfg-hidden-{0}"))'),)
"""The findings' probe scripts, as the expression each one ran (``model_dos.py N``: ``config.json`` with
``hidden = N`` beside unchanged weights)."""
PROBES = ("push_registered", "evil_trav", "evil_manifest_abs", "evil_readme_abs", "srv_trav")
INTERNAL = ("AttributeError", "KeyError", "IndexError", "JSONDecodeError", "OverflowError", "ZeroDivisionError",
            "NameError", "UnboundLocalError", "AssertionError", "RecursionError", "UnicodeDecodeError")
NAMES = re.compile(r"\b[A-Za-z_][\w.]* ?= ?\S|^[\w.()=\[\],'/$~+-]+: \S|unexpected keyword argument '\w+'"
                   r"|[Ss]hould be one of")
SUSPECT = ("silent-wrong", "security")
MARKER = 12345.0  # the g value of the parquet files a hostile card points at


# -- the table -----------------------------------------------------------------------------------------------------
def parse_cases(markdown: str) -> list[dict]:
    """The API rows of the findings' case table: ``{"n", "case", "expr", "cold", "hub", "rc", "verdict"}``."""
    cases = []
    for line in markdown.splitlines():
        m = ROW.match(line)
        if not m or CLI.search(m.group(3)):
            continue
        command = m.group(3)
        hub = "[sec/hub_client.py]" in command or command.endswith(COLD)
        expr = TAG.sub("", command)
        for pattern, template in SCRIPTS:
            found = pattern.match(expr)
            if found:
                expr = template.format(*found.groups())
        cold = expr.endswith(COLD)
        expr = expr[:-len(COLD)] if cold else expr
        cases.append({"n": int(m.group(1)), "case": m.group(2).strip(), "expr": expr.strip(), "cold": cold,
                      "hub": hub, "rc": m.group(4), "verdict": m.group(5)})
    return cases


def classify(rec: dict, verdict: str) -> str:
    """The class of one finished case (see the module docstring)."""
    outcome = rec["outcome"]
    if outcome in ("hang", "oom"):
        return outcome
    if outcome == "value":
        return "check" if verdict in SUSPECT else "ok"
    if rec.get("typed"):
        return "clear"
    name = rec["type"].rsplit(".", 1)[-1]
    if name in INTERNAL or name.endswith("Warning"):
        return "unclear"
    return "clear" if NAMES.search(rec["message"]) else "unclear"


# -- the artefacts (child) -----------------------------------------------------------------------------------------
def _reseal(folder: Path) -> None:
    """Recompute the digests ``qchaos.json`` records for ``config.json`` and itself (a hostile author's move)."""
    from modeling.hub_model import record_digest
    from qchaos.hub import sha256_file

    path = folder / "qchaos.json"
    try:
        record = json.loads(path.read_text())
    except ValueError:
        return
    if not isinstance(record, dict):
        return
    if "config_sha256" in record and (folder / "config.json").is_file():
        record["config_sha256"] = sha256_file(folder / "config.json")
    if "record_sha256" in record:
        record["record_sha256"] = record_digest(record)
    path.write_text(json.dumps(record, sort_keys=True, indent=2) + "\n")


def _evil_models(hub: Path) -> None:
    """The hostile model folders of rows 402-417: copies of ``m-ok`` with one edit each."""
    import torch

    from modeling.density_cnn import DensityCNN

    base = hub / "models" / "qchaos" / "m-ok"

    def config(edit):
        def apply(f):
            cfg = json.loads((f / "config.json").read_text())
            (f / "config.json").write_text(edit(cfg))
        return apply

    def record(edit):
        def apply(f):
            rec = json.loads((f / "qchaos.json").read_text())
            edit(rec)
            (f / "qchaos.json").write_text(json.dumps(rec, sort_keys=True, indent=2) + "\n")
        return apply

    def flip(f):
        data = bytearray((f / "model.safetensors").read_bytes())
        data[-5] ^= 0x01
        (f / "model.safetensors").write_bytes(bytes(data))

    def swapped(f):
        torch.manual_seed(1)
        DensityCNN(image_size=16).save_pretrained(f)

    def drop_config(f):
        (f / "config.json").unlink()
        record(lambda r: r.pop("config_sha256", None))(f)

    def replace_record(text):
        return lambda f: (f / "qchaos.json").write_text(text(json.loads((f / "qchaos.json").read_text())))

    edits = {
        "cfg-extra-key": config(lambda c: json.dumps({**c, "extra_key": 1})),
        "cfg-list": config(lambda c: json.dumps(list(c.values()))),
        "cfg-badjson": config(lambda c: "{image_size: 16}"),
        "cfg-missing": drop_config,
        "cfg-hidden-big": config(lambda c: json.dumps({**c, "hidden": 30000})),
        "cfg-hidden-5000000": config(lambda c: json.dumps({**c, "hidden": 5000000})),
        "cfg-dropout-str": config(lambda c: json.dumps({**c, "dropout": "0.5"})),
        "rec-file-elsewhere": record(lambda r: r["weights"].update(file="../../../../etc/passwd")),
        "rec-module-os": record(lambda r: r.update(module="os")),
        "rec-class-bogus": record(lambda r: r.update(model_class="Popen", module="subprocess")),
        "rec-class-quantum": record(lambda r: r.update(model_class="QuantumLocalizationNet",
                                                       module="modeling.quantum_net")),
        "rec-meta-weird": record(lambda r: r.update(meta={"name": "x", "evil": "<script>"})),
        "rec-no-sha": record(lambda r: r["weights"].pop("sha256")),
        "rec-size-str": record(lambda r: r["weights"].update(size=str(r["weights"]["size"]))),
        "rec-list": replace_record(lambda r: json.dumps([r])),
        "weights-swapped": swapped,
        "weights-corrupt": flip,
    }
    for name, edit in edits.items():
        folder = hub / "models" / "evil" / name
        shutil.copytree(base, folder)
        edit(folder)
        _reseal(folder)


def _marker_shard(shard: Path, out: Path) -> None:
    """A copy of ``shard`` with every ``g`` set to :data:`MARKER` (same schema: loadable in its place)."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(shard)
    i = table.schema.get_field_index("g")
    table = table.set_column(i, table.schema.field(i), pa.array([MARKER] * table.num_rows, table.schema.field(i).type))
    out.parent.mkdir(parents=True, exist_ok=True)
    pq.write_table(table, out)


def _evil_dataset(src: Path, dest: Path, work: Path, name: str) -> None:
    """One hostile copy of the dataset folder ``src`` (see :func:`_evil_datasets` for the names)."""
    shutil.copytree(src, dest)
    mpath = dest / "data" / "manifest.json"
    manifest = json.loads(mpath.read_text())
    files = manifest["files"]
    train = sorted(k for k, v in files.items() if v["config"] == "wavefunctions" and v["split"] == "train")[0]
    host = Path("/etc/hostname")
    if name in ("mabs", "mabs-size", "mrel", "hub-mabs"):
        size = host.stat().st_size if name == "mabs-size" else 1
        key = str(host) if name != "mrel" else "../../../../../../../../etc/hostname"
        files[key] = {"config": "wavefunctions", "split": "train", "size": size, "sha256": "0" * 64}
    elif name == "mabs-match":  # a real shard, listed by an absolute path outside the repo
        outside = work / "outside" / "train.parquet"
        outside.parent.mkdir(parents=True, exist_ok=True)
        shutil.move(dest / train, outside)
        files[str(outside)] = files.pop(train)
    elif name == "mkeyerr":
        del files[train]["size"]
    elif name == "mtype":
        files[train] = "data"
    elif name == "mlist":
        files[train] = [files[train]["size"], files[train]["sha256"]]
    elif name == "mdefault":  # no default_config: the config is named by the call
        manifest.pop("default_config", None)
    elif name.startswith(("readme-", "hub-readme")):
        shard = dest / train
        if name == "readme-unlisted":
            target, glob = dest / "extra" / "unverified.parquet", "extra/*.parquet"
        elif name == "readme-rel":
            target = dest.parent / "secret.parquet"
            glob = "../secret.parquet"
        else:  # an absolute path on the loading machine
            target = work / "secret" / "secret.parquet"
            glob = str(target)
        _marker_shard(shard, target)
        card = (dest / "README.md").read_text()
        old = Path(train).parent.as_posix() + "/train-*.parquet"
        if old not in card:
            raise RuntimeError(f"{name}: the card of {src} has no data_files entry {old!r}")
        (dest / "README.md").write_text(card.replace(old, glob))
    else:
        raise ValueError(f"unknown hostile dataset {name!r}")
    mpath.write_text(json.dumps(manifest, indent=1) + "\n")


def setup(work: Path) -> None:
    """Build the scratch artefacts (offline): stores, published datasets, checkpoints, hostile folders."""
    import torch

    from generation.presets import TribakerConfig, TwobodyConfig
    from generation.publish import publish
    from generation.store import PointStore
    from generation.sweep import run_sweep
    from generation.tribaker.generate import compute_point as tri_task
    from generation.twobody.generate import compute_point as tb_task
    from modeling.density_cnn import DensityCNN
    from modeling.quantum_net import QuantumLocalizationNet

    hub = Path(os.environ["QCHAOS_HUB"])
    for system, config, task, repo in (
        ("twobody", TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True),
         tb_task, "qchaos/tw-ok"),
        ("tribaker", TribakerConfig(N0=30, K=2), tri_task, "qchaos/tri-ok"),
    ):
        store = work / f"{system}.zarr"
        run_sweep(PointStore.open(store, system, "mini", config.to_dict()), config.points(), task, workers=0,
                  progress=False)
        publish(system, store, repo, out=hub / "datasets" / repo, progress=False)
    torch.manual_seed(0)
    DensityCNN(image_size=16).save_to_local_hub("qchaos/m-ok")
    torch.manual_seed(0)
    QuantumLocalizationNet(grid_size=8).save_to_local_hub("qchaos/q-ok")
    _evil_models(hub)
    src = hub / "datasets" / "qchaos" / "tw-ok"
    for name in ("mabs", "mabs-size", "mrel", "mabs-match", "mkeyerr", "mtype", "mlist", "mdefault", "readme-rel",
                 "readme-abs", "readme-unlisted"):
        _evil_dataset(src, hub / "datasets" / "evil" / name, work, name)
    for name in ("hub-mabs", "hub-readme-abs"):  # pushed to the loopback Hub by push_setup
        _evil_dataset(src, work / "tohub" / name, work, name)


def push_setup(work: Path) -> None:
    """Push the repos of the hub rows to the loopback Hub (``HF_ENDPOINT``)."""
    import torch

    from modeling.density_cnn import DensityCNN
    from modeling.hub_model import HubModel
    from qchaos.hub import push_folder

    hub = Path(os.environ["QCHAOS_HUB"])
    push_folder(hub / "datasets" / "qchaos" / "tw-ok", "qchaos/tw-pushed")
    push_folder(hub / "datasets" / "qchaos" / "tri-ok", "qchaos/tri-pushed")
    push_folder(hub / "datasets" / "qchaos" / "tw-ok", "evil/trav")  # the '..' file is added by the parent
    push_folder(work / "tohub" / "hub-mabs", "evil/manifest-abs")
    push_folder(work / "tohub" / "hub-readme-abs", "evil/readme-abs")
    HubModel.from_pretrained("qchaos/m-ok").push_to_hub("qchaos/m-pushed")
    torch.manual_seed(0)
    DensityCNN(image_size=16).push_to_hub("qchaos/density-cnn-twobody-paper")  # not the registered weights


# -- the cases (child) ---------------------------------------------------------------------------------------------
def namespace(work: Path) -> dict:
    """The names the rows' expressions use."""
    from fractions import Fraction

    import numpy as np
    import torch

    import qchaos.hub
    from generation.tribaker.resonances import resonances
    from generation.twobody.bethe import bethe_levels
    from generation.twobody.spectrum import solve_spectrum
    from modeling.coherent_layer import pack_resonances
    from modeling.density_cnn import DensityCNN
    from modeling.hub_model import HubModel
    from modeling.quantum_net import QuantumLocalizationNet
    from qchaos.hub import load

    hub = Path(os.environ["QCHAOS_HUB"])

    def ss(eta, g, n_levels, *args, **kwargs):
        s = solve_spectrum(eta, g, n_levels, *args, **kwargs)
        return len(s.energy), float(s.energy.min()), float(s.energy.max())

    res = resonances(30, 0.2)

    def packed(fill=None, dtype=torch.complex128):
        x = pack_resonances([res.right[:, 0]], [res.left[:, 0]])
        if fill is not None:
            x[:, :-1, :] = fill
        return x.to(dtype)

    def g_values(dd) -> list:
        return sorted(set(dd["train"]["g"]))

    def push_registered():
        model = HubModel.from_pretrained("qchaos/density-cnn-twobody-paper", source="hub")
        return {"loaded": type(model).__name__, "image_size": model.image_size}

    def evil_trav():
        try:
            load("evil/trav", "wavefunctions", source="hub")
            outcome = "loaded"
        except Exception as exc:  # noqa: BLE001 - the outcome is the point
            outcome = f"load {type(exc).__name__}: {exc}"[:200]
        written = [str(p) for p in (work / "PWNED.txt", work.parent / "PWNED.txt") if p.exists()]
        return outcome, {"written outside the cache": written}

    def evil_manifest_abs():
        return g_values(load("evil/manifest-abs", "wavefunctions", source="hub"))

    def evil_readme_abs():
        return "loaded; train g values", g_values(load("evil/readme-abs", "wavefunctions", source="hub"))

    def srv_trav():
        """A client commits an LFS file whose oid is a path; then reads it back through ``resolve``."""
        import urllib.error
        import urllib.request

        url = os.environ["HF_ENDPOINT"]

        def call(method, path, body=None):
            req = urllib.request.Request(url + path, data=body, method=method,
                                         headers={"Content-Type": "application/json"})
            try:
                with urllib.request.urlopen(req, timeout=10) as resp:
                    return resp.read()
            except urllib.error.HTTPError as exc:
                raise ValueError(f"hubserver: HTTP {exc.code}: {exc.headers.get('X-Error-Message')}") from None

        call("POST", "/api/repos/create", json.dumps({"type": "model", "organization": "evil", "name": "leak"}).encode())
        lines = [{"key": "header", "value": {"summary": "leak"}},
                 {"key": "lfsFile", "value": {"path": "leak.bin", "algo": "sha256",
                                              "oid": "../../../../../../../../etc/hostname"}}]
        call("POST", "/api/models/evil/leak/commit/main", "\n".join(json.dumps(x) for x in lines).encode())
        return call("GET", "/evil/leak/resolve/main/leak.bin")

    m = HubModel.from_pretrained("qchaos/m-ok")
    q = HubModel.from_pretrained("qchaos/q-ok")
    return {"ss": ss, "bethe_levels": bethe_levels, "resonances": resonances, "np": np, "torch": torch,
            "Fraction": Fraction, "HubModel": HubModel, "DensityCNN": DensityCNN,
            "QuantumLocalizationNet": QuantumLocalizationNet, "load": load, "qchaos": qchaos, "hub": hub,
            "evil": hub / "models" / "evil", "m": m, "q": q, "P": m.image_size, "packed": packed,
            "push_registered": push_registered, "evil_trav": evil_trav, "evil_manifest_abs": evil_manifest_abs,
            "evil_readme_abs": evil_readme_abs, "srv_trav": srv_trav}


def render(value) -> str:
    """A short text of a case's return value."""
    import datasets
    import torch

    if isinstance(value, datasets.DatasetDict):
        splits = {k: v.num_rows for k, v in value.items()}
        g = sorted(set(value["train"]["g"])) if "train" in value and "g" in value["train"].column_names else "-"
        return f"LOADED: splits {splits}; train g values {g}"
    if isinstance(value, torch.nn.Module):
        return f"{type(value).__name__}({getattr(value, '_hub_mixin_config', '')})"
    if isinstance(value, torch.Tensor):
        return repr(value.tolist()) if value.numel() <= 16 else f"tensor{tuple(value.shape)} {value.dtype}"
    return repr(value)


def run_one(case: dict, ns: dict) -> dict:
    """Evaluate one case in ``ns``; the outcome, exception class and message, or the rendered value."""
    from qchaos.errors import QchaosError

    start = time.perf_counter()
    try:
        if case["cold"]:
            from huggingface_hub import constants

            shutil.rmtree(constants.HF_HUB_CACHE, ignore_errors=True)
        expr = case["expr"]
        value = ns[expr]() if expr in PROBES else eval(expr, ns)  # noqa: S307 - the findings' own expressions
        rec = {"outcome": "value", "message": render(value)[:400]}
    except MemoryError as exc:
        rec = {"outcome": "oom", "message": f"MemoryError: {exc}"[:400]}
    except Exception as exc:  # noqa: BLE001 - classified by the parent
        kind = f"{type(exc).__module__}.{type(exc).__qualname__}"
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        rec = {"outcome": "exc", "type": kind, "typed": isinstance(exc, QchaosError), "message": first[:400]}
    rec["seconds"] = round(time.perf_counter() - start, 2)
    return rec


def child(work: Path, mode: str) -> int:
    """The child process: ``setup``, ``push`` or ``cases`` (the cases as JSON on stdin, results on stdout)."""
    os.chdir(work)
    if mode == "setup":
        setup(work)
        return 0
    if mode == "push":
        push_setup(work)
        return 0
    cases = json.load(sys.stdin)
    ns = namespace(work)
    print("READY", flush=True)
    for case in cases:
        print("START " + str(case["n"]), flush=True)
        print("RESULT " + json.dumps({"n": case["n"], **run_one(case, ns)}), flush=True)
    return 0


# -- the parent ----------------------------------------------------------------------------------------------------
class Lines:
    """Lines of a child's stdout, read with a deadline (``None``: timed out; ``""``: end of file)."""

    def __init__(self, fh):
        self.fd, self.buf = fh.fileno(), b""

    def next(self, timeout: float) -> str | None:
        deadline = time.monotonic() + timeout
        while b"\n" not in self.buf:
            left = deadline - time.monotonic()
            if left <= 0 or not select.select([self.fd], [], [], left)[0]:
                return None
            chunk = os.read(self.fd, 65536)
            if not chunk:
                return ""
            self.buf += chunk
        line, self.buf = self.buf.split(b"\n", 1)
        return line.decode(errors="replace")


def _start(args: list[str], work: Path, env: dict, mem_bytes: int, log) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(Path(__file__).resolve()), *args], cwd=work, env=env,
                            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=log,
                            preexec_fn=_limits(mem_bytes))  # noqa: PLW1509 - no threads in the child yet


def _kill(proc: subprocess.Popen) -> None:
    try:
        os.killpg(proc.pid, signal.SIGKILL)  # the child's own process group (setsid in _limits)
    except ProcessLookupError:
        pass
    proc.wait()


def run_step(mode: str, work: Path, env: dict, mem_bytes: int, timeout: float = 900) -> None:
    """Run a setup child to completion; ``RuntimeError`` with its log tail if it fails."""
    log_path = work / "logs" / f"{mode}.log"
    with open(log_path, "wb") as log:
        proc = _start(["--child", mode, "--work", str(work)], work, env, mem_bytes, log)
        proc.stdin.close()
        try:
            rc = proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            _kill(proc)
            rc = "timeout"
    if rc != 0:
        raise RuntimeError(f"setup step {mode!r} failed ({rc}): {log_path.read_text()[-3000:]}")


def run_cases(cases: list[dict], group: str, work: Path, env: dict, timeout: float, mem_bytes: int):
    """Run ``cases`` in a child (restarted after a hang or a crash); yields ``(case, record)`` in order."""
    pending = list(cases)
    while pending:
        log = open(work / "logs" / f"cases-{group}-{pending[0]['n']}.log", "wb")
        proc = _start(["--child", "cases", "--work", str(work)], work, env, mem_bytes, log)
        proc.stdin.write(json.dumps(pending).encode())
        proc.stdin.close()
        lines = Lines(proc.stdout)
        line = lines.next(600)
        if line != "READY":
            _kill(proc)
            log.close()
            raise RuntimeError(f"the {group} case runner did not start: {(work / 'logs').resolve()}")
        done = 0
        for case in pending:
            start = time.perf_counter()
            got = None
            while got is None:
                line = lines.next(timeout + 5 - (time.perf_counter() - start))
                if line is None:
                    _kill(proc)
                    got = {"outcome": "hang", "message": f"no result after {timeout:g} s"}
                elif line == "":
                    rc = proc.wait()
                    got = {"outcome": "oom" if rc < 0 else "exc", "type": "child-exit", "typed": False,
                           "message": f"the runner died (exit {rc}) during this case"}
                elif line.startswith("RESULT "):
                    got = json.loads(line[7:])
            got.setdefault("seconds", round(time.perf_counter() - start, 2))
            done += 1
            yield case, got
            if got["outcome"] in ("hang", "oom") or got.get("type") == "child-exit":
                break
        _kill(proc)
        log.close()
        pending = pending[done:]


def _hub_server(work: Path):
    spec = importlib.util.spec_from_file_location("qchaos_tests_hubserver", Path(__file__).with_name("hubserver.py"))
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module.HubServer(root=work / "hubsrv").start()


def _add_dotdot_file(srv) -> None:
    """The hostile Hub repo ``evil/trav``: a file whose name climbs out of the snapshot folder."""
    _, commit = srv.store.resolve("dataset", "evil/trav", "main")
    commit["files"]["data/wavefunctions/../../../../PWNED.txt"] = srv.store._entry(b"pwned\n", lfs=False)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("findings", type=Path, nargs="?", help="the bad-input findings markdown")
    p.add_argument("--work", type=Path, default=Path("/tmp/qchaos-replay-api"), help="scratch folder $W (recreated)")
    p.add_argument("--only", help="comma-separated row numbers to replay")
    p.add_argument("--timeout", type=float, default=60.0, help="seconds per case (default 60)")
    p.add_argument("--mem-gb", type=float, default=4.0, help="address-space limit per child, GiB (default 4)")
    p.add_argument("--json", type=Path, help="write the records here")
    p.add_argument("--child", choices=("setup", "push", "cases"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    work = args.work.resolve()
    if args.child:
        return child(work, args.child)
    if args.findings is None:
        p.error("the findings markdown is required")

    repo = Path(__file__).resolve().parent.parent
    if work.exists():
        shutil.rmtree(work)
    (work / "logs").mkdir(parents=True)
    base = {**os.environ, "W": str(work), "QCHAOS_HUB": str(work / "hub"), "PYTHONPATH": str(repo),
            "TQDM_DISABLE": "1", "HF_HUB_DISABLE_PROGRESS_BARS": "1", "OMP_NUM_THREADS": "1"}
    base.pop("QCHAOS_MAX_BYTES", None)
    offline = {**base, "HF_HUB_OFFLINE": "1", "HF_HOME": str(work / "hfhome")}
    mem = int(args.mem_gb * 2**30)
    only = {int(x) for x in args.only.split(",")} if args.only else None

    cases = parse_cases(args.findings.read_text(encoding="utf-8"))
    selected = [c for c in cases if only is None or c["n"] in only]
    skipped = [{**c, "skipped": "not in --only"} for c in cases if c not in selected]
    start = time.perf_counter()
    run_step("setup", work, offline, mem)
    print(f"setup (stores, datasets, checkpoints, hostile folders): {time.perf_counter() - start:.0f} s", flush=True)
    groups = [("offline", [c for c in selected if not c["hub"]], offline)]
    srv = None
    if any(c["hub"] for c in selected):
        srv = _hub_server(work)
        online = {**base, "HF_HUB_OFFLINE": "0", "HF_ENDPOINT": srv.url, "HF_HUB_DISABLE_XET": "1",
                  "HF_TOKEN": "hf_x", "HF_HOME": str(work / "hfc")}
        run_step("push", work, online, mem)
        _add_dotdot_file(srv)
        groups.append(("hub", [c for c in selected if c["hub"]], online))
    records = []
    try:
        for group, todo, env in groups:
            for case, got in run_cases(todo, group, work, env, args.timeout, mem):
                rec = {**case, **got, "got": classify(got, case["verdict"]), "group": group}
                records.append(rec)
                what = rec.get("type", "").rsplit(".", 1)[-1] if rec["outcome"] == "exc" else rec["outcome"]
                print(f"{rec['n']:>4} {rec['case']:<30} {rec['verdict']:<12} -> {rec['got']:<8} {rec['seconds']:>6}s"
                      f"  {what}: {rec['message'][:150]}", flush=True)
    finally:
        if srv is not None:
            srv.stop()

    bad = [r for r in records if r["verdict"] != "ok"]
    controls = [r for r in records if r["verdict"] == "ok"]
    counts: dict[str, int] = {}
    for r in bad:
        counts[r["got"]] = counts.get(r["got"], 0) + 1
    print(f"\nreplayed {len(records)} API rows of {len(cases)} ({len(skipped)} skipped): {len(bad)} bad inputs, "
          f"{len(controls)} controls")
    print("bad inputs: " + ", ".join(f"{k} {v}" for k, v in sorted(counts.items())))
    print(f"clear: {counts.get('clear', 0)} / {len(bad)}")
    failed = [r for r in controls if r["got"] != "ok"]
    print(f"controls ok: {len(controls) - len(failed)} / {len(controls)}"
          + (": not ok " + ", ".join(f"{r['n']} {r['case']} ({r['got']})" for r in failed) if failed else ""))
    attention = [r for r in bad if r["got"] != "clear"]
    if attention:
        print("\nbad inputs that are not clear:")
        for r in attention:
            print(f"  {r['n']} {r['case']} [{r['verdict']} -> {r['got']}] {r['expr'][:90]}\n      {r['message'][:300]}")
    if args.json:
        args.json.write_text(json.dumps({"records": records, "skipped": skipped}, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
