"""An honest baseline: k-mer counts and a linear model per track, on exactly the bins and
split the model is scored on, beside the model and the noise ceiling in one table.

Features of a bin: the counts of each canonical k-mer (a k-mer and its reverse complement
are one feature) starting in the bin, the same over the bin and its two neighbours, and
over the bin and ``--flank`` bp either side (about 1 kb in all by default): three scales,
so that a model can tell a site in the bin from one a few hundred bp away. Full
``4^k / 2`` counts, or hashed into ``2^--hash-bits`` columns (scipy sparse), scaled by
their largest train value. One model per track (scikit-learn):

- coverage tracks: ridge regression of ``log1p(target)``, predicted back as
  ``expm1`` (clipped at 0), so the metrics read rates like the model's;
- peak tracks: logistic regression of ``target > 0.5`` (a peak bin, as the metrics count
  it); its logits are scored like the model's.

The regularisation (ridge alpha, logistic C) is chosen from a small grid on the valid
split (a sample of its bins), fitted on a sample of the train split's bins
(``--max-train-bins``, uniform; with peak tracks, plus up to ``--peak-bins`` train bins
that are a peak of some track, as peaks are rare: 0.4% of bins for the median chr20 TF.
Sampling on the labels like this moves mainly a logistic model's intercept, which the
ranking metrics do not see; on chr20 it lifted the median test AUROC from 0.788 to 0.834
and AUPRC from 0.037 to 0.056) and scored on every bin of the test split that ``genomics
evaluate`` scores: the output bins of the test windows (``windows.crop_bins`` cropped),
each once (:func:`genomics.inference.scoring.scored_spans`), through the same
:class:`~genomics.inference.metrics.TrackMetrics`. ``--eval`` reads the model's
``metrics.json`` (it must have been scored on as many bins) and ``--noise-free`` a
noise-free store for each coverage track's ceiling (else the eval's own ceiling columns).

    python bench/kmer_baseline.py --config configs/test.yaml \\
        --eval results/eval/convformer/metrics.json --noise-free results/targets-noise-free
    python bench/kmer_baseline.py --config configs/chr20.yaml --k 6 \\
        --eval results/eval/convformer/metrics.json
    python bench/kmer_baseline.py --tiny     # a tiny simulated genome it makes itself

Prints a summary (mean and median over tracks) and the per-track table, as Markdown;
``--json`` also writes both.
"""

from __future__ import annotations

import argparse
import json
import logging
import platform
import sys
import tempfile
import time
import warnings
from pathlib import Path

import numpy as np
from scipy import sparse

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

log = logging.getLogger("kmer_baseline")

Segment = tuple[str, np.ndarray]  # chromosome, genome bins (int64) in scoring order


# ---------------------------------------------------------------- features


