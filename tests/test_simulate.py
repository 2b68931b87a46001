"""Tests for genomics.simulate: output files, determinism, the oracle's grammar, true effects."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pyBigWig
import pyfaidx
import pytest

from genomics.config import schema
from genomics.data.encoding import encode, reverse_complement_codes
from genomics.simulate import (
    DEFAULTS,
    Grammar,
    expected_signal,
    make_grammar,
    signal_reach,
    simulate,
    variant_effects,
)
from genomics.simulate.oracle import motif_activations, site_activation

SMALL = {"n_chroms": 2, "chrom_length": 200_000, "n_variants": 120}
SEED = 7
FILES = ["genome.fa", "genome.fa.fai", "tracks.tsv", "elements.bed", "variants.vcf"]
FILES += ["effects.tsv", "grammar.json", "clean.tsv"]


@pytest.fixture(scope="module")
def sim(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("sim")
    summary = simulate(out, seed=SEED, **SMALL)
    assert summary["n_variants"] == SMALL["n_variants"]
    return out


@pytest.fixture(scope="module")
def grammar() -> Grammar:
    return make_grammar(0)


def _track(grammar: Grammar, name: str) -> int:
    return grammar.track_names.index(name)


def _random_codes(n: int, seed: int) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, size=n).astype(np.uint8)


def _plant(codes: np.ndarray, centre: int, motif) -> np.ndarray:
    """Copy of ``codes`` with the motif's consensus centred on ``centre``."""
    out = codes.copy()
    site = motif.pwm.argmax(1).astype(np.uint8)
    start = centre - motif.width // 2
    out[start : start + motif.width] = site
    return out


def _read_effects(path: Path) -> list[dict]:
    with open(path) as fh:
        return list(csv.DictReader(fh, delimiter="\t"))


def _read_vcf(path: Path) -> tuple[list[str], list[list[str]]]:
    lines = path.read_text().splitlines()
    head = [line for line in lines if line.startswith("#")]
    return head, [line.split("\t") for line in lines if not line.startswith("#")]


# ---------------------------------------------------------------- files


def test_files_exist_and_read(sim):
    for name in FILES:
        assert (sim / name).is_file(), name
    fa = pyfaidx.Fasta(str(sim / "genome.fa"))
    assert list(fa.keys()) == ["chr1", "chr2"]
    assert [len(fa[c]) for c in fa.keys()] == [200_000, 200_000]
    text = str(fa["chr1"][:])
    assert "N" * 1000 in text  # the long gap
    assert any(ch.islower() for ch in text)  # soft-masked stretches
    assert sum(ch.isupper() for ch in text) > 0.95 * len(text)
    lines = (sim / "genome.fa").read_text().splitlines()
    assert {len(line) for line in lines[1:100]} == {60}


def test_tracks_table_and_bigwigs(sim):
    with open(sim / "tracks.tsv") as fh:
        rows = list(csv.reader(fh, delimiter="\t"))
    assert rows[0] == ["name", "path", "kind", "aggregate", "description"]
    names = [r[0] for r in rows[1:]]
    assert len(names) == 10
    assert sum(n.startswith("tf_") for n in names) == 5
    assert sum(n.startswith("coop_") for n in names) == 1
    assert sum(n.startswith("expr_") for n in names) == 2
    assert names[-2:] == ["mark_e0", "mark_e1"]
    for name, path, kind, aggregate, description in rows[1:]:
        assert (kind, aggregate) == ("coverage", "sum")
        assert ("long-range" in description) == name.startswith("expr_")
        bw = pyBigWig.open(str(sim / path))
        assert bw.isBigWig()
        assert bw.chroms() == {"chr1": 200_000, "chr2": 200_000}
        values = np.array(bw.values("chr2", 0, 200_000))
        assert np.isfinite(values).all() and (values >= 0).all()
        bw.close()


