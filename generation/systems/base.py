"""The :class:`System` base class: what the layers above need to know about one physical system.

See :mod:`generation.systems`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from qchaos.errors import ParameterError

if TYPE_CHECKING:  # pragma: no cover
    import pyarrow as pa

__all__ = ["System"]


class System:
    """One physical system (subclassed once per system; the instances are the entries of :data:`SYSTEMS`).

    Attributes
    ----------
    name : str
        The system's name in stores, repo ids and the CLI (``"twobody"``).
    title : str
        The card's pretty name (the preset is appended).
    config_class : type
        The frozen dataclass of a sweep's config (``TwobodyConfig``); ``config_class(**store.attrs["config"])``.
    presets : dict[str, config_class]
        The named configs (``qchaos generate <system> --preset``).
    state_config : str
        The published per-state table (``"wavefunctions"``); the per-point table is always ``"spectra"``.
    class_names : tuple[str, str]
        The names of label 0 and 1 of the state table.
    state_splits : tuple[tuple[str, float], ...]
        The random state split: (split, fraction) in :data:`generation.parquet.SPLIT_ORDER` order.
    card_template : str
        The dataset card template (package data ``dataset_cards/<card_template>``).
    tags : tuple[str, ...]
        Card tags after the common ``physics``, ``quantum-chaos``, ``exact-diagonalization``.
    holdout_name : str
        The parameter of :meth:`holdout_keys` as named in error messages (``"holdout_eta"``); the CLI flag is
        ``--holdout-eta``.
    holdout_help : tuple[str, str]
        The CLI flag's metavar and help text.
    strata_text, order_text, draws_text : str
        The split rule of the card: what is split together, the store order of the rows, how the strata draw.
    """

    name: str = ""
    title: str = ""
    config_class: type = object
    presets: dict
    state_config: str = ""
    class_names: tuple[str, str] = ("", "")
    state_splits: tuple[tuple[str, float], ...] = ()
    card_template: str = ""
    tags: tuple[str, ...] = ()
    holdout_name: str = ""
    holdout_help: tuple[str, str] = ("VALUES", "")
    strata_text: str = ""
    order_text: str = ""
    draws_text: str = ""

    def __repr__(self) -> str:
        return f"<System {self.name}>"

    @property
    def task(self) -> Callable:
        """The sweep's point task ``task(params) -> PointResult`` (imported on first use: it pulls in SciPy)."""
        raise NotImplementedError

    def preset(self, name: str):
        """The config of the preset ``name``; ``ValueError`` listing the presets otherwise."""
        if name not in self.presets:
            raise ParameterError(f"preset = {name!r}: must be one of {sorted(self.presets)}")
        return self.presets[name]

    def config(self, values: dict):
        """The config recorded in a store (``config_class(**values)``)."""
        return self.config_class(**values)

    def cost(self, params: dict) -> float:
        """A relative cost estimate of one point (any unit).

        A sweep on a cluster starts the costliest points first, so that the largest ones do not run alone at the
        end. Default: every point alike.
        """
        return 1.0

    def flag_overrides(self, flags: Any) -> dict:
        """Config overrides from the ``qchaos generate <system>`` flags (an ``argparse.Namespace``; None: unset)."""
        raise NotImplementedError

    def required_arrays(self, params: dict) -> dict[str, tuple | None]:
        """``{"table/name": shape or None}`` that a complete point with ``params`` must hold (None: any shape)."""
        raise NotImplementedError

    def describe_point(self, params: dict) -> str:
        """One point's parameters in words (card, error messages)."""
        raise NotImplementedError

    def features(self, image_size: int) -> dict:
        """``{config: datasets.Features}`` of the published tables, state table first (P = ``image_size``)."""
        raise NotImplementedError

    def rows(self, src, feats: dict, codes: dict,
             held: set[str]) -> Iterator[tuple[str, pa.Table, np.ndarray]]:
        """``(config, table, split codes)`` blocks of every published row, in store order.

        ``src``: the opened store of :mod:`generation.publish`; ``codes``: per point key the split codes of its
        state rows.
        """
        raise NotImplementedError

    def strata(self, src, held: set[str]) -> list[list[str]]:
        """The point keys whose states are split together, one list per stratum (held-out keys excluded)."""
        raise NotImplementedError

    def holdout_keys(self, src, holdout) -> set[str]:
        """The point keys named by ``holdout`` (a string or a list of parameter values).

        ``ValueError`` for a value that is not a point of the store.
        """
        raise NotImplementedError

    def holdout_text(self, src, held: set[str]) -> list[str]:
        """The held-out parameters in words, for the card (empty when nothing is held out)."""
        raise NotImplementedError
