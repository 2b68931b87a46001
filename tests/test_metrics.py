import json
import logging
import math

import numpy as np
import pytest
import torch
from matplotlib.figure import Figure
from scipy.special import logit
from scipy.stats import spearmanr
from sklearn.metrics import average_precision_score, roc_auc_score

from genomics.evaluate import (
    COLUMNS,
    TrackMetrics,
    pearson_r,
    plot_kind_bars,
    plot_metric_bars,
    plot_scatter,
    plot_tracks,
    read_metrics_tsv,
    save_figure,
    summarize,
    write_metrics,
)

LOGGER = "genomics.inference.metrics"


def run(pred, target, names, kinds, **kw):
    m = TrackMetrics(names, kinds, **kw)
    m.update(pred, target)
    return m.compute()


def col(x):
    """A 1-D sequence as one track of one window: shape (1, l, 1)."""
    return np.asarray(x, dtype=np.float64)[None, :, None]


def toy(n_bins=600, seed=0):
    """Flat (n_bins, 3) predictions and targets: two coverage tracks and one peaks track."""
    rng = np.random.default_rng(seed)
    target = rng.gamma(2.0, 2.0, size=(n_bins, 3))
    pred = target + rng.normal(0, 2.0, size=(n_bins, 3))
    target[:, 2] = rng.random(n_bins)  # peak fractions
    pred[:, 2] = 3 * (target[:, 2] - 0.5) + rng.normal(0, 1.0, n_bins)  # logits
    return pred, target, ["a", "b", "p"], ["coverage", "coverage", "peaks"]


def same(rows1, rows2, tol=0.0):
    assert len(rows1) == len(rows2)
    for r1, r2 in zip(rows1, rows2, strict=True):
        assert r1.keys() == r2.keys()
        for k, v in r1.items():
            if isinstance(v, float):
                assert v == pytest.approx(r2[k], abs=tol, nan_ok=True), (r1["track"], k)
            else:
                assert v == r2[k]


# --- hand-computed values -------------------------------------------------------------


def test_pearson_spearman_hand_values():
    # x = [1, 2, 3], y = [1, 2, 4]: sxy = 3, sxx = 2, syy = 14/3 -> r = sqrt(27/28)
    (row,) = run(col([1, 2, 3]), col([1, 2, 4]), ["t"], ["coverage"])
    assert row["pearson"] == pytest.approx(math.sqrt(27 / 28), abs=1e-14)
    assert row["n_bins"] == 3
    assert row["pred_mean"] == pytest.approx(2.0)
    assert row["target_mean"] == pytest.approx(7 / 3)
    # ranks [1 2 3 4] vs [1 3 2 4]: sum d^2 = 2 -> rho = 1 - 6 * 2 / (4 * 15) = 0.8
    (row,) = run(col([1, 2, 3, 4]), col([10, 30, 20, 40]), ["t"], ["coverage"])
    assert row["spearman"] == pytest.approx(0.8, abs=1e-14)
    assert pearson_r([1, 2, 3], [1, 2, 4]) == pytest.approx(math.sqrt(27 / 28), abs=1e-14)


def test_pearson_log1p_clips_pred_at_zero():
    e = math.e
    target = [0.0, e**2 - 1, e**4 - 1]  # log1p -> 0, 2, 4
    pred = [-5.0, e - 1, e**2 - 1]  # clipped, log1p -> 0, 1, 2
    (row,) = run(col(pred), col(target), ["t"], ["coverage"])
    assert row["pearson_log1p"] == pytest.approx(1.0, abs=1e-12)
    assert row["pearson"] < 0.999  # the raw values are not linear


def test_perfect_and_negated_prediction():
    x = np.random.default_rng(1).gamma(2.0, size=(2, 50, 1))
    (row,) = run(x, x, ["t"], ["coverage"])
    assert row["pearson"] == pytest.approx(1.0, abs=1e-12)
    assert row["pearson_log1p"] == pytest.approx(1.0, abs=1e-12)
    assert row["spearman"] == pytest.approx(1.0, abs=1e-12)
    (row,) = run(-x, x, ["t"], ["coverage"])
    assert row["pearson"] == pytest.approx(-1.0, abs=1e-12)
    assert row["spearman"] == pytest.approx(-1.0, abs=1e-12)


