"""The CLI turns each user mistake into one clear line and exit status 2."""

from __future__ import annotations

import pytest
import yaml

from conftest import run_cli, write_fasta


@pytest.fixture
def project(tmp_path):
    """A folder with a 2-chromosome FASTA, a bigWig-less tracks table and a config."""
    write_fasta(tmp_path / "ref.fa", {"chr1": "ACGT" * 5000, "chr2": "GGCC" * 5000})
    (tmp_path / "peaks.bed").write_text("chr1\t100\t300\nchr2\t50\t60\n")
    cfg = {
        "genome": {"fasta": "ref.fa"},
        "targets": {"tracks": [{"name": "p", "path": "peaks.bed"}], "bin_size": 128},
        "windows": {
            "length": 4096,
            "stride": 2048,
            "split": {"valid": ["chr1:1-8192"], "test": ["chr2"]},
        },
    }
    (tmp_path / "c.yaml").write_text(yaml.safe_dump(cfg))
    return tmp_path


def _one_line_error(code: int, err: str, *needles: str) -> None:
    assert code == 2, err
    assert err.count("\n") == 1 and err.startswith("genomics ") and "error:" in err, err
    assert "Traceback" not in err
    for needle in needles:
        assert needle in err, (needle, err)


def test_data_stages_run(project):
    for stage in ("genome", "targets", "windows"):
        code, err = run_cli(project, [stage, "-c", "c.yaml"])
        assert code == 0, err
    assert (project / "results" / "windows" / "test.bed").is_file()


def test_missing_fasta(project):
    _one_line_error(
        *run_cli(project, ["genome", "-c", "c.yaml", "--set", "genome.fasta=nope.fa"]),
        "FASTA nope.fa does not exist",
    )


def test_duplicate_fasta_names(project):
    (project / "dup.fa").write_text(">chr1\nACGT\n>chr1\nACGT\n")
    _one_line_error(
        *run_cli(project, ["genome", "-c", "c.yaml", "--set", "genome.fasta=dup.fa"]),
        "dup.fa",
        "unique",
    )


def test_unknown_config_key(project):
    _one_line_error(
        *run_cli(project, ["genome", "-c", "c.yaml", "--set", "genome.fastaa=x"]),
        "unknown key(s) 'fastaa'",
    )


def test_window_not_divisible_by_bin(project):
    _one_line_error(
        *run_cli(project, ["windows", "-c", "c.yaml", "--set", "windows.length=4000"]),
        "windows.length 4000 is not a multiple of targets.bin_size 128",
    )


def test_stage_before_its_input_names_the_command(project):
    _one_line_error(*run_cli(project, ["targets", "-c", "c.yaml"]), "run `genomics genome`")


def test_bigwig_that_is_not_a_bigwig(project):
    run_cli(project, ["genome", "-c", "c.yaml"])
    (project / "fake.bw").write_text("chr1\t0\t10\t1.0\n")
    tracks = "[{name: s, path: fake.bw, kind: coverage}]"
    _one_line_error(
        *run_cli(project, ["targets", "-c", "c.yaml", "--set", f"targets.tracks={tracks}"]),
        "fake.bw",
        "not a bigWig",
    )


def test_track_sharing_no_chromosome_with_the_genome(project):
    run_cli(project, ["genome", "-c", "c.yaml"])
    (project / "other.bed").write_text("scaffold_9\t0\t100\n")
    tracks = "[{name: o, path: other.bed}]"
    _one_line_error(
        *run_cli(project, ["targets", "-c", "c.yaml", "--set", f"targets.tracks={tracks}"]),
        "other.bed",
        "scaffold_9",
        "chr1",
    )


def test_empty_split(project):
    run_cli(project, ["genome", "-c", "c.yaml"])
    _one_line_error(
        *run_cli(project, ["windows", "-c", "c.yaml", "--set", "windows.split.valid=[chr1:1-100]"]),
        "split 'valid' has no windows",
    )


@pytest.mark.parametrize("stage", ["genome", "windows", "train", "evaluate"])
def test_out_that_is_a_file_is_refused_before_any_work(project, stage):
    (project / "afile").write_text("keep me\n")
    _one_line_error(
        *run_cli(project, [stage, "-c", "c.yaml", "--out", "afile/sub"]),
        "--out afile/sub: afile is a file, not a folder",
    )
    assert (project / "afile").read_text() == "keep me\n"


def test_os_errors_are_one_line_naming_the_path(project, monkeypatch):
    import errno

    import genomics.data.genome as genome_mod

    def read_only(*args, **kwargs):
        raise OSError(errno.EROFS, "Read-only file system", "results/genome/chr1.npy")

    monkeypatch.setattr(genome_mod, "new_npy_memmap", read_only)
    _one_line_error(
        *run_cli(project, ["genome", "-c", "c.yaml"]),
        "error: results/genome/chr1.npy: Read-only file system",
    )


def test_config_that_is_not_utf8_or_is_a_folder(project):
    (project / "latin1.yaml").write_bytes("# Zellen bei 37 \xb0C\nseed: 1\n".encode("latin-1"))
    _one_line_error(
        *run_cli(project, ["genome", "-c", "latin1.yaml"]),
        "latin1.yaml: not UTF-8 text (byte 0xb0",
    )
    (project / "cfgdir").mkdir()
    _one_line_error(*run_cli(project, ["genome", "-c", "cfgdir"]), "--config cfgdir is a folder")


def test_tracks_table_not_utf8_with_bom_or_a_track_file(project):
    run_cli(project, ["genome", "-c", "c.yaml"])
    row = "name\tpath\tdescription\np\tpeaks.bed\tZellen bei 37 \u00b0C\n"
    (project / "latin1.tsv").write_bytes(row.encode("latin-1"))
    _one_line_error(
        *run_cli(project, ["targets", "-c", "c.yaml", "--set", "targets.tracks=latin1.tsv"]),
        "latin1.tsv: not UTF-8 text",
        "save it as UTF-8",
    )
    (project / "bom.tsv").write_bytes(row.encode("utf-8-sig"))  # Excel's "UTF-8 CSV"
    code, err = run_cli(project, ["targets", "-c", "c.yaml", "--set", "targets.tracks=bom.tsv"])
    assert code == 0, err


def test_whole_number_floats_at_integer_keys_are_ints(project):
    run_cli(project, ["genome", "-c", "c.yaml"])
    code, err = run_cli(
        project,
        [
            "windows",
            "-c",
            "c.yaml",
            "--set",
            "windows.length=4096.0",
            "--set",
            "windows.stride=2.048e3",
        ],
    )
    assert code == 0, err
    _one_line_error(
        *run_cli(project, ["windows", "-c", "c.yaml", "--set", "windows.length=4096.5"]),
        "windows.length: 4096.5 is not of type 'integer'",
    )
