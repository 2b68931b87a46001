"""Variant scoring: hand-computed scores, metamorphic checks, indels, rejects, sharing, CLI,
the annotated VCF."""

from __future__ import annotations

import gzip
import json

import numpy as np
import pysam
import pytest
import torch
from torch import nn

from genomics.classes.model import ClassModel
from genomics.cli import main
from genomics.data.encoding import N_CODE, decode, encode, one_hot
from genomics.data.genome import GenomeStore, build_genome_store
from genomics.models import build_model
from genomics.models.saved import build_from_spec, save_model
from genomics.variants import Geometry, score_variants, score_vcf
from genomics.variants import run as variants_run
from genomics.variants.annotate import AnnotatedVcf, info_fields, info_key
from genomics.variants.context import Context, dinucleotide_shuffle, fill_codes
from genomics.variants.score import indel_alignment

from conftest import run_cli, write_fasta

# The hand-built model: 4-bp bins, 1 bin cropped at each end, 32-bp windows (6 bins).
# Track "gc" counts G+C in a bin, "a" counts A, peak track "t" has logit (T count - 1).
HAND = {
    "seq_len": 32,
    "bin_size": 4,
    "crop_bins": 1,
    "track_names": ["gc", "a", "t"],
    "track_kinds": ["coverage", "coverage", "peaks"],
}


class CountModel(nn.Module):
    """Per-bin base counts: ``(b, 4, l) -> (b, l / 4 - 2, 3)``; counts its input windows."""

    def __init__(self):
        super().__init__()
        self.anchor = nn.Parameter(torch.zeros(()))  # gives the model a device
        self.windows = 0

    def forward(self, x):
        self.windows += x.shape[0]
        counts = x.unflatten(-1, (-1, 4)).sum(-1)[..., 1:-1]  # (b, 4, bins)
        a, c, g, t = counts.unbind(1)
        return torch.stack([c + g, a, t - 1], dim=-1) + self.anchor


def _vcf(path, lines, contigs=("c1",)):
    head = ["##fileformat=VCFv4.2", *(f"##contig=<ID={c}>" for c in contigs)]
    head.append("#CHROM\tPOS\tID\tREF\tALT\tQUAL\tFILTER\tINFO")
    path.write_text("\n".join(head + ["\t".join(x.split()) + "\t.\t.\t." for x in lines]) + "\n")
    return path


def _table(path):
    with gzip.open(path, "rt") as fh:
        head, *rows = [line.rstrip("\n").split("\t") for line in fh]
    return head, rows


def _col(head, rows, name):
    return np.array([float(r[head.index(name)]) for r in rows])


@pytest.fixture
def genome(tmp_path):
    rng = np.random.default_rng(0)
    seqs = {"c1": "".join(rng.choice(list("ACGT"), 200)), "polyA": "A" * 100}
    build_genome_store(write_fasta(tmp_path / "g.fa", seqs), tmp_path / "genome")
    return GenomeStore(tmp_path / "genome")


def _score(tmp_path, genome, lines, name="out", model=None, **kw):
    vcf = _vcf(tmp_path / f"{name}.vcf", lines, contigs=("c1", "polyA"))
    kw.setdefault("reverse_complement", False)
    summary = score_vcf(model or CountModel(), HAND, genome, vcf, tmp_path / name, **kw)
    return (*_table(tmp_path / name / "scores.tsv.gz"), summary)


def test_hand_computed_snv(tmp_path, genome):
    """poly-A, A>G at 0-based 50: window [34, 66), the G at offset 16 = output bin 3."""
    head, rows, _ = _score(tmp_path, genome, ["polyA 51 v1 A G"])
    assert head[:5] == ["id", "chrom", "pos", "ref", "alt"]
    assert head[5:] == ["gc:sad", "gc:log2fc", "gc:l2", "a:sad", "a:log2fc", "a:l2", "t:logodds"]
    got = dict(zip(head[5:], map(float, rows[0][5:]), strict=True))
    assert got["gc:sad"] == 1 and got["gc:log2fc"] == 1 and got["gc:l2"] == 1  # 0 -> 1 in one bin
    assert got["a:sad"] == -1 and got["a:l2"] == 1
    assert got["a:log2fc"] == pytest.approx(np.log2(24 / 25))  # 6 bins x 4 A, +1 pseudocount
    assert got["t:logodds"] == 0
    # RC averaging: the A track becomes (A + T) / 2 per bin, the peak logit (A + T) / 2 - 1
    head, rows, _ = _score(tmp_path, genome, ["polyA 51 v1 A G"], "rc", reverse_complement=True)
    got = dict(zip(head[5:], map(float, rows[0][5:]), strict=True))
    assert got["a:sad"] == -0.5 and got["t:logodds"] == -0.5
    assert got["a:log2fc"] == pytest.approx(np.log2(12.5 / 13))


def test_span_limits_the_summed_bins(tmp_path, genome):
    # G>A far from the variant's bin does not exist for an SNV; a span of 0 keeps bin 3 only
    head, rows, _ = _score(tmp_path, genome, ["polyA 51 v1 A G"], span=0)
    assert _col(head, rows, "a:log2fc")[0] == pytest.approx(np.log2(4 / 5))


def _spec(**kw):
    """A tiny convformer's ``model.json``: 3 tracks, 512-bp windows of 32-bp bins (``kw``
    overrides)."""
    spec = {
        "name": "convformer",
        "hparams": {"dim": 16, "depth": 1, "heads": 2, "pool": "max"},
        "n_tracks": 3,
        "track_names": ["a", "b", "p"],
        "track_kinds": ["coverage", "coverage", "peaks"],
        "bin_size": 32,
        "crop_bins": 2,
        "seq_len": 512,
    }
    return spec | kw


def _tiny_convformer():
    spec = _spec()
    torch.manual_seed(0)
    return build_from_spec(spec).eval(), spec


