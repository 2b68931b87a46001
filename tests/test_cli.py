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
