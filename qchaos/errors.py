"""The one error hierarchy of qchaos-hub, raised where a problem is detected and mapped by the CLI to exit codes.

Every error the package raises on purpose derives from :class:`QchaosError`. Each kind subclasses the builtin a
caller would naturally catch (``ValueError`` for a bad parameter, ``LookupError`` for something not found,
``OSError`` for the environment), so plain Python code keeps working, while the CLI tells them apart by class,
never by message text:

=======================  ====  ==========================================================================
class                    exit  meaning
=======================  ====  ==========================================================================
:class:`ParameterError`   2    a parameter outside its accepted range (the message names it and the range)
:class:`NotFoundError`    3    a repo, file, point, experiment or model name that does not exist
:class:`IntegrityError`   4    stored bytes that do not match their digest, shape or config (damage)
:class:`EnvironmentFault` 5    the environment: unwritable folder, unreachable hub or scheduler, no CUDA
:class:`MissingResource`  6    a dataset or checkpoint must be built first (the message says how)
:class:`NumericalError`   7    a computation produced non-finite numbers (nothing was saved)
:class:`QchaosError`      1    any other failure of a job that ran (e.g. failed sweep points)
=======================  ====  ==========================================================================
"""

from __future__ import annotations

__all__ = ["QchaosError", "ParameterError", "NotFoundError", "IntegrityError", "EnvironmentFault",
           "MissingResource", "NumericalError", "exit_code"]


class QchaosError(Exception):
    """Base class of every error qchaos-hub raises on purpose."""

    exit_code = 1


class ParameterError(QchaosError, ValueError):
    """A parameter is outside its accepted range or does not apply; the message names it and what is accepted."""

    exit_code = 2


class NotFoundError(QchaosError, LookupError):
    """A repo, file, parameter point, experiment or registered name does not exist; the message lists the known."""

    exit_code = 3


class IntegrityError(QchaosError, ValueError):
    """Stored bytes do not match their recorded digest, shape, dtype or config; the message names the file/point."""

    exit_code = 4


class EnvironmentFault(QchaosError, OSError):
    """The environment failed: an unwritable path, an unreachable hub or scheduler, a missing device."""

    exit_code = 5


class MissingResource(QchaosError, RuntimeError):
    """A dataset or checkpoint is absent and building it is off; the message gives the command that makes it."""

    exit_code = 6


class NumericalError(QchaosError, ArithmeticError):
    """A computation produced non-finite numbers (e.g. a diverging training loss); nothing was saved."""

    exit_code = 7


def exit_code(exc: BaseException) -> int:
    """The CLI exit code of an exception: its class's ``exit_code``, else 1."""
    return int(getattr(exc, "exit_code", 1)) if isinstance(exc, QchaosError) else 1