def test_swap_negates_signed_scores_and_keeps_l2():
    model, spec = _tiny_convformer()
    g = Geometry.of(spec)
    rng = np.random.default_rng(1)
    ref = rng.integers(0, 4, (5, 512)).astype(np.uint8)
    alt = ref.copy()
    alt[:, 256] = (alt[:, 256] + 1) % 4
    vb = np.full(5, g.bin_of(256))
    fwd = score_variants(model, ref, alt, geometry=g, variant_bin=vb, span=3)
    back = score_variants(model, alt, ref, geometry=g, variant_bin=vb, span=3)
    np.testing.assert_allclose(back["sad"], -fwd["sad"], atol=1e-9)
    np.testing.assert_allclose(back["logodds"], -fwd["logodds"], atol=1e-9)
    np.testing.assert_allclose(back["log2fc"], -fwd["log2fc"], atol=1e-9)
    np.testing.assert_allclose(back["l2"], fwd["l2"], atol=1e-9)
    assert np.abs(fwd["sad"]).max() > 0
    # batch size does not change a score
    one = score_variants(model, ref, alt, geometry=g, variant_bin=vb, span=3, batch_size=1)
    np.testing.assert_allclose(one["sad"], fwd["sad"], rtol=1e-5, atol=1e-6)


def test_subset_of_tracks_equals_slicing(tmp_path, genome):
    lines = ["c1 60 v1 G A", "c1 61 v2 T C", "c1 100 v3 A T"]
    lines = [_fix_ref(genome, line) for line in lines]
    head, rows, _ = _score(tmp_path, genome, lines, "all")
    sub_head, sub_rows, _ = _score(tmp_path, genome, lines, "sub", tracks=["t", "gc"])
    assert sub_head[5:] == ["gc:sad", "gc:log2fc", "gc:l2", "t:logodds"]
    for name in sub_head[5:]:
        np.testing.assert_array_equal(_col(sub_head, sub_rows, name), _col(head, rows, name))
    with pytest.raises(ValueError, match="'x'.* not among the model's tracks"):
        _score(tmp_path, genome, lines, "bad", tracks=["x"])


def _fix_ref(genome, line):
    """Put the genome's base in the REF (and an ALT that differs) of a test VCF line."""
    chrom, pos, vid, _ref, alt = line.split()
    base = "ACGTN"[genome.fetch(chrom, int(pos) - 1, int(pos))[0]]
    if alt == base:
        alt = "ACGT"[("ACGT".index(base) + 1) % 4]
    return f"{chrom} {pos} {vid} {base} {alt}"


def _bin_counts(seq: str):
    """(6, 3) hand counts of the 6 output bins of a 32-bp window: G+C, A, T - 1."""
    bins = [seq[4 * (j + 1) : 4 * (j + 2)] for j in range(6)]
    return np.array([[b.count("G") + b.count("C"), b.count("A"), b.count("T") - 1] for b in bins])


@pytest.mark.parametrize("kind", ["insertion", "deletion"])
def test_indel_alignment_leaves_only_the_variant_bin(tmp_path, genome, kind):
    """A 4-bp indel (one bin) after the anchor at offset 16: with the alt's bins right of
    the variant shifted back by one, only bin 3 (anchor + 3 bases) differs."""
    p = 80  # 0-based anchor; window [64, 96)
    seq = "ACGTN"
    ref_win = "".join(seq[c] for c in genome.fetch("c1", p - 16, p + 16))
    anchor = ref_win[16]
    if kind == "insertion":
        ref, alt = anchor, anchor + "TTTT"
        alt_bin3 = anchor + "TTT"
    else:
        ref = "".join(seq[c] for c in genome.fetch("c1", p, p + 5))
        alt = anchor
        alt_bin3 = anchor + "".join(seq[c] for c in genome.fetch("c1", p + 5, p + 8))
    head, rows, _ = _score(tmp_path, genome, [f"c1 {p + 1} v {ref} {alt}"])
    want = _bin_counts("x" * 16 + alt_bin3 + "x" * 12)[3] - _bin_counts(ref_win)[3]
    got = [float(rows[0][head.index(c)]) for c in ("gc:sad", "a:sad", "t:logodds")]
    np.testing.assert_array_equal(got, want)
    assert float(rows[0][head.index("gc:l2")]) == abs(want[0])


def test_indel_alignment_indices():
    g = Geometry.of(HAND)
    assert indel_alignment(g, 3, 1) is None and indel_alignment(g, 3, -1) is None
    np.testing.assert_array_equal(indel_alignment(g, 3, 4), [0, 1, 2, 3, 5, -1])
    np.testing.assert_array_equal(indel_alignment(g, 3, -4), [0, 1, 2, 3, -1, 4])
    np.testing.assert_array_equal(indel_alignment(g, 2, -8), [0, 1, 2, -1, -1, 3])


def test_multiallelic_split_and_symbolic_skipped(tmp_path, genome):
    head, rows, summary = _score(
        tmp_path, genome, ["polyA 51 m A G,<DEL>,T", "polyA 60 b A G]c1:5]", "polyA 61 s A *"]
    )
    assert [r[4] for r in rows] == ["G", "T"]
    single, srows, _ = _score(tmp_path, genome, ["polyA 51 m A T"], "single")
    assert rows[1][5:] == srows[0][5:]
    assert summary["rejected"] == {
        "symbolic allele": 1,
        "breakend": 1,
        "missing or spanning-deletion ALT": 1,
    }
    rejects = (tmp_path / "out" / "rejects.tsv").read_text().splitlines()
    assert rejects[0] == "id\tchrom\tpos\tref\talt\treason" and len(rejects) == 4
    assert "polyA\t51\tA\t<DEL>\tsymbolic allele" in rejects[1]


def test_ref_mismatch_rejected_or_strict(tmp_path, genome):
    head, rows, summary = _score(tmp_path, genome, ["polyA 51 ok A G", "polyA 52 bad C G"])
    assert [r[0] for r in rows] == ["ok"]
    assert summary["rejected"] == {"REF does not match the genome": 1}
    reject = (tmp_path / "out" / "rejects.tsv").read_text().splitlines()[1]
    assert reject == "bad\tpolyA\t52\tC\tG\tREF does not match the genome (A)"
    with pytest.raises(ValueError, match=r"record 2 \(bad\): REF 'C' does not match genome 'A'"):
        _score(tmp_path, genome, ["polyA 51 ok A G", "polyA 52 bad C G"], "strict", strict=True)
    assert not (tmp_path / "strict" / "scores.tsv.gz").exists()
    assert not list((tmp_path / "strict").glob(".*tmp*"))


