"""CAGI5 k-mer baseline: what sequence words alone predict of saturation-mutagenesis effects.

Each SNV becomes the change it makes to the k-mer counts of its element (alt minus ref
over the k k-mers that overlap it, read from the element FASTA: ``4**k`` features, at most
``2k`` of them non-zero); a ridge regression (scikit-learn ``Ridge``, its penalty chosen
by 5-fold cross-validation within the train rows, on the mean Spearman over elements) is
fitted on the table's ``train`` split and scored on ``test``: Spearman per element and their mean over elements, with the bootstrap intervals
``genomics benchmark`` reports (:func:`genomics.variants.benchmark.grouped_correlations`:
percentile 95% intervals, each element resampled within itself for the mean). The model's
figure (``genomics benchmark --select-on train`` on the same table) is read against it.

    python bench/cagi5_kmer.py                 # ../shared/data/cagi5, k = 6 (seconds)
    python bench/cagi5_kmer.py --k 4
    python bench/cagi5_kmer.py --tiny          # synthetic elements with planted motifs
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DATA = HERE.parent.parent / "shared" / "data" / "cagi5"
TABLE = "cagi5_saturation_mutagenesis_hg19.tsv"
FASTA = "cagi5_elements_hg19.fa"


def kmer_delta(codes: np.ndarray, offset: int, alt: int, k: int) -> dict[int, int]:
    """Alt minus ref counts of the k-mers of ``codes`` that overlap base ``offset``.

    Parameters
    ----------
    codes : np.ndarray, shape (l,), uint8 (A=0 C=1 G=2 T=3 N=4); the element.
    offset : the SNV's base in ``codes``; ``alt`` its new code.

    Returns
    -------
    dict k-mer index (base-4 number of the k-mer) -> count change; k-mers holding an N or
    running past the element's ends are left out.
    """
    lo, hi = max(0, offset - k + 1), min(codes.size, offset + k)
    ref = codes[lo:hi].astype(np.int64)
    alt_win = ref.copy()
    alt_win[offset - lo] = alt
    delta: dict[int, int] = {}
    for win, sign in ((ref, -1), (alt_win, 1)):
        for s in range(win.size - k + 1):
            word = win[s : s + k]
            if (word > 3).any():
                continue
            idx = int(np.dot(word, 4 ** np.arange(k - 1, -1, -1)))
            delta[idx] = delta.get(idx, 0) + sign
    return {i: d for i, d in delta.items() if d}


def features(table: dict, context, k: int):
    """(sparse (n, 4**k) feature matrix, mask of rows inside an element with their REF)."""
    from scipy.sparse import csr_matrix

    from genomics.data.encoding import encode
    from genomics.variants.vcf import zero_based

    rows, cols, vals = [], [], []
    ok = np.zeros(len(table["chrom"]), bool)
    for i, (chrom, pos, ref, alt) in enumerate(
        zip(table["chrom"], table["pos"], table["ref"], table["alt"], strict=True)
    ):
        p = zero_based(pos)
        rec = context.locate(chrom, p, 1)
        if rec is None or len(ref) != 1 or len(alt) != 1:
            continue
        if rec.codes[p - rec.start] != encode(ref)[0]:
            continue
        ok[i] = True
        for j, d in kmer_delta(rec.codes, p - rec.start, int(encode(alt)[0]), k).items():
            rows.append(i)
            cols.append(j)
            vals.append(d)
    x = csr_matrix((vals, (rows, cols)), shape=(len(ok), 4**k), dtype=np.float64)
    return x, ok


def _choose_alpha(x, y, groups, *, seed: int) -> tuple[float, float]:
    """The ridge penalty whose 5-fold cross-validated predictions on these (train) rows
    have the best mean Spearman over elements: (alpha, that Spearman)."""
    from sklearn.linear_model import Ridge
    from sklearn.model_selection import KFold

    from genomics.variants.benchmark import grouped_correlations

    folds = list(KFold(5, shuffle=True, random_state=seed).split(y))
    best = (np.nan, -np.inf)
    for alpha in np.logspace(-1, 4, 11):
        pred = np.empty_like(y)
        for fit, held in folds:
            pred[held] = Ridge(alpha=alpha).fit(x[fit], y[fit]).predict(x[held])
        rows = grouped_correlations(pred, y, groups, n_boot=0)
        rho = rows[1]["spearman"] if len(rows) > 1 else rows[0]["spearman"]
        if rho > best[1]:
            best = (float(alpha), float(rho))
    return best


def run(table_path: Path, fasta_path: Path, *, k: int, n_boot: int, seed: int) -> dict:
    from sklearn.linear_model import Ridge

    from genomics.variants.benchmark import grouped_correlations, read_table
    from genomics.variants.context import Context

    t0 = time.perf_counter()
    table = read_table(table_path, required=("chrom", "pos", "ref", "alt", "value", "split"))
    context = Context.from_fasta(fasta_path)
    x, ok = features(table, context, k)
    y = np.array(table["value"], np.float64)
    split = np.array(table["split"], dtype=object)
    groups = np.array(table.get("element", table.get("group", ["all"] * y.size)), dtype=object)
    train, test = ok & (split == "train"), ok & (split == "test")
    alpha, cv_rho = _choose_alpha(x[train], y[train], groups[train], seed=seed)
    pred = Ridge(alpha=alpha).fit(x[train], y[train]).predict(x)
    rows = grouped_correlations(
        pred[test], y[test], groups[test], n_boot=n_boot, seed=seed,
        mean_label="mean over elements",
    )  # fmt: skip
    return {
        "rows": rows,
        "cv_mean": cv_rho,
        "alpha": alpha,
        "n_train": int(train.sum()),
        "n_test": int(test.sum()),
        "skipped": int((~ok).sum()),
        "seconds": time.perf_counter() - t0,
    }


def _tiny_data(folder: Path, seed: int = 0) -> tuple[Path, Path]:
    """Six 120-bp elements with a planted motif in each; every SNV; the measured effect is
    minus the motif's PWM-like match lost, plus noise; a quarter of the SNVs are train."""
    rng = np.random.default_rng(seed)
    motif = "TGACTCA"
    fasta, lines = [], ["chrom\tpos\tref\talt\tvalue\tconfidence\telement\tsplit"]
    for e in range(6):
        seq = list(rng.choice(list("ACGT"), 120))
        for at in (30, 75):
            seq[at : at + len(motif)] = motif
        seq = "".join(seq)
        chrom, start = f"chr{e + 1}", 1000 * (e + 1)
        fasta += [f">E{e} {chrom}:{start + 1}-{start + 120} tiny", seq]
        for i, base in enumerate(seq):
            in_motif = any(at <= i < at + len(motif) for at in (30, 75))
            for alt in "ACGT":
                if alt == base:
                    continue
                value = (-1.0 if in_motif else 0.0) + 0.3 * rng.normal()
                split = "train" if rng.random() < 0.25 else "test"
                lines.append(
                    f"{chrom}\t{start + i + 1}\t{base}\t{alt}\t{value:.3f}\t0\tE{e}\t{split}"
                )
    (folder / FASTA).write_text("\n".join(fasta) + "\n")
    (folder / TABLE).write_text("\n".join(lines) + "\n")
    return folder / TABLE, folder / FASTA