def test_auroc_auprc_hand_values():
    labels = [0.0, 0.0, 1.0, 1.0]
    (row,) = run(col([-2, -1, 1, 2]), col(labels), ["p"], ["peaks"])
    assert (row["auroc"], row["auprc"]) == (1.0, 1.0)
    (row,) = run(col([2, 1, -1, -2]), col(labels), ["p"], ["peaks"])
    assert row["auroc"] == 0.0
    # scores 0.1 0.4 0.35 0.8, labels 0 0 1 1: 3 of 4 pairs ordered -> 0.75;
    # AP = 0.5 * 1 (at 0.8) + 0.5 * 2/3 (at 0.35) = 5/6
    (row,) = run(col(logit([0.1, 0.4, 0.35, 0.8])), col(labels), ["p"], ["peaks"])
    assert row["auroc"] == pytest.approx(0.75)
    assert row["auprc"] == pytest.approx(5 / 6)


def test_peaks_fractions_threshold_and_sigmoid_pearson():
    target = [0.2, 0.5, 0.8]  # only 0.8 > 0.5 is a peak
    (row,) = run(col(logit(target)), col(target), ["p"], ["peaks"])
    assert row["pearson"] == pytest.approx(1.0, abs=1e-12)  # sigmoid(logit(t)) = t
    assert row["pred_mean"] == pytest.approx(0.5)  # on the probability scale
    assert row["auroc"] == 1.0
    assert set(row) == {*COLUMNS[:6], "auroc", "auprc", "auprc_baseline"}
    assert row["auprc_baseline"] == pytest.approx(1 / 3)  # one peak bin in three


def test_auroc_auprc_equal_sklearn_on_random_case():
    rng = np.random.default_rng(7)
    target = (rng.random((3, 40, 2)) < 0.3).astype(np.float64)
    pred = rng.normal(size=(3, 40, 2)) + target
    rows = run(pred, target, ["p1", "p2"], ["peaks", "peaks"])
    for i, row in enumerate(rows):
        y, s = target[..., i].ravel(), pred[..., i].ravel()
        assert row["auroc"] == pytest.approx(roc_auc_score(y, s), abs=1e-14)
        assert row["auprc"] == pytest.approx(average_precision_score(y, s), abs=1e-14)
        assert row["auprc_baseline"] == pytest.approx(y.mean(), abs=1e-14)


def test_auprc_baseline_is_what_a_random_ranking_gets():
    rng = np.random.default_rng(3)
    target = (rng.random((4, 5000, 1)) < 0.02).astype(np.float64)  # 2% of bins are peaks
    (row,) = run(rng.normal(size=target.shape), target, ["p"], ["peaks"])
    assert row["auprc_baseline"] == pytest.approx(target.mean())
    assert row["auprc"] == pytest.approx(row["auprc_baseline"], abs=0.01)
    summary = summarize([row, {"track": "c", "kind": "coverage", "pearson": 0.5}])
    assert summary["auprc_baseline"] == row["auprc_baseline"]
    assert summary["auprc_baseline_n"] == 1


# --- streaming and invariance ---------------------------------------------------------


@pytest.mark.parametrize("offset", [0.0, 1e6])
@pytest.mark.parametrize("n_chunks", [1, 3, 17])
def test_streaming_equals_batch(offset, n_chunks):
    rng = np.random.default_rng(3)
    noise = rng.normal(size=(34, 20, 2))
    target = offset + 1e-3 * noise
    pred = offset + 1e-3 * (noise + rng.normal(size=noise.shape))
    m = TrackMetrics(["a", "b"], ["coverage", "coverage"])
    for p, t in zip(np.array_split(pred, n_chunks), np.array_split(target, n_chunks), strict=True):
        m.update(p, t)
    rows = m.compute()
    for i, row in enumerate(rows):
        expected = np.corrcoef(pred[..., i].ravel(), target[..., i].ravel())[0, 1]
        assert abs(row["pearson"] - expected) < 1e-10
        assert row["pearson"] > 0.5  # a naive sum-of-squares would lose it at 1e6
        assert row["target_mean"] == pytest.approx(target[..., i].mean(), rel=1e-14)
    # cutting along l instead of b gives the same answer
    m2 = TrackMetrics(["a", "b"], ["coverage", "coverage"])
    for p, t in zip(
        np.array_split(pred, n_chunks, axis=1),
        np.array_split(target, n_chunks, axis=1),
        strict=True,
    ):
        m2.update(p, t)
    for r1, r2 in zip(rows, m2.compute(), strict=True):
        assert abs(r1["pearson"] - r2["pearson"]) < 1e-10


