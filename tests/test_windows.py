import logging

import pytest

from genomics.data.genome import GenomeStore, build_genome_store
from genomics.data.intervals import Region, parse_region
from genomics.data.windows import (
    assign_split,
    build_windows,
    held_out_regions,
    read_windows,
    shift_room,
    spread_sample,
    tile_windows,
    windows_manifest,
)
from genomics.io import StoreError

from conftest import write_fasta


@pytest.fixture
def genome(tmp_path):
    seqs = {
        "chr1": "ACGT" * 250,  # 1000 bp
        "chr2": "ACGT" * 100 + "N" * 200 + "ACGT" * 100,  # 1000 bp, N in the middle
        "chr3": "ACGT" * 37,  # 148 bp: shorter than a window
    }
    build_genome_store(write_fasta(tmp_path / "g.fa", seqs), tmp_path / "genome")
    return GenomeStore(tmp_path / "genome")


def test_parse_region():
    assert parse_region("chr8") == Region("chr8")
    assert parse_region("chr20:40,000,001-46,000,000") == Region("chr20", 40_000_000, 46_000_000)
    assert parse_region(" 20:1-10 ") == Region("20", 0, 10)
    for bad in ["chr1:10", "chr1:0-5", "chr1:9-5", "chr1:a-b", ""]:
        with pytest.raises(ValueError, match="region"):
            parse_region(bad)


def test_tile_windows_hand_values():
    ws = tile_windows({"a": 1000, "b": 250}, length=400, stride=200)
    assert ws == [("a", 0, 400), ("a", 200, 600), ("a", 400, 800), ("a", 600, 1000)]


def test_assign_split_rules():
    valid = [Region("c", 1000, 2000)]
    test = [Region("d", 0, 10_000)]
    assert assign_split(("c", 1000, 1500), valid, test) == "valid"
    assert assign_split(("c", 900, 1400), valid, test) is None  # straddles
    assert assign_split(("c", 2000, 2500), valid, test) == "train"  # half-open: touches only
    assert assign_split(("d", 200, 700), valid, test) == "test"
    assert assign_split(("e", 0, 500), valid, test) == "train"


def test_shift_room_hand_values():
    keep_out = [Region("c", 1000, 2000), Region("c", 5000, 6000), Region("d", 0, 300)]
    windows = [
        ("c", 2000, 2500),  # touches the first region: no room left, 3 bins right
        ("c", 2100, 2600),  # 100 bp = 2 bins left
        ("c", 3000, 3500),  # far from both: the cap
        ("c", 4500, 4950),  # 50 bp before the second region: 1 bin right
        ("c", 4500, 4990),  # 10 bp: not a whole bin
        ("c", 1500, 1900),  # overlaps a region (not a train window): no shift
        ("d", 300, 800),  # another chromosome's region
        ("e", 0, 500),  # no region on this chromosome: chromosome ends are no limit
    ]
    room = shift_room(windows, keep_out, bin_size=50, max_bins=3)
    assert room.tolist() == [[0, 3], [2, 3], [3, 3], [3, 1], [3, 0], [0, 0], [0, 3], [3, 3]]
    assert shift_room(windows, [], bin_size=50, max_bins=2).tolist() == [[2, 2]] * len(windows)


def test_spread_sample_covers_the_whole_split():
    ws = [("c", s, s + 10) for s in range(0, 100, 10)]
    assert [w[1] for w in spread_sample(ws, 4)] == [0, 30, 60, 90]
    assert [w[1] for w in spread_sample(ws, 1)] == [0]
    assert spread_sample(ws, 10) == spread_sample(ws, 50) == ws
    assert len(set(spread_sample(ws, 9))) == 9  # no window twice


def test_held_out_regions_come_from_the_manifest(genome, tmp_path):
    build_windows(
        genome, tmp_path / "w", length=200, stride=100, bin_size=50, valid=["chr1:1-400"],
        test=["2"], max_n_fraction=0.25,
    )  # fmt: skip
    regions = held_out_regions(windows_manifest(tmp_path / "w"), genome)
    assert regions == [Region("chr1", 0, 400), Region("chr2", 0, 1000)]


