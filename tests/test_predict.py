"""Genome-wide prediction: tiling, N runs, jobs and their merge, the store, bigWigs, CLI."""

from __future__ import annotations

import json

import numpy as np
import pyBigWig
import pytest
import torch

from genomics.cli import main
from genomics.data.genome import GenomeStore, build_genome_store
from genomics.data.predictions import PredictionStore
from genomics.inference import predict, to_probabilities
from genomics.io import StoreError
from genomics.models.saved import build_from_spec, save_model
from genomics.predict import Tiling, merge_parts, partition, predict_part

from conftest import write_fasta

KINDS = ["coverage", "coverage", "peaks"]
SPEC = {
    "name": "convformer",
    "hparams": {"dim": 16, "depth": 1, "heads": 2, "pool": "max"},
    "n_tracks": 3,
    "track_names": ["a", "b", "p"],
    "track_kinds": KINDS,
    "bin_size": 32,
    "crop_bins": 2,
    "seq_len": 1024,
}


@pytest.fixture
def setup(tmp_path):
    rng = np.random.default_rng(0)
    seqs = {
        "c1": "".join(rng.choice(list("ACGT"), 5000)),  # 157 bins, last one partial
        "c2": "".join(rng.choice(list("ACGT"), 1500)) + "N" * 2200 + "ACGT" * 100,
        "c3": "".join(rng.choice(list("ACGT"), 700)),  # shorter than one window
    }
    build_genome_store(write_fasta(tmp_path / "g.fa", seqs), tmp_path / "genome")
    torch.manual_seed(0)
    model = build_from_spec(SPEC)
    save_model(tmp_path / "model", model, SPEC)
    return tmp_path, GenomeStore(tmp_path / "genome"), model.eval()


def _run(tmp_path, genome, model, out="pred", parts=1, regions=None, **kw):
    for i in range(parts):
        predict_part(
            model, SPEC, model_dir=tmp_path / "model", genome=genome, out=tmp_path / out,
            part=i, parts=parts, dtype="float32", regions=regions, **kw,
        )  # fmt: skip
    merge_parts(tmp_path / out, parts=parts, genome=genome, model_dir=tmp_path / "model", spec=SPEC,
                regions=regions)  # fmt: skip
    return PredictionStore(tmp_path / out)


def test_tiling_covers_each_bin_once():
    t = Tiling(seq_len=1024, bin_size=32, out_bins=28)
    assert (t.crop, t.stride) == (2, 896)
    assert t.window(0) == (-64, 960, 0) and t.window(1) == (832, 1856, 28)
    assert t.n_windows(56) == 2 and t.n_windows(57) == 3
    with pytest.raises(ValueError, match="cannot tile"):
        Tiling(seq_len=1024, bin_size=32, out_bins=27)


def test_partition_balances_and_keeps_every_chromosome():
    sizes = {"a": 100, "b": 90, "c": 50, "d": 40, "e": 5}
    jobs = partition(sizes, 2)
    assert sorted(c for j in jobs for c in j) == sorted(sizes)
    loads = [sum(sizes[c] for c in j) for j in jobs]
    assert max(loads) - min(loads) <= 15
    assert partition(sizes, 1) == [list(sizes)] and partition({"a": 1}, 3)[1:] == [[], []]


def test_store_tiles_back_to_what_one_window_gives(setup):
    """Each window's central bins in the store are exactly that window's prediction."""
    tmp_path, genome, model = setup
    store = _run(tmp_path, genome, model, reverse_complement=False)
    t = Tiling(1024, 32, model.output_bins(1024))
    bins = store.bins("c1")
    assert bins.shape == (157, 3) and store.names == ["a", "b", "p"]
    for k in (0, 2, t.n_windows(157) - 1):  # first (N padding before), middle, last (after)
        start, end, first = t.window(k)
        one = to_probabilities(predict(model, genome.fetch("c1", start, end)), KINDS)
        last = min(first + t.out_bins, 157)
        np.testing.assert_allclose(bins[first:last], one[: last - first], rtol=1e-5, atol=1e-6)
    assert np.all((bins[:, 2] >= 0) & (bins[:, 2] <= 1))  # peaks as probabilities


def test_reverse_complement_is_the_default_average(setup):
    tmp_path, genome, model = setup
    plain = _run(tmp_path, genome, model, out="plain", reverse_complement=False)
    rc = _run(tmp_path, genome, model, out="rc")
    t = Tiling(1024, 32, model.output_bins(1024))
    start, end, first = t.window(1)
    x = genome.fetch("c1", start, end)
    want = to_probabilities(predict(model, x, reverse_complement=True), KINDS)
    np.testing.assert_allclose(
        rc.bins("c1")[first : first + t.out_bins], want, rtol=1e-5, atol=1e-6
    )
    assert not np.allclose(rc.bins("c1"), plain.bins("c1"))


def test_runs_of_n_are_not_run_and_are_nan(setup, monkeypatch):
    tmp_path, genome, model = setup
    store = _run(tmp_path, genome, model)
    bins = store.bins("c2")  # bases 1500-3700 are N
    t = Tiling(1024, 32, model.output_bins(1024))
    all_n = [k for k in range(t.n_windows(len(bins))) if 1500 <= t.window(k)[2] * 32 and
             (t.window(k)[2] + t.out_bins) * 32 <= 3700]  # fmt: skip
    assert all_n, "the fixture should hold a window whose bins are all N"
    for k in all_n:
        first = t.window(k)[2]
        assert np.isnan(bins[first : first + t.out_bins]).all()
    assert np.isfinite(bins[:40]).all() and np.isfinite(bins[-5:]).all()
    part = json.loads((tmp_path / "pred" / "parts" / "part-0-of-1.json").read_text())
    assert part["chroms"]["c2"]["skipped"] == len(all_n)


