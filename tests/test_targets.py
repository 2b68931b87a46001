"""Target store: track list, binning kernels, store build and reader."""

from __future__ import annotations

import gzip
import json
import logging
import os
import pickle

import numpy as np
import pyBigWig
import pytest

from genomics.data.binning import (
    bigwig_bins,
    integrate,
    iter_bigwig_bins,
    peak_bins,
    transform,
)
from genomics.data.genome import GenomeStore, build_genome_store
from genomics.data.intervals import read_peaks
from genomics.data.targets import TargetStore, build_target_store
from genomics.data.tracks import load_tracks, sniff_kind
from genomics.io import StoreError, content_digest

from conftest import dies_on_call, write_fasta

CEBPB = "encode-chip-test-hg38"
CEBPB_FC = (
    "rep1.subsampled.25.merged.nodup.pooled_x_ctl1.subsampled.25.merged.nodup.pooled"
    ".fc.signal.bigwig"
)
CEBPB_PEAKS = (
    "rep1.subsampled.25.merged.nodup_x_ctl1.subsampled.25.merged.nodup.pooled"
    ".pval0.01.500K.narrowPeak.gz"
)
DREAM_PEAKS = "encode-dream-tf-peaks-hg19/ChIPseq.A549.CEBPB.conservative.train.narrowPeak.gz"
HG19_CHR20 = 63_025_520


# ---------------------------------------------------------------- fixtures built by code


def _genome(tmp_path, sizes: dict[str, int], name: str = "genome") -> GenomeStore:
    rng = np.random.default_rng(len(name))
    records = {c: "".join(rng.choice(list("ACGT"), size=n)) for c, n in sizes.items()}
    fasta = write_fasta(tmp_path / f"{name}.fa", records)
    build_genome_store(fasta, tmp_path / name, progress=False)
    return GenomeStore(tmp_path / name)


def _bigwig(path, sizes: dict[str, int], entries: list[tuple[str, int, int, float]]):
    """Write a bigWig; ``entries`` are (chrom, start, end, value), sorted per chromosome."""
    bw = pyBigWig.open(str(path), "w")
    bw.addHeader(list(sizes.items()))
    for chrom in sizes:
        mine = [e for e in entries if e[0] == chrom]
        if mine:
            bw.addEntries(
                [e[0] for e in mine],
                [e[1] for e in mine],
                ends=[e[2] for e in mine],
                values=[float(e[3]) for e in mine],
            )
    bw.close()
    return path


def _bed(path, lines: list[str]):
    text = "".join(line + "\n" for line in lines)
    if str(path).endswith(".gz"):
        with gzip.open(path, "wt") as fh:
            fh.write(text)
    else:
        path.write_text(text)
    return path


def _random_intervals(rng, length: int, n: int):
    """Sorted, disjoint intervals with gaps and a few NaN values."""
    cuts = np.sort(rng.choice(np.arange(1, length), size=2 * n, replace=False))
    starts, ends = cuts[0::2], cuts[1::2]
    values = rng.normal(2.0, 1.5, size=n).astype(np.float32)
    values[rng.random(n) < 0.1] = np.nan
    return starts, ends, values