def test_chromosome_edge_padding(tmp_path, genome):
    """A variant at base 1 of poly-A: the window's first 16 bp are N (no counts)."""
    head, rows, _ = _score(tmp_path, genome, ["polyA 1 e A G", "polyA 100 f A C"])
    model = CountModel()
    g = Geometry.of(HAND)
    ref = np.full((2, 32), 4, np.uint8)
    ref[0, 16:] = 0  # A from offset 16 on
    ref[1, :17] = 0  # the last base (0-based 99) sits at offset 16
    alt = ref.copy()
    alt[0, 16], alt[1, 16] = 2, 1
    want = score_variants(
        model, ref, alt, geometry=g, variant_bin=np.array([3, 3]), reverse_complement=False
    )
    np.testing.assert_allclose(_col(head, rows, "a:sad"), want["sad"][:, 1])
    np.testing.assert_allclose(_col(head, rows, "a:log2fc"), want["log2fc"][:, 1], rtol=1e-5)
    assert _col(head, rows, "a:log2fc")[0] == pytest.approx(
        np.log2(12 / 13), rel=1e-5
    )  # 3 bins of A


def test_shared_reference_equals_one_at_a_time(tmp_path, genome):
    """Saturation mutagenesis of 10 bases: with window_step 8 the 30 alts need 2-3
    reference windows, and every score equals the one-variant-at-a-time run's."""
    seq = "ACGT"
    lines = []
    for p in range(90, 100):
        base = seq[genome.fetch("c1", p, p + 1)[0]]
        lines += [f"c1 {p + 1} s{p}{b} {base} {b}" for b in seq if b != base]
    shared = CountModel()
    head, rows, _ = _score(tmp_path, genome, lines, "shared", model=shared, window_step=8)
    alone = CountModel()
    h1, rows1, _ = _score(
        tmp_path, genome, lines, "alone", model=alone, window_step=8, chunk_size=1
    )
    assert rows == rows1 and len(rows) == 30
    assert alone.windows == 60 and shared.windows <= 30 + 3
    # without a grid, the 3 alts of a position still share its window
    plain = CountModel()
    _score(tmp_path, genome, lines, "plain", model=plain)
    assert plain.windows == 30 + 10


def test_shift_ensemble_of_zero_is_plain(tmp_path, genome):
    line = [_fix_ref(genome, "c1 120 v A C")]
    _, rows, _ = _score(tmp_path, genome, line, "a")
    _, rows0, _ = _score(tmp_path, genome, line, "b", shifts=[0, 0])
    _, rows1, _ = _score(tmp_path, genome, line, "c", shifts=[-1, 0, 1])
    assert rows == rows0 and rows1 != rows


def test_fraction_samples_stably(tmp_path, genome):
    lines = [f"polyA {p} v{p} A G" for p in range(20, 80)]
    _, rows, s = _score(tmp_path, genome, lines, "f", fraction=0.5)
    _, rows2, _ = _score(tmp_path, genome, lines[::-1], "g", fraction=0.5)
    assert 10 < len(rows) < 50 and s["not_sampled"] == 60 - len(rows)
    assert sorted(r[0] for r in rows) == sorted(r[0] for r in rows2)


def test_bad_input_one_line_errors(tmp_path, genome):
    (tmp_path / "not.vcf").write_text("hello\tworld\n")
    with pytest.raises(ValueError, match="not a VCF"):
        score_vcf(CountModel(), HAND, genome, tmp_path / "not.vcf", tmp_path / "x")
    vcf = _vcf(tmp_path / "other.vcf", ["chrZ 5 v A G"], contigs=("chrZ",))
    with pytest.raises(ValueError, match="no variant is on the genome store's chromosomes"):
        score_vcf(CountModel(), HAND, genome, vcf, tmp_path / "x")
    assert not (tmp_path / "x" / "scores.tsv.gz").exists()


def _save_small_model(path):
    """A seeded tiny convformer with a coverage track "a" and a peak track "p", saved."""
    spec = _spec(
        n_tracks=2, track_names=["a", "p"], track_kinds=["coverage", "peaks"], crop_bins=1,
        seq_len=256,
    )  # fmt: skip
    torch.manual_seed(0)
    save_model(path, build_from_spec(spec), spec)


def test_cli_scores_a_vcf_and_reports_errors(tmp_path, genome):
    _save_small_model(tmp_path / "model")
    vcf = _vcf(tmp_path / "v.vcf", [_fix_ref(genome, "c1 50 v1 A C"), "chr_c1 52 v2 A G"])
    base = ["score-variants", "--model", str(tmp_path / "model"), "--genome"]
    base += [str(tmp_path / "genome"), "--vcf", str(vcf), "--out", str(tmp_path / "o")]
    assert main(base) == 0
    head, rows = _table(tmp_path / "o" / "scores.tsv.gz")
    assert head[5:] == ["a:sad", "a:log2fc", "a:l2", "p:logodds"]
    assert len(rows) + len((tmp_path / "o" / "rejects.tsv").read_text().splitlines()) == 3
    bad = _vcf(tmp_path / "bad.vcf", ["polyA 51 x C G"], contigs=("polyA",))
    code, err = run_cli(tmp_path, [*base[:-4], "--vcf", str(bad), "--out", "s", "--strict"])
    assert code == 2 and err.count("\n") == 1 and "REF 'C' does not match genome 'A'" in err
    assert not (tmp_path / "s" / "scores.tsv.gz").exists()


# --- variant tables -------------------------------------------------------------------


def _tsv(path, head, rows):
    path.write_text("\n".join("\t".join(map(str, r)) for r in [head, *rows]) + "\n")
    return path


