"""Write files so that a killed process never leaves a half-written file under the final name.

Everything goes to a temporary sibling first and is renamed into place (``os.replace`` is
atomic on POSIX within one filesystem).
"""

from __future__ import annotations

import contextlib
import errno
import os
from collections.abc import Iterator
from pathlib import Path

import numpy as np

__all__ = ["atomic_path", "atomic_save_npy", "atomic_write_text", "new_npy_memmap"]


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` if the block succeeds.

    On an exception the temporary file is removed and ``path`` is left as it was.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        yield tmp
        os.replace(tmp, path)
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def atomic_write_text(path: str | Path, text: str) -> None:
    """Write ``text`` to ``path`` atomically."""
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def atomic_save_npy(path: str | Path, array: np.ndarray) -> None:
    """Save ``array`` as ``.npy`` at ``path`` atomically."""
    with atomic_path(path) as tmp, open(tmp, "wb") as fh:
        np.save(fh, array)


def new_npy_memmap(path: str | Path, *, dtype, shape: tuple[int, ...]) -> np.memmap:
    """A new ``.npy`` file of zeros at ``path``, memory-mapped for writing, its disk space
    reserved up front: a full disk is an ``OSError`` naming the file here, not a SIGBUS
    that kills the process half-way through writing the map."""
    path = Path(path)
    arr = np.lib.format.open_memmap(path, mode="w+", dtype=dtype, shape=shape)
    fd = os.open(path, os.O_RDWR)
    try:
        os.posix_fallocate(fd, 0, os.fstat(fd).st_size)
    except OSError as e:
        if e.errno not in (errno.EOPNOTSUPP, errno.EINVAL):  # not a full disk: go on
            del arr
            size = os.fstat(fd).st_size
            raise OSError(
                e.errno, f"{e.strerror} (needs {size / 2**20:,.1f} MiB)", str(path)
            ) from None
    finally:
        os.close(fd)
    return arr
