"""The reader shared by the per-chromosome stores (genome, targets).

A store folder holds one memory-mapped ``<chrom>.npy`` per chromosome and a manifest
(see :mod:`genomics.io.manifest`). :class:`ChromStore` checks the manifest, resolves
chromosome aliases, opens each array on first use and reads padded slices; it pickles
without its open maps, so DataLoader workers each open their own.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from genomics.data.chroms import ChromAliases
from genomics.io import content_digest, read_manifest

__all__ = ["ChromStore", "few"]


def few(names, n: int = 5) -> str:
    """The first ``n`` names, comma-separated, with a count when there are more."""
    names = list(names)
    return ", ".join(names[:n]) + (f" ... ({len(names)} in all)" if len(names) > n else "")


class ChromStore:
    """Base reader; subclasses set ``KIND``, ``FORMAT_VERSION`` and ``COMMAND``.

    Parameters
    ----------
    path : the store folder.
    """

    KIND: str
    FORMAT_VERSION: int
    COMMAND: str
    LABEL: str = ""  # how messages name the store ("target store"); default KIND

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self.manifest = read_manifest(
            self.path, kind=self.KIND, format_version=self.FORMAT_VERSION, command=self.COMMAND
        )
        self.aliases = ChromAliases(self.manifest["chroms"])
        self._maps: dict[str, np.ndarray] = {}

    @property
    def digest(self) -> str:
        """Identifies what this store holds (downstream manifests and models record it);
        the same for a rebuild from the same inputs under another path spelling."""
        return content_digest(self.manifest)

    @property
    def chroms(self) -> list[str]:
        return list(self.manifest["chroms"])

    def resolve(self, chrom: str) -> str:
        """The store's name for ``chrom`` or an alias of it; ValueError if absent."""
        name = self.aliases.resolve(chrom)
        if name is None:
            raise ValueError(
                f"chromosome {chrom!r} is not in the {self.LABEL or self.KIND} store {self.path} "
                f"(it has {few(self.chroms, 8)})"
            )
        return name

    def array(self, chrom: str) -> np.ndarray:
        """The whole chromosome's array as a read-only memory map."""
        name = self.resolve(chrom)
        arr = self._maps.get(name)
        if arr is None:
            arr = np.load(self.path / f"{name}.npy", mmap_mode="r")
            self._maps[name] = arr
        return arr

    def _slice(self, chrom: str, start: int, end: int, *, fill, dtype) -> np.ndarray:
        """Rows ``[start, end)`` of a chromosome's array, ``fill`` past either end (a copy)."""
        if end < start:
            raise ValueError(f"fetch {chrom}:{start}-{end}: end is before start")
        arr = self.array(chrom)
        out = np.full((end - start, *arr.shape[1:]), fill, dtype=dtype)
        lo, hi = max(start, 0), min(end, arr.shape[0])
        if hi > lo:
            out[lo - start : hi - start] = arr[lo:hi]
        return out

    def __getstate__(self):
        state = self.__dict__.copy()
        state["_maps"] = {}
        return state