def test_vcf_matches_genome(sim):
    head, rows = _read_vcf(sim / "variants.vcf")
    assert head[0] == "##fileformat=VCFv4.2"
    assert "##contig=<ID=chr1,length=200000>" in head
    assert head[-1].split("\t") == ["#CHROM", "POS", "ID", "REF", "ALT", "QUAL", "FILTER", "INFO"]
    assert len(rows) == SMALL["n_variants"]
    assert len({r[2] for r in rows}) == len(rows)
    keys = [(int(r[0][3:]), int(r[1])) for r in rows]
    assert keys == sorted(keys) and len(set(keys)) == len(keys)
    fa = pyfaidx.Fasta(str(sim / "genome.fa"))
    for chrom, pos, _, ref, alt, *_ in rows:
        assert str(fa[chrom][int(pos) - 1]).upper() == ref  # POS is 1-based
        assert alt in "ACGT" and alt != ref
    background = sum(r[7] == "ELEMENT=background" for r in rows)
    assert background == len(rows) - len(rows) // 2


def test_elements_sorted_inside(sim):
    rows = [line.split("\t") for line in (sim / "elements.bed").read_text().splitlines()]
    keys = [(int(r[0][3:]), int(r[1]), int(r[2])) for r in rows]
    assert keys == sorted(keys)
    for _chrom, start, end, name, score, strand in rows:
        assert 0 <= int(start) < int(end) <= 200_000
        assert name.split(":")[0] in {"motif", "pair", "enhancer", "promoter"}
        assert 0 <= int(score) <= 1000 and strand in "+-."
    kinds = {r[3].split(":")[0] for r in rows}
    assert kinds == {"motif", "pair", "enhancer", "promoter"}


def test_grammar_json_round_trip(sim):
    saved = Grammar.from_dict(json.loads((sim / "grammar.json").read_text()))
    rebuilt = make_grammar(SEED, **SMALL)
    assert saved.to_dict() == rebuilt.to_dict()
    assert make_grammar(SEED + 1, **SMALL).to_dict()["motifs"] != rebuilt.to_dict()["motifs"]


def test_defaults_match_schema():
    props = schema()["properties"]["simulate"]["properties"]
    assert {k: v["default"] for k, v in props.items()} == DEFAULTS


# ---------------------------------------------------------------- determinism


def test_same_seed_same_bytes(sim, tmp_path):
    simulate(tmp_path / "again", seed=SEED, **SMALL)
    simulate(tmp_path / "other", seed=SEED + 1, **SMALL)
    bigwigs = sorted(p.relative_to(sim) for p in (sim / "tracks").glob("*.bw"))
    assert len(bigwigs) == 10
    bigwigs += sorted(p.relative_to(sim) for p in (sim / "clean").glob("*.bw"))
    assert len(bigwigs) == 20
    for name in [*FILES, *bigwigs]:
        assert (sim / name).read_bytes() == (tmp_path / "again" / name).read_bytes(), name
    for name in ["genome.fa", "variants.vcf", "effects.tsv", "tracks/tf_m0.bw"]:
        assert (sim / name).read_bytes() != (tmp_path / "other" / name).read_bytes(), name


def test_resimulating_with_fewer_tracks_leaves_no_stale_bigwigs(tmp_path):
    small = {**SMALL, "n_variants": 10}
    simulate(tmp_path, seed=SEED, **small)
    assert (tmp_path / "tracks" / "tf_m4.bw").is_file()
    simulate(tmp_path, seed=SEED, **small, n_local_tracks=3)
    listed = {line.split("\t")[0] for line in (tmp_path / "tracks.tsv").read_text().splitlines()}
    on_disk = {p.stem for p in (tmp_path / "tracks").glob("*.bw")}
    assert "tf_m4" not in on_disk and on_disk <= listed and len(on_disk) == 8
    clean = {p.stem for p in (tmp_path / "clean").glob("*.bw")}
    assert clean == on_disk


# ---------------------------------------------------------------- the oracle


