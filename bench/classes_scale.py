"""Class construction at scale: wall time and peak RSS of `genomics classes`' fit for 10^5
and 10^6 sampled bins, the throughput of assigning every bin, and the projected cost for
the human genome at 128-bp bins (24 M bins).

The store is synthetic and prediction-like (float16, 10 tracks: 8 coverage rates, 2 peak
probabilities): 16 groups of bins, each with a few raised tracks, 60% background, and
per-bin log-normal noise (smooth values, as predictions are; no Poisson lattice). Each
size runs in a fresh process (its peak RSS is ``VmHWM`` of that process, see
``bench/data_loader.py``): fit (sample, transform, PCA, kNN graph, Leiden, hold-out
agreement), then assignment of every bin of the store by kNN vote and by largest score.

    python bench/classes_scale.py                 # 10^5 and 10^6: about 15 minutes on 2 cores
    python bench/classes_scale.py --tiny          # seconds (a test runs it)
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

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
HUMAN_BINS = 24_000_000  # 3.1 Gbp at 128-bp bins, less N
TRACKS = 10
FIT = dict(n_components=32, n_neighbors=15, resolution=1.0, n_classes=12, seed=0)


def make_store(folder: Path, n_bins: int, *, seed: int = 0, chunk: int = 1 << 18) -> Path:
    """Write the synthetic prediction-like store (one chromosome per 2^20 bins)."""
    from genomics.data.targets import FORMAT_VERSION
    from genomics.io import new_npy_memmap, write_manifest

    if (folder / "manifest.json").is_file():
        return folder
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    groups = 16
    profile = np.full((groups, TRACKS), 0.3)
    for g in range(1, groups):
        profile[g, rng.choice(TRACKS, size=rng.integers(1, 4), replace=False)] = rng.uniform(3, 40)
    weight = np.r_[0.6, np.full(groups - 1, 0.4 / (groups - 1))]
    chroms = {}
    for i, lo in enumerate(range(0, n_bins, 1 << 20)):
        n = min(1 << 20, n_bins - lo)
        name = f"chr{i + 1}"
        arr = new_npy_memmap(folder / f"{name}.npy", dtype=np.float16, shape=(n, TRACKS))
        for a in range(0, n, chunk):
            b = min(a + chunk, n)
            g = rng.choice(groups, size=b - a, p=weight)
            x = profile[g] * rng.lognormal(0, 0.3, (b - a, TRACKS))
            x[:, 8:] = 1 / (1 + np.exp(-(np.log(x[:, 8:]) - 1.0)))  # peaks: probabilities
            arr[a:b] = x.astype(np.float16)
        arr.flush()
        del arr
        chroms[name] = n
    write_manifest(
        folder,
        kind="targets",
        format_version=FORMAT_VERSION,
        params={"bin_size": 128, "dtype": "float16"},
        inputs={"genome": {"path": "synthetic", "digest": "0"}},
        files=[f"{c}.npy" for c in chroms],
        extra={
            "chroms": chroms,
            "tracks": [
                {"name": f"t{j}", "kind": "coverage" if j < 8 else "peaks"} for j in range(TRACKS)
            ],
        },
    )
    return folder


def _cpu() -> float:
    """CPU seconds (user + system) of this process, all threads: the machine is shared,
    so wall time alone overstates the cost when others load it."""
    t = os.times()
    return t.user + t.system


def child(store_dir: Path, n_sample: int) -> dict:
    """Fit on ``n_sample`` bins, assign every bin each way; figures as a dict."""
    from genomics.classes import fit_classes, iter_assign
    from genomics.data.targets import TargetStore

    store = TargetStore(store_dir)
    t0, c0 = time.perf_counter(), _cpu()
    model = fit_classes(store, n_sample=n_sample, **FIT)
    fit_s, fit_cpu = time.perf_counter() - t0, _cpu() - c0
    rss_fit = peak_rss_mib()
    n_bins = sum(store.n_bins.values())
    assign, assign_cpu = {}, {}
    for method in ("centroid", "score", "knn"):
        t0, c0 = time.perf_counter(), _cpu()
        for _ in iter_assign(store, model, method=method):
            pass
        # max(): a tiny run can finish within one clock tick
        assign[method] = n_bins / max(time.perf_counter() - t0, 1e-9)
        assign_cpu[method] = n_bins / max(_cpu() - c0, 1e-3)
    return {
        "n_sample": len(model.sample_labels),
        "fit_s": fit_s,
        "fit_cpu_s": fit_cpu,
        "steps_s": model.info["seconds"],
        "clusters": model.info["n_clusters_found"],
        "agreement": model.info["agreement"],
        "peak_rss_fit_mib": rss_fit,
        "peak_rss_mib": peak_rss_mib(),
        "store_bins": n_bins,
        "assign_bins_per_s": assign,
        "assign_bins_per_cpu_s": assign_cpu,
        "load_average": os.getloadavg(),
    }


def _run_child(store: Path, n: int) -> dict:
    out = subprocess.run(
        [sys.executable, __file__, "--child", str(store), "--n", str(n)],
        check=True,
        capture_output=True,
        text=True,
    )
    return json.loads(out.stdout.strip().splitlines()[-1])


def main(argv=None) -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--out", type=Path, default=ROOT / "bench" / "out" / "classes_scale")
    p.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    p.add_argument("--store-bins", type=int, default=1_200_000, help="bins in the store")
    p.add_argument("--tiny", action="store_true", help="3,000 of 6,000 bins: seconds")
    p.add_argument("--child", type=Path, help=argparse.SUPPRESS)
    p.add_argument("--n", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.child:
        print(json.dumps(child(args.child, args.n)))
        return
    if args.tiny:  # a temporary folder: a smoke run leaves nothing behind
        args.sizes, args.store_bins = [3000], 6000
        tmp = tempfile.TemporaryDirectory()
        args.out = Path(tmp.name)
    store = make_store(args.out / f"store-{args.store_bins}", args.store_bins)
    print(
        f"machine: {platform.processor() or platform.machine()}, {os.cpu_count()} CPUs; "
        f"store: {args.store_bins:,} bins x {TRACKS} tracks (float16); {FIT}"
    )
    rows = []
    for n in args.sizes:
        r = _run_child(store, n)
        rows.append(r)
        a = r["assign_bins_per_s"]
        print(
            f"n_sample {r['n_sample']:>9,}: fit {r['fit_s']:7.1f} s wall "
            f"({r.get('fit_cpu_s', float('nan')):.1f} CPU s) {r['steps_s']}, "
            f"{r['clusters']} clusters, peak RSS {r['peak_rss_fit_mib']:,.0f} MiB (fit) "
            f"{r['peak_rss_mib']:,.0f} MiB (with assignment); assign {a['centroid']:,.0f} "
            f"bins/s (centroid) {a['knn']:,.0f} (knn) {a['score']:,.0f} (score); "
            f"agreement {r['agreement']}"
        )
    big = rows[-1]
    for method in ("centroid", "knn", "score"):
        total = big["fit_s"] + HUMAN_BINS / big["assign_bins_per_s"][method]
        print(
            f"projected, {HUMAN_BINS / 1e6:.0f} M bins, fit on {big['n_sample']:,} + {method} "
            f"assignment of every bin: {total / 60:.1f} min"
        )
    (args.out / "results.json").write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
