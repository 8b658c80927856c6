"""The evaluation suite (``make evaluate``, ``qchaos evaluate [NAME ...]``): the papers' experiments, one module each.

``evaluate(preset, names)`` runs them and writes ``reports/<preset>/`` (``results.json``, one PNG per figure with
its data beside it, ``report.md`` comparing with ``evaluation/targets.json`` and the previous run). See
:mod:`evaluation.core` for the experiment protocol and :mod:`evaluation.resources` for where data and checkpoints
come from.
"""

from .core import EXPERIMENT_MODULES, PRESETS, Context, experiment_names, get_experiment
from .resources import MissingResourceError, Resources
from .runner import evaluate, write_report

__all__ = ["evaluate", "write_report", "Resources", "MissingResourceError", "Context", "experiment_names",
           "get_experiment", "EXPERIMENT_MODULES", "PRESETS"]
