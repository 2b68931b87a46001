"""Output-bias initialisation from the training tracks' means."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from safetensors.torch import load_file
from torch import nn

from genomics.config import dump_config
from genomics.data.targets import TargetStore
from genomics.data.windows import read_windows
from genomics.train.output_bias import init_output_bias, track_means

from conftest import run_cli


def test_track_means_are_the_cropped_training_bins(workspace):
    root, cfg = workspace
    targets = TargetStore(root / "results" / "targets")
    windows = read_windows(root / "results" / "windows", "train")
    crop = 3
    got = track_means(targets, windows, crop_bins=crop, max_windows=len(windows))
    rows = [targets.fetch(c, s // 128 + crop, e // 128 - crop) for c, s, e in windows]
    want = np.concatenate(rows).mean(axis=0)
    np.testing.assert_allclose(got, want, rtol=1e-6)
    # a subsample reads fewer windows but still estimates every track
    few = track_means(targets, windows, crop_bins=crop, max_windows=2)
    assert few.shape == want.shape and np.all(few >= 0)
    assert not np.allclose(few, want)


def test_bias_gives_each_track_its_mean_through_the_link():
    head = nn.Linear(8, 4)
    means = np.array([5.0, 0.0, 0.2, 100.0])
    init_output_bias(head, means, ["coverage", "coverage", "peaks", "coverage"])
    b = head.bias.detach().double()
    assert F.softplus(b[0]).item() == pytest.approx(5.0, rel=1e-6)
    assert F.softplus(b[1]).item() == pytest.approx(1e-3, rel=1e-3)  # floored, not -inf
    assert torch.sigmoid(b[2]).item() == pytest.approx(0.2, rel=1e-6)
    assert F.softplus(b[3]).item() == pytest.approx(100.0, rel=1e-6)  # no expm1 overflow
    assert torch.isfinite(b).all()


def test_bias_refuses_a_head_of_another_width():
    with pytest.raises(ValueError, match="3 track means"):
        init_output_bias(nn.Linear(8, 4), np.ones(3), ["coverage"] * 3)


def test_train_sets_the_bias_when_asked(workspace, tmp_path):
    """``train.init_output_bias: true`` reaches the model: after one step at a tiny learning
    rate the saved head bias is the inverse softplus of the training means."""
    root, cfg = workspace
    cfg = copy.deepcopy(cfg)
    cfg["train"].update(init_output_bias=True, lr=1e-9, warmup_steps=0, max_steps=1, eval_every=1)
    config = tmp_path / "cfg.yaml"
    config.write_text(dump_config(cfg))
    code, err = run_cli(root, ["train", "--config", str(config), "--out", str(tmp_path / "m")])
    assert code == 0, err
    bias = load_file(str(tmp_path / "m" / "weights.safetensors"))["head.linear.bias"]
    targets = TargetStore(root / "results" / "targets")
    windows = read_windows(root / "results" / "windows", "train")
    means = track_means(targets, windows, crop_bins=cfg["windows"]["crop_bins"])
    np.testing.assert_allclose(F.softplus(bias.double()).numpy(), means, rtol=1e-4)