def test_table_input_scores_as_the_vcf_does(tmp_path, genome):
    lines = [_fix_ref(genome, f"c1 {p} v{p} A C") for p in (60, 61, 100)]
    vcf_head, vcf_rows, _ = _score(tmp_path, genome, lines, "vcf")
    # CAGI5's layout: extra columns, no id column; gzipped, and a .txt name with an id
    rows = [(c, p, r, a, 0.5, 0.1, "E1", "train") for c, p, _, r, a in map(str.split, lines)]
    head = ["chrom", "pos", "ref", "alt", "value", "confidence", "element", "split"]
    plain = _tsv(tmp_path / "cagi.tsv", head, rows)
    gz = tmp_path / "cagi.tsv.gz"
    gz.write_bytes(gzip.compress(plain.read_bytes()))
    for table in (plain, gz):
        s = score_vcf(CountModel(), HAND, genome, table, tmp_path / "t", reverse_complement=False)
        head_t, rows_t = _table(tmp_path / "t" / "scores.tsv.gz")
        assert head_t == vcf_head and s["scored"] == 3
        assert [r[5:] for r in rows_t] == [r[5:] for r in vcf_rows]
        assert [r[0] for r in rows_t] == [f"c1:{r[1]}:{r[2]}:{r[3]}" for r in rows]
    named = _tsv(tmp_path / "v.txt", ["#CHROM", "POS", "ID", "REF", "ALT"], lines_as(lines))
    score_vcf(CountModel(), HAND, genome, named, tmp_path / "n", reverse_complement=False)
    assert _table(tmp_path / "n" / "scores.tsv.gz")[1] == vcf_rows


def lines_as(lines):
    """VCF-like test lines (chrom pos id ref alt) as table rows."""
    return [line.split() for line in lines]


def test_table_ref_mismatch_goes_to_rejects(tmp_path, genome):
    head = ["chrom", "pos", "ref", "alt"]
    table = _tsv(tmp_path / "m.tsv", head, [("polyA", 51, "A", "G"), ("polyA", 52, "C", "G")])
    s = score_vcf(CountModel(), HAND, genome, table, tmp_path / "o")
    assert s["rejected"] == {"REF does not match the genome": 1}
    reject = (tmp_path / "o" / "rejects.tsv").read_text().splitlines()[1]
    assert reject == "polyA:52:C:G\tpolyA\t52\tC\tG\tREF does not match the genome (A)"
    with pytest.raises(ValueError, match=r"m.tsv line 3 \(polyA:52:C:G\): REF 'C' does not"):
        score_vcf(CountModel(), HAND, genome, table, tmp_path / "s", strict=True)


@pytest.mark.parametrize(
    ("rows", "match"),
    [
        (
            [("c1", 5, "A", "G"), ("c1", "x5", "A", "G")],
            r"bad.tsv line 3: pos 'x5' is not a 1-based",
        ),
        ([("c1", 0, "A", "G")], r"bad.tsv line 2: pos '0' is not a 1-based"),
        ([("c1", 5, "A", "G"), ("c1", 6, "A")], r"bad.tsv line 3: 3 fields, the header has 4"),
    ],
)
def test_table_bad_line_names_file_and_line(tmp_path, genome, rows, match):
    table = _tsv(tmp_path / "bad.tsv", ["chrom", "pos", "ref", "alt"], rows)
    with pytest.raises(ValueError, match=match):
        score_vcf(CountModel(), HAND, genome, table, tmp_path / "o")
    assert not (tmp_path / "o" / "scores.tsv.gz").exists()


def test_table_without_a_variant_column_is_named(tmp_path, genome):
    table = _tsv(tmp_path / "no_alt.tsv", ["chrom", "pos", "ref", "value"], [("c1", 5, "A", 1)])
    with pytest.raises(ValueError, match=r"no_alt.tsv line 1: the header has no column 'alt'"):
        score_vcf(CountModel(), HAND, genome, table, tmp_path / "o")


# --- short-context mode ---------------------------------------------------------------

ELEMENT = "ACGTTGCAAGT"  # 11 bp: bases 1-11 of record "el", c1:101-111 (1-based)


def _context(tmp_path, seqs=None, name="ctx.fa"):
    seqs = seqs or {"el c1:101-111 hg19 1-based-inclusive": ELEMENT, "chrX:6-10": "GGGGG"}
    return write_fasta(tmp_path / name, seqs)


def test_context_ref_check_outside_and_strict(tmp_path, genome):
    ctx = Context.from_fasta(_context(tmp_path))
    rows = [
        ("c1", 101, "A", "G"),  # first base of el
        ("c1", 103, "A", "T"),  # el has G there
        ("c1", 50, "A", "G"),  # outside every record
        ("c1", 110, "GTA", "G"),  # runs past el's end
        ("X", 8, "G", "A"),  # inside chrX:6-10 (an alias)
        ("chr7", 8, "G", "A"),  # no record on that chromosome
    ]
    table = _tsv(tmp_path / "v.tsv", ["chrom", "pos", "ref", "alt"], rows)
    s = score_vcf(CountModel(), HAND, None, table, tmp_path / "o", context=ctx)
    assert s["scored"] == 2 and s["params"]["context_fill"] == "N"
    assert s["rejected"] == {
        "REF does not match the context record": 1,
        "outside every context record": 3,
    }
    rejects = (tmp_path / "o" / "rejects.tsv").read_text().splitlines()
    assert "c1\t103\tA\tT\tREF does not match the context record (G)" in rejects[1]
    head, scored = _table(tmp_path / "o" / "scores.tsv.gz")
    assert [(r[1], r[2]) for r in scored] == [("c1", "101"), ("X", "8")]
    with pytest.raises(ValueError, match=r"line 3 \(c1:103:A:T\): REF 'A' does not match "
                       r"context record el 'G' at c1:103"):  # fmt: skip
        score_vcf(CountModel(), HAND, None, table, tmp_path / "s", context=ctx, strict=True)
    far = _tsv(tmp_path / "far.tsv", ["chrom", "pos", "ref", "alt"], [("c1", 5, "A", "G")])
    with pytest.raises(ValueError, match="no variant lies inside a record of the context"):
        score_vcf(CountModel(), HAND, None, far, tmp_path / "f", context=ctx)


