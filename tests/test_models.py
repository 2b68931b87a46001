"""Tests of genomics.models: shapes, invariances, RoPE, receptive field, FLOPs, errors."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from genomics.config import load_config
from genomics.models import MODELS, build_model, count_flops, model_hparams
from genomics.models.attention import Attention, apply_rope, rope_angles
from genomics.models.convformer import Convformer
from genomics.models.layers import AttentionPool

NAMES = list(MODELS)
KINDS = ["coverage", "peaks", "coverage"]


def small(name: str, *, bin_size: int = 32, crop_bins: int = 0, **hparams):
    """A seeded tiny model without dropout, in eval mode."""
    torch.manual_seed(0)
    defaults = {"dim": 32, "dropout": 0.0}
    if name == "convformer":  # blocks not at identity, so attention shapes the output
        defaults.update(depth=1, heads=2, zero_init=False)
    if name == "conv":  # branches not at zero, so the dilated blocks shape the output
        defaults.update(dilated_layers=3, zero_init=False)
    model = build_model(
        name,
        n_tracks=len(KINDS),
        track_kinds=KINDS,
        bin_size=bin_size,
        crop_bins=crop_bins,
        **{**defaults, **hparams},
    )
    return model.eval()


def random_one_hot(b: int, length: int, *, seed: int = 0) -> torch.Tensor:
    """Random one-hot DNA, shape (b, 4, l), float32."""
    g = torch.Generator().manual_seed(seed)
    codes = torch.randint(0, 4, (b, length), generator=g)
    return F.one_hot(codes, 4).float().transpose(1, 2).contiguous()  # (b, 4, l)


# --- shapes and head ----------------------------------------------------------------------


@pytest.mark.parametrize("name", NAMES)
@pytest.mark.parametrize(
    ("bin_size", "length", "crop"),
    [(32, 1024, 0), (32, 640, 3), (128, 2048, 2), (2, 64, 5), (1, 64, 3)],  # bin 1: base pairs
)
def test_output_shape(name, bin_size, length, crop):
    model = small(name, bin_size=bin_size, crop_bins=crop)
    with torch.no_grad():
        y = model(random_one_hot(2, length))
    expected = length // bin_size - 2 * crop
    assert model.output_bins(length) == expected
    assert y.shape == (2, expected, len(KINDS))
    assert y.dtype == torch.float32


@pytest.mark.parametrize("name", NAMES)
def test_crop_is_centre_of_uncropped_output(name):
    x = random_one_hot(1, 1024)
    full, cropped = small(name, crop_bins=0), small(name, crop_bins=4)
    cropped.load_state_dict(full.state_dict())
    with torch.no_grad():
        torch.testing.assert_close(cropped(x), full(x)[:, 4:-4])


@pytest.mark.parametrize("name", NAMES)
def test_softplus_on_coverage_logits_on_peaks(name):
    model = small(name)
    with torch.no_grad():
        model.head.linear.bias.fill_(-3.0)
        x = random_one_hot(2, 1024)
        y = model(x)
        raw = model.head.linear(model.head.mlp(model.crop(model.trunk(x))))
    cov, peaks = [0, 2], [1]
    assert (y[..., cov] >= 0).all()
    assert (y[..., peaks] < 0).any()
    torch.testing.assert_close(y[..., cov], F.softplus(raw[..., cov]))
    torch.testing.assert_close(y[..., peaks], raw[..., peaks])


@pytest.mark.parametrize("name", NAMES)
def test_batch_invariance(name):
    model = small(name)
    x = random_one_hot(4, 1024)
    with torch.no_grad():
        batched = model(x)
        single = torch.cat([model(x[i : i + 1]) for i in range(4)])
    torch.testing.assert_close(single, batched, atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("name", NAMES)
def test_checkpointing_changes_nothing(name):
    x = random_one_hot(2, 512)
    results = []
    for ckpt in (False, True):
        model = small(name, checkpoint_blocks=ckpt).train()
        y = model(x)
        y.square().mean().backward()
        results.append((y.detach(), [p.grad.clone() for p in model.parameters()]))
    torch.testing.assert_close(results[0][0], results[1][0])
    for g0, g1 in zip(results[0][1], results[1][1], strict=True):
        torch.testing.assert_close(g0, g1, atol=1e-6, rtol=1e-4)


# --- attention and RoPE -------------------------------------------------------------------


def test_rope_scores_depend_only_on_offset():
    torch.manual_seed(0)
    length, d = 64, 16
    cos, sin = rope_angles(length, d)
    q = torch.randn(d).expand(1, 1, length, d)  # the same vector at every position
    k = torch.randn(d).expand(1, 1, length, d)
    scores = (apply_rope(q, cos, sin) @ apply_rope(k, cos, sin).transpose(-1, -2))[0, 0]
    # shifting both positions by one leaves every score unchanged: scores[m, n] = f(m - n)
    torch.testing.assert_close(scores[1:, 1:], scores[:-1, :-1], atol=1e-4, rtol=1e-5)
    # and it is not trivially constant
    assert scores[0].std() > 0.1


def test_rope_is_a_rotation_and_identity_at_zero():
    torch.manual_seed(0)
    x = torch.randn(2, 3, 10, 8)
    cos, sin = rope_angles(10, 8)
    y = apply_rope(x, cos, sin)
    torch.testing.assert_close(y.norm(dim=-1), x.norm(dim=-1))
    torch.testing.assert_close(y[:, :, 0], x[:, :, 0])
    # hand-computed: position 1, first frequency 1 rad rotates the pair (x_0, x_4)
    c, s = math.cos(1.0), math.sin(1.0)
    torch.testing.assert_close(y[..., 1, 0], x[..., 1, 0] * c - x[..., 1, 4] * s)
    torch.testing.assert_close(y[..., 1, 4], x[..., 1, 4] * c + x[..., 1, 0] * s)


@pytest.mark.parametrize("qk_norm", [False, True])
@pytest.mark.parametrize("rotated", [8, 4, 0])  # full, partial and no RoPE of d = 8
def test_sdpa_attention_equals_reference(rotated, qk_norm):
    torch.manual_seed(0)
    b, length, dim, heads = 2, 12, 16, 2
    d = dim // heads
    attn = Attention(dim, heads=heads, qk_norm=qk_norm).eval()
    if qk_norm:
        with torch.no_grad():
            attn.log_temperature.copy_(torch.tensor([0.3, 2.0]))  # a different one per head
    x = torch.randn(b, length, dim)
    cos, sin = rope_angles(length, rotated)
    with torch.no_grad():
        got = attn(x, cos, sin)
        q, k, v = attn.to_qkv(x).chunk(3, dim=-1)  # (b, l, c) each
        q, k, v = (
            t.reshape(b, length, heads, d).transpose(1, 2) for t in (q, k, v)
        )  # (b, h, l, d)
        scale = 1 / math.sqrt(d)
        if qk_norm:  # unit q and k, scores times exp(t_h)
            q, k = q / q.norm(dim=-1, keepdim=True), k / k.norm(dim=-1, keepdim=True)
            scale = torch.tensor([0.3, 2.0]).exp().reshape(heads, 1, 1)
        r = rotated  # RoPE on dims [0, r) of each head, the rest as they are
        q = torch.cat([apply_rope(q[..., :r], cos, sin), q[..., r:]], dim=-1)
        k = torch.cat([apply_rope(k[..., :r], cos, sin), k[..., r:]], dim=-1)
        weights = torch.softmax(q @ k.transpose(-1, -2) * scale, dim=-1)
        out = (weights @ v).transpose(1, 2).reshape(b, length, dim)  # (b, l, c)
        want = attn.to_out(out)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_qk_norm_starts_at_the_usual_spread_and_its_temperature_is_not_decayed():
    from genomics.train.fit import make_optimizer

    attn = Attention(64, heads=4, qk_norm=True)
    torch.testing.assert_close(attn.log_temperature.exp(), torch.full((4,), 4.0))  # sqrt(16)
    opt = make_optimizer(attn, lr=1e-3, weight_decay=0.1, device=torch.device("cpu"))
    no_decay = [p for g in opt.param_groups if g["weight_decay"] == 0 for p in g["params"]]
    assert any(p is attn.log_temperature for p in no_decay)
    # and the temperature learns: a gradient reaches it
    attn(torch.randn(1, 10, 64), *rope_angles(10, 16)).square().sum().backward()
    assert attn.log_temperature.grad is not None and attn.log_temperature.grad.abs().sum() > 0


def test_partial_rope_unrotated_dims_score_by_content_at_any_distance():
    torch.manual_seed(0)
    length, dim = 32, 8
    attn = Attention(dim, heads=1).eval()
    x = torch.randn(1, length, dim)
    perm = torch.randperm(length)
    with torch.no_grad():
        # no rotated dims: no position information, so permuting the bins permutes the output
        none = rope_angles(length, 0)
        torch.testing.assert_close(attn(x[:, perm], *none), attn(x, *none)[:, perm])
        # with rotated dims it does not
        half = rope_angles(length, 4)
        assert not torch.allclose(attn(x[:, perm], *half), attn(x, *half)[:, perm], atol=1e-3)


def test_convformer_qk_norm_from_config():
    kw = dict(n_tracks=1, track_kinds=["coverage"], bin_size=16, crop_bins=0, dim=32, heads=2)
    model = build_model("convformer", **kw, depth=2, qk_norm=True).eval()
    temps = [b.attn.log_temperature for b in model.blocks]
    assert len(temps) == 2 and all(t.shape == (2,) for t in temps)
    assert build_model("convformer", **kw).blocks[0].attn.log_temperature is None  # default off
    assert model(random_one_hot(1, 512)).shape == (1, 32, 1)


def test_convformer_rope_fraction():
    kw = dict(n_tracks=1, track_kinds=["coverage"], bin_size=16, crop_bins=0, dim=32, heads=2)
    assert Convformer(**kw).rope_dims == 16
    assert Convformer(**kw, rope_fraction=0.5).rope_dims == 8
    assert Convformer(**kw, rope_fraction=0.3).rope_dims == 4  # rounded down to even
    assert Convformer(**kw, rope_fraction=0.0).rope_dims == 0
    y = Convformer(**kw, rope_fraction=0.5).eval()(random_one_hot(1, 512))
    assert y.shape == (1, 32, 1) and torch.isfinite(y).all()
    with pytest.raises(ValueError, match="rope_fraction must be in"):
        Convformer(**kw, rope_fraction=1.5)


# --- conv: shift equivariance and receptive field -----------------------------------------


def test_conv_shift_equivariance():
    bin_size, k, length = 16, 3, 2048
    model = small("conv", bin_size=bin_size)
    long = random_one_hot(1, length + k * bin_size)
    with torch.no_grad():
        y1 = model(long[..., :length])
        y2 = model(long[..., k * bin_size :])
    margin = math.ceil(model.receptive_field() / 2 / bin_size) + 1
    n = y1.shape[1]
    # y2 bin j sees the bases y1 bin j + k sees
    torch.testing.assert_close(
        y2[:, margin : n - margin - k], y1[:, margin + k : n - margin], atol=1e-5, rtol=1e-5
    )


def test_conv_receptive_field_default_hparams():
    model = build_model("conv", n_tracks=1, track_kinds=["coverage"], bin_size=128, crop_bins=0)
    # stem 15 + pool 1, six stages of (4 + 1) * stride, dilations 1, 2, 2, 3, 5, 8
    tower = 16 + sum(5 * 2**i for i in range(1, 7))
    assert model.dilations == [1, 2, 2, 3, 5, 8]
    assert model.receptive_field() == tower + 2 * 21 * 128 == 6022


def test_conv_zero_init_starts_as_the_tower_and_still_learns():
    x = random_one_hot(2, 1024)
    for zero_init in (False, True):
        model = small("conv", zero_init=zero_init)
        with torch.no_grad():
            trunk, tower = model.trunk(x), model.tower(x).transpose(1, 2)
        assert torch.equal(trunk, tower) == zero_init
    model.train()
    model(x).sum().backward()
    for block in model.blocks:
        assert block.fn[1][-1].weight.grad.abs().sum() > 0


@pytest.mark.parametrize("mlp", ["gelu", "swiglu"])
def test_convformer_zero_init_starts_as_the_tower_and_still_learns(mlp):
    x = random_one_hot(2, 1024)
    for zero_init in (False, True):
        model = small("convformer", zero_init=zero_init, mlp=mlp, depth=2)
        with torch.no_grad():
            trunk, tower = model.trunk(x), model.tower(x).transpose(1, 2)
        assert torch.equal(trunk, tower) == zero_init
    model.train()
    model(x).sum().backward()
    # the zeroed output layers (attention projection, MLP's last linear) get gradients
    out = [m for b in model.blocks for m in (b.attn.to_out, list(b.mlp[1].modules())[-1])]
    assert all(isinstance(m, torch.nn.Linear) and m.weight.grad.abs().sum() > 0 for m in out)


def test_conv_receptive_field_matches_gradient_and_perturbation():
    bin_size, length = 16, 2048
    model = small("conv", bin_size=bin_size).double()
    rf = model.receptive_field()
    x = random_one_hot(1, length).double().requires_grad_(True)
    j = 64
    model(x)[0, j].sum().backward()
    support = torch.nonzero(x.grad[0].abs().sum(0)).flatten()
    start = j * bin_size + bin_size // 2 - rf // 2
    assert support.tolist() == list(range(start, start + rf))
    # perturbing one base changes exactly the bins whose field holds it (in the float64
    # trunk: the head's float32 output can round a change of 1e-8 at the field's edge away)
    p = 1000
    x2 = x.detach().clone()
    x2[0, :, p] = x2[0, :, p].roll(1)
    with torch.no_grad():
        changed = (model.trunk(x2) - model.trunk(x.detach()))[0].abs().amax(-1) > 1e-12
    centres = torch.arange(length // bin_size) * bin_size + bin_size // 2
    expected = (centres - rf // 2 <= p) & (p < centres + rf // 2)
    assert changed.tolist() == expected.tolist()


# --- errors -------------------------------------------------------------------------------


def test_unknown_model_name():
    with pytest.raises(ValueError, match="unknown model 'enformer'; allowed: convformer"):
        build_model("enformer", n_tracks=1, track_kinds=["peaks"], bin_size=32, crop_bins=0)


def test_unknown_hparam():
    with pytest.raises(ValueError, match=r"unknown hyperparameter\(s\) 'depth'.*allowed: dim"):
        build_model("conv", n_tracks=1, track_kinds=["peaks"], bin_size=32, crop_bins=0, depth=3)


def test_seq_len_not_multiple_of_bin_size():
    model = small("conv", bin_size=128)
    with pytest.raises(ValueError, match="1000 is not a multiple of bin_size 128; use e.g. 1024"):
        model.output_bins(1000)
    with pytest.raises(ValueError, match="not a multiple of bin_size 128"):
        model(random_one_hot(1, 1000))


def test_crop_leaves_no_bins():
    model = small("conv", bin_size=32, crop_bins=8)
    with pytest.raises(ValueError, match="none left after cropping crop_bins 8.*at least 544"):
        model.output_bins(512)


@pytest.mark.parametrize("bin_size", [100, 0, 48])
def test_bin_size_not_power_of_two(bin_size):
    with pytest.raises(ValueError, match=f"bin_size {bin_size}.*power of two"):
        small("convformer", bin_size=bin_size)


def test_heads_must_divide_dim():
    with pytest.raises(ValueError, match="heads 3 does not divide dim 32"):
        small("convformer", heads=3)
    with pytest.raises(ValueError, match="head dimension 1, which must be even"):
        small("convformer", dim=8, heads=8)


def test_bad_values():
    with pytest.raises(ValueError, match="unknown track kind"):
        build_model("conv", n_tracks=1, track_kinds=["signal"], bin_size=32, crop_bins=0)
    with pytest.raises(ValueError, match="track_kinds has 2 entries for n_tracks 1"):
        build_model("conv", n_tracks=1, track_kinds=["peaks"] * 2, bin_size=32, crop_bins=0)
    with pytest.raises(ValueError, match="stem_kernel must be odd"):
        small("convrnn", stem_kernel=14)
    with pytest.raises(ValueError, match="pool must be one of attention, max"):
        small("conv", pool="mean")
    with pytest.raises(ValueError, match="expected a float one-hot tensor"):
        small("conv")(torch.zeros(1, 1024, 4))


# --- config -------------------------------------------------------------------------------


def test_schema_sections_match_model_hparams():
    cfg = load_config()
    for name in NAMES:
        assert cfg["model"][name] == model_hparams(name)


def test_default_config_builds_default_model():
    cfg = load_config()
    name = cfg["model"]["name"]
    model = build_model(
        name,
        n_tracks=2,
        track_kinds=["coverage", "peaks"],
        bin_size=cfg["targets"]["bin_size"],
        crop_bins=cfg["windows"]["crop_bins"],
        **cfg["model"][name],
    )
    assert 50_000 < sum(p.numel() for p in model.parameters()) < 2_000_000


# --- size and FLOPs -----------------------------------------------------------------------


def test_enformer_size_convformer_builds():
    n_tracks = 5313
    with torch.device("meta"):
        model = build_model(
            "convformer",
            n_tracks=n_tracks,
            track_kinds=["coverage"] * n_tracks,
            bin_size=128,
            crop_bins=320,
            dim=1536,
            depth=11,
            heads=8,
        )
    n_params = sum(p.numel() for p in model.parameters())
    assert 240e6 < n_params < 320e6  # Enformer: ~250M with smaller q/k projections
    assert model.output_bins(196_608) == 896
    flops = count_flops(model, 196_608)
    assert 5e12 < flops < 3e13


def test_count_flops_hand_computed_conv():
    bin_size, length, crop, t = 4, 256, 2, len(KINDS)
    model = small("conv", bin_size=bin_size, crop_bins=crop, dim=16, dilated_layers=2)
    c0, (c1,) = 8, model.tower.channels
    bins, dim, k_d = length // bin_size, 16, 3
    expected = (
        2 * length * 4 * c0 * 15  # stem conv
        + 2 * length * c0 * c0 * 2  # stem pointwise conv and pool logits
        + 2 * (length // 2) * c0 * c1 * 5  # stage conv
        + 2 * (length // 2) * c1 * c1 * 2  # stage pointwise conv and pool logits
        + 2 * (2 * bins * dim * (dim // 2) * k_d + 2 * bins * (dim // 2) * dim)  # dilated
        + 2 * (bins - 2 * crop) * (dim * 2 * dim + 2 * dim * t)  # head
    )
    assert count_flops(model, length, backward=False) == expected
    assert count_flops(model, length, batch=3, backward=False) == 3 * expected
    # backward: twice forward, minus the stem's input gradient
    assert 1.5 * expected < count_flops(model, length) - expected <= 2 * expected


def test_count_flops_scales_linearly_for_conv_and_keeps_model():
    model = build_model("conv", n_tracks=2, track_kinds=KINDS[:2], bin_size=128, crop_bins=0)
    model.train()
    f1, f2 = count_flops(model, 65_536), count_flops(model, 131_072)
    assert f1 > 0
    assert 1.98 < f2 / f1 < 2.02
    assert model.training
    assert all(p.device.type == "cpu" for p in model.parameters())


# --- training sanity ----------------------------------------------------------------------

MOTIF = [2, 0, 3, 3, 0, 1, 0]  # GATTACA


def toy_batch(g: torch.Generator, b: int, length: int, bin_size: int):
    """Random DNA with a motif planted in some bins; coverage and peaks follow the motif.

    Returns x, shape (b, 4, l), and targets, shape (b, l // bin_size, 3).
    """
    codes = torch.randint(0, 4, (b, length), generator=g)
    n_bins = length // bin_size
    has = torch.rand(b, n_bins, generator=g) < 0.3
    for i, j in has.nonzero().tolist():
        start = j * bin_size + int(torch.randint(0, bin_size - len(MOTIF), (1,), generator=g))
        codes[i, start : start + len(MOTIF)] = torch.tensor(MOTIF)
    x = F.one_hot(codes, 4).float().transpose(1, 2).contiguous()  # (b, 4, l)
    hasf = has.float()
    targets = torch.stack([4 * hasf + 0.2, hasf, 2 * hasf + 0.5], dim=-1)  # (b, l, t)
    return x, targets


def excess_loss(y: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Poisson deviance on coverage plus BCE on peaks (0 for a perfect model)."""
    cov, tc = y[..., [0, 2]], targets[..., [0, 2]]
    deviance = (cov - tc - tc * torch.log(cov.clamp_min(1e-8) / tc)).mean()
    return deviance + F.binary_cross_entropy_with_logits(y[..., 1], targets[..., 1])


@pytest.mark.slow
@pytest.mark.parametrize("name", NAMES)
def test_training_reduces_loss(name):
    bin_size, length = 32, 1024
    model = small(name, bin_size=bin_size)
    g = torch.Generator().manual_seed(1)
    x_eval, t_eval = toy_batch(g, 16, length, bin_size)
    with torch.no_grad():
        before = excess_loss(model(x_eval), t_eval).item()
    opt = torch.optim.Adam(model.parameters(), lr=3e-3)
    model.train()
    for _ in range(50):
        x, targets = toy_batch(g, 16, length, bin_size)
        y = model(x)
        loss = F.poisson_nll_loss(y[..., [0, 2]], targets[..., [0, 2]], log_input=False)
        loss = loss + F.binary_cross_entropy_with_logits(y[..., 1], targets[..., 1])
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    with torch.no_grad():
        after = excess_loss(model(x_eval), t_eval).item()
    assert after < 0.5 * before, (before, after)


# --- mixed precision and torch.compile (CPU always, CUDA when present) --------------------

CUDA = pytest.param(
    "cuda",
    marks=[
        pytest.mark.gpu,
        pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device"),
    ],
)


@pytest.mark.parametrize("device", ["cpu", CUDA])
@pytest.mark.parametrize("name", NAMES)
def test_bf16_autocast_forward_backward(name, device):
    """bf16 autocast: float32 rates out, finite gradients, close to the float32 model."""
    model = small(name, bin_size=128, crop_bins=1, checkpoint_blocks=True).to(device).train()
    x = random_one_hot(2, 4096).to(device)
    with torch.no_grad():
        reference = model(x)
    with torch.autocast(device, dtype=torch.bfloat16):
        y = model(x)
    y.mean().backward()
    assert y.dtype == torch.float32 and torch.isfinite(y).all()
    grads = [p.grad for p in model.parameters() if p.requires_grad]
    assert all(g is not None and torch.isfinite(g).all() for g in grads)
    torch.testing.assert_close(y.detach(), reference, atol=5e-2, rtol=5e-2)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("name", "device"),
    [("convformer", "cpu")] + [pytest.param(n, *CUDA.values, marks=CUDA.marks) for n in NAMES],
)
def test_compile_matches_eager_under_bf16(name, device):
    """torch.compile (one graph, no breaks, except around the convrnn's GRU) gives the
    eager model's output under bf16 autocast. On CPU only the main model: compiling is slow
    there (~1 min)."""
    model = small(name, bin_size=128, crop_bins=1).to(device).eval()
    x = random_one_hot(2, 4096).to(device)
    compiled = torch.compile(model, fullgraph=name != "convrnn")
    with torch.no_grad(), torch.autocast(device, dtype=torch.bfloat16):
        torch.testing.assert_close(compiled(x), model(x), atol=5e-2, rtol=5e-2)


