"""The two-atom system: two mass-imbalanced atoms in a hard-wall trap, one sweep point per mass ratio eta.

Published tables: ``wavefunctions`` (one row per stored eigenstate: ``psi`` Array2D((P, P), float32), ``eta``,
``g``, ``level``, ``parity``, ``energy``, ``label``) and ``spectra`` (one row per point: the level lists). States
are split 70/15/15 train/validation/test at random, all stored eigenstates together; held-out parameters are whole
mass ratios.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qchaos.errors import ParameterError

from ..parquet import HOLDOUT, array2d, lists, table
from ..presets import TWOBODY_PRESETS, TwobodyConfig
from .base import System

_SPECTRUM = ("energy", "raw", "error", "parity", "level", "horizontal")
_STATE_SMALL = ("energy", "level", "parity", "label")


class Twobody(System):
    name = "twobody"
    title = "Two mass-imbalanced atoms in a hard-wall trap: eigenstates and spectra"
    config_class = TwobodyConfig
    presets = TWOBODY_PRESETS
    state_config = "wavefunctions"
    class_names = ("non-integrable", "integrable")
    state_splits = (("train", 0.70), ("validation", 0.15), ("test", 0.15))
    card_template = "twobody_dataset.md"
    tags = ("integrability", "eigenstates", "wavefunctions", "level-statistics")
    holdout_name = "holdout_eta"
    holdout_help = ("ETAS", "mass ratios kept out of train/validation/test as split 'holdout' (e.g. 0.75,1/3)")
    strata_text = "all stored eigenstates together"
    order_text = "points in ascending eta, states in ascending level"
    draws_text = ""

    @property
    def task(self) -> Callable:
        from ..twobody.generate import compute_point

        return compute_point

    def cost(self, params: dict) -> float:
        return (float(params["levels"]) * float(params["basis_factor"])) ** 3  # dense blocks of the basis

    def flag_overrides(self, flags) -> dict:
        from ..presets import parse_etas

        return dict(
            etas=parse_etas(flags.eta) if flags.eta else None, g=flags.g, levels=flags.levels,
            window=tuple(flags.window) if flags.window else None, image_size=flags.image_size, seed=flags.seed,
            image_etas=parse_etas(flags.image_eta) if flags.image_eta else None, basis_factor=flags.basis_factor,
            rough_images=True if flags.rough_images else None,
        )

    def required_arrays(self, params: dict) -> dict[str, tuple | None]:
        out: dict[str, tuple | None] = {f"spectrum/{n}": None for n in _SPECTRUM}
        if params.get("window"):
            lo, hi = params["window"]
            P = int(params["image_size"])
            out["states/psi"] = (hi - lo + 1, P, P)
            out.update({f"states/{n}": (hi - lo + 1,) for n in _STATE_SMALL})
        return out

    def describe_point(self, params: dict) -> str:
        return f"eta = {params['eta']:.10g} (g = {params['g']:g})"

    def features(self, image_size: int) -> dict:
        from datasets import Array2D, ClassLabel, Features, List, Value

        P = int(image_size)
        f64, i32 = Value("float64"), Value("int32")
        label = ClassLabel(names=list(self.class_names))
        return {
            "wavefunctions": Features({
                "psi": Array2D((P, P), "float32"), "eta": f64, "g": f64, "level": i32,
                "parity": ClassLabel(names=["even", "odd"]), "energy": f64, "label": label}),
            "spectra": Features({
                "eta": f64, "g": f64, "energy": List(f64), "raw": List(f64), "error": List(f64),
                "parity": List(Value("int8")), "level": List(i32), "horizontal": List(Value("bool")),
                "label": label, "top_rel_error": f64}),
        }

    def rows(self, src, feats, codes, held):
        wf, sp = feats["wavefunctions"].arrow_schema, feats["spectra"].arrow_schema
        psi_type = wf.field("psi").type
        for key in src.present:
            g = src.group(key)
            a = dict(g.attrs)
            spec = {n: g[f"spectrum/{n}"][...] for n in _SPECTRUM}
            yield "spectra", table(sp, {
                "eta": [a["eta"]], "g": [a["g"]], "label": [a["label"]], "top_rel_error": [a["top_rel_error"]],
                **{n: lists([v], sp.field(n).type) for n, v in spec.items()},
            }), np.array([HOLDOUT if key in held else 0], np.int8)
            try:
                st = g["states"]
            except KeyError:
                continue
            psi = st["psi"]
            small = {n: st[n][...] for n in _STATE_SMALL}
            step = max(1, int(psi.chunks[0]))
            for s in range(0, psi.shape[0], step):
                e = min(s + step, psi.shape[0])
                n = e - s
                yield "wavefunctions", table(wf, {
                    "psi": array2d(psi[s:e], psi_type), "eta": np.full(n, a["eta"]), "g": np.full(n, a["g"]),
                    **{k: v[s:e] for k, v in small.items()},
                }), codes[key][s:e]

    def strata(self, src, held):
        return [[k for k in src.present if k not in held]]

    def holdout_keys(self, src, holdout) -> set[str]:
        from ..presets import match_point, parse_etas

        values = parse_etas(holdout if isinstance(holdout, str) else ",".join(str(v) for v in holdout))
        etas = list(src.config.etas)
        keys = set()
        for v in values:
            hit = match_point(v, etas)
            if hit is None:
                raise ParameterError(f"holdout_eta = {v:g}: not a mass ratio of this store (etas: "
                                 f"{', '.join(f'{e:.6g}' for e in etas)})")
            keys.add(src.config.point_key(hit))
        return keys

    def holdout_text(self, src, held) -> list[str]:
        values = ", ".join(f"{src.points[k]['eta']:.10g}" for k in src.points if k in held)
        return [f"eta in {{{values}}}"]


TWOBODY = Twobody()
