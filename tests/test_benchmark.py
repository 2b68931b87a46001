"""genomics benchmark: correlations against scipy, bootstrap intervals, the join, selection."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pytest
from scipy.stats import pearsonr, spearmanr

from genomics.variants.benchmark import (
    bootstrap_values,
    correlations,
    run_benchmark,
    weighted_spearman,
)

from conftest import run_cli


def _scores(path, rows, columns):
    with gzip.open(path, "wt") as fh:
        fh.write("\t".join(["id", "chrom", "pos", "ref", "alt", *columns]) + "\n")
        for r in rows:
            fh.write("\t".join(map(str, r)) + "\n")
    return path


def _tsv(path, head, rows):
    path.write_text("\n".join("\t".join(map(str, r)) for r in [head, *rows]) + "\n")
    return path


def test_spearman_and_pearson_equal_scipy_and_interval_holds_them():
    rng = np.random.default_rng(0)
    x = rng.normal(size=300)
    y = x + rng.normal(size=300)
    x[:20] = 0.5  # ties
    got = correlations(x, y, n_boot=500)
    assert got["spearman"] == pytest.approx(spearmanr(x, y).statistic, abs=1e-12)
    assert got["pearson"] == pytest.approx(pearsonr(x, y).statistic, abs=1e-12)
    for name in ("spearman", "pearson"):
        assert got[f"{name}_lo"] < got[name] < got[f"{name}_hi"]
        assert got[f"{name}_hi"] - got[f"{name}_lo"] < 0.3
    assert weighted_spearman(x, y, np.full(300, 2.0)) == pytest.approx(got["spearman"])
    again = correlations(x, y, n_boot=500)
    assert again == got  # seeded


def _setup(tmp_path, n=120, seed=0):
    rng = np.random.default_rng(seed)
    truth = rng.normal(size=n)
    good = truth + 0.3 * rng.normal(size=n)
    neg = -truth + 0.1 * rng.normal(size=n)  # the best column, with its sign flipped
    noise = rng.normal(size=n)
    rows = [(f"v{i}", "chr1", 100 + i, "A", "G", good[i], neg[i], noise[i]) for i in range(n)]
    scores = _scores(tmp_path / "scores.tsv.gz", rows, ["t:sad", "t:l2", "u:sad"])
    split = ["train" if i % 2 else "test" for i in range(n)]
    measured_rows = [
        ("1", 100 + i, "a", "g", truth[i], "grp" + str(i % 3), split[i]) for i in range(n)
    ]
    measured_rows.append(("1", 5, "A", "C", 1.0, "grp0", "test"))  # not scored
    measured = _tsv(
        tmp_path / "m.tsv", ["chrom", "pos", "ref", "alt", "value", "group", "split"], measured_rows
    )
    return scores, measured, truth, good, neg


def test_named_score_column_alias_join_and_groups(tmp_path):
    scores, measured, truth, good, _ = _setup(tmp_path)
    res = run_benchmark(scores, measured, tmp_path / "out", score="t:sad", n_boot=100)
    assert (res["matched"], res["unmatched_measured"], res["unmatched_scores"]) == (120, 1, 0)
    overall = res["rows"][0]
    assert overall["group"] == "all" and overall["n"] == 120
    assert overall["spearman"] == pytest.approx(spearmanr(good, truth).statistic)
    groups = ["all", "mean over groups", "grp0", "grp1", "grp2"]
    assert [r["group"] for r in res["rows"]] == groups
    assert {p.name for p in (tmp_path / "out").iterdir()} >= {
        "spearman.tsv",
        "spearman.json",
        "scatter-all.png",
        "scatter-grp0.png",
    }
    assert json.loads((tmp_path / "out" / "spearman.json").read_text())["matched"] == 120


def test_select_on_train_picks_column_and_sign_reports_on_the_rest(tmp_path):
    scores, measured, truth, _, neg = _setup(tmp_path)
    res = run_benchmark(scores, measured, tmp_path / "out", select_on="train", n_boot=0, plot=False)
    assert (res["score"], res["sign"], res["selected_on"]) == ("t:l2", -1, "train")
    test = np.arange(120) % 2 == 0
    assert res["rows"][0]["n"] == 61 - 1  # the test rows that were scored
    assert res["rows"][0]["spearman"] == pytest.approx(spearmanr(-neg[test], truth[test]).statistic)


def _elements(tmp_path, n_per=60, seed=3):
    """Three CAGI5-like elements: column ``off:sad`` follows the elements' mean effects
    (best pooled, nothing within an element), ``in:sad`` follows effects within each
    element (weaker pooled, best per element)."""
    rng = np.random.default_rng(seed)
    names = ["E1", "E2", "TERT-GBM"]
    rows, measured, truth, inner = [], [], [], []
    for k, name in enumerate(names):
        effect = rng.normal(size=n_per)
        y = 5.0 * k + effect
        within = effect + (0.3 + 0.4 * k) * rng.normal(size=n_per)  # a different rho each
        for i in range(n_per):
            pos = 1000 * k + i + 1
            split = "train" if i % 3 == 0 else "test"
            rows.append((f"{name}{i}", "chrX", pos, "A", "G", 5.0 * k + 0.01 * i % 7, within[i]))
            measured.append(("X", pos, "A", "G", y[i], 0.1, name, split))
        truth.append(y)
        inner.append(within)
    scores = _scores(tmp_path / "s.tsv.gz", rows, ["off:sad", "in:sad"])
    head = ["chrom", "pos", "ref", "alt", "value", "confidence", "element", "split"]
    return scores, _tsv(tmp_path / "cagi.tsv", head, measured), names, truth, inner


def test_mean_over_elements_with_stratified_interval_and_selection(tmp_path):
    scores, measured, names, truth, inner = _elements(tmp_path)
    res = run_benchmark(scores, measured, tmp_path / "o", select_on="train", n_boot=200)
    # the pooled Spearman on train would pick off:sad; the mean over elements picks in:sad
    assert res["score"] == "in:sad" and res["sign"] == 1
    assert res["selected_by"] == "mean spearman over groups" and res["reported_on"] == "test"
    rows = {r["group"]: r for r in res["rows"]}
    assert [r["group"] for r in res["rows"]] == ["all", "mean over elements", *sorted(names)]
    test = np.arange(60) % 3 != 0
    per = {n: spearmanr(inner[k][test], truth[k][test]).statistic for k, n in enumerate(names)}
    for n in names:
        assert rows[n]["n"] == test.sum()
        assert rows[n]["spearman"] == pytest.approx(per[n])
    mean = rows["mean over elements"]
    assert mean["spearman"] == pytest.approx(np.mean(list(per.values())))
    assert mean["n_groups"] == 3 and mean["n"] == 3 * test.sum()
    # the stratified bootstrap: replicate i is the mean of each element's replicate i
    draws = []
    for k, n in enumerate(sorted(names)):
        i = names.index(n)
        rng = np.random.default_rng([0, k])
        x, y = inner[i][test], truth[i][test]
        draws.append(bootstrap_values(weighted_spearman, x, y, None, n_boot=200, rng=rng))
    lo, hi = np.percentile(np.mean(draws, axis=0), [2.5, 97.5])
    assert (mean["spearman_lo"], mean["spearman_hi"]) == pytest.approx((lo, hi))
    assert lo < mean["spearman"] < hi
    # the JSON's headline: the mean, all and each element, easy to read; TSV in one order
    body = json.loads((tmp_path / "o" / "spearman.json").read_text())
    assert body["mean_over_groups"]["spearman"] == pytest.approx(mean["spearman"])
    assert body["mean_spearman"] == pytest.approx(mean["spearman"])
    assert set(body["per_group"]) == set(names) and body["all"]["n"] == 3 * test.sum()
    tsv = (tmp_path / "o" / "spearman.tsv").read_text().splitlines()
    assert [line.split("\t")[2] for line in tsv[1:3]] == ["all", "mean over elements"]
    train_only = _tsv(
        tmp_path / "train.tsv",
        ["chrom", "pos", "ref", "alt", "value", "element", "split"],
        [("X", 1, "A", "G", 0.5, "E1", "train"), ("X", 2, "A", "G", 0.1, "E1", "train")],
    )
    with pytest.raises(ValueError, match="every matched variant is on that split"):
        run_benchmark(scores, train_only, tmp_path / "t", select_on="train")


def test_per_track_truth_with_auroc(tmp_path):
    rng = np.random.default_rng(1)
    n = 80
    effect = np.where(np.arange(n) % 2 == 0, 0.0, rng.normal(size=n))
    score = effect * 3 + 0.01 * rng.normal(size=n)
    rows = [(f"v{i}", "chr1", i + 1, "A", "C", score[i], -score[i]) for i in range(n)]
    scores = _scores(tmp_path / "s.tsv.gz", rows, ["expr:sad", "pk:logodds"])
    elements = ["background" if i % 4 else f"enhancer:m{i}" for i in range(n)]
    measured = _tsv(
        tmp_path / "effects.tsv",
        ["id", "chrom", "pos", "ref", "alt", "element", "expr", "pk"],
        [(f"v{i}", "chr1", i + 1, "A", "C", elements[i], effect[i], effect[i]) for i in range(n)],
    )
    res = run_benchmark(scores, measured, tmp_path / "o", stat="sad", n_boot=50, plot=False)
    by = {(r["track"], r["group"]): r for r in res["rows"]}
    assert set(by) == {(t, g) for t in ("expr", "pk") for g in ("all", "background", "enhancer")}
    assert by["expr", "all"]["n"] == n // 2 and by["expr", "all"]["n_null"] == n // 2
    assert by["expr", "all"]["spearman"] > 0.99 and by["expr", "all"]["auroc"] == 1.0
    assert by["pk", "all"]["spearman"] < -0.99 and by["pk", "all"]["score"] == "pk:logodds"


def test_per_track_default_stat_is_log2fc(tmp_path):
    """The simulator's truth is a log2 ratio of summed signal: by default each track is
    compared with its log2fc column, not SAD; a table without the asked stat is a clear
    error, not a silently dropped track."""
    rng = np.random.default_rng(2)
    n = 60
    effect = np.where(np.arange(n) % 3 == 0, 0.0, rng.normal(size=n))
    base = rng.uniform(1, 100, size=n)  # reference signal: SAD = base * ratio - base
    sad = base * (2.0**effect - 1)
    rows = [(f"v{i}", "chr1", i + 1, "A", "C", sad[i], effect[i]) for i in range(n)]
    scores = _scores(tmp_path / "s.tsv.gz", rows, ["expr:sad", "expr:log2fc"])
    measured = _tsv(
        tmp_path / "effects.tsv",
        ["id", "chrom", "pos", "ref", "alt", "expr"],
        [(f"v{i}", "chr1", i + 1, "A", "C", effect[i]) for i in range(n)],
    )
    res = run_benchmark(scores, measured, tmp_path / "o", n_boot=0, plot=False)
    assert res["rows"][0]["score"] == "expr:log2fc"
    assert res["rows"][0]["spearman"] == pytest.approx(1.0)
    by_sad = run_benchmark(scores, measured, tmp_path / "p", stat="sad", n_boot=0, plot=False)
    assert by_sad["rows"][0]["score"] == "expr:sad" and by_sad["rows"][0]["spearman"] < 0.99
    only_sad = _scores(tmp_path / "t.tsv.gz", [r[:6] for r in rows], ["expr:sad"])
    with pytest.raises(ValueError, match=r"no column expr:log2fc .*one of sad"):
        run_benchmark(only_sad, measured, tmp_path / "q", n_boot=0, plot=False)


def test_bad_tables_one_line_errors(tmp_path):
    scores, measured, *_ = _setup(tmp_path)
    bad = _tsv(tmp_path / "bad.tsv", ["chrom", "pos", "ref", "value"], [("1", 100, "A", 1)])
    with pytest.raises(ValueError, match="no column 'alt'"):
        run_benchmark(scores, bad, tmp_path / "o")
    with pytest.raises(ValueError, match="name the score column"):
        run_benchmark(scores, measured, tmp_path / "o")
    with pytest.raises(ValueError, match="'nope' is not in the scores table"):
        run_benchmark(scores, measured, tmp_path / "o", score="nope")
    code, err = run_cli(
        tmp_path,
        ["benchmark", "--scores", str(scores), "--measured", str(bad), "--out", "o"],
    )
    assert code == 2 and err.count("\n") == 1 and "no column 'alt'" in err
    code, _ = run_cli(
        tmp_path,
        ["benchmark", "--scores", str(scores), "--measured", str(measured), "--out", "o2"]
        + ["--score", "t:sad", "--set", "benchmark.n_boot=20"],
    )
    assert code == 0 and (tmp_path / "o2" / "spearman.tsv").is_file()