@pytest.mark.parametrize("cap", [2_000_000, 100])
def test_batch_shape_invariance(cap):
    pred, target, names, kinds = toy(600)
    rows = {}
    for b, length in [(1, 600), (600, 1), (12, 50), (25, 24)]:
        rows[b] = run(
            pred.reshape(b, length, 3),
            target.reshape(b, length, 3),
            names,
            kinds,
            max_rank_values=cap,
        )
    for b in rows:
        same(rows[1], rows[b], tol=1e-12)


def test_rank_subsample_cap():
    pred, target, names, kinds = toy(20_000)
    full = run(pred[None], target[None], names, kinds)
    sub = run(pred[None], target[None], names, kinds, max_rank_values=2_000)
    again = TrackMetrics(names, kinds, max_rank_values=2_000)
    for p, t in zip(np.array_split(pred, 37), np.array_split(target, 37), strict=True):
        again.update(p[None], t[None])
    chunked = again.compute()
    same(sub, chunked, tol=1e-12)  # deterministic, and the same however the stream is cut
    for s, c in zip(sub, chunked, strict=True):
        for k in ("spearman", "auroc", "auprc"):
            assert s.get(k) == c.get(k)  # the very same subsample
    for f, s in zip(full, sub, strict=True):
        assert s["n_bins"] == 20_000
        assert s["pearson"] == pytest.approx(f["pearson"], abs=1e-12)  # always every bin
        for k in ("spearman", "auroc", "auprc"):
            if k in f:
                assert s[k] == pytest.approx(f[k], abs=0.05)
    assert full[0]["spearman"] == pytest.approx(
        spearmanr(pred[:, 0], target[:, 0]).statistic, abs=1e-14
    )
    other_seed = run(pred[None], target[None], names, kinds, max_rank_values=2_000, seed=1)
    assert other_seed[0]["spearman"] != sub[0]["spearman"]


def test_compute_does_not_end_the_stream():
    pred, target, names, kinds = toy(300)
    m = TrackMetrics(names, kinds, max_rank_values=50)
    m.update(pred[None, :100], target[None, :100])
    m.compute()
    m.update(pred[None, 100:], target[None, 100:])
    same(m.compute(), run(pred[None], target[None], names, kinds, max_rank_values=50), tol=1e-12)


def test_torch_bf16_and_float16_input():
    pred, target, names, kinds = toy(256)
    p16 = torch.from_numpy(pred).to(torch.bfloat16)
    t16 = torch.from_numpy(target).to(torch.bfloat16)
    rows = run(p16.reshape(4, 64, 3), t16.reshape(4, 64, 3), names, kinds)
    expected = run(
        p16.double().numpy().reshape(4, 64, 3), t16.double().numpy().reshape(4, 64, 3), names, kinds
    )
    same(rows, expected)
    assert rows[0]["pearson"] == pytest.approx(
        run(pred[None], target[None], names, kinds)[0]["pearson"], abs=0.01
    )
    rows = run(pred[None].astype(np.float16), target[None].astype(np.float16), names, kinds)
    assert all(np.isfinite(r["pearson"]) for r in rows)


# --- undefined metrics ----------------------------------------------------------------


def test_constant_target_gives_nan_and_one_warning(caplog):
    pred, target, names, kinds = toy(200)
    target[:, 1] = 0.1  # the mean of many 0.1 is not exactly 0.1: must still be NaN
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        rows = run(pred[None], target[None], names, kinds)
    for k in ("pearson", "pearson_log1p", "spearman"):
        assert math.isnan(rows[1][k])
        assert not math.isnan(rows[0][k])
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1
    assert "'b'" in warnings[0].getMessage() and "constant" in warnings[0].getMessage()


def test_constant_prediction_gives_nan(caplog):
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        (row,) = run(col([3, 3, 3, 3]), col([1, 2, 3, 4]), ["flat"], ["coverage"])
    assert math.isnan(row["pearson"]) and math.isnan(row["spearman"])
    assert row["pred_mean"] == 3.0
    assert len(caplog.records) == 1 and "flat" in caplog.records[0].getMessage()