def test_expected_signal_shape_and_background(grammar):
    codes = _random_codes(5_000, 1)
    codes[1000:1200] = 4
    sig = expected_signal(codes, grammar)
    assert sig.shape == (5_000, 10) and sig.dtype == np.float32
    bg = np.array([t.background for t in grammar.tracks], np.float32)
    assert np.allclose(sig[1000:1200], 0.0)  # no background inside N
    assert (sig[:1000] >= bg - 1e-7).all()


def test_site_activation_is_graded(grammar):
    motif = grammar.motifs[0]
    consensus = motif.pwm.argmax(1).astype(np.uint8)
    col = int(np.argmax(motif.information()))
    one_off = consensus.copy()
    one_off[col] = np.argmin(motif.pwm[col])
    acts = site_activation(
        np.stack([consensus, one_off, reverse_complement_codes(consensus)]),
        motif.pwm,
        grammar.gc_content,
        grammar.threshold,
    )
    assert acts[0] == pytest.approx(1.0)
    assert acts[2] == pytest.approx(1.0)  # either strand
    assert acts[1] < acts[0]
    random = np.random.default_rng(0).integers(0, 4, size=(1000, motif.width)).astype(np.uint8)
    assert (site_activation(random, motif.pwm, grammar.gc_content) == 0).mean() > 0.99


