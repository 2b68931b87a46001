"""One writer per folder: an advisory lock that the operating system drops when its holder
dies (SIGKILL included), so a killed run never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import os
from collections.abc import Iterator
from pathlib import Path

__all__ = ["folder_lock"]

LOCK = ".lock"


@contextlib.contextmanager
def folder_lock(folder: str | Path, what: str) -> Iterator[None]:
    """Hold ``folder/.lock`` for the block; ValueError at once if another process holds it.

    Parameters
    ----------
    what : the command, for the error (e.g. ``genomics train``).
    """
    path = Path(folder) / LOCK
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 32, 0).decode(errors="replace").strip() or "?"
            raise ValueError(
                f"another `{what}` (pid {holder}) is writing into {folder}; wait for it to "
                "end, or write into another folder"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        yield
    finally:
        os.close(fd)  # closing releases the lock