def kmer_columns(k: int, hash_bits: int | None = None) -> tuple[np.ndarray, int]:
    """Column of every k-mer code (``sum base * 4^(k-1-i)``, A=0 C=1 G=2 T=3): a k-mer
    and its reverse complement share one; with ``hash_bits``, canonical codes are hashed
    into ``2^hash_bits`` columns.

    Returns
    -------
    columns : np.ndarray, shape (4^k,), int64
    n_columns : int
    """
    if not 1 <= k <= 12:
        raise ValueError(f"--k {k}: use 1..12")
    codes = np.arange(4**k, dtype=np.int64)
    digits = (codes[:, None] // 4 ** np.arange(k - 1, -1, -1)) % 4  # (4^k, k)
    rc = ((3 - digits[:, ::-1]) * 4 ** np.arange(k - 1, -1, -1)).sum(1)
    canonical = np.minimum(codes, rc)
    if hash_bits:
        mixed = (canonical * np.int64(0x9E3779B1)) & np.int64(0x7FFFFFFF)
        return mixed >> np.int64(31 - hash_bits), 1 << hash_bits
    _, columns = np.unique(canonical, return_inverse=True)
    return columns.astype(np.int64), int(columns.max()) + 1


def kmer_features(
    codes: np.ndarray,
    bins: np.ndarray,
    *,
    bin_size: int,
    k: int,
    flank: int,
    columns: np.ndarray,
    n_columns: int,
    chunk: int = 2048,
) -> sparse.csr_matrix:
    """k-mer counts of each bin at three scales.

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8; a chromosome (A=0 C=1 G=2 T=3 N=4)
    bins : np.ndarray, shape (n,), int; bins of that chromosome
    bin_size, k : int
    flank : int, bp either side of the bin in the widest scale (at least ``bin_size``)
    columns, n_columns : from :func:`kmer_columns`

    Returns
    -------
    scipy.sparse.csr_matrix, shape (n, 3 * n_columns), float32: counts of the k-mers that
    start in the bin, then in the bin and ``bin_size`` bp either side, then in the bin
    and ``flank`` bp either side (k-mers holding an N, or running off the chromosome,
    count nowhere).
    """
    if flank < bin_size:
        raise ValueError(f"--flank {flank} must be at least the bin size {bin_size}")
    parts = []
    span = bin_size + 2 * flank + k - 1
    offsets = np.arange(span)
    n_kmers = span - k + 1
    start = np.arange(n_kmers) - flank  # k-mer start relative to the bin's
    scales = [(start >= 0) & (start < bin_size), (start >= -bin_size) & (start < 2 * bin_size)]
    for s in range(0, len(bins), chunk):
        b = np.asarray(bins[s : s + chunk], np.int64)
        pos = (b * bin_size - flank)[:, None] + offsets  # (n, span)
        inside = (pos >= 0) & (pos < codes.size)
        window = np.where(inside, codes[np.clip(pos, 0, codes.size - 1)], 4).astype(np.int64)
        kmer = np.zeros((len(b), n_kmers), np.int64)
        valid = np.ones((len(b), n_kmers), bool)
        for j in range(k):
            part = window[:, j : j + n_kmers]
            valid &= part < 4
            kmer = kmer * 4 + np.minimum(part, 3)
        col = columns[kmer]
        rows = np.broadcast_to(np.arange(len(b))[:, None], kmer.shape)
        blocks = []
        for scale in [*scales, None]:
            keep = valid if scale is None else valid & scale
            blocks.append(
                sparse.coo_matrix(
                    (np.ones(keep.sum(), np.float32), (rows[keep], col[keep])),
                    shape=(len(b), n_columns),
                )
            )
        parts.append(sparse.hstack(blocks, format="csr"))
    if not parts:
        return sparse.csr_matrix((0, 3 * n_columns), dtype=np.float32)
    return sparse.vstack(parts, format="csr")


# ---------------------------------------------------------------- bins of each split


def split_segments(windows, genome, *, bin_size: int, n_bins: int, crop_bins: int) -> list:
    """The bins ``genomics evaluate`` scores on these windows, in its order: one
    ``(chrom, bins)`` per window with bins left (each bin once)."""
    from genomics.inference.scoring import scored_spans

    windows = [(genome.resolve(c), s, e) for c, s, e in windows]
    spans = scored_spans(windows, bin_size=bin_size, n_bins=n_bins, crop_bins=crop_bins)
    out = []
    for (chrom, start, _), (lo, hi) in zip(windows, spans, strict=True):
        if hi > lo:
            first = start // bin_size + crop_bins
            out.append((chrom, np.arange(first + lo, first + hi, dtype=np.int64)))
    return out


def sample_segments(segments: list, n: int, seed: int) -> list:
    """At most ``n`` bins of ``segments``, drawn uniformly without replacement (seeded),
    grouped by chromosome."""
    chroms = np.concatenate([[i] * len(b) for i, (_, b) in enumerate(segments)]).astype(int)
    bins = np.concatenate([b for _, b in segments])
    if bins.size > n:
        keep = np.sort(np.random.default_rng(seed).choice(bins.size, n, replace=False))
        chroms, bins = chroms[keep], bins[keep]
    out: dict[str, list] = {}
    for i, b in zip(chroms, bins, strict=True):
        out.setdefault(segments[i][0], []).append(b)
    return [(c, np.array(b, np.int64)) for c, b in out.items()]


def peak_segments(segments: list, targets, n: int, seed: int, skip: list) -> list:
    """At most ``n`` bins of ``segments`` that are a peak (target > 0.5) of some peak track
    of ``targets``, drawn uniformly (seeded), leaving out the bins of ``skip``."""
    peaks = np.flatnonzero(np.array(targets.track_kinds) == "peaks")
    taken = {(c, int(b)) for c, bins in skip for b in bins}
    found = []
    for chrom, bins in segments:
        hit = (np.asarray(targets.bins(chrom)[bins][:, peaks]) > 0.5).any(1)
        keep = [b for b in bins[hit] if (chrom, int(b)) not in taken]
        if keep:
            found.append((chrom, np.array(keep, np.int64)))
    return sample_segments(found, n, seed) if found else []


class Featurizer:
    """Features and targets of bins of a genome and a target store."""

    def __init__(self, genome, targets, *, k: int, flank: int, hash_bits: int | None):
        self.genome, self.targets = genome, targets
        self.k, self.flank = k, flank
        self.columns, self.n_columns = kmer_columns(k, hash_bits)

    def __call__(self, segments: list) -> tuple[sparse.csr_matrix, np.ndarray]:
        xs, ys = [], []
        for chrom, bins in segments:
            xs.append(
                kmer_features(
                    np.asarray(self.genome.codes(chrom)),
                    bins,
                    bin_size=self.targets.bin_size,
                    k=self.k,
                    flank=self.flank,
                    columns=self.columns,
                    n_columns=self.n_columns,
                )
            )
            ys.append(np.asarray(self.targets.bins(chrom)[bins], np.float64))
        return sparse.vstack(xs, format="csr"), np.concatenate(ys)


# ---------------------------------------------------------------- models


def _valid_score(kind: str, pred: np.ndarray, y: np.ndarray) -> float:
    """Mean over tracks of Pearson (coverage) or AUPRC (peaks) on the valid sample."""
    from sklearn.metrics import average_precision_score

    scores = []
    for t in range(y.shape[1]):
        if kind == "coverage":
            if np.ptp(pred[:, t]) > 0 and np.ptp(y[:, t]) > 0:
                scores.append(np.corrcoef(pred[:, t], y[:, t])[0, 1])
        elif 0 < (y[:, t] > 0.5).sum() < len(y):
            scores.append(average_precision_score(y[:, t] > 0.5, pred[:, t]))
    return float(np.mean(scores)) if scores else float("nan")


class Baseline:
    """One linear model per track: ridge on log1p for coverage, logistic for peaks."""

    ALPHAS = (10.0, 100.0, 1e3, 1e4, 1e5)
    CS = (0.01, 0.1, 1.0)
    TUNE_TRACKS = 8  # peak tracks (most positives) that choose C

    def __init__(self, kinds: list[str]):
        self.kinds = np.array(kinds)
        self.chosen: dict[str, float] = {}

    def _ridge(self, alpha, x, y):
        from sklearn.linear_model import Ridge

        # lsqr: the fastest sklearn solver on these sparse counts (2-10x sparse_cg)
        return Ridge(alpha=alpha, solver="lsqr", tol=1e-4).fit(x, np.log1p(np.maximum(y, 0)))

    def _logistic(self, c, x, y):
        from sklearn.exceptions import ConvergenceWarning
        from sklearn.linear_model import LogisticRegression

        if not 0 < y.sum() < len(y):  # one class: a constant guess
            return float(y.mean() > 0.5)
        # lbfgs: 4x faster than liblinear on these counts, the same valid AUROC/AUPRC (chr20,
        # 10k bins); 200 iterations, a few tracks stop short of its tolerance
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            return LogisticRegression(C=c, solver="lbfgs", max_iter=200).fit(x, y)

    def fit(self, x, y, x_valid, y_valid) -> Baseline:
        from sklearn.preprocessing import MaxAbsScaler

        self.scaler = MaxAbsScaler().fit(x)
        x, x_valid = self.scaler.transform(x), self.scaler.transform(x_valid)
        cov = np.flatnonzero(self.kinds == "coverage")
        peaks = np.flatnonzero(self.kinds == "peaks")
        self.ridge = None
        if cov.size:
            best = max(
                self.ALPHAS,
                key=lambda a: _valid_score(
                    "coverage",
                    self._ridge(a, x, y[:, cov]).predict(x_valid).reshape(len(y_valid), -1),
                    y_valid[:, cov],
                ),
            )
            self.chosen["ridge_alpha"] = best
            log.info("ridge alpha %g (valid Pearson of %d tracks)", best, cov.size)
            self.ridge = self._ridge(best, x, y[:, cov])
        self.logistic = {}
        if peaks.size:
            label, label_valid = y[:, peaks] > 0.5, y_valid[:, peaks] > 0.5
            tune = np.argsort(-label.sum(0), kind="stable")[: self.TUNE_TRACKS]

            def score(c):
                pred = np.stack(
                    [self._logit(self._logistic(c, x, label[:, j]), x_valid) for j in tune], 1
                )
                return _valid_score("peaks", pred, label_valid[:, tune].astype(float))

            best = max(self.CS, key=score)
            self.chosen["logistic_C"] = best
            log.info(
                "logistic C %g (valid AUPRC of %d tracks); fitting %d tracks",
                best,
                len(tune),
                len(peaks),
            )
            for j, t in enumerate(peaks):
                self.logistic[t] = self._logistic(best, x, label[:, j])
        return self

    @staticmethod
    def _logit(model, x) -> np.ndarray:
        if isinstance(model, float):
            return np.full(x.shape[0], 10.0 if model else -10.0)
        return model.decision_function(x)

    def predict(self, x) -> np.ndarray:
        """Rates for coverage tracks, logits for peak tracks, shape (n, t), float64."""
        x = self.scaler.transform(x)
        out = np.zeros((x.shape[0], len(self.kinds)))
        cov = np.flatnonzero(self.kinds == "coverage")
        if cov.size:
            out[:, cov] = np.expm1(np.maximum(self.ridge.predict(x).reshape(x.shape[0], -1), 0))
        for t, model in self.logistic.items():
            out[:, t] = self._logit(model, x)
        return out


# ---------------------------------------------------------------- the run


def run(
    *,
    genome_dir: Path,
    targets_dir: Path,
    windows_dir: Path,
    crop_bins: int,
    noise_free_dir: Path | None = None,
    k: int = 6,
    flank: int = 512,
    hash_bits: int | None = None,
    max_train_bins: int = 30_000,
    peak_bins: int = 30_000,
    max_valid_bins: int = 10_000,
    seed: int = 0,
) -> dict:
    """Fit on train, choose on valid, score on test; returns ``{"tracks", "summary", ...}``."""
    from genomics.data.genome import GenomeStore
    from genomics.data.targets import TargetStore
    from genomics.data.windows import read_windows
    from genomics.inference.metrics import TrackMetrics, add_ceiling, summarize
    from genomics.inference.scoring import noise_ceiling, scored_spans

    genome, targets = GenomeStore(genome_dir), TargetStore(targets_dir)
    targets.check_genome(genome)
    bs = targets.bin_size
    splits = {s: read_windows(windows_dir, s, genome=genome) for s in ("train", "valid", "test")}
    length = splits["test"][0][2] - splits["test"][0][1]
    n_bins = length // bs - 2 * crop_bins
    if n_bins <= 0:
        raise ValueError(f"crop_bins {crop_bins} leaves no bins of a {length}-bp window")
    seg = {
        s: split_segments(w, genome, bin_size=bs, n_bins=n_bins, crop_bins=crop_bins)
        for s, w in splits.items()
    }
    featurize = Featurizer(genome, targets, k=k, flank=flank, hash_bits=hash_bits)
    t0 = time.perf_counter()
    train = sample_segments(seg["train"], max_train_bins, seed)
    if peak_bins and "peaks" in targets.track_kinds:
        train += peak_segments(seg["train"], targets, peak_bins, seed + 2, train)
    x, y = featurize(train)
    xv, yv = featurize(sample_segments(seg["valid"], max_valid_bins, seed + 1))
    t1 = time.perf_counter()
    model = Baseline(targets.track_kinds).fit(x, y, xv, yv)
    t2 = time.perf_counter()
    log.info(
        "features %.1f s, fit %.1f s (%d train bins, %d features)",
        t1 - t0,
        t2 - t1,
        x.shape[0],
        x.shape[1],
    )
    metrics = TrackMetrics(targets.names, targets.track_kinds)
    n_test = 0
    for chunk in range(0, len(seg["test"]), 16):  # windows in scoring order, a few at a time
        xt, yt = featurize(seg["test"][chunk : chunk + 16])
        metrics.update(model.predict(xt)[None], yt[None])
        n_test += yt.shape[0]
    rows = metrics.compute()
    if noise_free_dir is not None:
        windows = [(genome.resolve(c), s, e) for c, s, e in splits["test"]]
        spans = scored_spans(windows, bin_size=bs, n_bins=n_bins, crop_bins=crop_bins)
        ceiling = noise_ceiling(
            targets, TargetStore(noise_free_dir), windows, spans, crop_bins=crop_bins
        )
        rows = add_ceiling(rows, ceiling)
    return {
        "tracks": rows,
        "summary": summarize(rows),
        "n_train_bins": int(x.shape[0]),
        "n_valid_bins": int(xv.shape[0]),
        "n_test_bins": n_test,
        "n_features": int(x.shape[1]),
        "chosen": model.chosen,
        "seconds": {"features_fit": round(t2 - t0, 1), "total": round(time.perf_counter() - t0, 1)},
    }


# ---------------------------------------------------------------- the table


def _f(v) -> str:
    return "n/a" if v is None or not np.isfinite(v) else f"{v:.3f}"


def table(baseline: list[dict], model: list[dict] | None) -> tuple[list[dict], str]:
    """One row per track (model, k-mer, ceiling) and the Markdown of the summary and rows."""
    theirs = {r["track"]: r for r in model or []}
    rows = []
    for b in baseline:
        m = theirs.get(b["track"], {})
        for metric in ("pearson",) if b["kind"] == "coverage" else ("auroc", "auprc"):
            ceiling = b.get(f"ceiling_{metric}", m.get(f"ceiling_{metric}"))
            if metric == "auprc":
                ceiling = None
            rows.append(
                {
                    "track": b["track"],
                    "metric": metric,
                    "model": m.get(metric),
                    "kmer": b[metric],
                    "ceiling": ceiling,
                    "chance": b.get("auprc_baseline") if metric == "auprc" else None,
                }
            )
    lines = [
        "| track | metric | model | k-mer baseline | noise ceiling | chance |",
        "|---|---|---|---|---|---|",
    ]
    for metric in dict.fromkeys(r["metric"] for r in rows):
        mine = [r for r in rows if r["metric"] == metric]
        for name, fn in (("mean", np.nanmean), ("median", np.nanmedian)):
            cells = []
            for key in ("model", "kmer", "ceiling", "chance"):
                values = np.array([np.nan if r[key] is None else r[key] for r in mine], float)
                cells.append(_f(fn(values)) if np.isfinite(values).any() else "n/a")
            lines.append(f"| **{name}** | {metric} | " + " | ".join(cells) + " |")
    lines.append("| | | | | | |")
    for r in rows:
        cells = [_f(r[key]) for key in ("model", "kmer", "ceiling", "chance")]
        lines.append(f"| {r['track']} | {r['metric']} | " + " | ".join(cells) + " |")
    return rows, "\n".join(lines)


# ---------------------------------------------------------------- --tiny


def _tiny(work: Path) -> dict:
    """A tiny simulated genome (3 x 240 kb) with its stores, plus a peaks track of the
    planted m0 sites (200 bp around each): what the workflow builds, in seconds."""
    from genomics.data.genome import GenomeStore, build_genome_store
    from genomics.data.targets import build_target_store
    from genomics.data.windows import build_windows
    from genomics.simulate import simulate

    sim = work / "sim"
    simulate(sim, seed=0, n_chroms=3, chrom_length=240_000, n_variants=10)
    peaks = []
    for line in (sim / "elements.bed").read_text().splitlines():
        chrom, start, end, name = line.split("\t")[:4]
        if name == "motif:m0":  # a 200-bp peak around each planted m0 site
            centre = (int(start) + int(end)) // 2
            peaks.append(f"{chrom}\t{centre - 100}\t{centre + 100}\n")
    (sim / "m0.bed").write_text("".join(peaks))
    table = (sim / "tracks.tsv").read_text().splitlines()
    extra = "m0_sites\tm0.bed\tpeaks\t\tplanted m0 sites as peaks"
    (sim / "tracks-peaks.tsv").write_text("\n".join([*table, extra]) + "\n")
    build_genome_store(sim / "genome.fa", work / "genome")
    genome = GenomeStore(work / "genome")
    build_target_store(genome, str(sim / "tracks-peaks.tsv"), work / "targets", bin_size=128)
    build_target_store(genome, str(sim / "clean.tsv"), work / "noise-free", bin_size=128)
    build_windows(
        genome,
        work / "windows",
        length=16384,
        stride=8192,
        bin_size=128,
        valid=["chr2"],
        test=["chr3"],
    )
    return {
        "genome_dir": work / "genome",
        "targets_dir": work / "targets",
        "windows_dir": work / "windows",
        "noise_free_dir": work / "noise-free",
    }


def main(argv=None) -> dict:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", type=Path, help="the workflow's config (windows.crop_bins)")
    p.add_argument("--genome", type=Path, default=Path("results/genome"))
    p.add_argument("--targets", type=Path, default=Path("results/targets"))
    p.add_argument("--windows", type=Path, default=Path("results/windows"))
    p.add_argument("--eval", type=Path, help="the model's metrics.json (genomics evaluate)")
    p.add_argument("--noise-free", type=Path, help="noise-free target store (the ceiling)")
    p.add_argument("--k", type=int, default=6, help="k-mer length")
    p.add_argument("--flank", type=int, default=512, help="bp either side of a bin counted")
    p.add_argument("--hash-bits", type=int, help="hash k-mers into 2^bits columns")
    p.add_argument("--max-train-bins", type=int, default=30_000)
    p.add_argument(
        "--peak-bins",
        type=int,
        default=30_000,
        help="add up to this many train bins that are a peak of some peak track",
    )
    p.add_argument("--max-valid-bins", type=int, default=10_000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", type=Path, help="write the table and summary here")
    p.add_argument("--tiny", action="store_true", help="a tiny simulated genome (seconds)")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format="%(message)s")
    log.setLevel(logging.INFO)

    from genomics.config import load_config

    cfg = load_config(args.config)
    where = {
        "genome_dir": args.genome,
        "targets_dir": args.targets,
        "windows_dir": args.windows,
        "noise_free_dir": args.noise_free,
    }
    tmp = None
    if args.tiny:
        tmp = tempfile.TemporaryDirectory()
        where = _tiny(Path(tmp.name))
        args.k, args.max_train_bins, args.peak_bins = 5, 2000, 500
    model_rows, model_summary = None, None
    if args.eval:
        doc = json.loads(args.eval.read_text())
        model_rows, model_summary = doc["tracks"], doc["summary"]
    res = run(
        **where,
        crop_bins=0 if args.tiny else cfg["windows"]["crop_bins"],
        k=args.k,
        flank=args.flank,
        hash_bits=args.hash_bits,
        max_train_bins=args.max_train_bins,
        peak_bins=args.peak_bins,
        max_valid_bins=args.max_valid_bins,
        seed=args.seed,
    )
    if model_rows:
        scored = {r["n_bins"] for r in model_rows}
        if scored != {res["n_test_bins"]}:
            log.warning(
                "WARNING: %s scored the model on %s bins, the baseline on %d: they are not "
                "the same bins; rerun genomics evaluate (it scores each bin once) with the "
                "same windows",
                args.eval,
                sorted(scored),
                res["n_test_bins"],
            )
    rows, text = table(res["tracks"], model_rows)
    print(
        f"k-mer baseline: k={args.k}, bin + {args.flank} bp either side, "
        f"{res['n_features']} features, {res['n_train_bins']} train bins "
        f"(valid {res['n_valid_bins']}: {res['chosen']}), {res['n_test_bins']} test bins, "
        f"{res['seconds']['total']} s; machine {platform.node()}"
    )
    print(text)
    if args.json:
        args.json.write_text(
            json.dumps(
                {"rows": rows, **res, "model_summary": model_summary, "args": vars(args)},
                indent=1,
                default=str,
            )
        )
    if tmp is not None:
        tmp.cleanup()
    return res


if __name__ == "__main__":
    main()
