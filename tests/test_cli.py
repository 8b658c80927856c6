"""The ``qchaos`` command line: help, JSON output, exact values, error messages and exit codes, generate."""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import io
import json
import math
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import zarr

from generation.presets import TwobodyConfig
from generation.store import PointStore
from qchaos.cli import build_parser, main

# Bethe-ansatz levels at eta = 1/3, g = 5 (docs/twobody.md §9 (d)): the five lowest of each parity block
EVEN = [8.839195, 17.726279, 25.020598, 34.543615, 39.088536]
ODD = [10.608512, 19.330866, 27.057348, 28.962076, 42.137972]
MERGED = sorted([(e, "even") for e in EVEN] + [(e, "odd") for e in ODD])  # the 10th overall is a 6th even level

TINY_ARGS = ["--eta", "0.5,1", "--levels", "60", "--window", "10", "29", "--image-size", "16", "--rough-images",
             "--workers", "0"]
TINY = TwobodyConfig(etas=(0.5, 1.0), levels=60, window=(10, 29), image_size=16, rough_images=True,
                     scheme="effective")  # the mini preset's scheme, which the CLI starts from


def _qchaos() -> list[str]:
    script = Path(sys.executable).with_name("qchaos")
    return [str(script)] if script.exists() else [sys.executable, "-m", "qchaos"]


def _call(*argv: str) -> int:
    try:
        return main(list(argv))
    except SystemExit as exc:  # argparse: --help and usage errors
        return exc.code


def _run(capsys, *argv: str) -> tuple[int, str, str]:
    """``main(argv)`` in-process: (exit code, stdout, stderr)."""
    capsys.readouterr()
    rc = _call(*argv)
    out, err = capsys.readouterr()
    return rc, out, err


_JSON: dict[tuple[str, ...], dict] = {}


def _json(capsys, *argv: str) -> dict:
    """The one JSON object of ``qchaos ARGV --json`` (each command line run once per session)."""
    if argv not in _JSON:
        rc, out, err = _run(capsys, *argv, "--json")
        assert rc == 0, err
        lines = out.strip().splitlines()
        assert len(lines) == 1, f"--json must print one JSON object, got {len(lines)} lines"
        data = json.loads(lines[0])
        assert isinstance(data, dict) and isinstance(data["levels"], list)
        for lv in data["levels"]:
            assert set(lv) == {"energy", "parity", "level"}, lv
            assert isinstance(lv["energy"], float) and isinstance(lv["level"], int)
            assert lv["parity"] in ("even", "odd")
        _JSON[argv] = data
    return _JSON[argv]


def _digest(root: Path) -> dict[str, tuple[str, int]]:
    return {str(p.relative_to(root)): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns)
            for p in sorted(root.rglob("*")) if p.is_file()}