def test_local_peak_near_motif_only(grammar):
    t = _track(grammar, "tf_m0")
    codes = _random_codes(20_000, 2)
    base = expected_signal(codes, grammar)
    planted = _plant(codes, 10_000, grammar.motifs[0])
    sig = expected_signal(planted, grammar)
    rise = sig[10_000, t] - base[10_000, t]
    assert rise > 0.9 * grammar.tracks[t].amplitude
    assert sig[9_800:10_200, t].argmax() + 9_800 == pytest.approx(10_000, abs=2)
    far = np.r_[0:8_000, 12_000:20_000]
    np.testing.assert_array_equal(sig[far, t], base[far, t])
    others = [i for i, tr in enumerate(grammar.tracks) if tr.kind == "local" and i != t]
    np.testing.assert_allclose(sig[:, others], base[:, others], atol=1e-6)

    # an SNV that breaks the motif's most informative base lowers the peak
    motif = grammar.motifs[0]
    col = int(np.argmax(motif.information()))
    broken = planted.copy()
    broken[10_000 - motif.width // 2 + col] = np.argmin(motif.pwm[col])
    assert expected_signal(broken, grammar)[10_000, t] < sig[10_000, t] - 0.2


def test_cooperative_track_needs_both_motifs(grammar):
    t = _track(grammar, "coop_m5_m6")
    amp = grammar.tracks[t].amplitude
    a, b = grammar.motifs[5], grammar.motifs[6]
    codes = _random_codes(20_000, 3)
    base = expected_signal(codes, grammar)[:, t]
    window = slice(9_000, 11_000)

    def rise(seq):
        return float((expected_signal(seq, grammar)[window, t] - base[window]).max())

    both = _plant(_plant(codes, 10_000, a), 10_030, b)
    assert rise(both) > 0.5 * amp
    assert rise(_plant(codes, 10_000, a)) < 0.01 * amp
    assert rise(_plant(codes, 10_030, b)) < 0.01 * amp
    far_apart = _plant(_plant(codes, 10_000, a), 10_000 + 2 * 50, b)  # beyond coop_distance
    assert rise(far_apart) < 0.01 * amp


def _enhancer(codes: np.ndarray, centre: int, motif) -> np.ndarray:
    for offset in (-40, 0, 40):
        codes = _plant(codes, centre + offset, motif)
    return codes


def test_enhancer_mark_is_local_and_needs_a_cluster(grammar):
    m0, m1, e0 = (_track(grammar, n) for n in ("mark_e0", "mark_e1", "expr_e0"))
    promoter, enh0 = grammar.motifs[7], grammar.motifs[8]
    assert grammar.tracks[m0].motifs == (8,) and grammar.tracks[m1].motifs == (9,)
    p = 100_000
    codes = _plant(_random_codes(200_000, 5), p, promoter)
    alone = expected_signal(codes, grammar)
    # a 3-site cluster of the e0 enhancer motif makes a mark_e0 peak on the cluster, with or
    # without a promoter in range, and nothing on mark_e1
    for where in (p + 15_000, p + 80_000):
        sig = expected_signal(_enhancer(codes, where, enh0), grammar)
        assert sig[where, m0] > alone[where, m0] + 0.5 * grammar.tracks[m0].amplitude
        assert sig[where, m1] == pytest.approx(alone[where, m1], abs=1e-6)
        assert sig[where + 2_000, m0] == pytest.approx(alone[where + 2_000, m0], abs=1e-6)
    # ... a single site gives a much smaller one (Hill: clusters count for more than sites)
    one = expected_signal(_plant(codes, p + 15_000, enh0), grammar)
    cluster = expected_signal(_enhancer(codes, p + 15_000, enh0), grammar)
    rise = cluster[p + 15_000, m0] - alone[p + 15_000, m0]
    assert one[p + 15_000, m0] - alone[p + 15_000, m0] < 0.5 * rise
    # the promoter makes no mark, and the mark does not depend on the promoter
    assert alone[p, m0] == pytest.approx(grammar.tracks[m0].background, abs=1e-3)
    assert cluster[p, e0] > alone[p, e0]


def test_enhancer_marks_switch_off_without_changing_other_tracks():
    with_marks = make_grammar(SEED)
    without = make_grammar(SEED, enhancer_marks=False)
    assert [t.name for t in without.tracks] == [t.name for t in with_marks.tracks][:-2]
    assert without.tracks == with_marks.tracks[:-2]
    assert with_marks.params["enhancer_marks"] is True  # not coerced to 1 in grammar.json
    again = Grammar.from_dict(json.loads(json.dumps(with_marks.to_dict())))
    assert make_grammar(SEED, **again.params).to_dict() == with_marks.to_dict()
    with pytest.raises(ValueError, match="enhancer_marks='yes' must be true or false"):
        make_grammar(SEED, enhancer_marks="yes")


def test_long_range_track_needs_distal_enhancers(grammar):
    e0, e1 = _track(grammar, "expr_e0"), _track(grammar, "expr_e1")
    promoter, enh0, enh1 = (grammar.motifs[i] for i in (7, 8, 9))
    assert grammar.tracks[e0].distance == (10_000, 30_000)
    p = 100_000
    codes = _plant(_random_codes(200_000, 4), p, promoter)
    alone = expected_signal(codes, grammar)  # only weak chance matches of enhancer motifs

    # an e0 enhancer 15 kb away switches the promoter on for expr_e0 only
    with_e0 = expected_signal(_enhancer(codes, p + 15_000, enh0), grammar)
    assert with_e0[p, e0] > 4 * alone[p, e0] and with_e0[p, e0] > alone[p, e0] + 0.15
    assert with_e0[p, e1] == pytest.approx(alone[p, e1], abs=1e-6)
    # one SNV in the core of each of its sites breaks the enhancer again
    col = int(np.argmax(enh0.information()))
    broken = _enhancer(codes, p + 15_000, enh0)
    for offset in (-40, 0, 40):
        broken[p + 15_000 + offset - enh0.width // 2 + col] = np.argmin(enh0.pwm[col])
    assert expected_signal(broken, grammar)[p, e0] < 0.1 * with_e0[p, e0]
    # an e1 enhancer 35 kb away (inside 20-50 kb) switches on expr_e1 only
    with_e1 = expected_signal(_enhancer(codes, p - 35_000, enh1), grammar)
    assert with_e1[p, e1] > 2 * alone[p, e1] and with_e1[p, e1] > alone[p, e1] + 0.15
    assert with_e1[p, e0] == pytest.approx(alone[p, e0], abs=1e-6)
    # the same enhancer closer than the range's minimum does nothing
    too_close = expected_signal(_enhancer(codes, p + 5_000, enh0), grammar)
    assert too_close[p, e0] == pytest.approx(alone[p, e0], abs=1e-6)
    # ... nor beyond its maximum (plus the cluster's half width)
    beyond = 30_000 + grammar.enhancer_half_width + 100
    too_far = expected_signal(_enhancer(codes, p + beyond, enh0), grammar)
    assert too_far[p, e0] == pytest.approx(alone[p, e0], abs=1e-6)


def test_signal_ignores_sequence_beyond_reach(grammar):
    reach = signal_reach(grammar)
    assert 50_000 < reach < 65_536
    p = 100_000
    codes = _plant(_random_codes(200_000, 5), p, grammar.motifs[7])
    codes = _enhancer(codes, p + 20_000, grammar.motifs[8])
    other = codes.copy()
    rng = np.random.default_rng(9)
    other[: p - reach] = rng.integers(0, 4, p - reach)
    other[p + reach + 1 :] = rng.integers(0, 4, other.size - p - reach - 1)
    np.testing.assert_allclose(
        expected_signal(other, grammar)[p], expected_signal(codes, grammar)[p], rtol=1e-6
    )


def test_reverse_complement_flips_signal(grammar, sim):
    codes = encode(str(pyfaidx.Fasta(str(sim / "genome.fa"))["chr2"][:]))[:120_000]
    fwd = expected_signal(codes, grammar)
    rev = expected_signal(reverse_complement_codes(codes), grammar)
    np.testing.assert_allclose(rev[::-1], fwd, atol=1e-4, rtol=1e-4)


def test_bad_codes(grammar):
    with pytest.raises(ValueError, match="uint8"):
        expected_signal(np.zeros(10, np.int64), grammar)
    with pytest.raises(ValueError, match="0..4"):
        expected_signal(np.full(10, 7, np.uint8), grammar)


# ---------------------------------------------------------------- true effects


def _chrom_codes(sim: Path, chrom: str) -> np.ndarray:
    return encode(str(pyfaidx.Fasta(str(sim / "genome.fa"))[chrom][:]))


def test_effects_table(sim):
    rows = _read_effects(sim / "effects.tsv")
    head = list(rows[0])
    grammar = Grammar.from_dict(json.loads((sim / "grammar.json").read_text()))
    assert head == ["id", "chrom", "pos", "ref", "alt", "element", *grammar.track_names]
    _, vcf = _read_vcf(sim / "variants.vcf")
    assert [r["id"] for r in rows] == [v[2] for v in vcf]
    assert [r["pos"] for r in rows] == [v[1] for v in vcf]
    eff = np.array([[float(r[n]) for n in grammar.track_names] for r in rows])
    background = np.array([r["element"] == "background" for r in rows])
    assert (np.abs(eff[background]).max(1) < 1e-3).mean() > 0.9
    # a variant in a lone TF motif's core changes that motif's track, and only it
    for r, e in zip(rows, eff, strict=True):
        if r["element"].startswith("motif:") and f"tf_{r['element'][6:]}" in grammar.track_names:
            own = grammar.track_names.index(f"tf_{r['element'][6:]}")
            assert e[own] != 0
            assert np.abs(np.delete(e, own)).max() < 0.05
    pairs = [e for r, e in zip(rows, eff, strict=True) if r["element"].startswith("pair:")]
    coop = grammar.track_names.index("coop_m5_m6")
    assert pairs and all(e[coop] != 0 for e in pairs)


def test_effects_match_full_recompute(sim):
    grammar = Grammar.from_dict(json.loads((sim / "grammar.json").read_text()))
    window = grammar.params["effect_window"]
    rows = [r for r in _read_effects(sim / "effects.tsv") if r["chrom"] == "chr1"]
    kinds = ["motif", "pair", "enhancer", "promoter", "background"]
    picked = [
        next(r for r in rows if r["element"].startswith(k))
        for k in kinds
        if any(r["element"].startswith(k) for r in rows)
    ]
    assert len(picked) >= 4
    codes = _chrom_codes(sim, "chr1")
    ref_sig = expected_signal(codes, grammar).astype(np.float64)
    for r in picked:
        p = int(r["pos"]) - 1
        assert "ACGT"[codes[p]] == r["ref"]
        alt = codes.copy()
        alt[p] = "ACGT".index(r["alt"])
        alt_sig = expected_signal(alt, grammar).astype(np.float64)
        lo, hi = max(0, p - window), min(codes.size, p + window + 1)
        s_ref, s_alt = ref_sig[lo:hi].sum(0), alt_sig[lo:hi].sum(0)
        truth = np.log2((s_alt + 1) / (s_ref + 1))
        written = np.array([float(r[n]) for n in grammar.track_names])
        np.testing.assert_allclose(written, truth, atol=1e-4, err_msg=r["element"])


def test_effects_swap_and_batch_invariance(sim):
    grammar = Grammar.from_dict(json.loads((sim / "grammar.json").read_text()))
    rows = [r for r in _read_effects(sim / "effects.tsv") if r["chrom"] == "chr2"]
    rows = [r for r in rows if r["element"] != "background"][:6]
    codes = _chrom_codes(sim, "chr2")
    pos = np.array([int(r["pos"]) - 1 for r in rows])
    alts = np.array(["ACGT".index(r["alt"]) for r in rows], np.uint8)
    together = variant_effects(codes, pos, alts, grammar)
    one_by_one = np.concatenate(
        [variant_effects(codes, pos[i : i + 1], alts[i : i + 1], grammar) for i in range(3)]
    )
    np.testing.assert_allclose(together[:3], one_by_one, atol=1e-12)
    # ref <-> alt swap negates the effect
    alt_codes = codes.copy()
    alt_codes[pos[0]] = alts[0]
    back = variant_effects(alt_codes, pos[:1], codes[pos[:1]], grammar)
    np.testing.assert_allclose(back[0], -together[0], atol=1e-9)


def test_observed_coverage_follows_expected(sim):
    grammar = Grammar.from_dict(json.loads((sim / "grammar.json").read_text()))
    codes = _chrom_codes(sim, "chr1")
    expected = expected_signal(codes, grammar).astype(np.float64)
    n = codes.size // 128 * 128
    expected_bins = expected[:n].reshape(-1, 128, len(grammar.tracks)).sum(1)
    for t, track in enumerate(grammar.tracks):
        bw = pyBigWig.open(str(sim / "tracks" / f"{track.name}.bw"))
        observed = np.nan_to_num(np.array(bw.values("chr1", 0, n))).reshape(-1, 128).sum(1)
        bw.close()
        r = np.corrcoef(observed, expected_bins[:, t])[0, 1]
        assert r > 0.5, (track.name, r)
        # counts: the total is Poisson around the expected total (4 standard deviations)
        total = expected_bins[:, t].sum()
        assert observed.sum() == pytest.approx(total, abs=4 * np.sqrt(total)), track.name


def test_noise_free_signal_round_trips(tmp_path):
    """clean/<track>.bw holds the oracle's expected count per step / step (the last, short
    step divided by its own width), and clean.tsv lists them like tracks.tsv."""
    params = {"n_chroms": 1, "chrom_length": 50_007, "n_variants": 4, "step": 16}
    params.update(expr_distances=[[2000, 5000]], effect_window=6000)
    simulate(tmp_path, seed=3, **params)
    grammar = Grammar.from_dict(json.loads((tmp_path / "grammar.json").read_text()))
    codes = _chrom_codes(tmp_path, "chr1")
    expected = expected_signal(codes, grammar).astype(np.float64)  # (l, t)
    starts = np.arange(0, codes.size, 16)
    widths = np.diff(np.append(starts, codes.size))
    assert widths[-1] == 50_007 % 16
    per_step = np.add.reduceat(expected, starts, axis=0) / widths[:, None]  # (steps, t)
    with open(tmp_path / "clean.tsv") as fh:
        rows = list(csv.DictReader(fh, delimiter="\t"))
    assert [r["name"] for r in rows] == grammar.track_names
    for t, row in enumerate(rows):
        assert row["path"] == f"clean/{row['name']}.bw"
        assert (row["kind"], row["aggregate"]) == ("coverage", "sum")
        assert row["description"].startswith("noise-free")
        bw = pyBigWig.open(str(tmp_path / row["path"]))
        got = np.array([v for _, _, v in bw.intervals("chr1")])
        spans = [e - s for s, e, _ in bw.intervals("chr1")]
        bw.close()
        assert spans == widths.tolist()
        # float32 in the file; the simulator sums float64 per base, the oracle float32
        np.testing.assert_allclose(got, per_step[:, t], rtol=1e-5, atol=1e-9)
    # observed counts scatter around it: same length, Poisson, and not equal
    bw = pyBigWig.open(str(tmp_path / "tracks" / f"{rows[0]['name']}.bw"))
    observed = np.array([v for _, _, v in bw.intervals("chr1")])
    bw.close()
    assert observed.shape == got.shape and not np.allclose(observed, per_step[:, 0])


def test_motif_consensus_sets_information_content():
    """The default range gives the grammar it always gave; a lower one, weaker motifs."""
    default = make_grammar(0)
    again = make_grammar(0, motif_consensus=[0.7, 0.97])
    assert [m.consensus for m in default.motifs] == [m.consensus for m in again.motifs]
    assert all(
        np.array_equal(a.pwm, b.pwm) for a, b in zip(default.motifs, again.motifs, strict=True)
    )
    weak = make_grammar(0, motif_consensus=[0.5, 0.6])
    bits = [np.mean([m.information().mean() for m in g.motifs]) for g in (default, weak)]
    assert bits[0] > 1.1 and bits[1] < 0.7, bits
    assert min(m.pwm.max(1).min() for m in weak.motifs) >= 0.5  # the consensus keeps >= 0.5


# ---------------------------------------------------------------- bad parameters


@pytest.mark.parametrize(
    ("params", "match"),
    [
        ({"chrom_length": 100_000}, "chrom_length=100000 is too short"),
        ({"expr_distances": [[5000, 1000]]}, "expr_distances"),
        ({"expr_distances": [[10_000, 90_000]], "chrom_length": 400_000}, "effect_window"),
        ({"coop_distance": 5}, "coop_distance=5"),
        ({"gc_content": 1.0}, "gc_content"),
        ({"n_chroms": 0}, "n_chroms=0"),
        ({"n_local_tracks": 0, "n_coop_tracks": 0, "expr_distances": []}, "no tracks"),
        ({"chrom_lenght": 1}, "unknown simulate parameter"),
        ({"n_variants": True}, "n_variants"),
        ({"motif_consensus": [0.3, 0.8]}, r"motif_consensus=\[0.3, 0.8\]"),
        ({"motif_consensus": [0.9, 0.8]}, "motif_consensus"),
        ({"motif_consensus": 0.8}, "motif_consensus"),
    ],
)
def test_bad_params(params, match):
    with pytest.raises(ValueError, match=match):
        make_grammar(0, **params)


def test_too_many_variants(tmp_path):
    with pytest.raises(ValueError, match="n_variants=100000"):
        simulate(tmp_path, seed=0, **{**SMALL, "n_variants": 100_000})


def test_too_dense(tmp_path):
    with pytest.raises(ValueError, match="density=10"):
        simulate(tmp_path, seed=0, **{**SMALL, "density": 10})


def test_motif_activations_shape(grammar):
    act = motif_activations(_random_codes(1000, 6), grammar)
    assert act.shape == (len(grammar.motifs), 1000) and act.dtype == np.float32
    assert act.min() >= 0 and act.max() <= 1
