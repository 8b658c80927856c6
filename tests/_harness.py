"""Kill hooks for the fault tests: run a function in a forked child that SIGKILLs itself at the N-th call of a chosen
function (adapted from the fault-injection harness of the 2026-11-26 findings; nothing is imported from there).

A SIGKILL runs no ``finally`` block and releases nothing but the kernel's resources (file locks), exactly like a
user's ``kill -9`` or an OOM kill, so what is left on disk is what a real crash leaves.
"""

from __future__ import annotations

import os
import signal
from collections.abc import Callable


def _die() -> None:
    os.kill(os.getpid(), signal.SIGKILL)


def run_killed(fn: Callable[[], object], owner, attr: str, n: int, before: Callable | None = None) -> bool:
    """Run ``fn()`` in a forked child in which ``owner.attr`` is wrapped: at its ``n``-th call, ``before(*args)`` runs
    (if given; e.g. writes half a file), then the child SIGKILLs itself. Returns True if the child was killed, False
    if ``fn`` finished before the ``n``-th call (the child then exits 0); a child that raised fails the test."""
    pid = os.fork()
    if pid == 0:  # child
        try:
            orig = getattr(owner, attr)
            count = [0]

            def hooked(*args, **kwargs):
                count[0] += 1
                if count[0] == n:
                    if before is not None:
                        before(*args, **kwargs)
                    _die()
                return orig(*args, **kwargs)

            setattr(owner, attr, hooked)
            fn()
        except BaseException:  # noqa: BLE001 - reported to the parent by the exit status
            import traceback

            traceback.print_exc()
            os._exit(3)
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        assert os.WTERMSIG(status) == signal.SIGKILL
        return True
    code = os.WEXITSTATUS(status)
    assert code == 0, f"the child raised (exit {code}); see the captured stderr"
    return False


def run_child(fn: Callable[[], object]) -> int:
    """Run ``fn()`` in a forked child; its exit status (0, or the ``exit_code`` of a raised qchaos error, or 99)."""
    pid = os.fork()
    if pid == 0:
        try:
            fn()
        except BaseException as exc:  # noqa: BLE001
            os._exit(int(getattr(exc, "exit_code", 99)))
        os._exit(0)
    _, status = os.waitpid(pid, 0)
    return os.WEXITSTATUS(status) if os.WIFEXITED(status) else -os.WTERMSIG(status)


def count_calls(fn: Callable[[], object], owner, attr: str) -> int:
    """How often ``fn()`` calls ``owner.attr`` (run in a forked child, so nothing in this process changes)."""
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(r)
        orig = getattr(owner, attr)
        count = [0]

        def hooked(*args, **kwargs):
            count[0] += 1
            return orig(*args, **kwargs)

        setattr(owner, attr, hooked)
        try:
            fn()
        finally:
            os.write(w, str(count[0]).encode())
            os._exit(0)
    os.close(w)
    data = os.read(r, 64)
    os.close(r)
    os.waitpid(pid, 0)
    return int(data)
