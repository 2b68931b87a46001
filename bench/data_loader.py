"""Data-loading benchmark: our streaming dataset against the naive route, in one run.

Both routes read the same random 131,072-bp windows of a synthetic genome with its bigWig
tracks (10 as the simulator makes them today) and produce one-hot (4, l) float32 sequence
plus (l / 128, t) binned targets:

(a) ours: ``WindowDataset`` over the memory-mapped genome and target stores;
(b) naive: pyfaidx string fetch + per-base Python one-hot + pyBigWig ``values()`` per
    window and track, binned with numpy.

Also measured: genome-store build speed (Mbp/s, FASTA -> store), target-store build speed
(Mbp x track/s, bigWig -> store), and the peak RSS of a pass of the loader over windows of
a small and a 4x larger genome (a fresh process each), to show memory does not grow with
the genome.

    python bench/data_loader.py            # about 3 minutes on 2 cores
    python bench/data_loader.py --tiny     # the same steps on a tiny genome, seconds
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _memory import peak_rss_mib

HERE = Path(__file__).resolve().parent
LENGTH = 131_072
BIN = 128
# --tiny: the same steps on a genome small enough to take seconds (small / large keep 1:4)
TINY = {"length": 8192, "small": (1, 200_000), "large": (4, 200_000), "windows": 20, "naive": 3}


def _simulate(out: Path, n_chroms: int, chrom_length: int) -> None:
    from genomics.simulate import simulate

    if not (out / "tracks.tsv").is_file():
        simulate(out, seed=0, n_chroms=n_chroms, chrom_length=chrom_length, n_variants=10)


def _stores(sim: Path, work: Path) -> dict:
    from genomics.data.genome import GenomeStore, build_genome_store
    from genomics.data.targets import build_target_store

    t0 = time.perf_counter()
    build_genome_store(sim / "genome.fa", work / "genome", progress=False)
    t_genome = time.perf_counter() - t0
    genome = GenomeStore(work / "genome")
    total = sum(genome.sizes.values())
    t0 = time.perf_counter()
    build_target_store(
        genome, str(sim / "tracks.tsv"), work / "targets", bin_size=BIN, progress=False
    )
    t_targets = time.perf_counter() - t0
    return {"genome_bp": total, "genome_s": t_genome, "targets_s": t_targets}


def _windows(
    sizes: dict[str, int], n: int, length: int, seed: int = 0
) -> list[tuple[str, int, int]]:
    rng = np.random.default_rng(seed)
    chroms = list(sizes)
    out = []
    for _ in range(n):
        c = chroms[rng.integers(len(chroms))]
        start = int(rng.integers(0, (sizes[c] - length) // BIN)) * BIN
        out.append((c, start, start + length))
    return out


def _ours(work: Path, windows, *, num_workers: int = 0, batch_size: int = 1) -> float:
    """Windows/s of WindowDataset (one-hot included), through a DataLoader."""
    from genomics.data.dataset import WindowDataset, make_loader
    from genomics.data.genome import GenomeStore
    from genomics.data.targets import TargetStore

    targets = TargetStore(work / "targets")
    ds = WindowDataset(GenomeStore(work / "genome"), targets, windows)
    loader = make_loader(ds, batch_size=batch_size, num_workers=num_workers)
    length = windows[0][2] - windows[0][1]
    t0 = time.perf_counter()
    n = 0
    for x, y in loader:
        n += x.shape[0]
        assert x.shape[1:] == (4, length) and y.shape[1:] == (length // BIN, targets.n_tracks)
    return n / (time.perf_counter() - t0)


_ONE_HOT = {"A": (1, 0, 0, 0), "C": (0, 1, 0, 0), "G": (0, 0, 1, 0), "T": (0, 0, 0, 1)}


def _naive(sim: Path, windows) -> float:
    """Windows/s of pyfaidx + per-base Python one-hot + pyBigWig values() + numpy binning."""
    import pyBigWig
    import pyfaidx

    fasta = pyfaidx.Fasta(str(sim / "genome.fa"))
    tracks = [line.split("\t")[1] for line in (sim / "tracks.tsv").read_text().splitlines()[1:]]
    bws = [pyBigWig.open(str(sim / p)) for p in tracks]
    t0 = time.perf_counter()
    for c, s, e in windows:
        length = e - s
        seq = str(fasta[c][s:e]).upper()
        x = np.array([_ONE_HOT.get(b, (0, 0, 0, 0)) for b in seq], dtype=np.float32).T
        y = np.stack(
            [np.nan_to_num(bw.values(c, s, e, numpy=True)).reshape(-1, BIN).sum(1) for bw in bws],
            axis=1,
        ).astype(np.float32)
        assert x.shape == (4, length) and y.shape == (length // BIN, len(bws))
    return len(windows) / (time.perf_counter() - t0)


def _rss_child(work: str, n: int, length: int) -> None:
    """Run in a fresh process: one loader pass, then print peak RSS (MiB)."""
    from genomics.data.genome import GenomeStore

    sizes = GenomeStore(Path(work) / "genome").sizes
    _ours(Path(work), _windows(sizes, n, length, seed=1))
    print(json.dumps({"max_rss_mib": peak_rss_mib()}))


def _rss(work: Path, n: int, length: int) -> float:
    out = subprocess.run(
        [
            sys.executable,
            __file__,
            "--rss-child",
            str(work),
            "--n",
            str(n),
            "--length",
            str(length),
        ],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])["max_rss_mib"]


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=HERE / "out" / "data_loader")
    p.add_argument("--windows", type=int, default=200, help="windows for our loader")
    p.add_argument("--naive-windows", type=int, default=20, help="windows for the naive route")
    p.add_argument(
        "--tiny", action="store_true", help="a tiny genome in a temporary folder (seconds)"
    )
    p.add_argument("--rss-child", help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, default=100, help=argparse.SUPPRESS)
    p.add_argument("--length", type=int, default=LENGTH, help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.rss_child:
        _rss_child(args.rss_child, args.n, args.length)
        return
    if args.tiny:
        with tempfile.TemporaryDirectory() as tmp:
            _bench(
                Path(tmp),
                length=TINY["length"],
                small=TINY["small"],
                large=TINY["large"],
                n_windows=TINY["windows"],
                n_naive=TINY["naive"],
                n_rss=TINY["windows"],
            )
        return
    _bench(
        args.out,
        length=LENGTH,
        small=(2, 4_000_000),
        large=(4, 8_000_000),
        n_windows=args.windows,
        n_naive=args.naive_windows,
        n_rss=100,
    )


def _bench(
    out: Path,
    *,
    length: int,
    small: tuple[int, int],
    large: tuple[int, int],
    n_windows: int,
    n_naive: int,
    n_rss: int,
) -> None:
    """Simulate two genomes (``(n_chroms, chrom_length)``), build their stores, time both
    routes on the larger and the loader's peak RSS on each, and print the table."""
    dirs = {"small": out / "small", "large": out / "large"}
    _simulate(dirs["small"] / "sim", n_chroms=small[0], chrom_length=small[1])
    _simulate(dirs["large"] / "sim", n_chroms=large[0], chrom_length=large[1])
    build = {name: _stores(w / "sim", w) for name, w in dirs.items()}

    from genomics.data.genome import GenomeStore
    from genomics.data.targets import TargetStore

    large_dir = dirs["large"]
    n_tracks = TargetStore(large_dir / "targets").n_tracks
    windows = _windows(GenomeStore(large_dir / "genome").sizes, n_windows, length)
    _ours(large_dir, windows[:5])  # warm the page cache for both routes alike
    _naive(large_dir / "sim", windows[:2])
    ours = _ours(large_dir, windows)
    ours_workers = _ours(large_dir, windows, num_workers=2, batch_size=8)
    naive = _naive(large_dir / "sim", windows[:n_naive])
    rss = {name: _rss(w, n_rss, length) for name, w in dirs.items()}

    b = build["large"]
    rows = [
        ("genome bp (large)", f"{b['genome_bp']:,}"),
        ("naive route, windows/s", f"{naive:.2f}"),
        ("ours, 1 process, windows/s", f"{ours:.1f}"),
        ("ours, DataLoader 2 workers batch 8, windows/s", f"{ours_workers:.1f}"),
        ("**ratio ours (1 process) / naive**", f"**{ours / naive:.0f}x**"),
        ("ratio ours (2 workers) / naive", f"{ours_workers / naive:.0f}x"),
        ("genome store build, Mbp/s", f"{b['genome_bp'] / 1e6 / b['genome_s']:.1f}"),
        (
            "target store build, Mbp x track/s",
            f"{b['genome_bp'] * n_tracks / 1e6 / b['targets_s']:.0f}",
        ),
        (
            f"peak RSS, loader pass, {build['small']['genome_bp'] / 1e6:.1f} Mb genome (MiB)",
            f"{rss['small']:.0f}",
        ),
        (
            f"peak RSS, loader pass, {b['genome_bp'] / 1e6:.1f} Mb genome (MiB)",
            f"{rss['large']:.0f}",
        ),
    ]
    print(
        f"# data_loader benchmark ({platform.node()}, {os.cpu_count()} cores, {time.strftime('%Y-%m-%d')})"
    )
    print(
        f"{length:,}-bp windows, {n_tracks} bigWig tracks, {BIN}-bp bins; same random windows "
        "for both routes\n"
    )
    print("| measure | value |\n|---|---|")
    for k, v in rows:
        print(f"| {k} | {v} |")


if __name__ == "__main__":
    main()
