"""The scales every job runs at (core layer: no physics, no torch).

One typed table of the preset names ``qchaos train``, ``qchaos evaluate`` and ``make bench`` accept.

A *scale* is the size of a whole job: the default run (``mini``), the full reproduction of the papers (``paper``)
or the tests' fixtures (``tiny``). Each layer keys its own settings by these names and by nothing else:

* model kinds (:data:`modeling.kinds.KINDS`): the training settings per scale (``ModelKind.presets``);
* dataset roles (:data:`qchaos.registry.ROLES`): which registered dataset, i.e. which *named config* of a
  physical system (``generation.systems.SYSTEMS[...].presets``: ``mini-images``, ``paper-scan``, ...), plays each
  role at each scale;
* experiments (``evaluation.<name>.PARAMS``): their parameters per scale;
* benchmarks (``benchmarks``): their problem sizes per scale.

A system's named configs are the other kind of preset (``qchaos generate SYSTEM --preset CONFIG``): they name a
dataset, not a job size, and the roles map scales to them. ``tests/test_registry.py`` checks that every table
above is keyed by exactly the scales it must cover, so a new scale (or a typo in one) cannot silently fall through.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import ParameterError

__all__ = ["Scale", "SCALES", "USER_SCALES", "get_scale"]


@dataclass(frozen=True)
class Scale:
    """One job size.

    Parameters
    ----------
    name : str
        The preset name (``--preset NAME``).
    description : str
        What runs at this scale and roughly how long, for ``--help`` and ``docs/``.
    user : bool
        Offered by the CLI and ``make`` (``tiny`` is for the tests only).
    """

    name: str
    description: str
    user: bool = True


SCALES: dict[str, Scale] = {s.name: s for s in (
    Scale("tiny", "the tests' fixtures: seconds per job, numbers without meaning", user=False),
    Scale("mini", "the default run: the papers' physics at small counts (about 10 minutes on 2 cores)"),
    Scale("paper", "the papers' counts: the full reproduction (hours; resumable)"),
)}
"""Scale name -> :class:`Scale`, smallest first."""

USER_SCALES: tuple[str, ...] = tuple(name for name, s in SCALES.items() if s.user)
"""The scales the CLI offers (``mini``, ``paper``); the first is the default."""


def get_scale(name: str, *, user: bool = True, what: str = "preset") -> Scale:
    """The scale called ``name``; :class:`ParameterError` naming ``what`` and the accepted names otherwise.

    ``user=True`` accepts only :data:`USER_SCALES`.
    """
    accepted = USER_SCALES if user else tuple(SCALES)
    if name not in accepted:
        raise ParameterError(f"{what} = {name!r}: must be one of {list(accepted)}")
    return SCALES[name]
