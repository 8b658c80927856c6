"""Benchmarks of qchaos-hub (``make bench``, ``python -m benchmarks [--preset mini|paper] [--only NAME ...]``).

One module per family (``twobody.py``, later ``tribaker.py``, ``publishing.py``, ``models.py``); each registers
its benchmarks with :func:`register` and is discovered automatically. Results go to
``benchmarks/results/<preset>.json``. See ``benchmarks/README.md`` for the rules (ratios measured in the same run,
alternating sides, best-of-n, same BLAS threads).
"""

from ._core import (
                    PRESETS,
                    Benchmark,
                    Context,
                    comparison,
                    interleave,
                    load_families,
                    machine_info,
                    register,
                    registry,
                    side,
                    timed,
)

__all__ = ["PRESETS", "Benchmark", "Context", "comparison", "interleave", "load_families", "machine_info",
           "register", "registry", "side", "timed"]
