import errno
import gzip
import json

import numpy as np
import pytest

from genomics.data import genome as genome_mod
from genomics.data.encoding import decode, encode
from genomics.data.genome import GenomeStore, build_genome_store
from genomics.io import StoreError

from conftest import dies_on_call, write_fasta

RECORDS = {"chr1": "ACGTacgtNNRYACGT" * 10, "chr2": "GGGGCCCCAAAATTTT", "chrM": "ACGTTGCA"}


@pytest.fixture
def fasta(tmp_path):
    return write_fasta(tmp_path / "ref.fa", RECORDS, width=7)


def test_store_holds_the_codes(fasta, tmp_path):
    manifest = build_genome_store(fasta, tmp_path / "g")
    store = GenomeStore(tmp_path / "g")
    assert store.chroms == ["chr1", "chr2", "chrM"]
    assert store.sizes == {k: len(v) for k, v in RECORDS.items()}
    for name, seq in RECORDS.items():
        np.testing.assert_array_equal(store.codes(name), encode(seq))
        assert store.codes(name).dtype == np.uint8
    assert (tmp_path / "g" / "chrom.sizes").read_text().splitlines()[0] == "chr1\t160"
    # N fraction: 2 N + 2 IUPAC per 16 bases
    assert manifest["n_fraction"]["chr1"] == pytest.approx(0.25)


def test_fetch_pads_with_n_past_both_ends(fasta, tmp_path):
    build_genome_store(fasta, tmp_path / "g")
    store = GenomeStore(tmp_path / "g")
    assert decode(store.fetch("chr2", -3, 2)) == "NNNGG"
    assert decode(store.fetch("chr2", 14, 19)) == "TTNNN"
    assert decode(store.fetch("chr2", 20, 23)) == "NNN"
    assert decode(store.fetch("chr2", -5, -1)) == "NNNN"
    x = store.one_hot("chr2", -1, 1)
    np.testing.assert_array_equal(x, [[0, 0], [0, 0], [0, 1], [0, 0]])
    with pytest.raises(ValueError, match="end is before start"):
        store.fetch("chr2", 5, 4)


def test_aliases(fasta, tmp_path):
    build_genome_store(fasta, tmp_path / "g", chroms=["2", "MT"])
    store = GenomeStore(tmp_path / "g")
    assert store.chroms == ["chr2", "chrM"]
    assert decode(store.fetch("2", 0, 4)) == "GGGG"
    assert store.resolve("M") == "chrM"
    with pytest.raises(ValueError, match=r"chromosome 'chr9' is not in the genome store"):
        store.fetch("chr9", 0, 1)


def test_unknown_chrom_in_selection(fasta, tmp_path):
    with pytest.raises(ValueError, match=r"genome.chroms: 'chr7' is not in .*ref.fa"):
        build_genome_store(fasta, tmp_path / "g", chroms=["chr7"])


def test_min_length_drops_short_contigs(fasta, tmp_path):
    build_genome_store(fasta, tmp_path / "g", min_length=10)
    assert GenomeStore(tmp_path / "g").chroms == ["chr1", "chr2"]


def test_gzip_and_multimember_gzip_match_plain(fasta, tmp_path):
    build_genome_store(fasta, tmp_path / "plain")
    data = fasta.read_bytes()
    gz = tmp_path / "ref.fa.gz"
    gz.write_bytes(gzip.compress(data))
    bgz = tmp_path / "ref.bgz.fa.gz"  # bgzip is a series of gzip members
    half = data.index(b">chr2")
    bgz.write_bytes(gzip.compress(data[:half]) + gzip.compress(data[half:]))
    for src, name in [(gz, "gz"), (bgz, "bgz")]:
        build_genome_store(src, tmp_path / name)
        store = GenomeStore(tmp_path / name)
        for chrom in RECORDS:
            np.testing.assert_array_equal(
                store.codes(chrom), GenomeStore(tmp_path / "plain").codes(chrom)
            )
    assert not list(tmp_path.glob("gz/.build-*")), "temporary files left behind"


def test_missing_fasta(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"FASTA .*nope.fa does not exist"):
        build_genome_store(tmp_path / "nope.fa", tmp_path / "g")


def test_duplicate_names(tmp_path):
    fa = write_fasta(tmp_path / "dup.fa", {"chr1": "ACGT"})
    with open(fa, "a") as fh:
        fh.write(">chr1\nACGT\n")
    with pytest.raises(
        ValueError, match=r"dup.fa: Duplicate key \"chr1\": every sequence name must be unique"
    ):
        build_genome_store(fa, tmp_path / "g")


def test_unindexable_fasta(tmp_path):
    fa = tmp_path / "ragged.fa"
    fa.write_text(">chr1\nACGT\nACGTACGT\nAC\n")
    with pytest.raises(ValueError, match=r"ragged.fa: cannot index this FASTA"):
        build_genome_store(fa, tmp_path / "g")


def test_not_a_fasta(tmp_path):
    fa = tmp_path / "x.fa"
    fa.write_text("hello world\n")
    with pytest.raises(ValueError, match=r"x.fa: (no sequences|cannot index)"):
        build_genome_store(fa, tmp_path / "g")


def test_bad_gzip(tmp_path):
    fa = tmp_path / "x.fa.gz"
    fa.write_bytes(b"\x1f\x8b\x08garbage")
    with pytest.raises(ValueError, match=r"x.fa.gz: not a readable gzip/bgzip FASTA"):
        build_genome_store(fa, tmp_path / "g")