def test_build_windows_splits_and_filters(genome, tmp_path):
    counts = build_windows(
        genome,
        tmp_path / "w",
        length=200,
        stride=100,
        bin_size=50,
        valid=["chr1:1-400"],
        test=["2"],
        max_n_fraction=0.25,
    )
    valid = read_windows(tmp_path / "w", "valid")
    test = read_windows(tmp_path / "w", "test")
    train = read_windows(tmp_path / "w", "train")
    assert valid == [("chr1", 0, 200), ("chr1", 100, 300), ("chr1", 200, 400)]
    assert ("chr1", 300, 500) not in train  # straddles the valid boundary
    assert train[0] == ("chr1", 400, 600) and train[-1] == ("chr1", 800, 1000)
    # chr2: N from 400 to 600; windows with > 25% N dropped
    assert [w[1] for w in test] == [0, 100, 200, 600, 700, 800]
    assert counts["dropped_n"] == 3 and counts["dropped_boundary"] == 1
    assert counts["train"] == len(train) == 5


def test_blacklist(genome, tmp_path):
    bl = tmp_path / "bl.bed"
    bl.write_text("1\t450\t460\n# comment\nchrX\t0\t10\n")
    build_windows(
        genome,
        tmp_path / "w",
        length=200,
        stride=100,
        bin_size=50,
        valid=["chr1:1-400"],
        test=["chr2"],
        blacklist=bl,
    )
    starts = [w[1] for w in read_windows(tmp_path / "w", "train")]
    assert starts == [500, 600, 700, 800]  # 300-500 straddles, 400-600 blacklisted


def test_empty_split_is_an_error(genome, tmp_path):
    with pytest.raises(ValueError, match=r"split 'valid' has no windows of 200 bp .*chr3"):
        build_windows(
            genome,
            tmp_path / "w",
            length=200,
            stride=100,
            bin_size=50,
            valid=["chr3"],
            test=["chr2"],
        )
    with pytest.raises(StoreError):
        read_windows(tmp_path / "w", "train")


def test_bad_inputs(genome, tmp_path):
    kw = dict(length=200, stride=100, bin_size=50)
    with pytest.raises(
        ValueError, match=r"windows.split.test: chromosome 'chr9' is not in the genome"
    ):
        build_windows(genome, tmp_path / "w", valid=["chr1"], test=["chr9"], **kw)
    with pytest.raises(ValueError, match="valid region .* overlaps a test region"):
        build_windows(genome, tmp_path / "w", valid=["chr1:1-500"], test=["chr1:401-900"], **kw)
    with pytest.raises(ValueError, match="must be multiples of targets.bin_size 64"):
        build_windows(
            genome,
            tmp_path / "w",
            valid=["chr1"],
            test=["chr2"],
            length=200,
            stride=100,
            bin_size=64,
        )
    bad = tmp_path / "bad.bed"
    bad.write_text("chr1\t10\n")
    with pytest.raises(ValueError, match=r"bad.bed line 1: expected"):
        build_windows(genome, tmp_path / "w", valid=["chr1"], test=["chr2"], blacklist=bad, **kw)
    with pytest.raises(ValueError, match="split 'nope'"):
        read_windows(tmp_path / "w", "nope")


def _build(genome, out, **kw):
    """build_windows with 200-bp windows, chr1:1-400 valid, chr2 test, unless overridden."""
    args = dict(length=200, stride=100, bin_size=50, valid=["chr1:1-400"], test=["chr2"])
    return build_windows(genome, out, **{**args, **kw})


def test_failed_rebuild_leaves_the_old_windows_trusted(genome, tmp_path):
    _build(genome, tmp_path / "w")
    before = read_windows(tmp_path / "w", "valid")
    with pytest.raises(ValueError, match="split 'valid' has no windows"):
        _build(genome, tmp_path / "w", valid=["chr1:1-100"])
    assert read_windows(tmp_path / "w", "valid") == before


def test_overlap_error_names_regions_as_written(genome, tmp_path):
    with pytest.raises(ValueError, match=r"valid region chr1:1-500 overlaps a test region$"):
        _build(genome, tmp_path / "w", valid=["chr1:1-500"], test=["chr1:401-900"])


def test_blacklist_of_another_naming_is_warned(genome, tmp_path, caplog):
    bl = tmp_path / "bl.bed"
    bl.write_text("scaffold_1\t450\t460\nscaffold_2\t0\t10\n")
    with caplog.at_level(logging.WARNING, logger="genomics.data.windows"):
        _build(genome, tmp_path / "w", blacklist=bl)
    assert "2 chromosome name(s) not in the genome store, ignored: scaffold_1" in caplog.text
    assert "no interval of this file is used" in caplog.text
    with pytest.raises(FileNotFoundError, match=r"windows\.blacklist: BED file .*nope\.bed does"):
        _build(genome, tmp_path / "w", blacklist=tmp_path / "nope.bed")