def _fmt(r: dict) -> str:
    return f"{r['spearman']:.3f} [{r['spearman_lo']:.3f}, {r['spearman_hi']:.3f}]"


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--table", type=Path, default=DATA / TABLE, help="CAGI5 table (TSV)")
    p.add_argument("--fasta", type=Path, default=DATA / FASTA, help="element FASTA")
    p.add_argument("--k", type=int, default=6, help="k-mer length")
    p.add_argument("--n-boot", type=int, default=1000, help="bootstrap resamples")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--tiny", action="store_true", help="synthetic elements (seconds)")
    args = p.parse_args(argv)
    with tempfile.TemporaryDirectory() as tmp:
        if args.tiny:
            args.table, args.fasta = _tiny_data(Path(tmp))
            args.n_boot = min(args.n_boot, 200)
        elif not args.table.is_file():
            print(f"error: {args.table} not found (the CAGI5 data, ../shared/data/cagi5)")
            return 2
        res = run(args.table, args.fasta, k=args.k, n_boot=args.n_boot, seed=args.seed)
    rows = res["rows"]
    print(f"# CAGI5 k-mer baseline: k = {args.k}, ridge alpha {res['alpha']:g}")
    print(f"{args.table}")
    print(
        f"train {res['n_train']} SNVs (alpha chosen by 5-fold CV there: mean Spearman over "
        f"elements {res['cv_mean']:.3f}), test {res['n_test']}, skipped {res['skipped']}; "
        f"{res['seconds']:.1f} s\n"
    )
    print("| element (test split) | n | Spearman [95% CI] |\n|---|---|---|")
    for r in rows:
        name = {"all": "all, pooled"}.get(r["group"], r["group"])
        bold = "**" if r["group"] == "mean over elements" else ""
        print(f"| {bold}{name}{bold} | {r['n']} | {bold}{_fmt(r)}{bold} |")
    mean = next((r for r in rows if r["group"] == "mean over elements"), rows[0])
    print(
        f"\nmean over elements (test split): Spearman {_fmt(mean)}, "
        f"{mean.get('n_groups', 1)} elements"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
