"""Variant-scoring throughput: ``genomics score-variants``' path against a naive loop.

One random genome store, one model of a config (``configs/default.yaml``'s by default;
weights random, which does not change the cost), RC averaging on. Two layouts:

- SNVs at random positions (about one per kb, whole-genome density: no two share a window
  unless ``--window-step`` puts them on one grid point);
- saturation mutagenesis: all 3 alts of every base of a 600-bp element.

For each: (a) ours, :func:`genomics.variants.score_vcf` from the VCF to the gzipped TSV
(batched, reference windows shared within a chunk, incremental alternate passes: the
tower recomputed only around each edit); (b) the same with full alternate passes
(``incremental=False``); (c) naive, each variant's ref and alt windows through
:func:`genomics.inference.predict` one at a time (batch 1), the loop a user writes first.
Costs are counted in windows through the head (transformer and head) and in tower
windows (bases through the conv tower / window length). Each runs in a fresh process; peak memory is that process's maximum
resident set (``--tiny``: all in this process, so the peaks are not comparable). Prints variants/s, the ratio, and forward passes per variant.

    python bench/variant_throughput.py                       # default model; slow on CPU
    python bench/variant_throughput.py --set windows.length=16384 --snvs 200
    python bench/variant_throughput.py --tiny                # seconds
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
from _memory import peak_rss_mib

HERE = Path(__file__).resolve().parent


def _genome(folder: Path, bp: int, seed: int = 0):
    from genomics.data.genome import build_genome_store

    rng = np.random.default_rng(seed)
    seq = np.frombuffer(b"ACGT", dtype=np.uint8)[rng.integers(0, 4, bp)].tobytes().decode()
    with open(folder / "g.fa", "w") as fh:
        fh.write(">chr1\n")
        fh.writelines(seq[i : i + 80] + "\n" for i in range(0, bp, 80))
    build_genome_store(folder / "g.fa", folder / "genome", progress=False)
    return seq


def _vcf(path: Path, seq: str, positions: np.ndarray, all_alts: bool, seed: int = 1) -> int:
    rng = np.random.default_rng(seed)
    lines = ["##fileformat=VCFv4.2", f"##contig=<ID=chr1,length={len(seq)}>"]
    lines.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    n = 0
    for p in positions:
        ref = seq[p]
        others = [b for b in "ACGT" if b != ref]
        for alt in others if all_alts else [others[rng.integers(3)]]:
            lines.append(f"chr1\t{p + 1}\t.\t{ref}\t{alt}\t.\t.\t.")
            n += 1
    path.write_text("\n".join(lines) + "\n")
    return n


def _model(cfg: dict, n_tracks: int):
    import torch

    from genomics.models.saved import build_from_spec, network_spec

    names = [f"t{i}" for i in range(n_tracks)]
    spec = network_spec(
        cfg, track_names=names, track_kinds=["coverage"] * n_tracks,
        bin_size=cfg["targets"]["bin_size"],
    )  # fmt: skip
    torch.manual_seed(0)
    return build_from_spec(spec).eval(), spec


def _worker(job: dict) -> dict:
    """One measurement in a fresh process: (seconds, forward windows, peak RSS MiB)."""
    import torch

    from genomics.config import load_config
    from genomics.data.genome import GenomeStore
    from genomics.variants import score_vcf

    torch.set_num_threads(job["threads"])
    cfg = load_config(Path(job["config"]), job["overrides"])
    model, spec = _model(cfg, job["tracks"])
    genome = GenomeStore(job["folder"] + "/genome")
    heads, towers = [], []
    seq_len = cfg["windows"]["length"]
    model.head.register_forward_hook(lambda m, i, o: heads.append(i[0].shape[0]))
    model.tower.register_forward_hook(
        lambda m, i, o: towers.append(i[0].shape[0] * i[0].shape[-1] / seq_len)
    )
    t0 = time.perf_counter()
    if job["method"] == "naive":
        _naive(model, spec, genome, job["vcf"])
    else:
        score_vcf(
            model, spec, genome, job["vcf"], job["folder"] + f"/out-{job['name']}",
            batch_size=job["batch_size"], chunk_size=job["chunk_size"],
            window_step=job["window_step"], reverse_complement=True, progress=False,
            incremental=job["method"] == "ours",
        )  # fmt: skip
    seconds = time.perf_counter() - t0
    rss = peak_rss_mib()  # VmHWM: ru_maxrss would include the parent's peak (fork + exec)
    return {"seconds": seconds, "windows": sum(heads), "towers": sum(towers), "rss_mib": rss}


def _naive(model, spec, genome, vcf):
    from genomics.data.encoding import encode
    from genomics.inference import predict
    from genomics.variants import Geometry, score_profiles

    g = Geometry.of(spec)
    for line in Path(vcf).read_text().splitlines():
        if line.startswith("#"):
            continue
        chrom, pos, _, ref, alt = line.split("\t")[:5]
        p = int(pos) - 1
        start = p - g.seq_len // 2
        r = genome.fetch(chrom, start, start + g.seq_len)
        a = r.copy()
        a[p - start] = encode(alt)[0]
        y_ref = predict(model, r, batch_size=1, reverse_complement=True)
        y_alt = predict(model, a, batch_size=1, reverse_complement=True)
        vb = np.array([g.bin_of(p - start)])
        score_profiles(y_ref[None], y_alt[None], vb, track_kinds=g.track_kinds)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default=str(HERE.parent / "configs" / "default.yaml"))
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--tracks", type=int, default=10)
    p.add_argument("--snvs", type=int, default=1000, help="SNVs in the whole-genome layout")
    p.add_argument("--satmut-bp", type=int, default=600, help="element length, sat. mutagenesis")
    p.add_argument("--naive", type=int, default=20, help="variants the naive loop scores")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--chunk-size", type=int, default=256)
    p.add_argument("--window-step", type=int, default=1, help="variants.window_step for ours")
    p.add_argument(
        "--share-step", type=int, default=4096,
        help="a further SNV row with this window_step (reference windows shared by the "
        "variants on one grid point), and how far its scores move from window_step 1",
    )  # fmt: skip
    p.add_argument(
        "--methods", default="exact,full,shared,naive",
        help="which rows to run: exact (ours, window_step --window-step), full (full alt "
        "passes), shared (ours, window_step --share-step), naive; e.g. shared,naive for "
        "10^5 SNVs, where the exact and full rows take an hour each on 2 cores",
    )  # fmt: skip
    p.add_argument(
        "--layouts", default="snv,satmut", help="snv (SNVs ~1/kb), satmut (saturation mutagenesis)"
    )
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--tiny", action="store_true", help="a tiny model and genome (seconds)")
    args = p.parse_args(argv)
    methods = set(args.methods.split(","))
    layouts_wanted = set(args.layouts.split(","))
    unknown = (methods - {"exact", "full", "shared", "naive"}) | (
        layouts_wanted - {"snv", "satmut"}
    )
    if unknown or "naive" not in methods:
        p.error(f"--methods/--layouts: unknown {sorted(unknown)} (naive is the baseline: keep it)")
    if args.tiny:
        args.overrides += ["windows.length=2048", "model.convformer.dim=16",
                           "model.convformer.depth=1", "model.convformer.heads=2"]  # fmt: skip
        args.snvs, args.satmut_bp, args.naive, args.tracks = 40, 20, 10, 3

    from genomics.config import load_config

    cfg = load_config(Path(args.config), args.overrides)
    seq_len = cfg["windows"]["length"]
    args.share_step = min(args.share_step, seq_len // 2)  # a variant stays in its window
    ctx = mp.get_context("spawn")
    rows, agreement = [], ""
    with tempfile.TemporaryDirectory() as tmp:
        bp = max(args.snvs * 1000, 4 * seq_len)
        seq = _genome(Path(tmp), bp)
        rng = np.random.default_rng(0)
        snv_pos = np.sort(rng.choice(np.arange(seq_len, bp - seq_len), args.snvs, replace=False))
        mid = bp // 2
        layouts = {
            "SNVs, ~1/kb": (snv_pos, False),
            f"sat. mutagenesis, {args.satmut_bp} bp x 3": (
                np.arange(mid, mid + args.satmut_bp),
                True,
            ),
        }
        if "snv" not in layouts_wanted:
            del layouts["SNVs, ~1/kb"]
        if "satmut" not in layouts_wanted:
            del layouts[f"sat. mutagenesis, {args.satmut_bp} bp x 3"]
        base = {"config": args.config, "overrides": args.overrides, "tracks": args.tracks,
                "folder": tmp, "batch_size": args.batch_size, "chunk_size": args.chunk_size,
                "threads": args.threads}  # fmt: skip
        for i, (name, (pos, all_alts)) in enumerate(layouts.items()):
            vcf = Path(tmp) / f"l{i}.vcf"
            n = _vcf(vcf, seq, pos, all_alts)
            naive_vcf = Path(tmp) / f"l{i}-naive.vcf"
            lines = vcf.read_text().splitlines()
            head = [x for x in lines if x.startswith("#")]
            body = [x for x in lines if not x.startswith("#")][: args.naive]
            naive_vcf.write_text("\n".join(head + body) + "\n")
            for key, method, path, count, step in (
                ("exact", "ours", vcf, n, args.window_step),
                ("full", "full", vcf, n, args.window_step),
                ("shared", "ours", vcf, n,
                 8 * cfg["targets"]["bin_size"] if all_alts else args.share_step),
                ("naive", "naive", naive_vcf, len(body), 1),
            ):  # fmt: skip
                if key not in methods:
                    continue
                job = {**base, "method": method, "vcf": str(path), "name": f"{i}-{step}",
                       "window_step": step}  # fmt: skip
                if args.tiny:  # in this process: seconds, not one torch import per run
                    r = _worker(job)
                else:
                    with ctx.Pool(1) as pool:
                        r = pool.apply(_worker, (job,))
                label = {"naive": "naive", "ours": f"ours, window_step {step}"}.get(
                    method, f"ours, full alt passes, window_step {step}"
                )
                rows.append((name, label, count, r))
            if not all_alts and {"exact", "shared"} <= methods:
                agreement = _agreement(Path(tmp) / f"out-{i}-{args.window_step}",
                                       Path(tmp) / f"out-{i}-{args.share_step}")  # fmt: skip

    import torch

    print(f"# variant throughput: {platform.node()}, torch {torch.__version__}, cpu, "
          f"{args.threads} threads, python {sys.version.split()[0]}")  # fmt: skip
    print(f"# model {cfg['model']['name']} {dict(cfg['model'][cfg['model']['name']])}, "
          f"{seq_len:,} bp windows, {args.tracks} tracks, RC averaging on, batch {args.batch_size}")  # fmt: skip
    print()
    print("| layout | method | variants | variants/s | head windows / variant | "
          "tower windows / variant | peak RSS MiB |")  # fmt: skip
    print("|---|---|---|---|---|---|---|")
    speed = {}
    for name, label, count, r in rows:
        vps = count / r["seconds"]
        speed[name, label] = vps
        print(f"| {name} | {label} | {count} | {vps:.2f} | {r['windows'] / count:.2f} | "
              f"{r['towers'] / count:.2f} | {r['rss_mib']:.0f} |")  # fmt: skip
    print()
    for name in dict.fromkeys(n for n, _ in speed):
        naive = speed[name, "naive"]
        for (n, label), v in speed.items():
            if n == name and label != "naive":
                print(f"**{name}: {label} / naive** | **{v / naive:.2f}x**")
    if agreement:
        print()
        print(f"SNVs, window_step {args.share_step} against {args.window_step} (the same "
              f"variants): {agreement}")  # fmt: skip
    return 0


def _agreement(exact: Path, shared: Path) -> str:
    """How far the shared-reference SAD scores move from the exactly centred ones."""
    import csv
    import gzip

    from scipy.stats import pearsonr, spearmanr

    def sad(folder: Path) -> dict:
        with gzip.open(folder / "scores.tsv.gz", "rt") as fh:
            rows = list(csv.DictReader(fh, delimiter="\t"))
        cols = [c for c in rows[0] if c.endswith(":sad")]
        key = ("chrom", "pos", "ref", "alt")
        return {tuple(r[k] for k in key): [float(r[c]) for c in cols] for r in rows}

    a, b = sad(exact), sad(shared)
    x = np.array([a[k] for k in a]).ravel()
    y = np.array([b[k] for k in a]).ravel()
    cols = [None] * (len(x) // len(a))
    rel = np.abs(x - y).max() / np.abs(x).max()
    return (f"SAD over {len(cols)} tracks x {len(a)} alleles: Pearson {pearsonr(x, y)[0]:.4f}, "
            f"Spearman {spearmanr(x, y)[0]:.4f}, largest difference {rel:.3f} of the largest |SAD|")  # fmt: skip


if __name__ == "__main__":
    sys.exit(main())
