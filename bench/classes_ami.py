"""Sequence classes against the planted truth: adjusted mutual information (AMI) between
each bin's class and the element type planted there by `genomics simulate`.

A bin's planted type is the element (``elements.bed`` name, e.g. ``motif:m0``,
``enhancer:m8``) covering most of its bases, ``background`` where none does. Compared, on
one store (``--store``: the observed target store, or a prediction store):

- classes, assigned by nearest class mean (the default), kNN vote and largest score
  (``genomics classes``' pipeline, :func:`genomics.classes.fit_classes` + ``iter_assign``;
  ``--no-refine`` keeps the K largest Leiden clusters instead of refining them);
- k-means with the same K on the same standardised features (scikit-learn, seeded).

    python bench/classes_ami.py --sim results/sim --genome results/genome \\
        --store results/targets [--store results/predictions/convformer]
    python bench/classes_ami.py --tiny      # simulates a tiny genome itself, seconds

Bins left out (mostly N) are left out of the AMI. Prints a table and, with ``--json``,
writes the figures.
"""

from __future__ import annotations

import argparse
import json
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def planted_types(elements: Path, store) -> dict[str, np.ndarray]:
    """Per chromosome of ``store``, the planted type of each bin (object array): the type
    covering most of the bin (:func:`genomics.classes.annotation.bin_states`, as the
    classes' own enrichment reads an annotation), ``background`` where none touches it."""
    from genomics.classes.annotation import bin_states
    from genomics.classes.regions import read_bed

    regions = read_bed(elements, store.chroms, named=True)
    types = sorted({str(t) for r in regions.values() for t in r[2]})
    names = np.array([*types, "background"], dtype=object)  # code -1 reads the last
    out = {}
    for chrom in store.chroms:
        n = store.n_bins[chrom]
        if chrom not in regions:
            out[chrom] = np.full(n, "background", dtype=object)
            continue
        out[chrom] = names[bin_states(regions[chrom], types, n, store.bin_size)]
    return out


def _features(store, model, chrom):
    return model.standardise(np.asarray(store.bins(chrom), dtype=np.float32))


