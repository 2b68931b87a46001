"""The public inference API: genomics.inference.predict."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from genomics.data.encoding import encode, one_hot, one_hot_torch, reverse_complement_codes
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


# --- incremental alternate passes (genomics.inference.incremental) ---------------------


def _edits(rng, ref, n_per_ref=6):
    """Alternates of each reference row: SNVs (two at the window's ends), an MNV, a long
    replacement, and one copy left equal to its reference."""
    u, length = ref.shape
    alts, index = [], []
    for r in range(u):
        for k in range(n_per_ref):
            a = ref[r].copy()
            if k == 0:
                pos = [0]
            elif k == 1:
                pos = [length - 1]
            elif k == 2:
                pos = list(range(length // 2, length // 2 + 3))  # MNV
            elif k == 3:
                pos = list(range(length // 3, length // 3 + length // 2))  # long: full pass
            elif k == 4:
                pos = []  # equal to ref
            else:
                pos = [int(rng.integers(length))]
            for p in pos:
                a[p] = (a[p] + 1 + rng.integers(3)) % 4
            alts.append(a)
            index.append(r)
    return np.stack(alts), np.array(index)


@pytest.mark.parametrize("name", ["convformer", "conv", "convrnn"])
@pytest.mark.parametrize("rc", [False, True])
@pytest.mark.parametrize(
    "stem",
    [
        {"stem_activation": "none"},
        {"stem_activation": "exp"},
        {"stem_activation": "exp", "stem_filters": 48},
    ],
    ids=["plain", "exp", "wide"],
)
def test_predict_alts_equals_full_recomputation(name, rc, stem):
    """Patching the reference's tower around each edit gives what a full pass gives."""
    from genomics.inference.incremental import predict_alts, supports_incremental

    torch.manual_seed(0)
    hp = {"convformer": {"depth": 1}, "conv": {"dilated_layers": 2}}.get(name, {})
    hp = {**hp, **stem}
    model = build_model(
        name,
        n_tracks=3,
        track_kinds=["coverage", "peaks", "coverage"],
        bin_size=16,
        crop_bins=1,
        dim=32,
        **hp,
    )
    # random BatchNorm statistics, so that eval-mode BatchNorm is not the identity
    for mod in model.modules():
        if isinstance(mod, torch.nn.BatchNorm1d):
            mod.running_mean.normal_()
            mod.running_var.uniform_(0.5, 2.0)
    assert supports_incremental(model)
    rng = np.random.default_rng(0)
    ref = rng.integers(0, 5, size=(2, 1024)).astype(np.uint8)
    alt, index = _edits(rng, ref)
    y_ref, y_alt = predict_alts(model, ref, alt, index, batch_size=4, reverse_complement=rc)
    full = predict(model, np.concatenate([ref, alt]), batch_size=4, reverse_complement=rc)
    np.testing.assert_allclose(y_ref, full[:2], rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(y_alt, full[2:], rtol=1e-4, atol=1e-5)
    # the edits do move the prediction, by far more than the tolerance above (the
    # comparison is not between two constants)
    assert np.abs(y_alt - y_ref[index]).max() > 1e-4


def test_reach_bins_covers_every_changed_bin():
    """A one-base edit changes no tower bin beyond reach_bins of its own bin."""
    from genomics.inference.incremental import reach_bins

    torch.manual_seed(1)
    model = build_model(
        "convformer", n_tracks=1, track_kinds=["coverage"], bin_size=16, crop_bins=0, dim=32
    ).eval()
    reach = reach_bins(model)
    rng = np.random.default_rng(1)
    x = torch.from_numpy(rng.integers(0, 4, size=(1, 2048)).astype(np.uint8))
    for pos in (700, 1000, 1023, 1024):
        x2 = x.clone()
        x2[0, pos] = (x2[0, pos] + 1) % 4
        with torch.inference_mode():
            h1 = model.tower(one_hot_torch(x))
            h2 = model.tower(one_hot_torch(x2))
        changed = torch.nonzero((h1 - h2).abs().amax(1)[0] > 0).ravel()
        assert len(changed) > 0
        assert changed.min() >= pos // 16 - reach and changed.max() <= pos // 16 + reach


def test_score_variants_incremental_equals_full_passes():
    """score_variants gives the same statistics with and without incremental alt passes."""
    from genomics.variants.score import Geometry, score_variants

    torch.manual_seed(2)
    kinds = ("coverage", "peaks")
    model = build_model(
        "convformer", n_tracks=2, track_kinds=kinds, bin_size=16, crop_bins=2, dim=32
    )
    geometry = Geometry(
        seq_len=1024, bin_size=16, crop_bins=2, track_names=("a", "b"), track_kinds=kinds
    )
    rng = np.random.default_rng(2)
    ref = rng.integers(0, 4, size=(3, 1024)).astype(np.uint8)
    alt, index = _edits(rng, ref, n_per_ref=4)
    kw = dict(geometry=geometry, variant_bin=np.full(len(alt), 30), ref_index=index, span=3)
    inc = score_variants(model, ref, alt, incremental=True, **kw)
    full = score_variants(model, ref, alt, incremental=False, **kw)
    assert inc.keys() == full.keys()
    for name in inc:
        np.testing.assert_allclose(inc[name], full[name], rtol=1e-4, atol=1e-5, err_msg=name)
