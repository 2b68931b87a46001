"""bench/kmer_baseline.py: k-mer features by hand, and a planted motif it must find."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import numpy as np
import pytest

from conftest import planted_stores

BENCH = Path(__file__).resolve().parents[1] / "bench" / "kmer_baseline.py"


@pytest.fixture(scope="module")
def kb():
    spec = importlib.util.spec_from_file_location("kmer_baseline", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_kmer_columns_merge_reverse_complements(kb):
    columns, n = kb.kmer_columns(2)
    assert n == 10  # 16 2-mers, 6 palindromes-free pairs + 4 palindromes (AT, CG, GC, TA)
    code = {a + b: 4 * "ACGT".index(a) + "ACGT".index(b) for a in "ACGT" for b in "ACGT"}
    assert columns[code["AC"]] == columns[code["GT"]]
    assert columns[code["AA"]] == columns[code["TT"]] != columns[code["AC"]]
    assert len({columns[code[p]] for p in ("AT", "CG", "GC", "TA")}) == 4
    hashed, n_hashed = kb.kmer_columns(6, hash_bits=8)
    assert n_hashed == 256 and hashed.min() >= 0 and hashed.max() < 256
    with pytest.raises(ValueError, match="--k 13"):
        kb.kmer_columns(13)


def test_kmer_features_hand_counts(kb):
    # bins 1 and 0 of "AAAA CCCC NAAA GGGG", k = 2, bin size 4, 6 bp either side
    codes = np.array([0, 0, 0, 0, 1, 1, 1, 1, 4, 0, 0, 0, 2, 2, 2, 2], np.uint8)
    columns, n = kb.kmer_columns(2)
    x = kb.kmer_features(
        codes, np.array([1, 0]), bin_size=4, k=2, flank=6, columns=columns, n_columns=n
    ).toarray()
    assert x.shape == (2, 3 * n)
    aa, ac, cc, ag, gg = (columns[i] for i in (0, 1, 5, 2, 10))
    own, near, far = x[0, :n], x[0, n : 2 * n], x[0, 2 * n :]
    # k-mers starting at 4..7: CC CC CC C|N (N: not counted)
    assert own[cc] == 3 and own.sum() == 3
    # starting at 0..11: AA AA AA AC CC CC CC (CN, NA not counted) AA AA AG
    assert near[aa] == 5 and near[ac] == 1 and near[cc] == 3 and near[ag] == 1
    assert near.sum() == 10
    # starting at -2..13 (off the start: not counted): the above, GG GG (GG is CC's
    # reverse complement: one feature)
    assert gg == cc and far[cc] == 3 + 2 and far.sum() == 12
    # bin 0: 0..3 AA AA AA AC; -4..7 the same, CC CC CC
    assert x[1, aa] == 3 and x[1, ac] == 1 and x[1, :n].sum() == 4
    assert x[1, n + cc] == 3 and x[1, n : 2 * n].sum() == 7
    with pytest.raises(ValueError, match="--flank 2 must be at least the bin size 4"):
        kb.kmer_features(
            codes, np.array([1]), bin_size=4, k=2, flank=2, columns=columns, n_columns=n
        )


MOTIF = "TGACTCAGCATG"


def test_finds_a_planted_motif(kb, tmp_path):
    res = kb.run(
        **planted_stores(tmp_path, {"motif": MOTIF}),
        crop_bins=2,
        k=6,
        max_train_bins=1000,
        peak_bins=300,
    )
    (row,) = res["tracks"]
    assert row["track"] == "motif" and row["kind"] == "peaks"
    assert row["auroc"] > 0.9, row
    assert row["auprc"] > 5 * row["auprc_baseline"], row  # about 0.78 against 0.12
    # scored on the test split's bins as evaluate scores them: each once, crops left out
    n_windows = (200_000 - 8192) // 4096 + 1
    assert res["n_test_bins"] == (n_windows - 1) * 32 + 60
    # a sample of chr1's 1,532 bins, and its peak bins (about 240) the sample left out
    assert 1050 < res["n_train_bins"] < 1300
