"""The experiment protocol of ``make evaluate``: the registry, the per-run :class:`Context` and result helpers.

An experiment is a module of ``evaluation/`` with

* ``NAME`` — the CLI name (``qchaos evaluate NAME``), e.g. ``"ed-accuracy"``;
* ``TITLE`` — one line for the report, naming the paper figures it reproduces;
* ``PARAMS`` — ``{"tiny": {...}, "mini": {...}, "paper": {...}}``, every knob of the experiment per preset
  (``tiny`` is what the tests run);
* ``METRICS`` — the metrics it publishes, declared with :class:`Metric` (name, description, unit); a name may hold
  ``{placeholders}`` for a family (``ed_bethe_max_rel_error_g{g}``). The runner flags an undeclared key (``undeclared_metrics``), and a
  test checks that every target of ``evaluation/targets.json`` names a declared metric and that the tiny run
  produces every declared one that is not ``optional``, so a rename can never silently turn "met" into "no target";
* ``run(ctx: Context) -> dict`` — does the work and returns ``{"metrics": {...}, "summary": "..."}``.

``metrics`` maps a key to a number (or ``{"value": number, "description": text}``); a key that is also a key of
``evaluation/targets.json`` is compared with the paper's value in the report (met / not met), every other metric is
reported with "no target". Figures and data files are written through :meth:`Context.save_figure` /
:meth:`Context.save_data`, which record them for the report. Experiments get datasets and checkpoints only through
``ctx.resources`` (:class:`evaluation.resources.Resources`), never from ad-hoc files.
"""

from __future__ import annotations

import csv
import importlib
import math
import re
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from generation.twobody.bethe import INTEGRABLE_ETAS
from qchaos.errors import ParameterError
from qchaos.hub import write_json
from qchaos.scales import SCALES

__all__ = ["EXPERIMENT_MODULES", "PRESETS", "INTEGRABLE", "ETA_TOL", "Context", "get_experiment",
           "experiment_names", "to_jsonable", "metric", "metric_value", "Metric", "declared_metric",
           "undeclared_metrics"]

EXPERIMENT_MODULES = (
    "ed_accuracy",        # 1  two atoms: ED vs Bethe ansatz, horizontal levels (Figs. 1-2)
    "level_statistics",   # 2  two atoms: spacing histograms, Brody omega vs eta, <r> (Figs. 4-8)
    "cnn_training",       # 3  two atoms: training curves, accuracy vs eta over seeds (Figs. 11-12)
    "confidence",         # 4  two atoms: confidence vs eta, trained on eta = 1 + one non-integrable (Fig. 13)
    "robustness",         # 5  two atoms: FGSM / PGD / quantum perturbation, original vs hardened (Figs. 14-16)
    "verdict_time",       # 6  two atoms: time to a verdict, CNN vs level statistics
    "tribaker_subsets",   # 7  tribaker: accuracy vs number of N-subsets, loss vs step (Figs. 3-4)
    "galleries",          # 8  tribaker: states, activations, learned centres (Figs. 5-12)
    "localization_vs_n",  # 9  tribaker: localized fraction vs N, closed vs open (past the paper)
)
"""Experiment modules in report order."""

PRESETS = tuple(SCALES)
"""The scales (:data:`qchaos.scales.SCALES`): ``tiny`` the tests' configuration, ``mini`` ``make evaluate``
(minutes), ``paper`` the full reproduction; every experiment's ``PARAMS`` is keyed by exactly these."""


INTEGRABLE = tuple(sorted(INTEGRABLE_ETAS.values()))
"""The Bethe-ansatz integrable mass ratios (1/3, 1)."""

ETA_TOL = 1e-9
"""Two mass ratios are the same when they differ by at most this."""


def experiment_names() -> list[str]:
    """The CLI names of every experiment, in report order.

    An experiment's ``NAME`` is its module name with ``-`` for ``_``.
    """
    return [m.replace("_", "-") for m in EXPERIMENT_MODULES]


def get_experiment(name: str):
    """The module of an experiment, by CLI name (``ed-accuracy``) or module name (``ed_accuracy``).

    ``ValueError`` listing the known names otherwise.
    """
    module = str(name).replace("-", "_")
    if module not in EXPERIMENT_MODULES:
        known = ", ".join(m.replace("_", "-") for m in EXPERIMENT_MODULES)
        raise ParameterError(f"experiment = {name!r}: unknown; known experiments: {known}")
    return importlib.import_module(f"evaluation.{module}")


def to_jsonable(obj):
    """``obj`` with numpy / torch scalars and arrays, tuples and paths turned into JSON types (NaN -> None)."""
    if isinstance(obj, dict):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [to_jsonable(v) for v in obj]
    if isinstance(obj, Path):
        return str(obj)
    if hasattr(obj, "detach"):  # torch tensor
        obj = obj.detach().cpu().numpy()
    if isinstance(obj, np.ndarray):
        return to_jsonable(obj.tolist())
    if isinstance(obj, (np.bool_, bool)):
        return bool(obj)
    if isinstance(obj, (np.integer,)):
        return int(obj)
    if isinstance(obj, (float, np.floating)):
        v = float(obj)
        return v if math.isfinite(v) else None
    return obj