def measure(
    store,
    truth,
    *,
    genome,
    k,
    resolution,
    n_sample,
    seed,
    n_neighbors,
    n_components,
    merge_low,
    merge_cosine,
    refine=True,
    transform="log1p",
):
    """AMI rows (method, K found, AMI, seconds) for one store."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import adjusted_mutual_info_score

    from genomics.classes import fit_classes, iter_assign
    from genomics.classes.sample import leave_out

    excluded = leave_out(store, genome)
    t0 = time.perf_counter()
    model = fit_classes(
        store,
        n_sample=n_sample,
        seed=seed,
        n_components=n_components,
        n_neighbors=n_neighbors,
        resolution=resolution,
        n_classes=k,
        merge_low=merge_low,
        merge_cosine=merge_cosine,
        refine_clusters=refine,
        transform=transform,
        genome=genome,
    )
    t_fit = time.perf_counter() - t0
    keep = {c: ~excluded(c) for c in store.chroms}
    y = np.concatenate([truth[c][keep[c]] for c in store.chroms]).astype(str)
    rows = []
    for method in ("centroid", "knn", "score"):
        t0 = time.perf_counter()
        pred = np.concatenate(
            [lab[keep[c]] for c, lab, _ in iter_assign(store, model, method=method)]
        )
        rows.append(
            {
                "method": f"classes ({method} assignment)",
                "K": model.n_classes,
                "ami": adjusted_mutual_info_score(y, pred),
                "seconds": t_fit + time.perf_counter() - t0,
            }
        )
    t0 = time.perf_counter()
    z = np.concatenate([_features(store, model, c)[keep[c]] for c in store.chroms])
    km = KMeans(n_clusters=model.n_classes, n_init=4, random_state=seed).fit(z)
    rows.append(
        {
            "method": "k-means (same K, same features)",
            "K": model.n_classes,
            "ami": adjusted_mutual_info_score(y, km.labels_),
            "seconds": time.perf_counter() - t0,
        }
    )
    agree = model.info["agreement"]
    return rows, model, agree


def _tiny(work: Path) -> tuple[Path, Path, Path]:
    from genomics.data.genome import GenomeStore, build_genome_store
    from genomics.data.targets import build_target_store
    from genomics.simulate import simulate

    simulate(work / "sim", seed=0, n_chroms=1, chrom_length=200_000, n_variants=10)
    build_genome_store(work / "sim" / "genome.fa", work / "genome", progress=False)
    build_target_store(
        GenomeStore(work / "genome"),
        str(work / "sim" / "tracks.tsv"),
        work / "targets",
        bin_size=128,
        progress=False,
    )
    return work / "sim", work / "genome", work / "targets"


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--sim", type=Path, default=Path("results/sim"), help="holds elements.bed")
    p.add_argument("--genome", type=Path, default=Path("results/genome"))
    p.add_argument("--store", type=Path, action="append", help="target or prediction store")
    p.add_argument("--n-classes", type=int, default=12)
    p.add_argument("--resolution", type=float, default=1.0)
    p.add_argument("--n-sample", type=int, default=1_000_000)
    p.add_argument("--n-neighbors", type=int, default=15)
    p.add_argument("--n-components", type=int, default=32)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument(
        "--no-merge-low", action="store_true", help="keep Leiden's low-signal clusters apart"
    )
    p.add_argument(
        "--merge-cosine",
        type=lambda v: None if v == "none" else float(v),
        default=None,
        help="merge clusters whose mean profiles have this cosine (default: merge none)",
    )
    p.add_argument(
        "--no-refine", action="store_true", help="keep the K largest Leiden clusters, unrefined"
    )
    p.add_argument("--transform", choices=("log1p", "sqrt"), default="log1p", help="of coverage")
    p.add_argument("--json", type=Path, help="write the figures here")
    p.add_argument("--tiny", action="store_true", help="a tiny simulated genome (seconds)")
    args = p.parse_args(argv)

    from genomics.classes import open_store
    from genomics.data.genome import GenomeStore

    tmp = None
    if args.tiny:
        tmp = tempfile.TemporaryDirectory()
        args.sim, args.genome, target = _tiny(Path(tmp.name))
        args.store = [target]
        args.n_classes = min(args.n_classes, 6)
    genome = GenomeStore(args.genome)
    result = {"machine": f"{platform.processor() or platform.machine()}", "stores": {}}
    print(f"{'store':40s} {'method':34s} {'K':>3s} {'AMI':>6s} {'s':>7s}")
    for path in args.store or [Path("results/targets")]:
        store = open_store(path)
        truth = planted_types(args.sim / "elements.bed", store)
        rows, model, agree = measure(
            store,
            truth,
            genome=genome,
            k=args.n_classes,
            resolution=args.resolution,
            n_sample=args.n_sample,
            seed=args.seed,
            n_neighbors=args.n_neighbors,
            n_components=args.n_components,
            merge_low=not args.no_merge_low,
            merge_cosine=args.merge_cosine,
            refine=not args.no_refine,
            transform=args.transform,
        )
        for r in rows:
            print(
                f"{str(path):40s} {r['method']:34s} {r['K']:3d} {r['ami']:6.3f} {r['seconds']:7.1f}"
            )
        print(f"  held-out agreement with the clusters: {agree}")
        print(f"  classes: {'; '.join(f'{i} {n}' for i, n in enumerate(model.names))}")
        result["stores"][str(path)] = {"rows": rows, "agreement": agree, "names": model.names}
    if args.json:
        args.json.write_text(json.dumps(result, indent=1) + "\n")
    if tmp is not None:
        tmp.cleanup()
    return result


if __name__ == "__main__":
    main()