def test_one_class_peaks_gives_nan(caplog):
    target = [0.1, 0.2, 0.3, 0.4]  # fractions, all <= 0.5: no peaks
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        (row,) = run(col([-1, 0, 1, 2]), col(target), ["nopeaks"], ["peaks"])
    assert math.isnan(row["auroc"]) and math.isnan(row["auprc"])
    # no chance level either, so a summary pairs AUPRC and chance over the same tracks
    assert math.isnan(row["auprc_baseline"])
    assert row["pearson"] > 0.9  # still defined: the fractions vary
    assert len(caplog.records) == 1
    assert "nopeaks" in caplog.records[0].getMessage()
    assert "one class" in caplog.records[0].getMessage()


def test_no_bins_gives_nan_rows(caplog):
    m = TrackMetrics(["a"], ["peaks"])
    m.update(np.zeros((0, 5, 1)), np.zeros((0, 5, 1)))
    with caplog.at_level(logging.WARNING, logger=LOGGER):
        (row,) = m.compute()
    assert row["n_bins"] == 0 and math.isnan(row["auroc"])
    assert len(caplog.records) == 1


def test_summarize_ignores_nan_and_counts():
    rows = [
        {"track": "a", "kind": "coverage", "pearson": 0.5, "spearman": 0.4},
        {"track": "b", "kind": "coverage", "pearson": float("nan"), "spearman": 0.2},
        {"track": "p", "kind": "peaks", "pearson": 0.7, "auroc": 0.9, "auprc": float("nan")},
    ]
    s = summarize(rows)
    assert (s["n_tracks"], s["n_coverage"], s["n_peaks"]) == (3, 2, 1)
    # coverage r and peak r are never averaged together
    assert s["pearson"] == 0.5 and s["pearson_n"] == 1
    assert s["pearson_peaks"] == 0.7 and s["pearson_peaks_n"] == 1
    assert s["spearman"] == pytest.approx(0.3) and s["spearman_n"] == 2
    assert s["auroc"] == 0.9 and s["auroc_n"] == 1
    assert math.isnan(s["auprc"]) and s["auprc_n"] == 0
    assert "pearson_log1p" not in s


# --- error paths ----------------------------------------------------------------------


def test_input_errors():
    m = TrackMetrics(["a", "b"], ["coverage", "peaks"])
    with pytest.raises(ValueError, match=r"pred shape \(1, 4, 2\) does not match target shape"):
        m.update(np.zeros((1, 4, 2)), np.zeros((1, 5, 2)))
    with pytest.raises(ValueError, match="3 tracks .* but 2 names"):
        m.update(np.zeros((1, 4, 3)), np.zeros((1, 4, 3)))
    with pytest.raises(ValueError, match=r"shape \(b, l, t\)"):
        m.update(np.zeros((4, 2)), np.zeros((4, 2)))
    bad = np.zeros((1, 4, 2))
    bad[0, 1, 1] = np.nan
    with pytest.raises(ValueError, match=r"pred has NaN or infinite values in tracks \['b'\]"):
        m.update(bad, np.zeros((1, 4, 2)))
    assert m.n_bins == 0  # nothing half-added


def test_constructor_errors():
    with pytest.raises(ValueError, match=r"kinds\[1\] = 'signal' \(track 'b'\) is not one of"):
        TrackMetrics(["a", "b"], ["coverage", "signal"])
    with pytest.raises(ValueError, match="2 names but 1 kinds"):
        TrackMetrics(["a", "b"], ["coverage"])
    with pytest.raises(ValueError, match="'a' appears more than once"):
        TrackMetrics(["a", "a"], ["coverage", "coverage"])
    with pytest.raises(ValueError, match="max_rank_values must be >= 1, got 0"):
        TrackMetrics(["a"], ["coverage"], max_rank_values=0)


# --- figures and writer ---------------------------------------------------------------


def test_plot_tracks_axes():
    pred, target, names, kinds = toy(64)
    fig = plot_tracks(pred, target, names, title="w", start=1000, chrom="chr1", kinds=kinds)
    assert isinstance(fig, Figure) and len(fig.axes) == 3
    assert fig.axes[-1].get_xlim() == (1000, 1000 + 64 * 128)
    # peaks predictions are logits, drawn as probabilities
    drawn = max(a.get_ylim()[1] for a in [fig.axes[2]])
    assert drawn <= 1.05, drawn
    many = np.random.default_rng(0).random((32, 20))
    fig = plot_tracks(many, many, [f"t{i}" for i in range(20)], title="w")
    assert len(fig.axes) == 16
    assert fig.get_suptitle() == "w   (first 16 of 20 tracks)"
    with pytest.raises(ValueError, match="3 tracks but 2 names"):
        plot_tracks(pred, target, names[:2])