def _subcommands(parser: argparse.ArgumentParser, prefix: tuple[str, ...] = ()):
    """Every command path of the parser (e.g. ("generate", "twobody")), parents first."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            for name, sub in action.choices.items():
                yield prefix + (name,)
                yield from _subcommands(sub, prefix + (name,))


# -- help ------------------------------------------------------------------------------------------------------------
def test_console_script_help_lists_commands():
    res = subprocess.run(_qchaos() + ["--help"], capture_output=True, text=True, timeout=60)
    assert res.returncode == 0, res.stderr
    assert "generate" in res.stdout and "twobody" in res.stdout


def test_generate_help_lists_twobody(capsys):
    rc, out, _ = _run(capsys, "generate", "--help")
    assert rc == 0 and "twobody" in out


SUBCOMMANDS = list(_subcommands(build_parser()))


def test_subcommands_found():
    assert {("generate",), ("generate", "twobody"), ("twobody",), ("twobody", "spectrum"),
            ("twobody", "bethe")} <= set(SUBCOMMANDS)


@pytest.mark.parametrize("path", SUBCOMMANDS, ids=" ".join)
def test_every_subcommand_help_exits_0(path, capsys):
    rc, out, err = _run(capsys, *path, "--help")
    assert rc == 0, err
    assert out.startswith(f"usage: qchaos {' '.join(path)}") and err == ""


# -- twobody spectrum / bethe ------------------------------------------------------------------------------------------
def test_spectrum_json_matches_bethe_ansatz(capsys):
    data = _json(capsys, "twobody", "spectrum", "--eta", "1/3", "--g", "5", "--levels", "10")
    levels = data["levels"]
    assert [lv["level"] for lv in levels] == list(range(1, 11))
    energies = [lv["energy"] for lv in levels]
    assert energies == sorted(energies)
    for lv, (exact, parity) in zip(levels[:9], MERGED[:9]):
        assert lv["parity"] == parity and lv["energy"] == pytest.approx(exact, rel=5e-4), lv
    # the 10th lowest level is the 6th even one, between the 5th even and the 5th odd
    assert levels[9]["parity"] == "even" and EVEN[-1] < levels[9]["energy"] < ODD[-1]


def test_spectrum_one_parity(capsys):
    data = _json(capsys, "twobody", "spectrum", "--eta", "1/3", "--g", "5", "--levels", "5", "--parity", "odd")
    assert [lv["parity"] for lv in data["levels"]] == ["odd"] * 5
    assert [lv["energy"] for lv in data["levels"]] == pytest.approx(ODD, rel=5e-4)


def test_spectrum_one_parity_level_numbers_rank_over_both_parities(capsys):
    data = _json(capsys, "twobody", "spectrum", "--eta", "1/3", "--g", "5", "--levels", "5", "--parity", "odd")
    assert [lv["level"] for lv in data["levels"]] == [2, 4, 6, 7, 11]


def test_bethe_json_exact_values(capsys):
    levels = _json(capsys, "twobody", "bethe", "--eta", "1/3", "--g", "5", "--levels", "10")["levels"]
    assert [lv["level"] for lv in levels] == list(range(1, 11))
    for lv, (exact, parity) in zip(levels[:9], MERGED[:9]):
        assert lv["parity"] == parity and lv["energy"] == pytest.approx(exact, rel=1e-6), lv
    assert levels[9]["parity"] == "even" and EVEN[-1] < levels[9]["energy"] < ODD[-1]
    for parity, exact, ranks in (("odd", ODD, [2, 4, 6, 7, 11]), ("even", EVEN, [1, 3, 5, 8, 9])):
        block = _json(capsys, "twobody", "bethe", "--eta", "1/3", "--g", "5", "--levels", "5",
                      "--parity", parity)["levels"]
        assert [lv["parity"] for lv in block] == [parity] * 5
        assert [lv["energy"] for lv in block] == pytest.approx(exact, rel=1e-6)
        assert [lv["level"] for lv in block] == ranks


def test_bethe_equal_masses(capsys):
    levels = _json(capsys, "twobody", "bethe", "--eta", "1", "--g", "5", "--levels", "6")["levels"]
    assert [lv["level"] for lv in levels] == list(range(1, 7))
    energies = [lv["energy"] for lv in levels]
    assert energies == sorted(energies) and energies[0] > math.pi**2 / 2  # above E0(1, 1) = pi^2 / 2 for g > 0
    # the antisymmetric (1, 2) state does not feel the contact interaction: E0 = 5 pi^2 / 4, odd
    assert any(lv["parity"] == "odd" and lv["energy"] == pytest.approx(5 * math.pi**2 / 4, rel=1e-12)
               for lv in levels)


def test_bethe_text_output(capsys):
    rc, out, err = _run(capsys, "twobody", "bethe", "--eta", "1/3", "--g", "5", "--levels", "3")
    assert rc == 0 and err == ""
    rows = [line.split() for line in out.splitlines() if not line.startswith("#")][1:]
    assert [(int(r[0]), r[1]) for r in rows] == [(1, "even"), (2, "odd"), (3, "even")]
    assert float(rows[0][2]) == pytest.approx(EVEN[0], rel=1e-6)


# -- errors ----------------------------------------------------------------------------------------------------------
def _assert_one_line_error(rc: int, out: str, err: str, pattern: str) -> str:
    assert rc == 2, (rc, err)
    assert out == ""
    assert "Traceback" not in err
    errors = [line for line in err.splitlines() if "error:" in line]
    assert len(errors) == 1, err
    assert re.search(pattern, errors[0]), errors[0]
    if err.startswith("qchaos: error:"):  # our own messages: exactly one line, no usage block
        assert len(err.strip().splitlines()) == 1, err
    return errors[0]


BAD = [
    (["twobody", "spectrum", "--eta", "0", "--g", "5", "--levels", "10"], r"\beta = 0\b"),
    (["twobody", "spectrum", "--eta", "1.5", "--g", "5", "--levels", "10"], r"\beta = 1\.5\b.*0\.6666666"),
    (["twobody", "bethe", "--eta", "0", "--g", "5", "--levels", "10"], r"\beta\b"),
    (["twobody", "bethe", "--eta", "0.5", "--g", "5", "--levels", "10"], r"\beta = '?0\.5\b.*1/3"),
    (["twobody", "spectrum", "--eta", "1/3", "--g", "5", "--levels", "0"], r"\b(n_)?levels = 0\b"),
    (["twobody", "bethe", "--eta", "1/3", "--g", "5", "--levels", "0"], r"\b(n_)?levels = 0\b"),
    (["twobody", "spectrum", "--eta", "1/3", "--g", "-1", "--levels", "10"], r"\bg = -1"),
    (["twobody", "bethe", "--eta", "1/3", "--g", "-1", "--levels", "10"], r"\bg = -1"),
    (["generate", "twobody", "--eta", "1.5", "--levels", "60", "--window", "10", "29"], r"\beta = 1\.5\b.*0\.6666"),
    (["generate", "twobody", "--eta", "0", "--levels", "60", "--window", "10", "29"], r"\beta = 0\b"),
    (["generate", "twobody", "--eta", "0.5", "--levels", "0"], r"--levels\b"),
    (["generate", "twobody", "--eta", "0.5", "--g", "-1", "--levels", "60", "--window", "10", "29"], r"\bg = -1"),
    (["generate", "twobody", "--eta", "0.5", "--levels", "60", "--window", "10", "70"],
     r"\bwindow = \[10, 70\].*levels = 60"),
]


@pytest.mark.parametrize("argv, pattern", BAD, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_bad_input_exits_2_with_one_line(argv, pattern, tmp_path, capsys):
    out_dir = tmp_path / "never.zarr"
    if argv[0] == "generate":
        argv = argv + ["--out", str(out_dir), "--workers", "0", "--quiet"]
    _assert_one_line_error(*_run(capsys, *argv), pattern)
    assert not out_dir.exists()


def test_console_script_bad_input_exits_2():
    res = subprocess.run(_qchaos() + ["twobody", "spectrum", "--eta", "1.5", "--g", "5", "--levels", "10"],
                         capture_output=True, text=True, timeout=120)
    line = _assert_one_line_error(res.returncode, res.stdout, res.stderr, r"\beta = 1\.5\b.*0\.6666")
    assert line.startswith("qchaos: error: ")


# -- generate --------------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def generated(tmp_path_factory) -> tuple[Path, str]:
    out = tmp_path_factory.mktemp("gen") / "tiny.zarr"
    stdout = io.StringIO()
    with contextlib.redirect_stdout(stdout):  # capsys is per test
        rc = _call("generate", "twobody", *TINY_ARGS, "--out", str(out))
    assert rc == 0
    return out, stdout.getvalue()


def test_generate_writes_a_store(generated):
    out, stdout = generated
    assert f"-> {out}  (2 points)" in stdout
    assert "2 computed, 0 already complete" in stdout
    attrs = dict(zarr.open_group(str(out), mode="r").attrs)
    assert attrs["system"] == "twobody" and attrs["preset"] == "mini+custom"
    assert attrs["config"] == TINY.to_dict()
    store = PointStore.open(out, "twobody", "mini+custom", TINY.to_dict())
    assert store.completed() == set(TINY.points())
    assert store.read("eta1.0000000000", "states/psi").shape == (20, 16, 16)


def test_generate_rerun_reports_everything_complete(generated, tmp_path, capsys):
    out = tmp_path / "copy.zarr"
    shutil.copytree(generated[0], out)
    before = _digest(out)
    rc, stdout, err = _run(capsys, "generate", "twobody", *TINY_ARGS, "--out", str(out))
    assert rc == 0, err
    assert "0 computed, 2 already complete" in stdout
    assert _digest(out) == before
    rc, stdout, err = _run(capsys, "generate", "twobody", *TINY_ARGS, "--out", str(out), "--quiet")
    assert rc == 0 and stdout == "" and err == ""
    assert _digest(out) == before


def test_generate_into_store_with_another_config_is_refused(generated, tmp_path, capsys):
    out = tmp_path / "copy.zarr"
    shutil.copytree(generated[0], out)
    before = _digest(out)
    argv = ["generate", "twobody", "--eta", "0.5,1", "--levels", "61", "--window", "10", "29", "--image-size", "16",
            "--rough-images", "--workers", "0", "--quiet", "--out", str(out)]
    line = _assert_one_line_error(*_run(capsys, *argv), r"differing: levels\)")
    assert line.startswith(f"qchaos: error: out = {out}:")
    assert _digest(out) == before
