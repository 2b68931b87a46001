"""The public inference API: genomics.inference.predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genomics.data.encoding import encode, one_hot, reverse_complement_codes
from genomics.inference import predict, to_probabilities
from genomics.models import build_model


def _model(**kw):
    torch.manual_seed(0)
    return build_model(
        "convformer",
        n_tracks=3,
        track_kinds=["coverage", "coverage", "peaks"],
        bin_size=32,
        crop_bins=0,
        dim=16,
        depth=1,
        heads=2,
        pool="max",
        **kw,
    )


def _seqs(n=3, length=512, seed=0):
    rng = np.random.default_rng(seed)
    return ["".join(rng.choice(list("ACGT"), length)) for _ in range(n)]


def test_strings_codes_and_one_hot_agree():
    model, seqs = _model(), _seqs()
    codes = np.stack([encode(s) for s in seqs])
    a = predict(model, seqs, batch_size=2)
    b = predict(model, codes, batch_size=3)
    c = predict(model, torch.from_numpy(one_hot(codes)), batch_size=1)
    assert a.shape == (3, 512 // 32, 3) and a.dtype == np.float32
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(a, c, rtol=1e-5, atol=1e-6)
    single = predict(model, seqs[1])  # one sequence: no batch axis
    np.testing.assert_allclose(single, a[1], rtol=1e-5, atol=1e-6)


def test_lower_case_and_n_are_read():
    model, (s,) = _model(), _seqs(1)
    s = s[:100] + "N" * 10 + s[110:]
    np.testing.assert_allclose(predict(model, s.lower()), predict(model, s), rtol=1e-5, atol=1e-6)


def test_reverse_complement_average_is_strand_symmetric():
    """With RC averaging, a sequence and its reverse complement give mirrored outputs."""
    model, seqs = _model(), _seqs(2)
    codes = np.stack([encode(s) for s in seqs])
    fwd = predict(model, codes, reverse_complement=True)
    rev = predict(model, reverse_complement_codes(codes), reverse_complement=True)
    np.testing.assert_allclose(fwd, rev[:, ::-1], rtol=1e-4, atol=1e-5)
    plain = predict(model, codes)
    assert not np.allclose(fwd, plain, atol=1e-4)  # it did average something


class _Symmetric(torch.nn.Module):
    """Counts G+C per 32-bp bin: the same on both strands, so RC averaging is a no-op."""

    def forward(self, x):
        gc = x[:, 1] + x[:, 2]  # (b, l)
        return gc.unflatten(-1, (-1, 32)).sum(-1)[..., None]  # (b, bins, 1)


def test_reverse_complement_of_a_symmetric_model_is_a_no_op():
    seqs = _seqs(2, 256)
    np.testing.assert_array_equal(
        predict(_Symmetric(), seqs, reverse_complement=True), predict(_Symmetric(), seqs)
    )


def test_train_mode_is_restored():
    model = _model(dropout=0.5)
    model.train()
    predict(model, _seqs(1))
    assert model.training


@pytest.mark.parametrize(
    "bad,match",
    [
        (["ACGT", "ACG"], "different lengths"),
        (["ACGTX"], "position 4"),
        (np.zeros((2, 3, 8), np.float32), "shape"),
        (np.full((1, 8), 7, np.uint8), "0..4"),
    ],
)
def test_bad_input_is_a_clear_error(bad, match):
    with pytest.raises(ValueError, match=match):
        predict(_model(), bad)


def test_to_probabilities():
    pred = np.array([[[2.0, 0.0]]], np.float32)
    out = to_probabilities(pred, ["coverage", "peaks"])
    np.testing.assert_allclose(out, [[[2.0, 0.5]]])
    with pytest.raises(ValueError, match="track kinds"):
        to_probabilities(pred, ["coverage"])