def _slow_bins(bw, chrom: str, length: int, bin_size: int, aggregate: str = "sum"):
    """The reference route: per-base values, NaN as 0, reshaped into bins."""
    n_bins = -(-length // bin_size)
    per_base = np.zeros(n_bins * bin_size)
    have = min(length, bw.chroms()[chrom])
    per_base[:have] = np.nan_to_num(bw.values(chrom, 0, have, numpy=True))
    sums = per_base.reshape(n_bins, bin_size).sum(axis=1)  # (n_bins,)
    if aggregate == "mean":
        widths = (
            np.minimum(np.arange(1, n_bins + 1) * bin_size, length) - np.arange(n_bins) * bin_size
        )
        return sums / widths
    return sums


# ---------------------------------------------------------------- bigWig kernel


@pytest.fixture
def golden_bw(tmp_path):
    # length 47, bins of 10: [0,10) [10,20) [20,30) [30,40) [40,47)
    entries = [
        ("chr1", 0, 5, 1.0),
        ("chr1", 5, 12, 2.0),
        ("chr1", 12, 15, float("nan")),
        ("chr1", 20, 30, 0.5),
        ("chr1", 44, 47, 4.0),
    ]
    return _bigwig(tmp_path / "golden.bw", {"chr1": 47}, entries)


def test_bigwig_golden_sum_and_mean(golden_bw):
    bw = pyBigWig.open(str(golden_bw))
    sums = bigwig_bins(bw, "chr1", 47, bin_size=10, aggregate="sum")
    np.testing.assert_allclose(sums, [5 * 1 + 5 * 2, 2 * 2 + 0, 10 * 0.5, 0, 3 * 4])
    means = bigwig_bins(bw, "chr1", 47, bin_size=10, aggregate="mean")
    np.testing.assert_allclose(means, [1.5, 0.4, 0.5, 0.0, 12 / 7])  # last bin has 7 bases


def test_integrate_hand_values():
    # signal 1 on [2,4), 3 on [6,7); intervals may reach past the edges
    got = integrate(
        np.array([2, 6]), np.array([4, 7]), np.array([1.0, 3.0]), np.array([0, 3, 6, 10])
    )
    np.testing.assert_allclose(got, [1, 1, 3])
    assert integrate(np.array([]), np.array([]), np.array([]), np.array([0, 5, 9])).tolist() == [
        0,
        0,
    ]


@pytest.mark.parametrize("seed", range(4))
def test_bigwig_fast_equals_slow(tmp_path, seed):
    rng = np.random.default_rng(seed)
    length = int(rng.integers(5_000, 20_000))
    starts, ends, values = _random_intervals(rng, length, int(rng.integers(50, 400)))
    entries = [
        ("c", int(s), int(e), float(v)) for s, e, v in zip(starts, ends, values, strict=True)
    ]
    bw = pyBigWig.open(str(_bigwig(tmp_path / "r.bw", {"c": length}, entries)))
    for aggregate in ("sum", "mean"):
        bin_size = int(rng.integers(1, 300))
        chunk = int(rng.integers(1, 4_000))
        fast = bigwig_bins(
            bw, "c", length, bin_size=bin_size, aggregate=aggregate, chunk_size=chunk
        )
        np.testing.assert_allclose(
            fast, _slow_bins(bw, "c", length, bin_size, aggregate), rtol=1e-10, atol=1e-9
        )


def test_bigwig_bins_invariant_to_chunk_size(tmp_path):
    rng = np.random.default_rng(7)
    starts, ends, values = _random_intervals(rng, 30_000, 500)
    entries = [
        ("c", int(s), int(e), float(v)) for s, e, v in zip(starts, ends, values, strict=True)
    ]
    bw = pyBigWig.open(str(_bigwig(tmp_path / "r.bw", {"c": 30_000}, entries)))
    ref = bigwig_bins(bw, "c", 30_000, bin_size=32, chunk_size=1 << 30)
    for chunk in (1, 32, 100, 1_000, 4_096, 29_999):
        got = bigwig_bins(bw, "c", 30_000, bin_size=32, chunk_size=chunk)
        np.testing.assert_allclose(got, ref, rtol=1e-12, atol=1e-9)
    # chunks are whole bins and cover the chromosome exactly once
    firsts = [
        (f, len(v)) for f, v in iter_bigwig_bins(bw, "c", 30_000, bin_size=32, chunk_size=100)
    ]
    assert firsts[:2] == [(0, 3), (3, 3)] and sum(n for _, n in firsts) == 938


def test_bigwig_shorter_than_genome_chrom_pads_zeros(golden_bw):
    bw = pyBigWig.open(str(golden_bw))
    got = bigwig_bins(bw, "chr1", 65, bin_size=10)
    np.testing.assert_allclose(got, [15, 4, 5, 0, 12, 0, 0])


def test_bigwig_overlapping_intervals_are_an_error():
    class Overlapping:  # pyBigWig will not write such a file; other writers might
        def chroms(self):
            return {"c": 100}

        def intervals(self, chrom, start, end):
            return ((0, 10, 1.0), (5, 20, 2.0))

    with pytest.raises(ValueError, match=r"x\.bw: overlapping intervals on c at 0-10 and 5-20"):
        bigwig_bins(Overlapping(), "c", 100, bin_size=10, source="x.bw")


# ---------------------------------------------------------------- peaks kernel


def test_peaks_fraction_and_binary_overlapping_and_touching(tmp_path):
    bed = _bed(
        tmp_path / "p.bed",
        [
            "chr1\t2\t6",
            "chr1\t4\t8",  # overlaps the first
            "chr1\t8\t12",  # touches the merged one
            "chr1\t25\t26\tname\t0\t+",
            "chr1\t30\t30",  # empty: ignored
            "chr1\t33\t40",  # runs past the 35-bp chromosome
        ],
    )
    peaks = read_peaks(bed)
    starts, ends = peaks["chr1"]
    assert starts.tolist() == [2, 25, 33] and ends.tolist() == [12, 26, 40]
    frac = peak_bins(starts, ends, 35, bin_size=10, mode="fraction")
    np.testing.assert_allclose(frac, [0.8, 0.2, 0.1, 2 / 5])  # last bin [30,35) has 5 bases
    binary = peak_bins(starts, ends, 35, bin_size=10, mode="binary")
    np.testing.assert_array_equal(binary, [1, 1, 1, 1])
    for chunk in (1, 10, 25):
        np.testing.assert_allclose(
            peak_bins(starts, ends, 35, bin_size=10, chunk_size=chunk), frac, atol=1e-15
        )


def test_peaks_unsorted_input_merges():
    from genomics.data.intervals import merge_intervals as _merge

    s, e = _merge(np.array([50, 10, 12, 0]), np.array([60, 20, 30, 5]))
    assert s.tolist() == [0, 10, 50] and e.tolist() == [5, 30, 60]


def test_narrowpeak_gz_with_header_lines(tmp_path):
    path = _bed(
        tmp_path / "x.narrowPeak.gz",
        [
            "browser position chr2:1-100",
            'track type=narrowPeak name="x"',
            "# a comment",
            "",
            "chr2\t10\t30\tPeak_1\t305\t.\t14.7\t30.5\t22.7\t10",
            "chr1\t0\t5\tPeak_2\t280\t.\t14.2\t28.0\t21.7\t3",
        ],
    )
    assert sniff_kind(path) == "peaks"
    peaks = read_peaks(path)
    assert sorted(peaks) == ["chr1", "chr2"]
    np.testing.assert_allclose(peak_bins(*peaks["chr2"], 40, bin_size=20), [0.5, 0.5])


@pytest.mark.parametrize(
    ("line", "match"),
    [
        ("chr1\t5", r"line 3: expected at least 3 columns"),
        ("chr1\tabc\t10", r"line 3: start and end must be integers"),
        ("chr1\t10\t5", r"line 3: bad interval chr1:10-5"),
        ("chr1\t-4\t5", r"line 3: bad interval"),
    ],
)
def test_bed_bad_line_names_file_and_line(tmp_path, line, match):
    path = _bed(tmp_path / "bad.bed", ["# header", "chr1\t0\t10", line])
    with pytest.raises(ValueError, match=r"bad\.bed " + match):
        read_peaks(path)


# ---------------------------------------------------------------- transforms


def test_transform_order_scale_softclip_clip():
    got = transform(np.array([-1.0, 1.0, 3.0, 10.0]), scale=2.0, soft_clip=4.0, clip=7.0)
    # scale: -2 2 6 20; soft clip at 4: 6 -> 4 + sqrt(2), 20 -> 8; clip at 7
    np.testing.assert_allclose(got, [-2.0, 2.0, 4 + np.sqrt(2), 7.0])
    x = np.array([0.5, 3.0])
    np.testing.assert_array_equal(transform(x), x)
    assert transform(x) is not x


# ---------------------------------------------------------------- track list


def test_sniff_kind(tmp_path, golden_bw):
    assert sniff_kind(golden_bw) == "coverage"
    assert sniff_kind(_bed(tmp_path / "a.bed", ["chr1\t1\t5"])) == "peaks"
    junk = tmp_path / "junk.bin"
    junk.write_bytes(bytes(range(256)))
    with pytest.raises(ValueError, match="neither a bigWig nor BED-like"):
        sniff_kind(junk)
    fasta = write_fasta(tmp_path / "g.fa", {"chr1": "ACGT"})
    with pytest.raises(ValueError, match="not a BED/narrowPeak file.*first data line"):
        sniff_kind(fasta)
    bedgraph = _bed(tmp_path / "a.bedGraph", ["track type=bedGraph", "chr1\t0\t5\t1.5"])
    with pytest.raises(ValueError, match="bedGraphToBigWig"):
        sniff_kind(bedgraph)
    with pytest.raises(ValueError, match="is a bigWig, not a peak file"):
        sniff_kind(golden_bw, "peaks")


def test_coverage_track_that_is_not_a_bigwig(tmp_path):
    bed = _bed(tmp_path / "p.bed", ["chr1\t1\t5"])
    with pytest.raises(ValueError, match=r"track 'x'.*p\.bed is not a bigWig \(first bytes b'chr1"):
        load_tracks([{"name": "x", "path": str(bed), "kind": "coverage"}])


def test_tracks_table_relative_paths_and_defaults(tmp_path, golden_bw):
    folder = tmp_path / "tables"
    (folder / "data").mkdir(parents=True)
    _bed(folder / "data" / "p.bed.gz", ["chr1\t1\t5"])
    golden_bw.rename(folder / "data" / "c.bw")
    table = folder / "tracks.tsv"
    table.write_text(
        "name\tpath\taggregate\tscale\tsoft_clip\tdescription\n"
        "cov\tdata/c.bw\tmean\t2.5\t\tA549 CEBPB fold change\n"
        "\n"
        "# a comment row\n"
        "pk\tdata/p.bed.gz\t\t\tnull\n"
    )
    cov, pk = load_tracks(table)
    assert cov == {
        "name": "cov",
        "path": str(folder / "data" / "c.bw"),
        "kind": "coverage",
        "aggregate": "mean",
        "peak_mode": "fraction",
        "scale": 2.5,
        "soft_clip": None,
        "clip": None,
        "description": "A549 CEBPB fold change",
    }
    assert pk["kind"] == "peaks" and pk["aggregate"] == "sum" and pk["scale"] == 1.0
    assert pk["path"] == str(folder / "data" / "p.bed.gz") and pk["description"] == ""
    assert load_tracks([cov, pk]) == [cov, pk]  # idempotent


def test_tracks_list_paths_relative_to_working_dir(tmp_path, golden_bw, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (track,) = load_tracks([{"name": "g", "path": golden_bw.name}])
    assert track["path"] == golden_bw.name and track["kind"] == "coverage"


def test_tracks_table_errors(tmp_path, golden_bw):
    table = tmp_path / "t.tsv"
    table.write_text(f"name\tpath\tweight\nx\t{golden_bw}\t2\n")
    with pytest.raises(
        ValueError, match=r"t\.tsv line 1: unknown column\(s\) 'weight'; allowed: name"
    ):
        load_tracks(table)
    table.write_text("name\tpath\n\n")
    with pytest.raises(ValueError, match=r"t\.tsv: no tracks"):
        load_tracks(table)
    table.write_text("")
    with pytest.raises(ValueError, match=r"t\.tsv: no tracks"):
        load_tracks(table)
    table.write_text(f"name\tpath\na\t{golden_bw}\na\t{golden_bw}\n")
    with pytest.raises(
        ValueError, match=r"t\.tsv line 3: duplicate track name 'a' \(also at .*line 2\)"
    ):
        load_tracks(table)
    table.write_text("name\tpath\na\tnope.bw\n")
    with pytest.raises(
        FileNotFoundError, match=r"t\.tsv line 2: track 'a' file .*nope\.bw does not exist"
    ):
        load_tracks(table)
    table.write_text(f"name\tpath\tscale\na\t{golden_bw}\tbig\n")
    with pytest.raises(ValueError, match=r"line 2: column 'scale' must be a number, got 'big'"):
        load_tracks(table)
    table.write_text(f"name\tpath\tkind\na\t{golden_bw}\tsignal\n")
    with pytest.raises(ValueError, match=r"line 2: kind: 'signal' is not one of"):
        load_tracks(table)
    table.write_text(f"path\n{golden_bw}\n")
    with pytest.raises(ValueError, match=r"line 1: the header lacks the required column\(s\) name"):
        load_tracks(table)
    with pytest.raises(FileNotFoundError, match="tracks table .*missing.tsv does not exist"):
        load_tracks(tmp_path / "missing.tsv")


def test_tracks_list_errors(golden_bw):
    good = {"name": "a", "path": str(golden_bw)}
    with pytest.raises(
        ValueError, match=r"cfg\.yaml: targets\.tracks\[1\] \(a\): duplicate track name 'a'"
    ):
        load_tracks([good, good], source="cfg.yaml")
    with pytest.raises(ValueError, match=r"targets\.tracks\[0\] \(a\): unknown key\(s\) 'colour'"):
        load_tracks([{**good, "colour": "red"}])
    with pytest.raises(
        ValueError, match=r"targets\.tracks\[0\] \(\?\): 'name' is a required property"
    ):
        load_tracks([{"path": str(golden_bw)}])
    with pytest.raises(ValueError, match="empty list"):
        load_tracks([])
    with pytest.raises(FileNotFoundError, match=r"\(b\): track 'b' file nope\.bw does not exist"):
        load_tracks([{"name": "b", "path": "nope.bw"}])


# ---------------------------------------------------------------- store build and reader


@pytest.fixture
def small(tmp_path, golden_bw):
    """A genome (chr1 47 bp, chr2 25 bp), a bigWig on chr1 and a BED on both."""
    genome = _genome(tmp_path, {"chr1": 47, "chr2": 25})
    bed = _bed(tmp_path / "p.bed", ["chr1\t2\t12", "chr2\t20\t25", "chrUn\t0\t5"])
    tracks = [
        {"name": "cov", "path": str(golden_bw), "aggregate": "sum"},
        {"name": "cov_mean", "path": str(golden_bw), "aggregate": "mean", "scale": 2.0},
        {"name": "pk", "path": str(bed), "peak_mode": "fraction"},
    ]
    return genome, tracks


def test_build_golden_store_and_reader(tmp_path, small, caplog):
    genome, tracks = small
    with caplog.at_level(logging.WARNING, logger="genomics.data.targets"):
        manifest = build_target_store(genome, tracks, tmp_path / "t", bin_size=10, progress=False)
    store = TargetStore(tmp_path / "t")
    assert store.digest == content_digest(manifest)
    assert store.names == ["cov", "cov_mean", "pk"] and store.n_tracks == 3
    assert store.track_kinds == ["coverage", "coverage", "peaks"]
    assert store.bin_size == 10 and store.dtype == np.float32
    assert store.genome_digest == genome.digest
    assert manifest["chroms"] == {"chr1": 5, "chr2": 3}
    assert manifest["params"] == {"bin_size": 10, "dtype": "float32"}
    assert [t["name"] for t in manifest["inputs"]["tracks"]] == store.names
    chr1 = store.bins("chr1")
    assert chr1.shape == (5, 3) and chr1.dtype == np.float32 and not chr1.flags.writeable
    np.testing.assert_allclose(chr1[:, 0], [15, 4, 5, 0, 12])
    np.testing.assert_allclose(chr1[:, 1], 2 * np.array([1.5, 0.4, 0.5, 0.0, 12 / 7]), rtol=1e-6)
    np.testing.assert_allclose(chr1[:, 2], [0.8, 0.2, 0, 0, 0])
    chr2 = store.bins("2")  # alias
    np.testing.assert_allclose(chr2, [[0, 0, 0], [0, 0, 0], [0, 0, 1.0]])
    # the bigWig has no chr2: one warning per track, naming it
    warned = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warned) == 2 and all("chr2" in m for m in warned)
    assert "'cov'" in warned[0] and "'cov_mean'" in warned[1]
    # fetch pads with zeros past either end
    got = store.fetch("chr1", -2, 7)
    assert got.shape == (9, 3) and got.dtype == np.float32
    np.testing.assert_array_equal(got[:2], 0)
    np.testing.assert_array_equal(got[2:7], chr1)
    np.testing.assert_array_equal(got[7:], 0)
    assert store.fetch("chr2", 5, 5).shape == (0, 3)
    with pytest.raises(ValueError, match="end is before start"):
        store.fetch("chr1", 3, 2)
    with pytest.raises(ValueError, match="'chr9' is not in the target store"):
        store.bins("chr9")
    # tracks.tsv: one row per track, columns in order
    lines = (tmp_path / "t" / "tracks.tsv").read_text().splitlines()
    header = lines[0].split("\t")
    assert header[:11] == [
        "index", "name", "kind", "aggregate", "peak_mode", "scale",
        "soft_clip", "clip", "path", "fingerprint", "description",
    ]  # fmt: skip
    rows = [dict(zip(header, line.split("\t"), strict=True)) for line in lines[1:]]
    assert [r["name"] for r in rows] == store.names
    assert rows[0]["sum"] == "36" and rows[0]["fingerprint"].startswith("sha256:")
    assert float(rows[2]["nonzero_fraction"]) == pytest.approx(3 / 8)
    # pickles without its open maps, and reads the same afterwards
    clone = pickle.loads(pickle.dumps(store))
    assert clone._maps == {}
    np.testing.assert_array_equal(clone.fetch("chr1", 0, 5), chr1)


def test_build_from_tracks_table(tmp_path, small):
    genome, tracks = small
    table = tmp_path / "tracks.tsv"
    table.write_text("name\tpath\n" + "".join(f"{t['name']}\t{t['path']}\n" for t in tracks))
    build_target_store(genome.path, table, tmp_path / "t", bin_size=16, progress=False)
    store = TargetStore(tmp_path / "t")
    assert store.chroms == ["chr1", "chr2"] and store.bins("chr1").shape == (3, 3)


@pytest.mark.parametrize(
    ("genome_names", "track_names"),
    [(("chr20", "chrM"), ("20", "MT")), (("20", "MT"), ("chr20", "chrM"))],
)
def test_aliases_both_ways(tmp_path, genome_names, track_names):
    g20, gm = genome_names
    t20, tm = track_names
    genome = _genome(tmp_path, {g20: 40, gm: 20})
    bw = _bigwig(tmp_path / "a.bw", {t20: 40, tm: 20}, [(t20, 0, 10, 1.0), (tm, 10, 20, 3.0)])
    bed = _bed(tmp_path / "a.bed", [f"{t20}\t30\t40", f"{tm}\t0\t5"])
    build_target_store(
        genome,
        [{"name": "c", "path": str(bw)}, {"name": "p", "path": str(bed), "peak_mode": "binary"}],
        tmp_path / "t",
        bin_size=10,
        progress=False,
    )
    store = TargetStore(tmp_path / "t")
    assert store.chroms == [g20, gm]
    np.testing.assert_allclose(store.bins(t20), [[10, 0], [0, 0], [0, 0], [0, 1]])
    np.testing.assert_allclose(store.bins(tm), [[0, 1], [30, 0]])


def test_one_chromosome_under_two_names_is_an_error(tmp_path):
    """chr20 and 20 in one file both map to the genome's 20: one would be left out."""
    genome = _genome(tmp_path, {"20": 40})
    bed = _bed(tmp_path / "mixed.bed", ["chr20\t0\t10", "20\t20\t30"])
    bw = _bigwig(tmp_path / "mixed.bw", {"chr20": 40, "20": 40}, [("chr20", 0, 10, 1.0)])
    for path in (bed, bw):
        with pytest.raises(
            ValueError, match=r"mixed\.b.* names genome chromosome '20' twice, as 'chr20' and '20'"
        ):
            build_target_store(
                genome, [{"name": "m", "path": str(path)}], tmp_path / "t", bin_size=10
            )


def test_track_sharing_no_chromosome_is_an_error(tmp_path):
    genome = _genome(tmp_path, {"chr1": 30})
    bed = _bed(tmp_path / "hg.bed", ["chrX_random\t0\t5", "chrY\t1\t9"])
    with pytest.raises(
        ValueError, match=r"hg\.bed shares no chromosome name.*chrX_random, chrY.*chr1"
    ):
        build_target_store(genome, [{"name": "p", "path": str(bed)}], tmp_path / "t", bin_size=10)


def test_float16_overflow_is_an_error(tmp_path):
    genome = _genome(tmp_path, {"chr1": 40})
    bw = _bigwig(tmp_path / "big.bw", {"chr1": 40}, [("chr1", 0, 40, 7000.0)])
    track = {"name": "big", "path": str(bw)}
    with pytest.raises(
        ValueError, match=r"track 'big': value 70000 at chr1 bin 0.*scale or clip.*float32"
    ):
        build_target_store(genome, [track], tmp_path / "t", bin_size=10, dtype="float16")
    with pytest.raises(StoreError, match="genomics targets"):
        TargetStore(tmp_path / "t")
    build_target_store(
        genome, [{**track, "clip": 6e4}], tmp_path / "t", bin_size=10, dtype="float16"
    )
    store = TargetStore(tmp_path / "t")
    assert store.dtype == np.float16 and store.bins("chr1").dtype == np.float16
    np.testing.assert_array_equal(store.fetch("chr1", 0, 4), np.full((4, 1), 6e4, np.float32))


def test_bad_arguments(tmp_path, small):
    genome, tracks = small
    with pytest.raises(ValueError, match="bin_size must be a positive integer"):
        build_target_store(genome, tracks, tmp_path / "t", bin_size=0)
    with pytest.raises(ValueError, match="dtype must be one of float32, float16"):
        build_target_store(genome, tracks, tmp_path / "t", bin_size=10, dtype="float64")


def test_interrupted_build_keeps_the_old_store_or_is_refused(tmp_path, small, monkeypatch):
    import genomics.data.targets as targets

    genome, tracks = small
    out = tmp_path / "t"
    before = build_target_store(genome, tracks, out, bin_size=10, progress=False)
    # killed while binning: the old store is untouched and still trusted
    monkeypatch.setattr(targets, "transform", dies_on_call(transform, 3))
    with pytest.raises(KeyboardInterrupt):
        build_target_store(genome, tracks, out, bin_size=5, progress=False)
    assert TargetStore(out).manifest == before
    assert not list(out.glob(".*.tmp-*"))  # no half-written arrays left behind
    monkeypatch.undo()

    # killed while the arrays are renamed into place: not trusted
    monkeypatch.setattr(os, "replace", dies_on_call(os.replace, 2))
    with pytest.raises(KeyboardInterrupt):
        build_target_store(genome, tracks, out, bin_size=5, progress=False)
    monkeypatch.undo()
    with pytest.raises(
        StoreError, match=r"incomplete \(an interrupted build\?\); run `genomics targets`"
    ):
        TargetStore(out)
    assert not list(out.glob(".*.tmp-*"))
    # a deleted manifest reads the same way
    build_target_store(genome, tracks, out, bin_size=10, progress=False)
    (out / "manifest.json").unlink()
    with pytest.raises(StoreError, match="run `genomics targets`"):
        TargetStore(out)


def test_digest_mismatch_with_another_genome(tmp_path, small):
    genome, tracks = small
    build_target_store(genome, tracks, tmp_path / "t", bin_size=10, progress=False)
    store = TargetStore(tmp_path / "t")
    store.check_genome(genome)
    other = _genome(tmp_path, {"chr1": 47, "chr2": 25}, name="other")
    with pytest.raises(
        ValueError, match=r"built from another genome store.*rerun `genomics targets`"
    ):
        store.check_genome(other)


# ---------------------------------------------------------------- real data


@pytest.mark.data
def test_real_bigwig_fast_equals_slow(shared_data):
    bw = pyBigWig.open(str(shared_data / CEBPB / CEBPB_FC))
    start, length, bin_size = 30_000_000, 128 * 23_438, 128  # whole bins, ~3 Mb
    fast = bigwig_bins(bw, "chr19", start + length, bin_size=bin_size, chunk_size=300_001)
    fast = fast[start // bin_size :]
    per_base = np.nan_to_num(bw.values("chr19", start, start + length, numpy=True))
    slow = per_base.astype(np.float64).reshape(-1, bin_size).sum(axis=1)  # (n_bins,)
    assert fast.shape == slow.shape and slow.sum() > 0
    np.testing.assert_allclose(fast, slow, rtol=1e-9, atol=1e-6)
    # the whole chromosome sums to the file's own total
    total = bigwig_bins(bw, "chr19", bw.chroms()["chr19"], bin_size=bin_size).sum()
    assert total == pytest.approx(bw.header()["sumData"], rel=1e-6)


def _slow_peak_fraction(starts, ends, length, bin_size):
    """Per-base mask from merged intervals, summed per bin (the reference route)."""
    n_bins = -(-length // bin_size)
    edges = np.zeros(n_bins * bin_size + 1, dtype=np.int8)
    np.add.at(edges, np.minimum(starts, length), 1)
    np.add.at(edges, np.minimum(ends, length), -1)
    mask = np.cumsum(edges[:-1], dtype=np.int8)  # (n_bins * bin_size,), 0 or 1
    widths = np.minimum(np.arange(1, n_bins + 1) * bin_size, length) - np.arange(n_bins) * bin_size
    return mask.reshape(n_bins, bin_size).sum(axis=1) / widths


@pytest.mark.data
@pytest.mark.parametrize(
    ("name", "chrom", "length"),
    [(f"{CEBPB}/{CEBPB_PEAKS}", "chr19", 58_617_616), (DREAM_PEAKS, "chr20", HG19_CHR20)],
)
def test_real_narrowpeak_bins(shared_data, name, chrom, length):
    path = shared_data / name
    assert sniff_kind(path) == "peaks"
    starts, ends = read_peaks(path)[chrom]
    assert starts.size > 1000 and np.all(starts[1:] > ends[:-1])
    frac = peak_bins(starts, ends, length, bin_size=128)
    np.testing.assert_allclose(frac, _slow_peak_fraction(starts, ends, length, 128), atol=1e-12)
    binary = peak_bins(starts, ends, length, bin_size=128, mode="binary")
    assert np.array_equal(binary > 0, frac > 0)


@pytest.mark.data
def test_real_store_from_bigwig_and_peaks(tmp_path, shared_data):
    # a 1 Mb genome named "19": the chr19 tracks meet it through the alias
    genome = _genome(tmp_path, {"19": 1_000_000})
    tracks = [
        {"name": "fc", "path": str(shared_data / CEBPB / CEBPB_FC), "aggregate": "mean"},
        {"name": "peaks", "path": str(shared_data / CEBPB / CEBPB_PEAKS), "peak_mode": "binary"},
    ]
    build_target_store(genome, tracks, tmp_path / "t", bin_size=128, progress=False)
    store = TargetStore(tmp_path / "t")
    bw = pyBigWig.open(tracks[0]["path"])
    np.testing.assert_allclose(
        store.bins("chr19")[:, 0],
        _slow_bins(bw, "chr19", 1_000_000, 128, "mean").astype(np.float32),
        rtol=1e-6,
    )
    starts, ends = read_peaks(tracks[1]["path"])["chr19"]
    expect = _slow_peak_fraction(starts, ends, 1_000_000, 128) > 0
    np.testing.assert_array_equal(store.bins("19")[:, 1], expect.astype(np.float32))
    meta = json.loads((tmp_path / "t" / "manifest.json").read_text())
    assert meta["inputs"]["genome"]["digest"] == genome.digest


# ---------------------------------------------------------------- another assembly, bad signal


def test_bigwig_shorter_than_the_genome_is_another_assembly(tmp_path):
    genome = _genome(tmp_path, {"chr1": 40_000})
    bw = _bigwig(tmp_path / "hg38.bw", {"chr1": 30_000}, [("chr1", 0, 100, 1.0)])
    with pytest.raises(
        ValueError,
        match=r"hg38\.bw is shorter than the genome store on 1 chromosome\(s\) \(chr1: "
        r"30,000 bp in the bigWig, 40,000 bp in the genome\); is it for another assembly",
    ):
        build_target_store(genome, [{"name": "s", "path": str(bw)}], tmp_path / "t", bin_size=10)


def test_track_longer_than_the_genome_is_a_warning(tmp_path, caplog):
    """A cut-down genome (one region of a chromosome) or chrM: warned, data past the end left out."""
    genome = _genome(tmp_path, {"chr1": 100, "chrM": 50})
    bw = _bigwig(
        tmp_path / "long.bw",
        {"chr1": 400, "chrM": 48},
        [("chr1", 90, 300, 1.0), ("chrM", 0, 48, 2.0)],
    )
    bed = _bed(tmp_path / "p.bed", ["chr1\t20\t30", "chr1\t150\t160", "chr1\t200\t210"])
    tracks = [{"name": "s", "path": str(bw)}, {"name": "p", "path": str(bed)}]
    with caplog.at_level(logging.WARNING, logger="genomics.data.targets"):
        build_target_store(genome, tracks, tmp_path / "t", bin_size=10)
    text = caplog.text
    assert "2 chromosome(s) do not fit the genome store" in text
    assert "chr1: 400 bp in the bigWig, 100 bp in the genome" in text
    assert "chrM: 48 bp in the bigWig, 50 bp in the genome" in text
    assert (
        "chr1: 2 of its 3 intervals run past the genome's end (100 bp; 2 start beyond it)" in text
    )
    store = TargetStore(tmp_path / "t")
    assert store.bins("chr1")[:, 0].sum() == pytest.approx(10.0)  # bases 90-100 only


def test_narrowpeak_quirks_gz_extra_columns_naming_and_past_the_end(tmp_path, caplog):
    """A gzipped narrowPeak with columns past the tenth, ``7`` for the genome's ``chr7``, a
    contig the genome lacks, and peaks running past the chromosome's end: cut there and
    counted in the log, not an error."""
    genome = _genome(tmp_path, {"chr7": 95})
    path = _bed(
        tmp_path / "ChIPseq.x.narrowPeak.gz",
        [
            'track type=narrowPeak name="x"',
            "7\t10\t30\tp1\t0\t.\t5.1\t-1\t3.2\t10\textra\t42",
            "7\t85\t120\tp2\t0\t.\t4.0\t-1\t2.0\t5",  # runs past the end (95)
            "7\t200\t210\tp3\t0\t.\t4.0\t-1\t2.0\t5",  # wholly past it
            "GL000192.1\t0\t10\tp4\t0\t.\t4.0\t-1\t2.0\t5",  # not in the genome
        ],
    )
    with caplog.at_level(logging.WARNING, logger="genomics.data.targets"):
        build_target_store(genome, [{"name": "x", "path": str(path)}], tmp_path / "t", bin_size=10)
    assert "chr7: 2 of its 3 intervals run past the genome's end (95 bp; 1 start beyond it)" in (
        caplog.text
    )
    got = TargetStore(tmp_path / "t").bins("chr7")[:, 0]
    np.testing.assert_allclose(got, [0, 1, 1, 0, 0, 0, 0, 0, 0.5, 1.0])  # last bin: 90-95


@pytest.mark.parametrize(
    "lines", [[], ["track name=x", "# no peaks today"], ["chr1\t5\t5"]], ids=str
)
def test_empty_peak_file_is_an_error_naming_it(tmp_path, lines):
    """No peak at all is a failed peak call or a cut file far more often than a real empty
    set: an all-zero track would train on nothing, so the build stops and says so."""
    genome = _genome(tmp_path, {"chr1": 40})
    path = _bed(tmp_path / "empty.narrowPeak.gz", lines)
    with pytest.raises(
        ValueError, match=r"track 'e': .*empty\.narrowPeak\.gz holds no peaks .*leave the track out"
    ):
        build_target_store(genome, [{"name": "e", "path": str(path)}], tmp_path / "t", bin_size=10)


def test_negative_coverage_is_an_error(tmp_path):
    genome = _genome(tmp_path, {"chr1": 40})
    bw = _bigwig(
        tmp_path / "log2fc.bw", {"chr1": 40}, [("chr1", 0, 20, 1.5), ("chr1", 20, 40, -0.5)]
    )
    with pytest.raises(
        ValueError,
        match=r"track 'fc': .*log2fc\.bw has negative signal \(-5 in chr1 bin 2\); a coverage "
        r"track must be >= 0",
    ):
        build_target_store(genome, [{"name": "fc", "path": str(bw)}], tmp_path / "t", bin_size=10)


def test_bedgraph_without_a_track_line_is_not_read_as_peaks(tmp_path):
    bg = _bed(
        tmp_path / "cov.bedGraph", ["chr1\t0\t10\t1.5", "chr1\t10\t20\t3", "chr1\t20\t35\t0.25"]
    )
    with pytest.raises(ValueError, match=r"4th column is a number on every line.*bedGraphToBigWig"):
        sniff_kind(bg)
    # intervals that touch, with whole numbers: still a bedGraph (bedtools genomecov -bg)
    counts = _bed(tmp_path / "counts.bg", ["chr1\t0\t10\t1", "chr1\t10\t20\t3"])
    with pytest.raises(ValueError, match="bedGraph"):
        sniff_kind(counts)
    # whole numbers on separate intervals: read counts with the zero runs left out, or
    # numbered peaks; refused unless declared
    sparse = _bed(tmp_path / "sparse.bg", ["chr1\t0\t10\t1", "chr1\t30\t40\t2"])
    with pytest.raises(ValueError, match="bedGraph.*or set kind: peaks"):
        sniff_kind(sparse)
    assert sniff_kind(sparse, "peaks") == sniff_kind(bg, "peaks") == "peaks"


def test_failed_rebuild_leaves_the_old_store_trusted(tmp_path, small):
    genome, tracks = small
    before = build_target_store(genome, tracks, tmp_path / "t", bin_size=10)
    bad = _bed(tmp_path / "bad.bed", ["chr1\t5\t2"])
    with pytest.raises(ValueError, match="bad interval"):
        build_target_store(
            genome, [*tracks, {"name": "b", "path": str(bad)}], tmp_path / "t", bin_size=10
        )
    assert TargetStore(tmp_path / "t").manifest == before


def test_digest_is_the_same_whatever_the_path_spelling(tmp_path, small, monkeypatch):
    """The same data built through relative and absolute paths is the same store."""
    genome, tracks = small
    monkeypatch.chdir(tmp_path)
    build_target_store(genome.path.name, tracks, "t1", bin_size=10)
    relative = [{**t, "path": os.path.relpath(t["path"], tmp_path)} for t in tracks]
    build_target_store(str(genome.path.resolve()), relative, tmp_path / "t2", bin_size=10)
    a, b = TargetStore("t1"), TargetStore(tmp_path / "t2")
    assert a.manifest["digest"] != b.manifest["digest"]  # the manifests record the paths
    assert a.digest == b.digest
    build_target_store(genome, [{**tracks[0], "scale": 3.0}, *tracks[1:]], "t3", bin_size=10)
    assert TargetStore("t3").digest != a.digest


def test_truncated_gzip_track_says_so(tmp_path):
    full = _bed(tmp_path / "p.bed.gz", [f"chr1\t{i * 100}\t{i * 100 + 50}" for i in range(2000)])
    cut = tmp_path / "cut.bed.gz"
    cut.write_bytes(full.read_bytes()[:40])
    with pytest.raises(ValueError, match=r"cut\.bed\.gz is gzip-compressed but cannot be read"):
        sniff_kind(cut)
