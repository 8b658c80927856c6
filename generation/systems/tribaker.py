"""The open quantum tribaker map: one sweep point per (dimension N, reflectivity R).

Published tables: ``resonances`` (one row per selected state: right/left vectors as re/im lists, ``z``,
``norm_ratio``, ``label``, ``image`` Array2D((P, P), float32), ``index`` into the spectrum) and ``spectra`` (one
row per (N, R)). States are split 80/20 train/validation at random, per reflectivity; held-out parameters are whole
dimensions N (every R).
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

from qchaos.errors import ParameterError

from ..parquet import HOLDOUT, array2d, lists, table
from ..presets import TRIBAKER_PRESETS, TribakerConfig
from .base import System

_STATE_SMALL = ("z", "norm_ratio", "label", "index")


class Tribaker(System):
    name = "tribaker"
    title = "Open quantum tribaker map: resonances and localization"
    config_class = TribakerConfig
    presets = TRIBAKER_PRESETS
    state_config = "resonances"
    class_names = ("localized", "non-localized")
    state_splits = (("train", 0.80), ("validation", 0.20))
    card_template = "tribaker_dataset.md"
    tags = ("quantum-maps", "localization", "resonances", "open-systems", "husimi")
    holdout_name = "holdout_N"
    holdout_help = ("NS", "dimensions kept out of train/validation as split 'holdout' (e.g. 30,33)")
    strata_text = "each reflectivity R separately (closed map first, then R descending)"
    order_text = "points in ascending N, then the stored states of each point, localized first"
    draws_text = " (one generator, the strata drawn in turn)"

    @property
    def task(self) -> Callable:
        from ..tribaker.generate import compute_point

        return compute_point

    def cost(self, params: dict) -> float:
        return float(params["N"]) ** 3  # the Hessenberg reduction of the propagator's parity blocks dominates

    def flag_overrides(self, flags) -> dict:
        return dict(
            N0=flags.N0, K=flags.K, per_side=flags.per_side, image_size=flags.image_size, seed=flags.seed,
            min_abs_z=flags.min_abs_z, reflectivities=(1.0, *flags.R) if flags.R else None,
        )

    def required_arrays(self, params: dict) -> dict[str, tuple | None]:
        N, S, P = int(params["N"]), 2 * int(params["per_side"]), int(params["image_size"])
        if params.get("sample"):  # the large-N path (generate.compute_sampled_point): m sampled resonances
            return self._sampled_arrays(N, P, int(params["sample"]), int(params["leading"]), int(params["bins"]))
        out: dict[str, tuple | None] = {f"spectrum/{n}": (N,) for n in ("z", "decay", "norm_ratio")}
        out.update({"states/right": (S, N), "states/left": (S, N), "states/image": (S, P, P)})
        out.update({f"states/{n}": (S,) for n in _STATE_SMALL})
        return out

    @staticmethod
    def _sampled_arrays(N: int, P: int, sample: int, k: int, bins: int) -> dict[str, tuple]:
        m = min(sample, N - N % 2)
        out: dict[str, tuple] = {"eigen/z": (N,)}
        out.update({f"spectrum/{n}": (m,) for n in ("z", "decay", "norm_ratio", "index")})
        out.update({"states/right": (m, N), "states/left": (m, N), "states/image": (m, P, P)})
        out.update({f"states/{n}": (m,) for n in _STATE_SMALL})
        for group in ("leading", "natural"):
            out.update({f"{group}/{n}": (k,) for n in ("z", "index", "norm_ratio", "js_lr_invariant",
                                                      "js_husimi_natural")})
            out[f"{group}/coarse"] = (k, bins, bins)
        return out

    def describe_point(self, params: dict) -> str:
        return f"N = {params['N']}, R = {params['R']:g}"

    def features(self, image_size: int) -> dict:
        from datasets import Array2D, ClassLabel, Features, List, Value

        P = int(image_size)
        f64, i32 = Value("float64"), Value("int32")
        return {
            "resonances": Features({
                "N": i32, "R": f64, "closed": Value("bool"), "right_re": List(f64), "right_im": List(f64),
                "left_re": List(f64), "left_im": List(f64), "z_re": f64, "z_im": f64, "norm_ratio": f64,
                "label": ClassLabel(names=list(self.class_names)), "image": Array2D((P, P), "float32"),
                "index": i32}),
            "spectra": Features({
                "N": i32, "R": f64, "closed": Value("bool"), "z_re": List(f64), "z_im": List(f64),
                "decay": List(f64), "norm_ratio": List(f64)}),
        }

    def rows(self, src, feats, codes, held):
        rs, sp = feats["resonances"].arrow_schema, feats["spectra"].arrow_schema
        image_type = rs.field("image").type
        for key in src.present:
            g = src.group(key)
            a = dict(g.attrs)
            z = g["spectrum/z"][...]
            yield "spectra", table(sp, {
                "N": [a["N"]], "R": [a["R"]], "closed": [a["closed"]],
                "z_re": lists([np.ascontiguousarray(z.real)], sp.field("z_re").type),
                "z_im": lists([np.ascontiguousarray(z.imag)], sp.field("z_im").type),
                "decay": lists([g["spectrum/decay"][...]], sp.field("decay").type),
                "norm_ratio": lists([g["spectrum/norm_ratio"][...]], sp.field("norm_ratio").type),
            }), np.array([HOLDOUT if key in held else 0], np.int8)
            st = g["states"]
            right, left, zs = st["right"][...], st["left"][...], st["z"][...]
            n = right.shape[0]
            lt = rs.field("right_re").type
            yield "resonances", table(rs, {
                "N": np.full(n, a["N"]), "R": np.full(n, a["R"]), "closed": np.full(n, a["closed"]),
                "right_re": lists(list(np.ascontiguousarray(right.real)), lt),
                "right_im": lists(list(np.ascontiguousarray(right.imag)), lt),
                "left_re": lists(list(np.ascontiguousarray(left.real)), lt),
                "left_im": lists(list(np.ascontiguousarray(left.imag)), lt),
                "z_re": np.ascontiguousarray(zs.real), "z_im": np.ascontiguousarray(zs.imag),
                "norm_ratio": st["norm_ratio"][...], "label": st["label"][...],
                "image": array2d(st["image"][...], image_type), "index": st["index"][...],
            }), codes[key]

    def strata(self, src, held):
        # per reflectivity, in config order (R descending)
        return [[k for k in src.present if k not in held and src.points[k]["R"] == R]
                for R in src.config.reflectivities]

    def holdout_keys(self, src, holdout) -> set[str]:
        if isinstance(holdout, str):
            try:
                values = [int(x) for x in holdout.split(",") if x.strip()]
            except ValueError as exc:
                raise ParameterError(f"holdout_N = {holdout!r}: give comma-separated integers like 30,33") from exc
        else:
            values = [int(v) for v in holdout]
        dims = src.config.dimensions
        bad = [v for v in values if v not in dims]
        if bad:
            raise ParameterError(f"holdout_N = {bad[0]}: not a dimension of this store (N = {dims[0]}..{dims[-1]} "
                             "step 3)")
        return {k for k, p in src.points.items() if p["N"] in values}

    def holdout_text(self, src, held) -> list[str]:
        values = ", ".join(str(n) for n in sorted({src.points[k]["N"] for k in held}))
        return [f"N in {{{values}}} (every R)"]


TRIBAKER = Tribaker()
