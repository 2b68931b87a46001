"""Genome-wide prediction throughput: ``genomics predict``'s job against a naive loop.

One random genome store, one model of a config (``configs/default.yaml``'s by default;
weights random, which does not change the cost). Measured in one run:

(a) ours, RC averaging off and on: :func:`genomics.predict.predict_part` (batched windows
    placed one output span apart, written into a memory-mapped store);
(b) naive: the same windows one at a time through :func:`genomics.inference.predict`
    (batch 1, RC off), the loop a user would write first.

Prints bp/s and windows/s, the ratios, and the projected time for 3.1 Gbp (the human
genome) at the measured rate.

    python bench/predict_throughput.py                 # about 3 minutes on 2 CPU cores
    python bench/predict_throughput.py --config configs/gpu.yaml --device cuda --mbp 50
    python bench/predict_throughput.py --tiny          # seconds
"""

from __future__ import annotations

import argparse
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch

HERE = Path(__file__).resolve().parent
HUMAN_BP = 3.1e9


def _genome(folder: Path, mbp: float, seed: int = 0):
    from genomics.data.genome import GenomeStore, build_genome_store

    rng = np.random.default_rng(seed)
    length = int(mbp * 1e6)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, length)].tobytes().decode()
    fasta = folder / "g.fa"
    with open(fasta, "w") as fh:
        fh.write(">chr1\n")
        for i in range(0, length, 80):
            fh.write(seq[i : i + 80] + "\n")
    build_genome_store(fasta, folder / "genome", progress=False)
    return GenomeStore(folder / "genome")


def _model(cfg: dict, n_tracks: int, folder: Path):
    from genomics.models.saved import build_from_spec, network_spec, save_model

    names = [f"t{i}" for i in range(n_tracks)]
    spec = network_spec(
        cfg, track_names=names, track_kinds=["coverage"] * n_tracks,
        bin_size=cfg["targets"]["bin_size"],
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_from_spec(spec)
    save_model(folder / "model", model, spec)
    return model, spec


def _ours(model, spec, genome, folder, *, rc, batch_size, device, dtype) -> float:
    from genomics.predict import predict_part

    t0 = time.perf_counter()
    predict_part(
        model, spec, model_dir=folder / "model", genome=genome, out=folder / f"pred-{rc}",
        batch_size=batch_size, reverse_complement=rc, device=device, autocast_dtype=dtype,
        progress=False,
    )  # fmt: skip
    return time.perf_counter() - t0


def _naive(model, spec, genome, *, n_windows, device) -> float:
    from genomics.inference import predict
    from genomics.predict import Tiling

    t = Tiling(spec["seq_len"], spec["bin_size"], model.output_bins(spec["seq_len"]))
    t0 = time.perf_counter()
    for k in range(n_windows):
        start, end, _ = t.window(k)
        predict(model, genome.fetch("chr1", start, end), batch_size=1, device=device)
    return time.perf_counter() - t0


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(HERE.parent / "configs" / "default.yaml"))
    p.add_argument("--tracks", type=int, default=10, help="output tracks")
    p.add_argument("--mbp", type=float, default=4.0, help="genome size (Mbp)")
    p.add_argument("--batch-size", type=int, default=4)
    p.add_argument("--naive-windows", type=int, default=8, help="windows the naive loop runs")
    p.add_argument("--device", default="cpu")
    p.add_argument("--tiny", action="store_true", help="a tiny model and genome (seconds)")
    args = p.parse_args(argv)

    from genomics.config import load_config
    from genomics.inference import resolve_device, resolve_precision

    overrides = []
    if args.tiny:
        overrides = ["windows.length=4096", "model.convformer.dim=16", "model.convformer.depth=1",
                     "model.convformer.heads=2", "model.name=convformer"]  # fmt: skip
        args.mbp, args.naive_windows, args.tracks = 0.05, 3, 3
    cfg = load_config(Path(args.config), overrides)
    device = resolve_device(args.device)
    dtype = resolve_precision("auto", device)
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        genome = _genome(folder, args.mbp)
        model, spec = _model(cfg, args.tracks, folder)
        model.to(device).eval()
        from genomics.predict import Tiling

        tiling = Tiling(spec["seq_len"], spec["bin_size"], model.output_bins(spec["seq_len"]))
        bp = genome.sizes["chr1"]
        windows = tiling.n_windows(-(-bp // spec["bin_size"]))
        kw = {"batch_size": args.batch_size, "device": device, "dtype": dtype}
        _ours(model, spec, genome, folder, rc=False, **kw)  # warm-up (allocator, kernels)
        off = _ours(model, spec, genome, folder, rc=False, **kw)
        on = _ours(model, spec, genome, folder, rc=True, **kw)
        naive_n = min(args.naive_windows, windows)
        naive = _naive(model, spec, genome, n_windows=naive_n, device=device)
    rows = [
        ("ours, RC off", off, windows),
        ("ours, RC on (default)", on, windows),
        ("naive loop, batch 1, RC off", naive, naive_n),
    ]
    print(f"# predict throughput: {platform.node()}, torch {torch.__version__}, {device}, "
          f"{torch.get_num_threads()} threads, python {sys.version.split()[0]}")  # fmt: skip
    print(f"# model {spec['name']} {spec['hparams']}, {spec['seq_len']:,} bp windows, "
          f"{tiling.out_bins} output bins x {spec['bin_size']} bp, {args.tracks} tracks, "
          f"batch {args.batch_size}, genome {bp / 1e6:.2f} Mbp ({windows} windows)")  # fmt: skip
    print("| route | windows/s | bp/s | human genome (3.1 Gbp), hours |")
    print("|---|---:|---:|---:|")
    rate = {}
    for name, seconds, n in rows:
        w = n / seconds
        rate[name] = w
        bps = w * tiling.stride
        print(f"| {name} | {w:.2f} | {bps:,.0f} | {HUMAN_BP / bps / 3600:,.1f} |")
    print(f"ratio ours RC off / naive: {rate['ours, RC off'] / rate[rows[2][0]]:.2f}x")
    print(f"ratio RC on / RC off (cost of RC averaging): {off / on:.2f}x speed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
