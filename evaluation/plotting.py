"""Matplotlib set-up shared by the experiments: headless backend, one style, figure constructor."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # figures are files; never open a window

import matplotlib.pyplot as plt  # noqa: E402

__all__ = ["plt", "subplots", "INTEGRABLE_COLOR", "NONINTEGRABLE_COLOR", "CLOSED_COLOR", "OPEN_COLOR"]

INTEGRABLE_COLOR = "tab:blue"
NONINTEGRABLE_COLOR = "tab:red"
CLOSED_COLOR = "tab:green"
OPEN_COLOR = "tab:purple"


def subplots(nrows: int = 1, ncols: int = 1, *, width: float = 4.2, height: float = 3.2, **kwargs):
    """``plt.subplots`` with a per-panel size in inches and constrained layout; returns ``(fig, axes)``."""
    kwargs.setdefault("constrained_layout", True)
    kwargs.setdefault("squeeze", False)
    fig, axes = plt.subplots(nrows, ncols, figsize=(width * ncols, height * nrows), **kwargs)
    return fig, axes
