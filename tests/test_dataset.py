import pickle

import numpy as np
import pyBigWig
import pytest
import torch

from genomics.data.dataset import WindowDataset, WindowSampler, make_loader
from genomics.data.encoding import decode, one_hot, one_hot_torch, reverse_complement_codes
from genomics.data.genome import GenomeStore, build_genome_store
from genomics.data.intervals import Region
from genomics.data.targets import TargetStore, build_target_store

from conftest import write_fasta

BIN = 32
LENGTH = 512


@pytest.fixture(scope="module")
def stores(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("stores")
    rng = np.random.default_rng(0)
    sizes = {"chr1": 4000, "chr2": 3000}
    seqs = {c: decode(rng.integers(0, 4, n).astype(np.uint8)) for c, n in sizes.items()}
    build_genome_store(write_fasta(tmp / "g.fa", seqs), tmp / "genome")
    tracks = []
    for t in range(2):
        path = tmp / f"t{t}.bw"
        bw = pyBigWig.open(str(path), "w")
        bw.addHeader(list(sizes.items()))
        for c, n in sizes.items():
            bw.addEntries(c, 0, values=rng.random(n).astype(float).tolist(), span=1, step=1)
        bw.close()
        tracks.append({"name": f"t{t}", "path": str(path)})
    bed = tmp / "p.bed"
    bed.write_text("chr1\t100\t300\nchr2\t1000\t1010\n")
    tracks.append({"name": "p", "path": str(bed)})
    genome = GenomeStore(tmp / "genome")
    build_target_store(genome, tracks, tmp / "targets", bin_size=BIN)
    return genome, TargetStore(tmp / "targets")


WINDOWS = [("chr1", s, s + LENGTH) for s in range(0, 3000, 256)] + [("chr2", 1024, 1024 + LENGTH)]


def test_item_matches_stores(stores):
    genome, targets = stores
    ds = WindowDataset(genome, targets, WINDOWS, crop_bins=2)
    x, y = ds[3]
    chrom, start, end = WINDOWS[3]
    assert x.shape == (4, LENGTH) and x.dtype == torch.float32
    assert y.shape == (LENGTH // BIN - 4, 3) and y.dtype == torch.float32
    np.testing.assert_array_equal(x.numpy(), one_hot(genome.fetch(chrom, start, end)))
    np.testing.assert_array_equal(y.numpy(), targets.fetch(chrom, start // BIN + 2, end // BIN - 2))


def test_shift_and_reverse_complement_move_targets_consistently(stores):
    genome, targets = stores
    ds = WindowDataset(genome, targets, WINDOWS, shift_bins=3, reverse_complement=True, seed=7)
    seen = set()
    for epoch in range(6):
        for i in range(len(WINDOWS)):
            shift, rc = ds.augmentation(i, epoch)
            seen.add((shift, rc))
            x, y = ds[(i, epoch)]
            chrom, start, end = WINDOWS[i]
            s = start + shift * BIN
            codes = genome.fetch(chrom, s, s + LENGTH)
            y0 = targets.fetch(chrom, s // BIN, s // BIN + LENGTH // BIN)
            if rc:
                codes, y0 = reverse_complement_codes(codes), y0[::-1]
            np.testing.assert_array_equal(x.numpy(), one_hot(codes))
            np.testing.assert_array_equal(y.numpy(), y0)
    assert {s for s, _ in seen} == {-3, -2, -1, 0, 1, 2, 3}
    assert {r for _, r in seen} == {True, False}


def test_augmentation_is_a_function_of_seed_epoch_index(stores):
    genome, targets = stores
    a = WindowDataset(genome, targets, WINDOWS, shift_bins=2, reverse_complement=True, seed=1)
    b = WindowDataset(genome, targets, WINDOWS, shift_bins=2, reverse_complement=True, seed=1)
    c = WindowDataset(genome, targets, WINDOWS, shift_bins=2, reverse_complement=True, seed=2)
    assert [a.augmentation(i, 4) for i in range(10)] == [b.augmentation(i, 4) for i in range(10)]
    assert [a.augmentation(i, 4) for i in range(10)] != [c.augmentation(i, 4) for i in range(10)]
    assert [a.augmentation(i, 4) for i in range(10)] != [a.augmentation(i, 5) for i in range(10)]
    # plain indices (evaluation) are never augmented
    np.testing.assert_array_equal(
        a[2][0].numpy(), WindowDataset(genome, targets, WINDOWS)[2][0].numpy()
    )


def test_shift_never_reaches_a_held_out_region(stores):
    """Train windows between two held-out regions: shifts toward a region are cut to the
    room left; other shifts and the strands are those of an unconstrained dataset."""
    genome, targets = stores
    held_out = [Region("chr1", 0, 448), Region("chr1", 2080, 4000)]
    train = [w for w in WINDOWS if w[0] == "chr1" and 448 <= w[1] and w[2] <= 2080]
    assert train == [("chr1", s, s + LENGTH) for s in (512, 768, 1024, 1280, 1536)]
    kw = dict(shift_bins=3, reverse_complement=True, seed=3)
    free = WindowDataset(genome, targets, train, **kw)
    kept = WindowDataset(genome, targets, train, keep_out=held_out, **kw)
    reached = cut = 0
    for epoch in range(40):
        for i, (chrom, start, _) in enumerate(train):
            (s_free, rc_free), (s_kept, rc) = (
                free.augmentation(i, epoch),
                kept.augmentation(i, epoch),
            )
            assert rc == rc_free
            lo = start + s_kept * BIN
            assert all(lo + LENGTH <= r.start or r.end <= lo for r in held_out), (i, epoch)
            lo_free = start + s_free * BIN
            reached += any(lo_free + LENGTH > r.start and r.end > lo_free for r in held_out)
            cut += s_kept != s_free
            codes = genome.fetch(chrom, lo, lo + LENGTH)
            x, _ = kept[(i, epoch)]
            np.testing.assert_array_equal(
                x.numpy(), one_hot(reverse_complement_codes(codes) if rc else codes)
            )
    assert reached > 0 and cut == reached
    # 64 bp = 2 bins of room left of the first window, 32 bp = 1 bin right of the last
    assert {kept.augmentation(0, e)[0] for e in range(40)} == {-2, -1, 0, 1, 2, 3}
    assert {kept.augmentation(4, e)[0] for e in range(40)} == {-3, -2, -1, 0, 1}


def test_codes_encoding(stores):
    genome, targets = stores
    one = WindowDataset(genome, targets, WINDOWS, shift_bins=1, reverse_complement=True)
    codes = WindowDataset(
        genome, targets, WINDOWS, shift_bins=1, reverse_complement=True, encoding="codes"
    )
    x, _ = codes[(5, 2)]
    assert x.dtype == torch.uint8 and x.shape == (LENGTH,)
    np.testing.assert_array_equal(one_hot_torch(x).numpy(), one[(5, 2)][0].numpy())


def test_dataset_holds_no_genome(stores):
    genome, targets = stores
    ds = WindowDataset(genome, targets, WINDOWS)
    ds[0]  # opens memory maps
    assert len(pickle.dumps(ds)) < 20_000


def test_sampler_covers_each_item_once_per_epoch():
    s = WindowSampler(10, batch_size=3, shuffle=True, seed=0, drop_last=False)
    for epoch in range(3):
        s.set_position(epoch)
        batches = list(s)
        assert len(batches) == len(s) == 4
        items = [i for b in batches for i, e in b]
        assert all(e == epoch for b in batches for _, e in b)
        assert sorted(items[:10]) == list(range(10))
    s.set_position(0)
    first = list(s)
    s.set_position(1)
    assert list(s) != first


def test_sampler_resumes_mid_epoch():
    s = WindowSampler(50, batch_size=4, seed=3)
    s.set_position(2)
    full = list(s)
    s.set_position(2, 5)
    assert list(s) == full[5:]
    # the next iteration starts the epoch from its beginning again
    s.set_position(2)
    assert list(s) == full


def test_sampler_ranks_share_each_block():
    world = [WindowSampler(40, batch_size=3, seed=1, rank=r, world_size=2) for r in range(2)]
    single = WindowSampler(40, batch_size=6, seed=1)
    per_rank = [list(s) for s in world]
    for b, batch in enumerate(single):
        joined = sorted(per_rank[0][b] + per_rank[1][b])
        assert joined == sorted(batch)
        assert not set(per_rank[0][b]) & set(per_rank[1][b])


def test_sampler_errors():
    with pytest.raises(ValueError, match="positive batch size"):
        WindowSampler(10, batch_size=0)
    with pytest.raises(ValueError, match="rank 2 outside world size 2"):
        WindowSampler(10, batch_size=1, rank=2, world_size=2)


def test_loader_workers_give_identical_batches(stores):
    genome, targets = stores
    ds = WindowDataset(genome, targets, WINDOWS, shift_bins=1, reverse_complement=True)
    out = []
    for workers in (0, 2):
        s = WindowSampler(len(ds), batch_size=2, seed=0)
        s.set_position(1)
        out.append([(x.clone(), y.clone()) for x, y in make_loader(ds, s, num_workers=workers)])
    assert len(out[0]) == len(out[1]) == len(WINDOWS) // 2
    for (x0, y0), (x1, y1) in zip(*out, strict=True):
        assert torch.equal(x0, x1) and torch.equal(y0, y1)


def test_making_a_loader_leaves_the_global_rng_alone(stores):
    genome, targets = stores
    ds = WindowDataset(genome, targets, WINDOWS)
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for _ in make_loader(ds, batch_size=4):
        pass
    assert torch.equal(torch.rand(3), expected)


def test_errors(stores, tmp_path):
    genome, targets = stores
    with pytest.raises(ValueError, match="different lengths"):
        WindowDataset(genome, targets, [("chr1", 0, 512), ("chr1", 0, 256)])
    with pytest.raises(ValueError, match="not a multiple of the target store's bin size 32"):
        WindowDataset(genome, targets, [("chr1", 0, 500)])
    with pytest.raises(ValueError, match="leaves no bins"):
        WindowDataset(genome, targets, WINDOWS, crop_bins=8)
    # windows cut for another bin size: targets would not line up with the sequence
    with pytest.raises(ValueError, match=r"1 windows do not start on a 32-bp bin edge .*chr1:16"):
        WindowDataset(genome, targets, [("chr1", 0, 512), ("chr1", 16, 528)])
    with pytest.raises(ValueError, match="no windows"):
        WindowDataset(genome, targets, [])
    with pytest.raises(ValueError, match="'chr9' is not in the genome store"):
        WindowDataset(genome, targets, [("chr9", 0, 512)])
    build_genome_store(write_fasta(tmp_path / "o.fa", {"chr1": "ACGT" * 1000}), tmp_path / "other")
    with pytest.raises(ValueError, match="genomics targets"):
        WindowDataset(GenomeStore(tmp_path / "other"), targets, WINDOWS)


def test_evaluate_loss_is_a_mean_per_window_whatever_the_batch_size(stores):
    """5 windows in batches of 4: the short last batch counts as one window, not as four."""
    from genomics.inference.scoring import evaluate_dataset

    genome, targets = stores
    windows = WINDOWS[:5]
    ds = WindowDataset(genome, targets, windows)

    class Rates(torch.nn.Module):
        """A different constant rate per window (its GC content): a different loss each."""

        def forward(self, x):  # (b, 4, l) -> (b, l // BIN, 3)
            gc = x[:, 1:3].sum(dim=(1, 2)) / x.shape[-1]
            return gc[:, None, None].expand(-1, LENGTH // BIN, 3).contiguous() + 0.1

    kw = dict(
        names=["t0", "t1", "p"], kinds=["coverage"] * 2 + ["peaks"], device=torch.device("cpu")
    )
    losses = [evaluate_dataset(Rates(), ds, batch_size=b, **kw)["loss"] for b in (1, 4, 5)]
    assert losses[0] == pytest.approx(losses[1], rel=1e-6) and losses[0] == pytest.approx(
        losses[2], rel=1e-6
    )
    assert evaluate_dataset(Rates(), ds, batch_size=4, **kw)["windows"] == 5