def test_context_fill_is_seeded_and_n_is_zeros(tmp_path):
    fasta = _context(tmp_path)
    el = slice(11, 22)  # the 11-bp record in a 32-bp window: middle base at offset 16
    for fill in ("dinuc", "shuffle"):
        a = Context.from_fasta(fasta, fill=fill, seed=3)
        b = Context.from_fasta(fasta, fill=fill, seed=3)
        c = Context.from_fasta(fasta, fill=fill, seed=4)
        start = a.window_start("el", 32)
        assert start == 100 + 5 - 16
        wa, wb, wc = (x.fetch("el", start, start + 32, seq_len=32) for x in (a, b, c))
        np.testing.assert_array_equal(wa, wb)
        assert not np.array_equal(wa, wc)
        assert decode(wa[el]) == ELEMENT and (wa != N_CODE).all()
    n = Context.from_fasta(fasta, fill="N")
    win = n.fetch("el", start, start + 32, seq_len=32)
    assert decode(win[el]) == ELEMENT and (np.delete(win, np.r_[el]) == N_CODE).all()
    assert one_hot(win)[:, np.delete(np.arange(32), np.r_[el])].sum() == 0
    with pytest.raises(ValueError, match="context_fill 'X': one of N, shuffle, dinuc"):
        Context.from_fasta(fasta, fill="X")


def test_shuffles_keep_composition():
    rng = np.random.default_rng(0)
    codes = encode("ACGCGCGTTTAACGATCGGGCTAGCTAGGATCCGATAAAC" * 3)
    out = dinucleotide_shuffle(codes, rng)
    pairs = lambda c: sorted(zip(c[:-1].tolist(), c[1:].tolist(), strict=True))  # noqa: E731
    assert pairs(out) == pairs(codes) and out[0] == codes[0] and out[-1] == codes[-1]
    assert not np.array_equal(out, codes)
    tiled = fill_codes(codes[:40], 100, "shuffle", rng)
    assert sorted(tiled[:40]) == sorted(codes[:40]) and tiled.size == 100


def test_context_score_equals_genome_score_on_an_n_genome(tmp_path):
    """A record that is the genome's own sequence, the genome all N around it: context
    mode (N fill) scores the record's middle variant as genome mode does, RC on; any
    other variant as the hand-built element-centred windows score it."""
    model, spec = _tiny_convformer()  # 512-bp windows, 384-bp output
    rng = np.random.default_rng(5)
    element = "".join(rng.choice(list("ACGT"), 101))
    iso = "N" * 700 + element + "N" * 700
    build_genome_store(write_fasta(tmp_path / "iso.fa", {"iso": iso}), tmp_path / "g")
    genome = GenomeStore(tmp_path / "g")
    fasta = _context(tmp_path, {"el iso:701-801": element})
    mid = 700 + 50  # 0-based middle base
    other = 700 + 3
    rows = [
        ("iso", mid + 1, element[50], "ACGT"[("ACGT".index(element[50]) + 1) % 4]),
        ("iso", other + 1, element[3], "ACGT"[("ACGT".index(element[3]) + 2) % 4]),
    ]
    table = _tsv(tmp_path / "v.tsv", ["chrom", "pos", "ref", "alt"], rows)
    kw = dict(reverse_complement=True, span=2)
    score_vcf(model, spec, genome, table, tmp_path / "gen", **kw)
    ctx = Context.from_fasta(fasta, fill="N")
    score_vcf(model, spec, None, table, tmp_path / "ctx", context=ctx, **kw)
    head, gen = _table(tmp_path / "gen" / "scores.tsv.gz")
    _, con = _table(tmp_path / "ctx" / "scores.tsv.gz")
    assert con[0][:5] == gen[0][:5]  # float32 sums in other orders (shared reference)
    np.testing.assert_allclose(np.float64(con[0][5:]), np.float64(gen[0][5:]), atol=1e-6)
    assert con[1] != gen[1]  # genome mode centres that variant, context mode the element
    g = Geometry.of(spec)
    ref = np.full((1, 512), N_CODE, np.uint8)
    ref[0, 256 - 50 : 256 + 51] = encode(element)
    alt = ref.copy()
    alt[0, 256 - 47] = "ACGT".index(rows[1][3])
    want = score_variants(model, ref, alt, geometry=g, variant_bin=np.array([g.bin_of(209)]), **kw)
    got = [float(con[1][head.index(c)]) for c in ("a:sad", "a:l2", "p:logodds")]
    np.testing.assert_allclose(got, [want["sad"][0, 0], want["l2"][0, 0], want["logodds"][0, 2]],
                               rtol=1e-5, atol=1e-6)  # fmt: skip


def test_context_shares_one_reference_window_per_record(tmp_path):
    """Saturation mutagenesis of an 11-bp record: 33 alts, one reference window (per
    shift), across chunks too."""
    ctx = Context.from_fasta(_context(tmp_path), fill="dinuc")
    rows = [("c1", 101 + i, b, a) for i, b in enumerate(ELEMENT) for a in "ACGT" if a != b]
    table = _tsv(tmp_path / "sat.tsv", ["chrom", "pos", "ref", "alt"], rows)
    model = CountModel()
    score_vcf(model, HAND, None, table, tmp_path / "o", context=ctx, reverse_complement=False)
    assert model.windows == 33 + 1
    model = CountModel()
    score_vcf(model, HAND, None, table, tmp_path / "s", context=ctx, reverse_complement=False,
              shifts=[-1, 0, 1], chunk_size=11)  # fmt: skip
    assert model.windows == 3 * 33 + 3 * 3  # 3 chunks x 3 shifts