def test_plot_metric_bars_and_scatter():
    rows = [
        {"track": "a", "kind": "coverage", "pearson": 0.5},
        {"track": "b", "kind": "coverage", "pearson": float("nan")},
        {"track": "c", "kind": "coverage", "pearson": 0.8},
    ]
    fig = plot_metric_bars(rows, "pearson")
    assert isinstance(fig, Figure) and len(fig.axes) == 1
    labels = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert labels == ["c", "a", "b (nan)"]  # sorted, NaN last
    with pytest.raises(ValueError, match="no row has metric 'auroc'"):
        plot_metric_bars(rows, "auroc")

    pred, target, _, _ = toy(500)
    fig = plot_scatter(pred[:, 0], target[:, 0], "a")
    assert isinstance(fig, Figure) and len(fig.axes) == 2  # hexbin and colour bar
    assert f"r = {pearson_r(pred[:, 0], target[:, 0]):.3f}" in fig.axes[0].get_title()
    assert len(plot_scatter(pred[:, 2], target[:, 2], "p", kind="peaks").axes) == 2
    with pytest.raises(ValueError, match="kind must be"):
        plot_scatter(pred[:, 0], target[:, 0], "a", kind="bigwig")


def test_kind_bars_never_mix_kinds_and_show_chance():
    rows = [
        {"track": "a", "kind": "coverage", "pearson": 0.5},
        {"track": "p", "kind": "peaks", "pearson": 0.9, "auprc": 0.3, "auprc_baseline": 0.1},
        {"track": "q", "kind": "peaks", "pearson": 0.1, "auprc": 0.2, "auprc_baseline": 0.25},
    ]
    fig = plot_kind_bars(rows)
    cov, peaks = fig.axes
    assert [t.get_text() for t in cov.get_xticklabels()] == ["a"]  # no peak track's r
    assert cov.get_ylabel() == "Pearson r, binned coverage"
    assert [t.get_text() for t in peaks.get_xticklabels()] == ["p", "q"]
    assert [b.get_height() for b in peaks.patches] == [0.3, 0.2]
    chance = peaks.collections[0].get_offsets()[:, 1].tolist()
    assert chance == [0.1, 0.25]  # q is below chance, and the figure shows it
    assert len(plot_kind_bars(rows[:1]).axes) == 1
    with pytest.raises(ValueError, match="no coverage or peaks rows"):
        plot_kind_bars([])


def test_save_figure_writes_png_atomically(tmp_path):
    fig = plot_metric_bars([{"track": "a", "pearson": 0.5}], "pearson")
    out = save_figure(fig, tmp_path / "figs" / "bars.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in (tmp_path / "figs").iterdir()] == ["bars.png"]
    with pytest.raises(ValueError, match="suffix must be one of"):
        save_figure(fig, tmp_path / "bars.jpeg")


def test_write_metrics_round_trip(tmp_path):
    pred, target, names, kinds = toy(200)
    target[:, 1] = 0.0  # NaN metrics for track b
    rows = run(pred[None], target[None], names, kinds)
    summary = summarize(rows)
    tsv, js = write_metrics(rows, summary, tmp_path / "out")
    assert (tsv.name, js.name) == ("metrics.tsv", "metrics.json")
    lines = tsv.read_text().splitlines()
    assert lines[0].split("\t") == list(COLUMNS)
    assert lines[2].split("\t")[5] == "nan"  # b's pearson
    assert lines[3].split("\t")[6] == ""  # a peaks track has no pearson_log1p
    back = read_metrics_tsv(tsv)
    same(rows, back)

    def no_nan(token):
        raise AssertionError(f"strict JSON has no {token}")

    doc = json.loads(js.read_text(), parse_constant=no_nan)
    assert doc["tracks"][0] == rows[0]
    assert doc["tracks"][1]["pearson"] is None
    assert doc["summary"]["pearson"] == pytest.approx(summary["pearson"])
    assert sorted(p.name for p in tsv.parent.iterdir()) == ["metrics.json", "metrics.tsv"]
    write_metrics(rows, summary, tmp_path / "out", prefix="valid")
    assert (tmp_path / "out" / "valid.tsv").is_file()
    with pytest.raises(ValueError, match="prefix"):
        write_metrics(rows, summary, tmp_path, prefix="a/b")
