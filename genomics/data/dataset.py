"""Streaming dataset: windows read from the memory-mapped stores, one at a time.

Nothing genome-sized is ever loaded: each item reads ``l`` bases from the genome store and
``l / bin_size`` rows from the target store, so memory does not grow with the genome.

Augmentation is a pure function of ``(seed, epoch, index)``: the same item gets the same
shift and strand whichever worker reads it, and a resumed run sees exactly the batches an
uninterrupted one would. :class:`WindowSampler` yields batches of ``(index, epoch)`` and
can start mid-epoch (``set_position``); with DDP each rank takes its own share.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sequence

import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset, Sampler

from genomics.data.encoding import one_hot, reverse_complement_codes
from genomics.data.genome import GenomeStore
from genomics.data.intervals import Region
from genomics.data.targets import TargetStore
from genomics.data.windows import shift_room

__all__ = ["WindowDataset", "WindowSampler", "make_loader"]

Window = tuple[str, int, int]


class WindowDataset(Dataset):
    """``(x, y)`` pairs for a list of windows.

    Parameters
    ----------
    genome, targets : the stores (targets must be built from this genome store).
    windows : (chrom, start, end) tuples, ``end - start`` the same for all, starts on bin edges.
    crop_bins : bins cut from each end of the targets.
    shift_bins : random shift of up to this many bins either way (0: none).
    keep_out : regions no shifted window may reach (the held-out splits): a shift toward
        one is cut to the room left (:func:`genomics.data.windows.shift_room`).
    reverse_complement : reverse-complement half the items (targets flipped along bins).
    seed : with the epoch and the index, fixes every random choice.
    encoding : "one_hot" gives ``x`` float32 (4, l); "codes" gives uint8 (l,) to one-hot
        on the GPU (:func:`genomics.data.encoding.one_hot_torch`), 16x less to copy.

    Items
    -----
    ``dataset[i]`` or ``dataset[(i, epoch)]`` ->
    x : torch.Tensor, shape (4, l), float32 (or (l,), uint8 with ``encoding="codes"``)
    y : torch.Tensor, shape (l // bin_size - 2 * crop_bins, t), float32
    """

    def __init__(
        self,
        genome: GenomeStore,
        targets: TargetStore,
        windows: Sequence[Window],
        *,
        crop_bins: int = 0,
        shift_bins: int = 0,
        keep_out: Sequence[Region] = (),
        reverse_complement: bool = False,
        seed: int = 0,
        encoding: str = "one_hot",
    ):
        targets.check_genome(genome)
        if not windows:
            raise ValueError("no windows to read")
        lengths = {e - s for _, s, e in windows}
        if len(lengths) != 1:
            raise ValueError(f"windows have different lengths {sorted(lengths)[:4]}")
        self.length = lengths.pop()
        self.bin_size = targets.bin_size
        if self.length % self.bin_size:
            raise ValueError(
                f"window length {self.length} is not a multiple of the target store's "
                f"bin size {self.bin_size}; rebuild the windows with this bin size"
            )
        off_edge = [w for w in windows if w[1] % self.bin_size]
        if off_edge:
            raise ValueError(
                f"{len(off_edge)} windows do not start on a {self.bin_size}-bp bin edge of the "
                f"target store (first: {off_edge[0][0]}:{off_edge[0][1]}), so their targets "
                "would be shifted against the sequence; rebuild the windows with this bin size"
            )
        if encoding not in ("one_hot", "codes"):
            raise ValueError(f"encoding {encoding!r}: choose one_hot or codes")
        self.n_bins = self.length // self.bin_size - 2 * crop_bins
        if self.n_bins <= 0:
            raise ValueError(f"crop_bins {crop_bins} leaves no bins of a {self.length}-bp window")
        self.genome, self.targets = genome, targets
        self.windows = [(genome.resolve(c), s, e) for c, s, e in windows]
        self.crop_bins, self.shift_bins = crop_bins, shift_bins
        self.shift_room = (
            shift_room(self.windows, keep_out, self.bin_size, shift_bins)
            if shift_bins and keep_out
            else None
        )
        self.reverse_complement, self.seed, self.encoding = reverse_complement, seed, encoding

    def __len__(self) -> int:
        return len(self.windows)

    def augmentation(self, index: int, epoch: int) -> tuple[int, bool]:
        """(shift in bins, reverse-complement?) for an item in an epoch; no randomness
        beyond ``(seed, epoch, index)``."""
        if not self.shift_bins and not self.reverse_complement:
            return 0, False
        rng = np.random.default_rng((self.seed, epoch, index))
        shift = int(rng.integers(-self.shift_bins, self.shift_bins + 1)) if self.shift_bins else 0
        if self.shift_room is not None:
            left, right = self.shift_room[index]
            shift = min(max(shift, -int(left)), int(right))
        rc = bool(rng.random() < 0.5) if self.reverse_complement else False
        return shift, rc

    def __getitem__(self, item: int | tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        index, epoch = item if isinstance(item, tuple) else (item, None)
        chrom, start, _ = self.windows[index]
        shift, rc = (0, False) if epoch is None else self.augmentation(index, epoch)
        start += shift * self.bin_size
        codes = self.genome.fetch(chrom, start, start + self.length)
        first_bin = start // self.bin_size + self.crop_bins
        y = self.targets.fetch(chrom, first_bin, first_bin + self.n_bins)
        if rc:
            codes = reverse_complement_codes(codes)
            y = y[::-1]
        x = torch.from_numpy(np.ascontiguousarray(codes))
        if self.encoding == "one_hot":
            x = torch.from_numpy(one_hot(codes))
        return x, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))


class WindowSampler(Sampler[list[tuple[int, int]]]):
    """Batches of ``(index, epoch)`` for :class:`WindowDataset`, resumable mid-epoch.

    Each epoch is a permutation drawn from ``(seed, epoch)`` (or the natural order with
    ``shuffle=False``). With ``world_size > 1`` every rank takes an interleaved share of
    each batch-sized block, so together the ranks see each item once per epoch (items are
    repeated to fill the last block, or the tail is dropped with ``drop_last``).

    Parameters
    ----------
    n : number of items.
    batch_size : items per batch on this rank.
    """

    def __init__(
        self,
        n: int,
        *,
        batch_size: int,
        shuffle: bool = True,
        seed: int = 0,
        rank: int = 0,
        world_size: int = 1,
        drop_last: bool = True,
    ):
        if n <= 0 or batch_size <= 0:
            raise ValueError(
                f"need items and a positive batch size (n={n}, batch_size={batch_size})"
            )
        if not 0 <= rank < world_size:
            raise ValueError(f"rank {rank} outside world size {world_size}")
        self.n, self.batch_size, self.shuffle, self.seed = n, batch_size, shuffle, seed
        self.rank, self.world_size, self.drop_last = rank, world_size, drop_last
        self.epoch, self.start_batch = 0, 0

    def __len__(self) -> int:
        """Batches per epoch (for each rank)."""
        block = self.batch_size * self.world_size
        if self.drop_last:
            return max(self.n // block, 1)
        return math.ceil(self.n / block)

    def set_position(self, epoch: int, batch: int = 0) -> None:
        """Start the next iteration at ``batch`` of ``epoch`` (batches already consumed)."""
        self.epoch, self.start_batch = epoch, batch

    def order(self, epoch: int) -> np.ndarray:
        """The items of an epoch in the order all ranks together read them."""
        if self.shuffle:
            return np.random.default_rng((self.seed, epoch)).permutation(self.n)
        return np.arange(self.n)

    def __iter__(self) -> Iterator[list[tuple[int, int]]]:
        epoch, start = self.epoch, self.start_batch
        order = self.order(epoch)
        block = self.batch_size * self.world_size
        n_batches = len(self)
        need = n_batches * block
        if need > len(order):  # repeat items to fill the last block (or a tiny data set)
            order = np.resize(order, need)
        for b in range(start, n_batches):
            chunk = order[b * block : (b + 1) * block]
            mine = chunk[self.rank :: self.world_size]
            yield [(int(i), epoch) for i in mine]
        self.start_batch = 0


def make_loader(
    dataset: WindowDataset,
    sampler: WindowSampler | None = None,
    *,
    batch_size: int = 1,
    num_workers: int = 0,
    pin_memory: bool = False,
    seed: int = 0,
) -> DataLoader:
    """A DataLoader over ``dataset``: batched by ``sampler`` (training) or in order.

    The loader gets its own seeded generator, so making one never draws from the global
    torch RNG (which drives dropout): a resumed run stays bit-identical.
    """
    generator = torch.Generator().manual_seed(seed)
    kwargs = dict(num_workers=num_workers, pin_memory=pin_memory, generator=generator)
    if num_workers > 0:
        kwargs.update(persistent_workers=False, prefetch_factor=4)
    if sampler is not None:
        return DataLoader(dataset, batch_sampler=sampler, **kwargs)
    return DataLoader(dataset, batch_size=batch_size, shuffle=False, **kwargs)