def test_context_fasta_errors(tmp_path, genome):
    bad = {
        "noint.fa": ({"el some words": "ACGT"}, r"noint.fa line 1: header 'el some words' names"),
        "len.fa": ({"el c1:1-5": "ACGT"}, r"len.fa record 'el' \(line 1\): 4 bp, but its"),
        "base.fa": ({"c1:1-4": "ACXT"}, r"base.fa record 'c1:1-4' \(line 1\): 'X' at base 3"),
    }
    for name, (seqs, match) in bad.items():
        with pytest.raises(ValueError, match=match):
            Context.from_fasta(write_fasta(tmp_path / name, seqs))
    long = Context.from_fasta(_context(tmp_path, {"big c1:1-30": "A" * 30}))
    table = _tsv(tmp_path / "v.tsv", ["chrom", "pos", "ref", "alt"], [("c1", 5, "A", "G")])
    with pytest.raises(ValueError, match="context record 'big' is 30 bp: longer than the"):
        score_vcf(CountModel(), HAND, None, table, tmp_path / "o", context=long)


def test_cli_context_mode_with_a_table(tmp_path):
    spec = _spec()
    torch.manual_seed(0)
    save_model(tmp_path / "model", build_from_spec(spec), spec)
    fasta = _context(tmp_path, {"el c1:101-111": ELEMENT})
    table = _tsv(tmp_path / "v.tsv", ["chrom", "pos", "ref", "alt"], [("c1", 101, "A", "G")])
    args = ["score-variants", "--model", str(tmp_path / "model"), "--vcf", str(table)]
    args += ["--context", str(fasta), "--out", str(tmp_path / "o"), "--genome", "nowhere"]
    assert main(args + ["--set", "variants.context_fill=shuffle"]) == 0
    summary = json.loads((tmp_path / "o" / "summary.json").read_text())
    assert summary["scored"] == 1 and summary["params"]["context"] == str(fasta)
    bad = _tsv(tmp_path / "b.tsv", ["chrom", "pos", "ref", "alt"], [("c1", "one", "A", "G")])
    code, err = run_cli(tmp_path, [*args[:4], str(bad), *args[5:]])
    assert code == 2 and err.count("\n") == 1 and "b.tsv line 2: pos 'one'" in err


# --- the annotated VCF (--annotated-vcf) ---------------------------------------------

FIELDS = ["SAD_gc", "LOG2FC_gc", "SAD_a", "LOG2FC_a", "LOGODDS_t"]
# TSV column of each field
COLUMN = {"SAD": "sad", "LOG2FC": "log2fc", "LOGODDS": "logodds"}


def _classes() -> ClassModel:
    """Two classes over HAND's tracks, one named so that its key needs sanitising."""
    rng = np.random.default_rng(0)
    return ClassModel(
        track_names=HAND["track_names"],
        track_kinds=HAND["track_kinds"],
        bin_size=HAND["bin_size"],
        mean=np.zeros(3),
        std=np.ones(3),
        pca_mean=np.zeros(3),
        pca_components=np.eye(2, 3),
        centroids=np.array([[1.0, -0.5, 0.2], [0.0, 1.0, -1.0]]),
        names=["1 | Enhancer-like", "quiet"],
        top_tracks=["gc", "a"],
        sizes=np.array([5, 5]),
        genome_fraction=np.array([0.5, 0.5]),
        sample_pcs=rng.normal(size=(10, 2)).astype(np.float32),
        sample_labels=np.repeat(np.arange(2, dtype=np.int16), 5),
    )


def _annotate(tmp_path, genome, lines, name="out", contigs=("c1", "polyA"), **kw):
    vcf = _vcf(tmp_path / f"{name}.vcf", lines, contigs=contigs)
    kw.setdefault("reverse_complement", False)
    summary = score_vcf(CountModel(), HAND, genome, vcf, tmp_path / name, annotated_vcf=True, **kw)
    return vcf, tmp_path / name, summary


def _info_text(line: str) -> dict[str, str]:
    info = line.rstrip("\n").split("\t")[7]
    return dict(kv.split("=", 1) for kv in info.split(";") if "=" in kv)