def test_attention_pool_is_a_softmax_over_each_pair():
    """The sigmoid form gives Enformer's softmax-weighted pair pooling, values and gradients."""
    torch.manual_seed(0)
    pool = AttentionPool(6)
    torch.nn.init.normal_(pool.to_logits.weight)  # not the identity start: mix channels
    x = torch.randn(2, 6, 10, dtype=torch.float64, requires_grad=True)
    pool = pool.double()

    def reference(x):
        logits = pool.to_logits(x).unflatten(-1, (5, 2))
        return (x.unflatten(-1, (5, 2)) * logits.softmax(dim=-1)).sum(dim=-1)

    y, y_ref = pool(x), reference(x)
    assert y.shape == (2, 6, 5)
    torch.testing.assert_close(y, y_ref, rtol=1e-12, atol=1e-12)
    g = torch.randn_like(y)
    grads = torch.autograd.grad(y, [x, pool.to_logits.weight], g)
    grads_ref = torch.autograd.grad(y_ref, [x, pool.to_logits.weight], g)
    for a, b in zip(grads, grads_ref, strict=True):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)


@pytest.mark.parametrize("name", NAMES)
def test_exp_stem_activation(name):
    """stem_activation "exp" puts an exponential after the stem conv; the field is unchanged."""
    from genomics.models.layers import EXP_CLAMP

    plain, exp = small(name, stem_activation="none"), small(name, stem_activation="exp")
    assert exp.tower.receptive_field() == plain.tower.receptive_field()
    x = random_one_hot(1, 256)
    with torch.no_grad():
        conv = exp.tower.stem[0](x)
        after = exp.tower.stem[1](conv)
        y = exp(x)
    torch.testing.assert_close(after, torch.exp(conv.clamp(max=EXP_CLAMP)))
    assert torch.isfinite(y).all()
    huge = torch.full((1, 4, 256), 100.0)  # far past the clamp: finite, not inf
    with torch.no_grad():
        assert torch.isfinite(exp(huge)).all()
    with pytest.raises(ValueError, match="stem_activation"):
        small(name, stem_activation="relu")


