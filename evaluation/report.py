"""``report.md`` from ``results.json``: every figure, every number beside the paper's value and the previous run's.

Targets (``evaluation/targets.json``): ``{key: {"value", "op", "tolerance"?, "presets"?, "source", "description"}}``
with ``op`` one of ``>=``, ``<=``, ``<``, ``>``, ``==`` (``value`` exactly), ``approx`` (|measured - value| <=
``tolerance``). ``presets`` restricts where a target applies (e.g. a count that only the paper's 5000 levels give);
elsewhere the metric reads "no target" with the paper's value shown for reference. A metric key of an experiment
that is a target key gets a verdict: **met**, **not met**, or **no target**.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

from .core import metric_value

__all__ = ["load_targets", "verdict", "shortfall", "headline", "render_report"]


def load_targets(path=None) -> dict:
    """The targets table (without its ``_comment`` entries).

    Read from ``path``, else from the package's ``targets.json`` (package data, read through
    ``importlib.resources``).
    """
    from qchaos.hub import package_file

    data = json.loads(Path(path or package_file("evaluation", "targets.json")).read_text(encoding="utf-8"))
    return {k: v for k, v in data.items() if not k.startswith("_")}


def _within(x, t, tol):
    return abs(x - t) <= tol


_OPS = {
    ">=": lambda x, t, tol: x >= t - tol,
    "<=": lambda x, t, tol: x <= t + tol,
    ">": lambda x, t, tol: x > t,
    "<": lambda x, t, tol: x < t,
    "==": _within,
    "approx": _within,
}


def verdict(value, target: dict | None, preset: str) -> str:
    """``met`` / ``not met`` / ``no target`` of one measured value against one target entry."""
    if target is None:
        return "no target"
    presets = target.get("presets")
    if presets is not None and preset not in presets:
        return "no target"
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "not met"
    op = target.get("op", "approx")
    if op not in _OPS:
        raise ValueError(f"target op = {op!r}: must be one of {sorted(_OPS)}")
    return "met" if _OPS[op](float(value), float(target["value"]), float(target.get("tolerance", 0.0))) else "not met"


def shortfall(value, target: dict | None) -> float | None:
    """How far a measured value misses its target (> 0 when not met, in the metric's units).

    The distance to the bound for ``>=``, ``>``, ``<=``, ``<``, and beyond the tolerance for ``approx`` / ``==``;
    None without a value or target.
    """
    if target is None or value is None or (isinstance(value, float) and math.isnan(value)):
        return None
    x, t, tol = float(value), float(target["value"]), float(target.get("tolerance", 0.0))
    op = target.get("op", "approx")
    if op in (">=", ">"):
        return t - x
    if op in ("<=", "<"):
        return x - t
    return abs(x - t) - tol


def _verdict_text(value, target: dict | None, preset: str) -> str:
    """The verdict, with the amount missed for "not met"."""
    v = verdict(value, target, preset)
    gap = shortfall(value, target) if v == "not met" else None
    return f"**not met** (by {_fmt(abs(gap))})" if gap is not None else (f"**{v}**" if v == "not met" else v)


def headline(results: dict, targets: dict) -> list[str]:
    """Markdown table of every metric that has a target at this preset: measured, paper / target, verdict."""
    preset = results.get("preset", "?")
    rows = []
    for name, exp in results.get("experiments", {}).items():
        for key, m in exp.get("metrics", {}).items():
            t = targets.get(key)
            if t is None or verdict(None, t, preset) == "no target":
                continue
            value = metric_value(m)
            rows.append(f"| {t.get('description', key)} (`{key}`, {name}) | {_fmt(value)} | {_target_text(t)} | "
                        f"{_verdict_text(value, t, preset)} |")
    if not rows:
        return []
    return ["| result | measured | paper / target | verdict |", "|---|---|---|---|", *rows]


def _fmt(v) -> str:
    if v is None:
        return "—"
    if isinstance(v, bool):
        return str(v)
    if isinstance(v, int) or (isinstance(v, float) and v.is_integer() and abs(v) < 1e6):
        return f"{int(v)}"
    if isinstance(v, float):
        if v != 0 and (abs(v) < 1e-3 or abs(v) >= 1e5):
            return f"{v:.3g}"
        return f"{v:.4g}"
    return str(v)


def _target_text(t: dict | None) -> str:
    if t is None:
        return "—"
    op = t.get("op", "approx")
    v = _fmt(t["value"])
    if op == "approx":
        return f"{v} ± {_fmt(t.get('tolerance', 0.0))}"
    if op == "==":
        return v
    return f"{op} {v}"


def render_report(results: dict, targets: dict, previous: dict | None = None) -> str:
    """Markdown of a results document (``results.json``), comparing with ``targets`` and a ``previous`` one."""
    preset = results.get("preset", "?")
    prev_exps = (previous or {}).get("experiments", {})
    lines = [f"# qchaos-hub evaluation — preset `{preset}`", ""]
    meta = results.get("meta", {})
    lines.append(f"qchaos-hub {meta.get('version', '?')} (git {str(meta.get('git_commit') or '?')[:10]}), "
                 f"torch {meta.get('torch', '?')}, {meta.get('threads', '?')} threads, {meta.get('machine', '')}. "
                 f"Run finished {meta.get('finished', '?')}; total {_fmt(meta.get('seconds'))} s.")
    exps = results.get("experiments", {})
    commits = {str((e.get("run") or {}).get("git_commit") or meta.get("git_commit") or "?")[:10] for e in exps.values()}
    resumed = {n: int(e["sittings"]) for n, e in exps.items() if int(e.get("sittings") or 1) > 1}
    total = sum(float(e.get("seconds") or 0) for e in exps.values())
    if len(commits) > 1:  # a resumed run spread over several sittings and code versions
        lines.append(f"The experiments come from runs at {len(commits)} commits ({', '.join(sorted(commits))}); each "
                     f"section names its own. Sum of the experiments' seconds: {_fmt(total)} s.")
    elif resumed or abs(total - float(meta.get("seconds") or 0)) > 0.05 * total:  # kept from earlier sittings
        lines.append(f"Sum of the experiments' seconds, every sitting counted: {_fmt(total)} s.")
    if resumed:
        lines.append("Interrupted and resumed: " + ", ".join(f"{n} ({k} sittings)" for n, k in resumed.items())
                     + "; their seconds add up the sittings.")
    if previous:
        pm = previous.get("meta", {})
        lines.append(f"Previous run: git {str(pm.get('git_commit') or '?')[:10]}, finished {pm.get('finished', '?')}.")
    lines += ["", "Verdicts compare each measured number with the paper's value (`evaluation/targets.json`, which gives "
              "the source of each); \"no target\" marks numbers the papers do not give (or give only at another "
              "scale).", ""]

    # summary table
    counts = {"met": 0, "not met": 0, "no target": 0}
    rows = []
    for name, exp in results.get("experiments", {}).items():
        status = exp.get("status", "ok")
        vs = [verdict(metric_value(m), targets.get(k), preset) for k, m in exp.get("metrics", {}).items()]
        for v in vs:
            counts[v] += 1
        rows.append(f"| [{name}](#{_anchor(exp.get('title', name))}) | {status} | {_fmt(exp.get('seconds'))} | "
                    f"{vs.count('met')} | {vs.count('not met')} | {vs.count('no target')} |")
    lines += ["## Summary", "",
              f"{counts['met']} met, {counts['not met']} not met, {counts['no target']} without a target.", "",
              "| experiment | status | seconds | met | not met | no target |", "|---|---|---|---|---|---|", *rows, ""]

    head = headline(results, targets)
    if head:
        lines += ["## Headline: every number with a target", "", *head, "",
                  "Where a target is not met, the experiment's section below says why.", ""]

    for name, exp in results.get("experiments", {}).items():
        lines += [f"## {exp.get('title', name)}", ""]
        run = exp.get("run") or {}
        lines.append(f"`qchaos evaluate {name} --preset {preset}` — {_fmt(exp.get('seconds'))} s"
                     + (f", status **{exp.get('status')}**" if exp.get("status", "ok") != "ok" else "")
                     + (f" (git {str(run.get('git_commit') or '?')[:10]}, finished {run.get('finished', '?')})"
                        if run else "") + ".")
        lines.append("")
        if exp.get("error"):
            lines += ["```", str(exp["error"]).strip(), "```", ""]
        if exp.get("summary"):
            lines += [str(exp["summary"]).strip(), ""]
        metrics = exp.get("metrics", {})
        if metrics:
            prev_metrics = prev_exps.get(name, {}).get("metrics", {})
            lines += ["| metric | measured | paper / target | verdict | previous run | source |",
                      "|---|---|---|---|---|---|"]
            for key, m in metrics.items():
                t = targets.get(key)
                value = metric_value(m)
                desc = m.get("description", "") if isinstance(m, dict) else ""
                label = f"`{key}`" + (f" — {desc}" if desc else "")
                prev = metric_value(prev_metrics.get(key)) if key in prev_metrics else None
                source = t.get("source", "") if t else ""
                lines.append(f"| {label} | {_fmt(value)} | {_target_text(t)} | {_verdict_text(value, t, preset)} | "
                             f"{_fmt(prev)} | {source} |")
            lines.append("")
        for fig in exp.get("figures", []):
            f = fig if isinstance(fig, dict) else {"file": fig, "caption": ""}
            lines += [f"![{f.get('caption') or f['file']}]({f['file']})", ""]
            if f.get("caption"):
                lines += [f"*{f['caption']}*", ""]
        if exp.get("data"):
            lines += ["Data: " + ", ".join(f"[`{d}`]({d})" for d in exp["data"]), ""]
    return "\n".join(lines).rstrip() + "\n"


def _anchor(title: str) -> str:
    out = "".join(c.lower() if c.isalnum() or c in " -" else "" for c in title)
    return out.strip().replace(" ", "-")