def test_info_values_equal_the_tsv_columns(tmp_path, genome):
    lines = [
        _fix_ref(genome, "c1 40 v1 A C"),
        _fix_ref(genome, "c1 60 multi A C,G,T"),
        "polyA 51 m A G,<DEL>,T",
        "polyA 52 bad C G",
        "polyA 70 b A G]c1:5]",
    ]
    vcf, out, summary = _annotate(tmp_path, genome, lines, classes=_classes())
    head, rows = _table(out / "scores.tsv.gz")
    path = out / "annotated.vcf.gz"
    assert summary["annotated_vcf"] == "annotated.vcf.gz" and summary["annotated_vcf_indexed"]
    # the header declares every field: Number=A, Float, naming the track (or class)
    with pysam.VariantFile(str(path)) as v:
        info = v.header.info
        classes = ["CLASS_1_Enhancer_like", "CLASS_quiet"]
        assert [k for k in info if k != "NOT_SCORED"] == FIELDS + classes
        for key in FIELDS + classes:
            assert (info[key].number, info[key].type) == ("A", "Float"), key
        assert "coverage track 'gc'" in info["SAD_gc"].description
        assert "class '1 | Enhancer-like'" in info["CLASS_1_Enhancer_like"].description
        assert (info["NOT_SCORED"].number, info["NOT_SCORED"].type) == ("A", "String")
        records = list(v)
        assert all(set(r.info) <= set(info) for r in records)
    # every input record, in order, unchanged but for INFO
    text = [ln for ln in gzip.open(path, "rt") if not ln.startswith("#")]
    given = [ln for ln in vcf.read_text().splitlines() if not ln.startswith("#")]
    assert [t.split("\t")[:7] for t in text] == [g.split("\t")[:7] for g in given]
    # each TSV row's cells are its ALT's INFO values, as text and as pysam reads them
    by_id = {r.id: (r, _info_text(t)) for r, t in zip(records, text, strict=True)}
    names = {"CLASS_1_Enhancer_like": "class:1 | Enhancer-like", "CLASS_quiet": "class:quiet"}
    for row in rows:
        rec, raw = by_id[row[0]]
        i = rec.alts.index(row[4])
        for key in FIELDS + classes:
            prefix, track = key.split("_", 1)
            cell = row[head.index(names.get(key) or f"{track}:{COLUMN[prefix]}")]
            assert raw[key].split(",")[i] == cell, (row, key)
            assert rec.info[key][i] == pytest.approx(float(cell), rel=1e-6, abs=1e-30)
    assert len(rows) == 1 + 3 + 2
    # multi-allelic: one value per ALT in ALT order; the symbolic one missing, with its reason
    m, raw = by_id["m"]
    g_row, t_row = (r for r in rows if r[0] == "m")
    assert raw["SAD_gc"] == f"{g_row[head.index('gc:sad')]},.,{t_row[head.index('gc:sad')]}"
    assert m.info["SAD_gc"][1] is None
    assert m.info["NOT_SCORED"] == (".", "symbolic", ".")
    assert "NOT_SCORED" not in by_id["multi"][0].info  # every ALT scored
    # rejected records keep their line: no score values, the reason
    bad, raw = by_id["bad"]
    assert bad.info["NOT_SCORED"] == ("ref_mismatch",) and "SAD_gc" not in bad.info
    assert by_id["b"][0].info["NOT_SCORED"] == ("breakend",)
    # sorted input: tabix-indexed
    with pysam.VariantFile(str(path)) as v:
        assert [r.id for r in v.fetch("polyA", 50, 60)] == ["m", "bad"]
    # the TSV is the one written without the annotated VCF
    plain = score_vcf(
        CountModel(), HAND, genome, vcf, tmp_path / "plain", reverse_complement=False,
        classes=_classes(),
    )  # fmt: skip
    assert _table(tmp_path / "plain" / "scores.tsv.gz") == (head, rows)
    assert plain["annotated_vcf"] is None
    assert not (tmp_path / "plain" / "annotated.vcf.gz").exists()
    # rescoring the annotated folder without the flag leaves no stale annotated VCF
    out = path.parent
    score_vcf(CountModel(), HAND, genome, vcf, out, reverse_complement=False, classes=_classes())
    assert not (out / "annotated.vcf.gz").exists()
    assert not (out / "annotated.vcf.gz.tbi").exists()


def test_unsorted_input_is_not_indexed_and_unsampled_alts_say_so(tmp_path, genome):
    lines = [f"polyA {p} v{p} A G" for p in range(80, 20, -1)]
    _, out, summary = _annotate(tmp_path, genome, lines, fraction=0.5)
    assert not summary["annotated_vcf_indexed"]
    assert not (out / "annotated.vcf.gz.tbi").exists()
    scored = {r[0] for r in _table(out / "scores.tsv.gz")[1]}
    with pysam.VariantFile(str(out / "annotated.vcf.gz")) as v:
        records = list(v)
    assert [r.id for r in records] == [f"v{p}" for p in range(80, 20, -1)]
    for r in records:
        if r.id in scored:
            assert "NOT_SCORED" not in r.info and r.info["SAD_a"][0] is not None
        else:
            assert r.info["NOT_SCORED"] == ("not_sampled",) and "SAD_a" not in r.info
    assert 10 < len(scored) < 50


def test_records_held_stay_bounded_and_chunking_changes_nothing(tmp_path, genome, monkeypatch):
    """A scored allele, 60 rejects, another: the partial chunk is scored early instead of
    holding every reject's record until the chunk fills."""
    held = []

    class Watched(AnnotatedVcf):
        def skip(self, item, reason):
            super().skip(item, reason)
            held.append(self.backlog)

    monkeypatch.setattr(variants_run, "AnnotatedVcf", Watched)
    lines = ["polyA 30 a A G", *(f"chrZ {p} z{p} A G" for p in range(1, 61)), "polyA 40 b A C"]
    _, out, _ = _annotate(tmp_path, genome, lines, "small", chunk_size=2)
    assert max(held) <= 4 * 2 + 1
    _, out1, _ = _annotate(tmp_path, genome, lines, "big", chunk_size=256)
    assert max(held) == 61  # with a chunk of 256 every record waits for the scored one
    for name in ("scores.tsv.gz", "annotated.vcf.gz"):
        assert gzip.open(out / name).read() == gzip.open(out1 / name).read(), name


def test_errors_leave_no_annotated_file(tmp_path, genome):
    with pytest.raises(ValueError, match="REF 'C' does not match genome 'A'"):
        _annotate(tmp_path, genome, ["polyA 51 ok A G", "polyA 52 bad C G"], "s", strict=True)
    assert not list((tmp_path / "s").iterdir())
    # an input that already has the fields (scored before) is named, before scoring
    vcf, out, _ = _annotate(tmp_path, genome, ["polyA 51 ok A G"], "once")
    model = CountModel()
    with pytest.raises(ValueError, match="already has the INFO field.* SAD_gc"):
        score_vcf(
            model, HAND, genome, out / "annotated.vcf.gz", tmp_path / "twice", annotated_vcf=True
        )
    assert model.windows == 0 and not list((tmp_path / "twice").iterdir())
    # the same field in a record's INFO without a ##INFO line: named, not written twice
    undeclared = _vcf(tmp_path / "u.vcf", ["polyA 51 ok A G"], contigs=("polyA",))
    undeclared.write_text(undeclared.read_text().replace("\t.\t.\t.\n", "\t.\t.\tSAD_gc=1\n"))
    with pytest.raises(ValueError, match=r"record at polyA:51 already has the INFO .*SAD_gc"):
        score_vcf(CountModel(), HAND, genome, undeclared, tmp_path / "u", annotated_vcf=True)
    assert not list((tmp_path / "u").iterdir())