@pytest.mark.parametrize("name", NAMES)
def test_wide_stem_filters(name):
    """stem_filters above stem_channels widens only the first conv (pooled, then projected
    to stem_channels); at or below it the architecture is exactly the default's."""
    plain = small(name, stem_activation="exp")
    c0 = plain.tower.stem[0].out_channels
    wide = small(name, stem_activation="exp", stem_filters=3 * c0)
    assert wide.tower.stem[0].out_channels == 3 * c0
    assert wide.tower.receptive_field() == plain.tower.receptive_field()
    x = random_one_hot(2, 256)
    with torch.no_grad():
        assert wide(x).shape == plain(x).shape
        stem = wide.tower.stem(x)
    assert stem.shape == (2, c0, 128)  # pooled once, back to stem_channels
    assert sum(p.numel() for p in wide.parameters()) > sum(p.numel() for p in plain.parameters())
    same = small(name, stem_activation="exp", stem_filters=c0)
    shapes = {k: v.shape for k, v in plain.state_dict().items()}
    assert {k: v.shape for k, v in same.state_dict().items()} == shapes
    with pytest.raises(ValueError, match="stem_filters"):
        small(name, stem_filters=-1)


def test_model_saved_before_stem_activation_loads_without_it(tmp_path):
    """The convformer's default stem activation is exp now; a model.json written before the
    key existed had none and must load as it was trained (same outputs), not with exp.
    save_model states every hyperparameter, so new files do not depend on defaults."""
    import json

    from genomics.models.saved import build_from_spec, load_model, save_model

    hp = {"dim": 16, "depth": 1, "heads": 2, "pool": "max"}
    spec = {"format_version": 1, "name": "convformer", "hparams": hp, "n_tracks": 2,
            "track_kinds": ["coverage", "peaks"], "bin_size": 128, "crop_bins": 0,
            "seq_len": 1024}  # fmt: skip
    torch.manual_seed(0)
    old = build_from_spec({**spec, "hparams": {**hp, "stem_activation": "none"}}).eval()
    save_model(tmp_path / "m", old, spec)
    written = json.loads((tmp_path / "m" / "model.json").read_text())
    assert written["hparams"]["stem_activation"] == "exp"  # partial spec: the default stated
    written["hparams"].pop("stem_activation")  # as a file from before the key existed
    (tmp_path / "m" / "model.json").write_text(json.dumps(written))
    loaded, _ = load_model(tmp_path / "m")
    x = random_one_hot(1, 1024)
    with torch.no_grad():
        torch.testing.assert_close(loaded(x), old(x))
    assert small("convformer").tower.stem[1].__class__.__name__ == "_Exp"  # the new default


def test_precision_auto_uses_bf16_only_where_the_cpu_has_it(monkeypatch):
    """``auto`` trains in bf16 on a CPU with bf16 units, fp32 on one without (emulated bf16
    is slower) and at inference; explicit choices are kept; a bad name is an error."""
    from genomics.inference import device as dev

    cpu = torch.device("cpu")
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: True)
    assert dev.resolve_precision("auto", cpu, cpu_auto_bf16=True) == torch.bfloat16
    assert dev.resolve_precision("auto", cpu) == torch.float32  # inference: fp32 on CPU
    monkeypatch.setattr(dev, "cpu_has_bf16", lambda: False)
    assert dev.resolve_precision("auto", cpu, cpu_auto_bf16=True) == torch.float32
    assert dev.resolve_precision("bf16", cpu) == torch.bfloat16
    assert dev.resolve_precision("fp32", cpu, cpu_auto_bf16=True) == torch.float32
    with pytest.raises(ValueError, match="choose auto, bf16 or fp32"):
        dev.resolve_precision("fp16", cpu)
