"""Memory bounds checked before allocating: what one computation may use, and the refusal when it needs more.

Every size parameter of the package (``levels``, ``basis_factor``, ``N``, ``N0``/``K``, image sizes) is checked
against an estimate of the memory it needs, *before* anything is allocated, by :func:`check_memory`. The limit is
:func:`max_bytes`: ``$QCHAOS_MAX_BYTES`` when set (the explicit override), else half the machine's physical memory,
and never more than half the address-space limit of the process (``ulimit -v``) when one is set.
"""

from __future__ import annotations

import os
from collections.abc import Callable

from .errors import ParameterError

__all__ = ["check_memory", "largest_accepted", "max_bytes"]


def max_bytes() -> int:
    """Memory (bytes) one computation may use.

    ``$QCHAOS_MAX_BYTES`` if set, else half the machine's physical memory, capped at half the process's
    ``RLIMIT_AS`` when that is finite.
    """
    return _limit()[0]


def _limit() -> tuple[int, str]:
    """(the limit in bytes, where it comes from) for :func:`max_bytes` and the messages."""
    env = os.environ.get("QCHAOS_MAX_BYTES")
    if env:
        return int(float(env)), "QCHAOS_MAX_BYTES"
    try:
        limit, why = int(os.sysconf("SC_PHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")) // 2, "half this machine's memory"
    except (ValueError, OSError, AttributeError):  # pragma: no cover - not POSIX
        limit, why = 8 * 2**30, "a default"
    try:
        import resource

        soft = resource.getrlimit(resource.RLIMIT_AS)[0]
        if soft != resource.RLIM_INFINITY and 0 < soft // 2 < limit:
            limit, why = soft // 2, "half this process's address-space limit, ulimit -v"
    except (ImportError, OSError, ValueError):  # pragma: no cover - not POSIX
        pass
    return limit, why


def largest_accepted(estimate: Callable[[int], float], hi: int = 10**15) -> int:
    """The largest integer ``n >= 0`` with ``estimate(n) <= max_bytes()`` (``estimate`` non-decreasing in n)."""
    limit = max_bytes()
    lo = 0
    while lo < hi:
        mid = (lo + hi + 1) // 2
        if estimate(mid) <= limit:
            lo = mid
        else:
            hi = mid - 1
    return lo


def check_memory(estimate: float, what: str, flags: str, *, subject: str = "one point", accepted: str = "") -> None:
    """:class:`ParameterError` if a computation needs more than :func:`max_bytes`.

    Parameters
    ----------
    estimate : float
        Memory the computation needs (bytes), from its sizes.
    what : str
        The parameters and their values, e.g. ``"levels = 100000000"`` (starts the message).
    flags : str
        The flags to lower, e.g. ``"--levels or --basis-factor"``.
    subject : str
        What needs the memory (``"one point"`` of a sweep, ``"the solve"``).
    accepted : str
        The accepted range at the current limit, e.g. ``"levels <= 52000 at basis_factor = 2"``.
    """
    limit, why = _limit()
    if not estimate <= limit:
        range_ = f"; accepted: {accepted}" if accepted else ""
        raise ParameterError(f"{what}: {subject} needs about {estimate / 2**30:.3g} GiB (estimate), more than the "
                             f"{limit / 2**30:.3g} GiB allowed ({why}){range_}; lower {flags}, or set "
                             "QCHAOS_MAX_BYTES (bytes) to raise the limit")