def test_context_mode_annotates_the_input_records(tmp_path):
    """In context mode the records keep the VCF's coordinates; the values are the scores
    in the context record, and an allele outside every record says so."""
    ctx = Context.from_fasta(_context(tmp_path))
    lines = ["c1 101 in A G,C", "c1 103 mis A T", "c1 50 out A G", "X 8 x G A"]
    vcf = _vcf(tmp_path / "v.vcf", lines, contigs=("c1", "X"))
    score_vcf(CountModel(), HAND, None, vcf, tmp_path / "o", context=ctx, annotated_vcf=True)
    head, rows = _table(tmp_path / "o" / "scores.tsv.gz")
    with pysam.VariantFile(str(tmp_path / "o" / "annotated.vcf.gz")) as v:
        recs = {r.id: r for r in v}
    assert [(r.chrom, r.pos) for r in recs.values()] == [
        ("c1", 101),
        ("c1", 103),
        ("c1", 50),
        ("X", 8),
    ]
    assert [r[4] for r in rows if r[0] == "in"] == ["G", "C"]
    sad = [float(r[head.index("a:sad")]) for r in rows if r[0] == "in"]
    assert recs["in"].info["SAD_a"] == pytest.approx(tuple(sad))
    assert recs["mis"].info["NOT_SCORED"] == ("ref_mismatch_context",)
    assert recs["out"].info["NOT_SCORED"] == ("outside_context",)
    assert "NOT_SCORED" not in recs["x"].info


def test_info_keys_are_sanitised_and_collisions_named():
    assert info_key("K562 DNase-seq") == "K562_DNase_seq"
    assert info_key("H3K27ac.rep1") == "H3K27ac.rep1"
    assert info_key("a:b|c") == "a_b_c"
    names = {"tracks": ["a-b", "a_b"], "kinds": ["coverage", "coverage"], "classes": []}
    columns = [("a-b:sad", 0, "sad"), ("a-b:l2", 0, "l2"), ("a_b:sad", 1, "sad")]
    with pytest.raises(ValueError, match="'a-b' and 'a_b' both become the INFO key SAD_a_b"):
        info_fields(columns, names)
    assert [k for k, _, _ in info_fields(columns[:2], names)] == ["SAD_a_b"]  # l2 left out


def test_table_input_is_an_error_in_the_library_and_the_cli(tmp_path, genome):
    table = _tsv(tmp_path / "v.tsv", ["chrom", "pos", "ref", "alt"], [["polyA", 51, "A", "G"]])
    model = CountModel()
    with pytest.raises(ValueError, match=r"v.tsv is a variant table, not a VCF"):
        score_vcf(model, HAND, genome, table, tmp_path / "lib", annotated_vcf=True)
    assert model.windows == 0 and not (tmp_path / "lib").exists()
    _save_small_model(tmp_path / "model")
    base = ["score-variants", "--model", "model", "--genome", "genome", "--annotated-vcf"]
    code, err = run_cli(tmp_path, [*base, "--vcf", "v.tsv", "--out", "t"])
    assert code == 2 and err.count("\n") == 1 and "is a variant table, not a VCF" in err
    assert not (tmp_path / "t" / "scores.tsv.gz").exists()
    # the flag, or the config key, with a VCF
    _vcf(tmp_path / "v.vcf", [_fix_ref(genome, "c1 50 v1 A C")])
    code, err = run_cli(tmp_path, [*base, "--vcf", "v.vcf", "--out", "o"])
    assert code == 0, err
    with pysam.VariantFile(str(tmp_path / "o" / "annotated.vcf.gz")) as v:
        assert list(v.header.info) == ["SAD_a", "LOG2FC_a", "LOGODDS_p", "NOT_SCORED"]
        assert len(list(v)) == 1
    (tmp_path / "c.yaml").write_text("variants:\n  annotated_vcf: true\n")
    code, err = run_cli(tmp_path, [*base[:-1], "-c", "c.yaml", "--vcf", "v.vcf", "--out", "k"])
    assert code == 0 and (tmp_path / "k" / "annotated.vcf.gz").is_file(), err


def test_cagi5_hnf4a_on_the_real_chr20(shared_data, tmp_path):
    """CAGI5's HNF4A element on the real chr20 genome store: its first base is C in the
    table and A in the genome, so those three alleles are rejected, not scored; in context
    mode (the element FASTA, rebuilt from the table) they are scored."""
    fasta = shared_data / "hg19-chr20" / "GRCh37_chr20.fa.gz"
    build_genome_store(fasta, tmp_path / "g", chroms=["chr20"], progress=False)
    cagi = (shared_data / "cagi5" / "cagi5_saturation_mutagenesis_hg19.tsv").read_text()
    head, *lines = cagi.splitlines()
    hnf4a = [line for line in lines if line.split("\t")[6] == "HNF4A"][:6]
    assert [x.split("\t")[1:3] for x in hnf4a[:3]] == [["42984159", "C"]] * 3
    table = tmp_path / "hnf4a.tsv"
    table.write_text("\n".join([head, *hnf4a]) + "\n")
    spec = _spec(
        n_tracks=2, track_names=["HepG2.HNF4A", "HepG2.FOXA2"], track_kinds=["peaks"] * 2,
        bin_size=128, seq_len=2048,
    )  # fmt: skip
    torch.manual_seed(0)
    model = build_model(
        "convformer", n_tracks=2, track_kinds=spec["track_kinds"], bin_size=128, crop_bins=2,
        **spec["hparams"],
    ).eval()  # fmt: skip
    s = score_vcf(model, spec, GenomeStore(tmp_path / "g"), table, tmp_path / "o")
    assert s["scored"] == 3 and s["rejected"] == {"REF does not match the genome": 3}
    rejects = (tmp_path / "o" / "rejects.tsv").read_text().splitlines()[1:]
    assert [r.split("\t")[1:] for r in rejects] == [
        ["chr20", "42984159", "C", a, "REF does not match the genome (A)"] for a in "AGT"
    ]
    _, scored = _table(tmp_path / "o" / "scores.tsv.gz")
    assert {r[2] for r in scored} == {"42984160"}
    ctx = Context.from_fasta(shared_data / "cagi5" / "cagi5_elements_hg19.fa", fill="dinuc")
    s = score_vcf(model, spec, None, table, tmp_path / "c", context=ctx)
    assert s["scored"] == 6 and s["rejected"] == {}
