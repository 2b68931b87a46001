"""Evaluation scores each bin once, and the noise ceiling from the simulator's noise-free
signal: scored_spans, evaluate_dataset(spans=...), noise_ceiling, add_ceiling and
`genomics evaluate --noise-free` end to end."""

from __future__ import annotations

import copy
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import yaml

from genomics.data.dataset import WindowDataset
from genomics.data.genome import GenomeStore
from genomics.data.targets import TargetStore, build_target_store
from genomics.data.windows import read_windows
from genomics.inference.metrics import add_ceiling, pearson_r, summarize
from genomics.inference.scoring import (
    check_noise_free,
    evaluate_dataset,
    noise_ceiling,
    scored_spans,
)

from conftest import run_cli

BIN = 128

# ---------------------------------------------------------------- scored_spans


def test_scored_spans_hand_values():
    # 1024-bp windows 512 bp apart, one bin cropped each end: outputs of 6 bins starting at
    # genome bins 1, 5, 9; the overlaps are cut halfway between the output centres
    windows = [("c", 0, 1024), ("c", 512, 1536), ("c", 1024, 2048)]
    spans = scored_spans(windows, bin_size=BIN, n_bins=6, crop_bins=1)
    assert spans.tolist() == [[0, 5], [1, 5], [1, 6]]  # bins 1-5, 6-9, 10-14
    # a tie (bin 3 is as far from both centres) goes to the left window
    assert scored_spans([("c", 0, 640), ("c", 256, 896)], bin_size=BIN, n_bins=5).tolist() == [
        [0, 4],
        [2, 5],
    ]
    # no overlap: every window keeps all of its output; file order does not matter
    apart = [("c", 2048, 3072), ("c", 0, 1024)]
    assert scored_spans(apart, bin_size=BIN, n_bins=8).tolist() == [[0, 8], [0, 8]]