def test_jobs_merge_to_the_same_store_as_one_job(setup):
    tmp_path, genome, model = setup
    one = _run(tmp_path, genome, model, out="one")
    two = _run(tmp_path, genome, model, out="two", parts=2)
    assert one.chroms == two.chroms
    for c in one.chroms:
        np.testing.assert_array_equal(one.bins(c), two.bins(c))


def test_a_missing_or_stale_job_is_a_clear_error_and_the_store_is_untrusted(setup):
    tmp_path, genome, model = setup
    _run(tmp_path, genome, model)
    predict_part(model, SPEC, model_dir=tmp_path / "model", genome=genome, out=tmp_path / "pred",
                 part=0, parts=2)  # fmt: skip
    with pytest.raises(StoreError, match="incomplete"):  # a job started: no manifest
        PredictionStore(tmp_path / "pred")
    with pytest.raises(ValueError, match="part-1-of-2.json is missing"):
        merge_parts(
            tmp_path / "pred", parts=2, genome=genome, model_dir=tmp_path / "model", spec=SPEC
        )
    torch.manual_seed(1)  # retrained: other weights
    save_model(tmp_path / "model", build_from_spec(SPEC), SPEC)
    with pytest.raises(ValueError, match="other weights"):
        merge_parts(
            tmp_path / "pred", parts=1, genome=genome, model_dir=tmp_path / "model", spec=SPEC
        )


def test_chromosome_subset_and_bigwig(setup):
    tmp_path, genome, model = setup
    predict_part(model, SPEC, model_dir=tmp_path / "model", genome=genome, out=tmp_path / "p",
                 chroms=["c1", "c2"], dtype="float32")  # fmt: skip
    merge_parts(tmp_path / "p", parts=1, genome=genome, model_dir=tmp_path / "model", spec=SPEC,
                chroms=["c1", "c2"], bigwig=True)  # fmt: skip
    store = PredictionStore(tmp_path / "p")
    assert store.chroms == ["c1", "c2"]
    bw = pyBigWig.open(str(tmp_path / "p" / "bigwig" / "p.bw"))
    assert bw.chroms() == {"c1": 5000, "c2": 4100}
    got = np.array(bw.values("c1", 0, 5000)[::32])  # one value per bin
    np.testing.assert_allclose(got, store.bins("c1")[:, 2], rtol=1e-5)
    assert bw.values("c1", 4999, 5000)[0] == pytest.approx(float(store.bins("c1")[-1, 2]), rel=1e-5)
    assert np.isnan(bw.values("c2", 2000, 2001)[0])  # N run: no entry
    bw.close()


def test_cli_predict_jobs_and_errors(setup, capsys):
    tmp_path, genome, _ = setup
    args = ["predict", "--model", str(tmp_path / "model"), "--genome", str(tmp_path / "genome"),
            "--out", str(tmp_path / "cli"), "--set", "predict.parts=2"]  # fmt: skip
    assert main([*args, "--part", "1/2"]) == 0
    assert main([*args, "--merge"]) == 2
    assert "part-0-of-2.json is missing" in capsys.readouterr().err
    assert main([*args, "--part", "0/2"]) == 0 and main([*args, "--merge"]) == 0
    assert PredictionStore(tmp_path / "cli").n_tracks == 3
    assert main([*args, "--part", "2/2"]) == 2
    assert "need 0 <= I < N" in capsys.readouterr().err
    assert main(["predict", "--model", str(tmp_path / "nope"), "--genome", str(tmp_path / "genome"),
                 "--out", str(tmp_path / "x")]) == 2  # fmt: skip
    assert "not a trained model" in capsys.readouterr().err


def test_regions_limit_the_windows_run(setup, tmp_path):
    root, genome, model = setup
    bed = tmp_path / "r.bed"
    bed.write_text("c1\t2000\t2100\nother\t0\t10\n")
    from genomics.data.intervals import read_bed_intervals

    regions = read_bed_intervals(bed, genome.aliases)
    store = _run(root, genome, model, out="reg", regions=regions)
    full = _run(root, genome, model, out="full")
    assert store.chroms == ["c1"]  # the only chromosome with a region
    t = Tiling(1024, 32, model.output_bins(1024))
    k = 2000 // t.stride  # the window whose bins hold bases 2000-2100
    first = t.window(k)[2]
    got, want = store.bins("c1"), full.bins("c1")
    span = slice(first, first + t.out_bins)
    np.testing.assert_allclose(got[span], want[span], rtol=1e-5, atol=1e-6)  # other batches
    outside = np.ones(len(got), bool)
    outside[span] = False
    assert np.isnan(got[outside]).all()
    part = json.loads((root / "reg" / "parts" / "part-0-of-1.json").read_text())
    assert part["chroms"]["c1"]["windows"] == 1


def test_an_empty_regions_bed_is_a_clear_error(setup, tmp_path):
    root, genome, model = setup
    _run(root, genome, model, out="kept")
    with pytest.raises(ValueError, match="no interval on the genome store's chromosomes"):
        predict_part(model, SPEC, model_dir=root / "model", genome=genome, out=root / "kept",
                     regions={})  # fmt: skip
    assert PredictionStore(root / "kept").chroms == ["c1", "c2", "c3"]  # still trusted
