"""The physical systems as objects: one module per system, one :class:`System` each, found through :data:`SYSTEMS`.

A :class:`System` holds everything the layers above need to know about a system, so that no generic code branches
on a system's name: the config class and its presets, the point task of the sweep, the arrays a complete point
holds, the published tables (``datasets`` features and their rows), the state split and the hold-out rule, the
class names, and the dataset card's template, title and tags. Publishing (:mod:`generation.publish`), store
verification (:mod:`generation.verify`), training data (:mod:`modeling.train`), the CLI and the registry read them
from here.

Adding a system: write one module with a :class:`System` subclass (see :mod:`.twobody`, :mod:`.tribaker`) and add
its instance to :data:`SYSTEMS`.
"""

from __future__ import annotations

from qchaos.errors import ParameterError

from .base import System
from .tribaker import TRIBAKER
from .twobody import TWOBODY

__all__ = ["System", "SYSTEMS", "get_system"]


SYSTEMS: dict[str, System] = {s.name: s for s in (TWOBODY, TRIBAKER)}
"""Every system by name."""


def get_system(name: str) -> System:
    """The :class:`System` called ``name``; :class:`~qchaos.errors.ParameterError` listing the known names."""
    try:
        return SYSTEMS[name]
    except (KeyError, TypeError):
        raise ParameterError(f"system = {name!r}: must be one of {list(SYSTEMS)}") from None