def test_scored_spans_score_each_bin_once_from_the_nearest_centre():
    rng = np.random.default_rng(0)
    n_bins, crop = 12, 2
    length = (n_bins + 2 * crop) * BIN
    windows = []
    for chrom in ("a", "b"):
        starts = np.cumsum(rng.integers(1, n_bins + 4, size=30)) * BIN  # gaps and overlaps
        windows += [(chrom, int(s), int(s) + length) for s in starts]
    windows.append(windows[3])  # a duplicate window too
    order = rng.permutation(len(windows))
    windows = [windows[i] for i in order]
    spans = scored_spans(windows, bin_size=BIN, n_bins=n_bins, crop_bins=crop)
    for chrom in ("a", "b"):
        mine = [(w, sp) for w, sp in zip(windows, spans, strict=True) if w[0] == chrom]
        scored, covered = {}, set()
        for (_, start, _), (lo, hi) in mine:
            first = start // BIN + crop
            covered |= set(range(first, first + n_bins))
            for b in range(first + lo, first + hi):
                assert b not in scored, f"bin {b} scored twice"
                scored[b] = first
        assert set(scored) == covered  # every bin of the split, once
        for b, first in scored.items():  # by a window whose output centre is nearest
            best = min(
                abs(b + 0.5 - (s // BIN + crop + n_bins / 2))
                for (_, s, _), _ in mine
                if s // BIN + crop <= b < s // BIN + crop + n_bins
            )
            assert abs(b + 0.5 - (first + n_bins / 2)) == best


def test_training_validation_scores_each_bin_once(workspace):
    """Validation during training takes the bins of each window it alone scores, among the
    windows it runs (train.eval_batches): every covered bin once, none lost at the cut."""
    from genomics.train.fit import _valid_spans

    root, _ = workspace
    res = root / "results"
    genome, targets = GenomeStore(res / "genome"), TargetStore(res / "targets")
    ds = WindowDataset(genome, targets, read_windows(res / "windows", "valid", genome=genome))
    assert len(ds) >= 3 and ds.windows[0][2] > ds.windows[1][1]  # overlapping windows
    for batch, batches in ((2, None), (1, 2)):
        spans = _valid_spans(ds, batch, batches)
        n = len(ds) if batches is None else batch * batches
        assert spans.shape == (len(ds), 2) and not spans[n:].any()
        run = ds.windows[:n]
        assert (spans[:n, 1] - spans[:n, 0]).sum() == sum(
            len(b) for b in _unique_bins(run, ds.n_bins, 0).values()
        )
    assert _valid_spans(None, 2, None) is None


# ---------------------------------------------------------------- evaluate_dataset(spans)


class BinGC(torch.nn.Module):
    """A per-bin model: each output bin is an affine map of its own bases' GC fraction,
    so a bin's prediction is the same from whichever window it is read."""

    def __init__(self, crop: int, n_tracks: int):
        super().__init__()
        self.crop, self.n_tracks = crop, n_tracks

    def forward(self, x):  # (b, 4, l) -> (b, l // BIN - 2 crop, t)
        gc = x[:, 1:3].sum(1).unflatten(-1, (-1, BIN)).mean(-1)  # (b, bins)
        gc = gc[:, self.crop : gc.shape[1] - self.crop]
        scale = torch.arange(1, self.n_tracks + 1, dtype=gc.dtype)
        return gc[:, :, None] * scale + 0.01


def _unique_bins(windows, n_bins, crop):
    """{chrom: sorted genome bins} covered by the windows' outputs."""
    out: dict[str, set] = {}
    for chrom, start, _ in windows:
        first = start // BIN + crop
        out.setdefault(chrom, set()).update(range(first, first + n_bins))
    return {c: np.array(sorted(b)) for c, b in out.items()}


def test_evaluate_dataset_scores_each_bin_once(workspace):
    root, _ = workspace
    res = root / "results"
    genome, targets = GenomeStore(res / "genome"), TargetStore(res / "targets")
    windows = read_windows(res / "windows", "test", genome=genome)
    crop = 2
    ds = WindowDataset(genome, targets, windows, crop_bins=crop)
    spans = scored_spans(ds.windows, bin_size=BIN, n_bins=ds.n_bins, crop_bins=crop)
    kw = dict(
        names=targets.names,
        kinds=targets.track_kinds,
        device=torch.device("cpu"),
        batch_size=3,
    )
    model = BinGC(crop, targets.n_tracks)
    once = evaluate_dataset(model, ds, spans=spans, **kw)
    every = evaluate_dataset(model, ds, **kw)
    # by hand: each genome bin of the split once, GC of its bases against its target
    bins = _unique_bins(ds.windows, ds.n_bins, crop)
    n_unique = sum(b.size for b in bins.values())
    assert every["tracks"][0]["n_bins"] == len(windows) * ds.n_bins > 1.5 * n_unique
    pred, target = [], []
    for chrom, b in bins.items():
        codes = genome.codes(chrom)[: (b[-1] + 1) * BIN].reshape(-1, BIN)[b]
        gc = ((codes == 1) | (codes == 2)).mean(1)
        pred.append(gc[:, None] * np.arange(1, targets.n_tracks + 1) + 0.01)
        target.append(np.asarray(targets.bins(chrom)[b], np.float64))
    pred, target = np.concatenate(pred), np.concatenate(target)
    for t, row in enumerate(once["tracks"]):
        assert row["n_bins"] == n_unique
        assert row["pearson"] == pytest.approx(pearson_r(pred[:, t], target[:, t]), rel=1e-6)
        assert row["target_mean"] == pytest.approx(target[:, t].mean(), rel=1e-6)
    # the loss is still the mean over whole windows, and batch size changes nothing
    assert once["loss"] == pytest.approx(every["loss"], rel=1e-9)
    again = evaluate_dataset(model, ds, spans=spans, **{**kw, "batch_size": 1})
    assert [r["pearson"] for r in again["tracks"]] == pytest.approx(
        [r["pearson"] for r in once["tracks"]], rel=1e-9
    )
    with pytest.raises(ValueError, match="one \\[lo, hi\\) per window"):
        evaluate_dataset(model, ds, spans=spans[:-1], **kw)


# ---------------------------------------------------------------- the noise ceiling


@pytest.fixture(scope="module")
def noise_free(workspace) -> Path:
    """The simulator's clean.tsv binned like the targets (what the workflow builds)."""
    root, _ = workspace
    res = root / "results"
    out = res / "targets-noise-free"
    if not (out / "manifest.json").is_file():
        build_target_store(
            GenomeStore(res / "genome"), str(res / "sim" / "clean.tsv"), out, bin_size=BIN
        )
    return out


def test_noise_ceiling_equals_a_hand_computation(workspace, noise_free):
    root, _ = workspace
    res = root / "results"
    genome, targets = GenomeStore(res / "genome"), TargetStore(res / "targets")
    clean = TargetStore(noise_free)
    windows = read_windows(res / "windows", "test", genome=genome)
    crop, n_bins = 1, 64 - 2
    spans = scored_spans(windows, bin_size=BIN, n_bins=n_bins, crop_bins=crop)
    rows = noise_ceiling(targets, clean, windows, spans, crop_bins=crop, chunk_bins=100)
    bins = _unique_bins(windows, n_bins, crop)
    obs = np.concatenate([np.asarray(targets.bins(c)[b], np.float64) for c, b in bins.items()])
    cln = np.concatenate([np.asarray(clean.bins(c)[b], np.float64) for c, b in bins.items()])
    assert [r["track"] for r in rows] == targets.names
    for t, row in enumerate(rows):
        r = np.corrcoef(obs[:, t], cln[:, t])[0, 1]
        assert row["n_bins"] == obs.shape[0]
        assert row["pearson"] == pytest.approx(r, rel=1e-9)
        log_r = np.corrcoef(np.log1p(obs[:, t]), np.log1p(cln[:, t]))[0, 1]
        assert row["pearson_log1p"] == pytest.approx(log_r, rel=1e-9)
        assert 0.5 < r < 1.0  # Poisson noise around the truth: high, never perfect


def test_add_ceiling_hand_values():
    model = [
        {
            "track": "a",
            "kind": "coverage",
            "n_bins": 10,
            "pearson": 0.45,
            "pearson_log1p": 0.3,
            "spearman": 0.2,
        },
        {"track": "p", "kind": "peaks", "n_bins": 10, "pearson": 0.1, "auroc": 0.7},
    ]
    ceiling = [
        {
            "track": "a",
            "kind": "coverage",
            "n_bins": 10,
            "pearson": 0.9,
            "pearson_log1p": 0.6,
            "spearman": 0.0,
        }
    ]
    rows = add_ceiling(model, ceiling)
    assert rows[0]["ceiling_pearson"] == 0.9 and rows[0]["pearson_of_ceiling"] == 0.5
    assert rows[0]["pearson_log1p_of_ceiling"] == 0.5
    assert np.isnan(rows[0]["spearman_of_ceiling"])  # a ceiling of 0: no share
    assert "ceiling_pearson" not in rows[1] and "ceiling_pearson" not in model[0]
    summary = summarize(rows)
    assert summary["pearson_of_ceiling"] == 0.5 and summary["pearson_of_ceiling_n"] == 1
    with pytest.raises(ValueError, match="same bins"):
        add_ceiling(model, [{**ceiling[0], "n_bins": 11}])


def _other_store(workspace, tmp_path, name, *, bin_size=BIN, **change):
    root, _ = workspace
    res = root / "results"
    tracks = [
        {"name": n, "path": str(res / "sim" / "clean" / f"{n}.bw"), **change}
        for n in TargetStore(res / "targets").names[:2]
    ]
    out = tmp_path / name
    build_target_store(GenomeStore(res / "genome"), tracks, out, bin_size=bin_size)
    return TargetStore(out)


def test_noise_free_store_must_be_binned_like_the_targets(workspace, tmp_path):
    targets = TargetStore(workspace[0] / "results" / "targets")
    with pytest.raises(ValueError, match="256-bp bins but the target store .* 128-bp"):
        check_noise_free(targets, _other_store(workspace, tmp_path, "b", bin_size=256))
    with pytest.raises(ValueError, match="no track named 'tf_m2'"):
        check_noise_free(targets, _other_store(workspace, tmp_path, "m"))


def test_noise_free_track_settings_must_match(workspace, tmp_path):
    targets = TargetStore(workspace[0] / "results" / "targets")
    other = _other_store(workspace, tmp_path, "s", scale=2.0)
    # only two of the tracks, and scaled: the setting is named before the missing tracks
    with pytest.raises(ValueError, match="track 'tf_m0' has scale 2.0 but the target store"):
        check_noise_free(targets, other)


# ---------------------------------------------------------------- the command


def test_evaluate_with_noise_free_store(workspace, noise_free, tmp_path):
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["train"].update(max_steps=2, warmup_steps=0, eval_every=2, checkpoint_every=2)
    config = tmp_path / "cfg.yaml"
    config.write_text(yaml.safe_dump(cfg))
    model = tmp_path / "model"
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(model)])
    assert code == 0, err
    out = tmp_path / "eval"
    args = ["evaluate", "--config", str(config), "--model", str(model), "--out", str(out)]
    code, err = run_cli(root, [*args, "--noise-free", str(noise_free)])
    assert code == 0, err
    doc = json.loads((out / "metrics.json").read_text())
    head = (out / "metrics.tsv").read_text().splitlines()[0].split("\t")
    assert {"ceiling_pearson", "pearson_of_ceiling"} <= set(head)
    spec = json.loads((model / "model.json").read_text())
    res = root / "results"
    windows = read_windows(res / "windows", "test")
    n_bins = spec["seq_len"] // BIN - 2 * spec["crop_bins"]
    bins = _unique_bins(windows, n_bins, spec["crop_bins"])
    targets, clean = TargetStore(res / "targets"), TargetStore(noise_free)
    assert doc["summary"]["n_bins"] == sum(b.size for b in bins.values())
    assert doc["summary"]["noise_free"] == str(noise_free)
    for t, row in enumerate(doc["tracks"]):
        obs = np.concatenate([targets.bins(c)[b, t] for c, b in bins.items()]).astype(float)
        cln = np.concatenate([clean.bins(c)[b, t] for c, b in bins.items()]).astype(float)
        assert row["ceiling_pearson"] == pytest.approx(np.corrcoef(obs, cln)[0, 1], rel=1e-9)
        assert row["pearson_of_ceiling"] == pytest.approx(
            row["pearson"] / row["ceiling_pearson"], rel=1e-12
        )
    mean = np.mean([r["pearson_of_ceiling"] for r in doc["tracks"]])
    assert doc["summary"]["pearson_of_ceiling"] == pytest.approx(mean, rel=1e-12)
    # the same from the config key; a store of another bin size is one clear line
    code, err = run_cli(root, [*args, "--set", f"evaluate.noise_free={noise_free}"])
    assert code == 0, err
    assert json.loads((out / "metrics.json").read_text())["tracks"] == doc["tracks"]
    other = _other_store(workspace, tmp_path, "coarse", bin_size=256)
    code, err = run_cli(root, [*args, "--noise-free", str(other.path)])
    assert code == 2 and "256-bp bins" in err
