"""One writer at a time and atomic versions of folders: the file-system helpers every writer of the package uses.

* :func:`writer_lock`: an exclusive ``flock`` on ``.<name>.lock`` beside a store, dataset repo or model folder. A
  second writer is refused at once with :class:`~qchaos.errors.EnvironmentFault` naming the holder's pid; the lock
  dies with its process, so a killed writer never leaves a stale lock behind, and a finished writer removes the
  file (nothing is left beside the folder after a successful run).
* :func:`disk_full` / :func:`disk_full_fault`: a full disk (or quota) told apart from other write errors (also
  when a library reports it in its message only, as safetensors does), and the clear error for it.
* :func:`swap_in`: replace a folder by a complete new version built beside it (``.<name>.new-<pid>``) with renames
  only: the old folder is renamed to ``.<name>.old``, the new one into place, then the old one is deleted. A kill at
  any moment leaves the old or the new version complete on disk; :func:`recover` (called by the next writer, under
  the lock) finishes or undoes an interrupted swap and removes stray staging folders.

All renames stay inside one parent folder (one file system), so each is atomic on POSIX.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from collections.abc import Iterator
from pathlib import Path

from .errors import EnvironmentFault

__all__ = ["writer_lock", "staging_path", "swap_in", "recover", "clean_stray", "disk_full", "disk_full_fault"]


def _sibling(path: Path, tag: str) -> Path:
    return path.parent / f".{path.name}.{tag}"


@contextlib.contextmanager
def writer_lock(path: str | Path, what: str = "path", wait: bool = False) -> Iterator[Path]:
    """Hold the exclusive writer lock of ``path`` (a file ``.<name>.lock`` beside it) for the ``with`` block.

    Raises :class:`EnvironmentFault` at once if another process holds it (``what`` names the parameter in the
    message, e.g. ``"out"``); with ``wait``, blocks until it is free instead (for short critical sections, such as
    merging one entry into a shared results file). The lock file is removed when the block ends (while still locked), so a finished run
    leaves nothing beside ``path``; a writer that locked a file just removed this way sees that the path no longer
    names its file and locks the new one instead. A killed writer's lock dies with it; its file (if left) is reused.
    """
    import fcntl

    path = Path(path)
    lock = _sibling(path, "lock")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise EnvironmentFault(f"{what} = {path}: cannot create its lock file ({exc})") from exc
    while True:
        try:
            fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise EnvironmentFault(f"{what} = {path}: cannot create its lock file ({exc})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "unknown"
            os.close(fd)
            raise EnvironmentFault(f"{what} = {path}: another process (pid {holder}) is writing it right now; wait "
                                   f"for it to finish (one writer at a time), or choose another {what}") from None
        try:
            same = os.path.samestat(os.fstat(fd), os.stat(lock))
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)  # the previous holder removed this file after we opened it: lock the current one
    try:
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        yield lock
    finally:
        with contextlib.suppress(OSError):
            lock.unlink()  # still locked: nobody can hold this file's lock now, later writers create a new one
        os.close(fd)  # releases the flock


def staging_path(dest: str | Path, tag: str = "new") -> Path:
    """A fresh staging folder path beside ``dest`` for this process: ``.<name>.<tag>-<pid>``."""
    dest = Path(dest)
    return _sibling(dest, f"{tag}-{os.getpid()}")


def swap_in(staging: str | Path, dest: str | Path, keep_extras: bool = True) -> None:
    """Make ``staging`` (a complete new version) the folder ``dest`` by renames; call under :func:`writer_lock`.

    With ``keep_extras``, top-level entries of the old ``dest`` that the new version lacks (e.g. ``.git``) are moved
    over. A kill between the renames leaves ``.<name>.old`` (the old version, complete) and possibly the new one
    complete in place; :func:`recover` settles either case.
    """
    staging, dest = Path(staging), Path(dest)
    old = _sibling(dest, "old")
    if old.exists():
        recover(dest)
    if dest.exists():
        dest.rename(old)
    staging.rename(dest)
    if old.exists():
        _finish(dest, old, keep_extras)


def _finish(dest: Path, old: Path, keep_extras: bool) -> None:
    if keep_extras:
        for entry in sorted(old.iterdir()):
            if not (dest / entry.name).exists():
                entry.rename(dest / entry.name)
    shutil.rmtree(old, ignore_errors=True)


def recover(dest: str | Path, complete=None, keep_extras: bool = True) -> str | None:
    """Settle an interrupted :func:`swap_in` of ``dest`` and remove stray staging folders beside it.

    ``complete(folder) -> bool`` says whether a folder holds a complete version (default: it exists). Returns
    ``"rolled back"`` (the old version was put back), ``"rolled forward"`` (the new version stays, the old is
    removed) or None (nothing to do). Call it under :func:`writer_lock`.
    """
    dest = Path(dest)
    complete = complete or (lambda p: p.is_dir())
    old = _sibling(dest, "old")
    outcome = None
    if old.exists():
        if dest.exists() and complete(dest):
            _finish(dest, old, keep_extras)
            outcome = "rolled forward"
        else:
            if dest.exists():
                shutil.rmtree(dest)
            old.rename(dest)
            outcome = "rolled back"
    clean_stray(dest)
    return outcome


def clean_stray(dest: str | Path) -> list[Path]:
    """Remove staging folders and temporary files left beside ``dest`` by killed writers; returns what was removed.

    The leftovers are ``.<name>.new-*``, ``.<name>.publishing*`` and ``.<name>.creating-*``. Call it under the
    writer lock.
    """
    dest = Path(dest)
    removed = []
    if not dest.parent.is_dir():
        return removed
    for tag in ("new-*", "publishing*", "creating-*", "saving-*"):
        for p in dest.parent.glob(f".{dest.name}.{tag}"):
            if p.is_dir():
                shutil.rmtree(p, ignore_errors=True)
            else:
                p.unlink(missing_ok=True)
            removed.append(p)
    return removed


_FULL_TEXT = ("No space left on device", "Disk quota exceeded", "os error 28", "os error 122")


def disk_full(exc: BaseException) -> bool:
    """Whether ``exc`` (or an exception it was raised from) is a full disk or an exceeded quota.

    An ``OSError`` with ``ENOSPC`` / ``EDQUOT``, or a library error whose message says so (safetensors'
    ``SafetensorError``).
    """
    import errno

    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT):
            return True
        if any(text in str(exc) for text in _FULL_TEXT):
            return True
        exc = exc.__cause__ or exc.__context__
    return False


def disk_full_fault(what: str, path: str | Path, exc: BaseException, kept: str) -> EnvironmentFault:
    """The error for a write into ``path`` (the parameter ``what``) that failed on a full disk.

    It names the folder, says what is left as it was (``kept``) and what to do.
    """
    path = Path(path)
    return EnvironmentFault(f"{what} = {path}: the disk is full ({type(exc).__name__}: {exc}); {kept}; free space "
                            f"on the file system of {path.parent} and rerun")
