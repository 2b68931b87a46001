"""Variant scoring: hand-computed scores, metamorphic checks, indels, rejects, sharing, CLI."""

from __future__ import annotations

import gzip

import numpy as np
import pytest
import torch
from torch import nn

from genomics.cli import main
from genomics.data.genome import GenomeStore, build_genome_store
from genomics.models.saved import build_from_spec, save_model
from genomics.variants import Geometry, score_variants, score_vcf
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


def _tiny_convformer():
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


def test_cli_scores_a_vcf_and_reports_errors(tmp_path, genome):
    spec = {
        "name": "convformer",
        "hparams": {"dim": 16, "depth": 1, "heads": 2, "pool": "max"},
        "n_tracks": 2,
        "track_names": ["a", "p"],
        "track_kinds": ["coverage", "peaks"],
        "bin_size": 32,
        "crop_bins": 1,
        "seq_len": 256,
    }
    torch.manual_seed(0)
    save_model(tmp_path / "model", build_from_spec(spec), spec)
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
