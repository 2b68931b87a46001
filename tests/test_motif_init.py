"""genomics.train.motif_init: k-mer ids by hand, planted motifs found and written into the
first layer, and ``train.init_motifs`` through ``genomics train``."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from safetensors.torch import load_file
from torch import nn

from genomics.config import dump_config
from genomics.data.encoding import encode, one_hot
from genomics.data.genome import GenomeStore
from genomics.data.targets import TargetStore
from genomics.data.windows import read_windows
from genomics.train import motif_init
from genomics.train.motif_init import (
    MATCH_SCORE,
    MotifSeed,
    explains,
    find_motifs,
    kmer_ids,
    seed_filters,
    seed_first_layer,
)

from conftest import planted_stores, run_cli

MOTIFS = {"a": "TGACTCAGCATG", "b": "CCAATCGGTTAC"}


def _rc(seq: str) -> str:
    return seq[::-1].translate(str.maketrans("ACGT", "TGCA"))


def _consensus(pwm: np.ndarray) -> str:
    return "".join("ACGT"[i] for i in pwm.argmax(axis=1))


def test_kmer_ids_by_hand():
    codes = np.array([0, 1, 2, 3, 4, 3, 3], np.uint8)  # A C G T N T T
    ids, valid = kmer_ids(codes, 2)
    # AC=1, CG=6, GT=11, TN (N as A)=12, NT=3, TT=15
    assert ids.tolist() == [1, 6, 11, 12, 3, 15]
    assert valid.tolist() == [True, True, True, False, False, True]
    assert kmer_ids(codes[:1], 2)[0].shape == (0,)


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    dirs = planted_stores(tmp_path_factory.mktemp("planted"), MOTIFS)
    genome, targets = GenomeStore(dirs["genome_dir"]), TargetStore(dirs["targets_dir"])
    return genome, targets, read_windows(dirs["windows_dir"], "train")


def test_finds_each_planted_motif_once(planted, monkeypatch):
    """Two tracks, one motif under each: the first two motifs are theirs, grown beyond the
    8-mer seed to the whole 12-bp motif (either strand), and no motif repeats another."""
    genome, targets, windows = planted
    motifs, background = find_motifs(genome, targets, windows, 4, width=15)
    assert np.isclose(background.sum(), 1) and np.allclose(background, background[::-1])
    assert {m.track for m in motifs[:2]} == {"a", "b"}
    for m in motifs[:2]:
        cons = _consensus(m.pwm)
        assert MOTIFS[m.track] in cons or _rc(MOTIFS[m.track]) in cons, (m.track, cons)
        assert m.pwm.shape == (15, 4) and np.allclose(m.pwm.sum(axis=1), 1)
        assert m.sites >= 80  # 120 planted on the one training chromosome, minus window edges
    for i, m in enumerate(motifs[2:], start=2):  # anything more is not one of the two again
        for planted_motif in MOTIFS.values():
            assert planted_motif not in _consensus(m.pwm) and _rc(planted_motif) not in _consensus(
                m.pwm
            ), (i, m)
    # deterministic, and the same when tracks are counted one block at a time
    monkeypatch.setattr(motif_init, "TRACK_BLOCK", 1)
    again, _ = find_motifs(genome, targets, windows, 4, width=15)
    assert [m.kmer for m in again] == [m.kmer for m in motifs]
    assert all(np.array_equal(a.pwm, b.pwm) for a, b in zip(again, motifs, strict=True))


def test_explains_a_shifted_piece_of_a_motif_not_another():
    pwm = np.full((20, 4), 0.25)
    for i, base in enumerate(MOTIFS["a"]):
        pwm[4 + i] = 0.04
        pwm[4 + i, "ACGT".index(base)] = 0.88
    logodds = np.log(pwm / 0.25)
    piece = encode(MOTIFS["a"][3:11])  # 8 bases from inside, shifted
    assert explains(logodds, piece)
    assert explains(logodds, encode(_rc(MOTIFS["a"][3:11])))  # the other strand
    assert not explains(logodds, encode(MOTIFS["b"][:8]))
    assert not explains(np.zeros((20, 4)), piece)  # flanks alone explain nothing


def test_seed_filters_score_the_motif_on_both_strands():
    pwm = np.full((12, 4), 0.04)
    for i, base in enumerate(MOTIFS["a"]):
        pwm[i, "ACGT".index(base)] = 0.88
    motif = MotifSeed("a", "TGACTCAG", 30.0, 100, pwm)
    conv = nn.Conv1d(4, 6, 15, padding="same")
    before = conv.weight.detach().clone()
    assert seed_filters(conv, [motif], np.full(4, 0.25)) == 2
    assert torch.equal(conv.weight[2:], before[2:])  # the rest keep their random start
    assert torch.all(conv.bias[:2] == 0)

    def best(seq):
        x = torch.from_numpy(one_hot(encode("A" * 20 + seq + "A" * 20)))[None]
        return conv(x)[0, :2].max(dim=1).values.detach()

    forward, reverse = best(MOTIFS["a"]), best(_rc(MOTIFS["a"]))
    assert forward[0] == pytest.approx(MATCH_SCORE, abs=1e-5)
    assert reverse[1] == pytest.approx(MATCH_SCORE, abs=1e-5)
    assert forward[1] < MATCH_SCORE / 2 and reverse[0] < MATCH_SCORE / 2  # part-palindromic
    assert best(MOTIFS["b"]).max() < MATCH_SCORE / 2  # another motif: well below a match


def test_seed_first_layer_errors(planted):
    genome, targets, windows = planted
    with pytest.raises(ValueError, match="no first-layer conv"):
        seed_first_layer(nn.Linear(2, 2), 1, genome, targets, windows)

    class Tower(nn.Module):
        def __init__(self):
            super().__init__()
            self.first_layer = nn.Conv1d(4, 8, 15)

    model = nn.Module()
    model.tower = Tower()
    with pytest.raises(ValueError, match="init_motifs 5 needs 10 first-layer filters.*4 or less"):
        seed_first_layer(model, 5, genome, targets, windows)
    motifs = seed_first_layer(model, 4, genome, targets, windows)
    assert 2 <= len(motifs) <= 4


def test_train_seeds_the_first_layer(workspace, tmp_path, caplog):
    """``train.init_motifs`` reaches the model: after one step at a tiny learning rate the
    saved first layer holds the motifs find_motifs gives, both strands."""
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["train"].update(init_motifs=2, lr=1e-9, warmup_steps=0, max_steps=1, eval_every=1)
    config = tmp_path / "cfg.yaml"
    config.write_text(dump_config(cfg))
    with caplog.at_level("INFO", logger="genomics.train.motif_init"):
        code, err = run_cli(root, ["train", "--config", str(config), "--out", str(tmp_path / "m")])
    assert code == 0, err
    assert "first-layer motifs:" in caplog.text
    w = load_file(str(tmp_path / "m" / "weights.safetensors"))["tower.stem.0.weight"]
    res = root / "results"
    genome, targets = GenomeStore(res / "genome"), TargetStore(res / "targets")
    motifs, background = find_motifs(
        genome, targets, read_windows(res / "windows", "train"), 2, width=w.shape[2]
    )
    conv = nn.Conv1d(4, w.shape[0], w.shape[2])
    n = seed_filters(conv, motifs, background)
    assert n >= 2
    np.testing.assert_allclose(w[:n].float().numpy(), conv.weight[:n].detach().numpy(), atol=1e-6)

    cfg["train"]["init_motifs"] = 64  # more pairs than the stem's filters
    config.write_text(dump_config(cfg))
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(tmp_path / "m2")])
    assert code != 0 and "train.init_motifs 64 needs 128 first-layer filters" in err
    assert "Traceback" not in err
    assert not (tmp_path / "m2").exists()


def test_resumed_train_skips_the_motif_search(workspace, tmp_path, monkeypatch):
    """A rerun that resumes from a checkpoint takes its weights from it: the motif search
    (up to tens of seconds on real data) does not run again, and the weights are the same."""
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["train"].update(
        init_motifs=2, warmup_steps=0, max_steps=1, eval_every=1, checkpoint_every=1
    )
    config = tmp_path / "cfg.yaml"
    config.write_text(dump_config(cfg))
    argv = ["train", "--config", str(config), "--out", str(tmp_path / "m")]
    code, err = run_cli(root, argv)
    assert code == 0, err
    first = load_file(str(tmp_path / "m" / "weights.safetensors"))
    assert list((tmp_path / "m" / "checkpoints").glob("step-*.pt"))

    def no_search(*args, **kwargs):
        raise AssertionError("the motif search ran on a resumed run")

    monkeypatch.setattr(motif_init, "find_motifs", no_search)
    code, err = run_cli(root, argv)
    assert code == 0, err
    again = load_file(str(tmp_path / "m" / "weights.safetensors"))
    assert first.keys() == again.keys()
    for name in first:
        torch.testing.assert_close(first[name], again[name], rtol=0, atol=0)


@pytest.mark.parametrize(("start", "flank"), [(0, 64), (4096, 64), (200, 300), (0, 0)])
def test_near_positions_is_near_top_for_every_position(start, flank):
    """The range-built (track, position) pairs are exactly the positions the per-position
    test calls near, each once (overlapping ranges of neighbouring top bins included)."""
    rng = np.random.default_rng(start + flank)
    mask = rng.random((40, 3)) < 0.2
    mask[5:9, 0] = True  # a run of top bins
    n = 40 * 128 - 7 - start % 128
    track, pos = motif_init._near_positions(mask, start, n, 128, flank)
    got = np.zeros((n, 3), int)
    np.add.at(got, (pos, track), 1)
    want = motif_init._near_top(mask, start, np.arange(n), 128, flank)
    assert got.max() <= 1
    np.testing.assert_array_equal(got.astype(bool), want)