def test_bad_character_named_with_position(tmp_path):
    fa = write_fasta(tmp_path / "x.fa", {"chr1": "ACGT-ACGT"})
    with pytest.raises(ValueError, match=r"'chr1' has a character .* at position 5"):
        build_genome_store(fa, tmp_path / "g")


def test_read_only_folder_gets_index_elsewhere(fasta, tmp_path, monkeypatch):
    monkeypatch.setattr(genome_mod.os, "access", lambda *a: False)
    build_genome_store(fasta, tmp_path / "g")
    assert not (tmp_path / "ref.fa.fai").exists()
    assert GenomeStore(tmp_path / "g").sizes["chr2"] == 16


def test_interrupted_build_keeps_the_old_store_or_is_not_trusted(fasta, tmp_path, monkeypatch):
    before = build_genome_store(fasta, tmp_path / "g")
    # killed while the new arrays are built: the old store is untouched and still trusted
    monkeypatch.setattr(genome_mod, "_write_chrom", dies_on_call(genome_mod._write_chrom, 2))
    with pytest.raises(KeyboardInterrupt):
        build_genome_store(fasta, tmp_path / "g")
    assert GenomeStore(tmp_path / "g").manifest == before
    assert not [p for p in (tmp_path / "g").iterdir() if p.name.startswith(".")]
    monkeypatch.undo()

    # killed while they are renamed into place: a mix of old and new, so not trusted
    monkeypatch.setattr(genome_mod.os, "replace", dies_on_call(genome_mod.os.replace, 2))
    with pytest.raises(KeyboardInterrupt):
        build_genome_store(fasta, tmp_path / "g")
    monkeypatch.undo()
    with pytest.raises(StoreError, match=r"incomplete .*run `genomics genome`"):
        GenomeStore(tmp_path / "g")
    build_genome_store(fasta, tmp_path / "g")
    assert GenomeStore(tmp_path / "g").sizes["chrM"] == 8
    assert not [p for p in (tmp_path / "g").iterdir() if p.name.startswith(".")]


def test_bad_fasta_leaves_the_old_store_trusted(fasta, tmp_path):
    before = build_genome_store(fasta, tmp_path / "g")
    bad = tmp_path / "bad.fa"
    bad.write_text(">chr1\nACGT\n>chr1\nACGT\n")
    with pytest.raises(ValueError, match="unique"):
        build_genome_store(bad, tmp_path / "g")
    assert GenomeStore(tmp_path / "g").manifest == before


def test_plain_fasta_named_gz_is_a_clear_error(tmp_path):
    fa = tmp_path / "ref.fa.gz"
    fa.write_text(">chr1\nACGT\n")
    with pytest.raises(ValueError, match=r"not compressed; rename it without \.gz"):
        build_genome_store(fa, tmp_path / "g")


def test_full_disk_is_an_error_naming_the_file(fasta, tmp_path, monkeypatch):
    def full(fd, offset, length):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("genomics.io.atomic.os.posix_fallocate", full)
    with pytest.raises(OSError, match=r"No space left on device \(needs") as info:
        build_genome_store(fasta, tmp_path / "g")
    assert info.value.filename.endswith(".npy")


def test_changed_file_or_manifest_is_refused(fasta, tmp_path):
    build_genome_store(fasta, tmp_path / "g")
    (tmp_path / "g" / "chr2.npy").write_bytes(b"x")
    with pytest.raises(StoreError, match=r"chr2.npy: missing or changed"):
        GenomeStore(tmp_path / "g")
    build_genome_store(fasta, tmp_path / "g")
    manifest = json.loads((tmp_path / "g" / "manifest.json").read_text())
    manifest["chroms"]["chr2"] = 99
    (tmp_path / "g" / "manifest.json").write_text(json.dumps(manifest))
    with pytest.raises(StoreError, match="damaged manifest"):
        GenomeStore(tmp_path / "g")


def test_missing_store(tmp_path):
    with pytest.raises(StoreError, match=r"no genome store here; run `genomics genome`"):
        GenomeStore(tmp_path / "nothing")


def test_store_pickles_without_open_maps(fasta, tmp_path):
    import pickle

    build_genome_store(fasta, tmp_path / "g")
    store = GenomeStore(tmp_path / "g")
    store.fetch("chr1", 0, 4)
    clone = pickle.loads(pickle.dumps(store))
    assert clone._maps == {}
    assert decode(clone.fetch("chr1", 0, 4)) == "ACGT"


@pytest.mark.slow
def test_real_chr20_against_cagi5_element(shared_data, tmp_path):
    fasta = shared_data / "hg19-chr20" / "GRCh37_chr20.fa.gz"
    manifest = build_genome_store(fasta, tmp_path / "g", chroms=["chr20"])
    store = GenomeStore(tmp_path / "g")
    assert store.sizes == {"20": 63_025_520}
    assert manifest["n_fraction"]["20"] == pytest.approx(3.52e6 / 63_025_520, abs=0.002)
    element = (shared_data / "cagi5" / "cagi5_elements_hg19.fa").read_text().split(">")
    hnf4a = next(e for e in element if e.startswith("HNF4A")).split("\n", 1)[1].replace("\n", "")
    genome_seq = decode(store.fetch("chr20", 42_984_158, 42_984_444))
    assert len(hnf4a) == len(genome_seq) == 286
    # the documented REF mismatch: the table says C, the genome A, at the first base
    assert hnf4a[0] == "C" and genome_seq[0] == "A"
    assert genome_seq[1:] == hnf4a[1:]
