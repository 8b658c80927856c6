"""A doctest-style runner for the code blocks of Markdown files (README, dataset and model cards).

Every fenced ```python / ```bash / ```sh block runs, in document order, in the given working directory and
environment: consecutive Python blocks in one interpreter, each in a fresh namespace (blocks are self-contained, as a
reader copies them), a shell block with ``bash -euo pipefail``. A block right after the line ``<!-- skip-test ... -->`` (e.g. ``make evaluate``, too long
for a test) is skipped and counted, never silently ignored.
"""

from __future__ import annotations

import json
import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

SKIP = re.compile(r"^<!--\s*skip-test\b.*-->\s*$")
FENCE = re.compile(r"^```(\w*)\s*$")
LANGS = {"python": "python", "py": "python", "bash": "bash", "sh": "bash", "shell": "bash", "console": "bash"}


@dataclass
class Block:
    source: str  # file name
    line: int  # 1-based line of the opening fence
    lang: str  # python | bash | other
    code: str
    skip: bool


def blocks(text: str, source: str = "<md>") -> list[Block]:
    """The fenced code blocks of a Markdown text, with their language and skip marker."""
    out, lines, i = [], text.splitlines(), 0
    while i < len(lines):
        m = FENCE.match(lines[i])
        if m is None:
            i += 1
            continue
        start, lang = i, LANGS.get(m.group(1).lower(), m.group(1).lower() or "text")
        j = i + 1
        while j < len(lines) and not lines[j].startswith("```"):
            j += 1
        prev = next((lines[k] for k in range(start - 1, -1, -1) if lines[k].strip()), "")
        out.append(Block(source, start + 1, lang, "\n".join(lines[start + 1:j]) + "\n", bool(SKIP.match(prev))))
        i = j + 1
    return out


def run_blocks(items: list[Block], *, python: str, cwd: Path, env: dict, timeout: float = 300) -> dict:
    """Run the python and bash blocks of ``items`` in order; returns ``{"ran", "skipped", "other"}`` counts.

    Raises ``AssertionError`` naming the file and line of the first block that fails, with its output.
    """
    counts = {"ran": 0, "skipped": 0, "other": 0}
    todo = []
    for b in items:
        if b.lang not in ("python", "bash"):
            counts["other"] += 1
        elif b.skip:
            counts["skipped"] += 1
        elif b.lang == "python" and todo and todo[-1][0].lang == "python":
            todo[-1].append(b)
        else:
            todo.append([b])
    for group in todo:
        if group[0].lang == "python":
            spec = json.dumps([[f"{b.source}:{b.line}", b.code] for b in group])
            argv = [python, "-c", _DRIVER, spec]
        else:
            argv = ["bash", "-euo", "pipefail", "-c", group[0].code]
        proc = subprocess.run(argv, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout)
        where = ", ".join(f"{b.source}:{b.line}" for b in group)
        assert proc.returncode == 0, (f"{where}: the {group[0].lang} block failed (exit {proc.returncode}):\n"
                                      + "\n".join(b.code for b in group) + f"\n--- stdout\n{proc.stdout[-3000:]}"
                                      f"\n--- stderr\n{proc.stderr[-5000:]}")
        counts["ran"] += len(group)
    return counts


_DRIVER = """
import json, sys
for where, code in json.loads(sys.argv[1]):
    print(f"--- {where}", flush=True)
    exec(compile(code, where, "exec"), {"__name__": "__main__"})
"""