def metric(value, description: str) -> dict:
    """A metric entry with its one-line description (the report shows it beside the key)."""
    return {"value": value, "description": description}


@dataclass(frozen=True)
class Metric:
    """A metric an experiment publishes.

    Parameters
    ----------
    name : str
        The key in ``results.json``; ``{placeholder}`` parts match one key each of a family
        (letters, digits, ``.``, ``_``, ``-``), e.g. ``"ed_bethe_max_rel_error_g{g}"`` matches ``..._g10``.
    description : str
        One line: what is measured, on what.
    unit : str
        ``""`` for a pure number (fractions, counts, omega), else the unit (``"s"``, ``"eV"``...).
    optional : bool
        Produced only when the data allow it (e.g. a lower bound reported only when one route never becomes
        reliable); every other declared metric must be in every run.
    """

    name: str
    description: str
    unit: str = ""
    optional: bool = False

    @property
    def pattern(self) -> re.Pattern:
        parts = re.split(r"\{[a-z_]+\}", self.name)
        return re.compile("^" + r"[A-Za-z0-9._\-]+?".join(re.escape(p) for p in parts) + "$")

    def matches(self, key: str) -> bool:
        return bool(self.pattern.match(key))


def declared_metric(metrics, key: str) -> Metric | None:
    """The declaration among ``metrics`` (an experiment's ``METRICS``) that ``key`` matches, else None."""
    return next((m for m in metrics if m.matches(key)), None)


def undeclared_metrics(metrics, keys) -> list[str]:
    """The keys that no declaration of ``metrics`` matches."""
    return [k for k in keys if declared_metric(metrics, k) is None]


def metric_value(metric) -> float | None:
    """The number of a metric entry (a number or ``{"value": ...}``)."""
    if isinstance(metric, dict):
        metric = metric.get("value")
    if metric is None:
        return None
    return float(metric)


@dataclass
class Context:
    """What an experiment run gets.

    Attributes:
        name: the experiment's CLI name.
        preset: ``tiny``, ``mini`` or ``paper``.
        params: the experiment's ``PARAMS[preset]`` (with any overrides).
        out: the report folder ``reports/<preset>/``; figures and data go directly in it, named after the
            experiment.
        resources: datasets and checkpoints (:class:`evaluation.resources.Resources`).
        progress: show tqdm bars and progress lines.
        figures, data: the files written so far (names relative to ``out``), filled by the save methods.
    """

    name: str
    preset: str
    params: dict
    out: Path
    resources: object
    progress: bool = True
    figures: list = field(default_factory=list)
    data: list = field(default_factory=list)

    def __post_init__(self):
        self.out = Path(self.out)
        self.out.mkdir(parents=True, exist_ok=True)

    def _file(self, suffix: str, ext: str) -> Path:
        stem = self.name if not suffix else f"{self.name}_{suffix}"
        return self.out / f"{stem}.{ext}"

    def save_figure(self, fig, suffix: str = "", caption: str = "") -> str:
        """Write a matplotlib figure as ``<name>[_suffix].png`` (150 dpi) and close it; returns the file name."""
        import matplotlib.pyplot as plt

        path = self._file(suffix, "png")
        tmp = path.with_name(path.stem + ".tmp.png")
        fig.savefig(tmp, dpi=150, bbox_inches="tight")
        plt.close(fig)
        tmp.replace(path)
        self.figures.append({"file": path.name, "caption": caption})
        return path.name

    def save_data(self, obj, suffix: str = "", fmt: str = "json") -> str:
        """Write the data behind a figure beside it; returns the file name.

        ``fmt="json"`` (any JSON-able object) or ``"csv"`` (a list of dicts with the same keys, or a dict of
        equal-length columns).
        """
        path = self._file(suffix, fmt)
        if fmt == "json":
            write_json(path, to_jsonable(obj))
        elif fmt == "csv":
            tmp = path.with_name(path.name + ".tmp")
            rows = obj
            if isinstance(obj, dict):
                keys = list(obj)
                rows = [dict(zip(keys, vals)) for vals in zip(*(obj[k] for k in keys))]
            rows = [to_jsonable(r) for r in rows]
            with open(tmp, "w", newline="", encoding="utf-8") as fh:
                writer = csv.DictWriter(fh, fieldnames=list(rows[0]) if rows else [])
                writer.writeheader()
                writer.writerows(rows)
            tmp.replace(path)
        else:
            raise ParameterError(f"fmt = {fmt!r}: must be 'json' or 'csv'")
        self.data.append(path.name)
        return path.name

    def log(self, text: str) -> None:
        """One progress line (shown unless ``progress`` is off)."""
        if self.progress:
            from tqdm.auto import tqdm

            tqdm.write(f"  [{self.name}] {text}")

    def bar(self, iterable=None, **kwargs):
        """A tqdm bar, disabled when ``progress`` is off."""
        from tqdm.auto import tqdm

        kwargs.setdefault("leave", False)
        kwargs.setdefault("dynamic_ncols", True)
        return tqdm(iterable, disable=not self.progress, **kwargs)
