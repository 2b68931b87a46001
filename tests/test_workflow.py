"""The Snakemake workflow end to end on the tiny config, and its rerun behaviour."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_workflow


def _snakemake(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--cores",
        "2",
        "--configfile",
        "configs/test.yaml",
        *args,
    ]
    return subprocess.run(cmd, cwd=cwd, capture_output=True, text=True, timeout=900)


@pytest.fixture(scope="module")
def project(tmp_path_factory) -> Path:
    """A copy of the workflow files in a fresh folder, run once to the end."""
    work = copy_workflow(tmp_path_factory.mktemp("project"))
    r = _snakemake(work)
    assert r.returncode == 0, r.stderr[-3000:]
    return work


@pytest.mark.slow
def test_workflow_runs_to_the_end(project):
    res = project / "results"
    for path in [
        "sim/genome.fa",
        "sim/variants.vcf",
        "sim/effects.tsv",
        "genome/manifest.json",
        "targets/manifest.json",
        "windows/train.bed",
        "model/convformer/weights.safetensors",
        "model/convformer/model.json",
        "eval/convformer/metrics.tsv",
        "eval/convformer/metric_bars.png",
        "predictions/convformer/manifest.json",
        "predictions/convformer/chr1.npy",
        "classes/convformer/manifest.json",
        "classes/convformer/classes.tsv",
        "classes/convformer/classes.bed",
        "variants/convformer/scores.tsv.gz",
        "benchmark/convformer/spearman.json",
        "report/index.html",
    ]:
        assert (res / path).is_file(), path
    metrics = json.loads((res / "eval/convformer/metrics.json").read_text())
    assert metrics["summary"]["n_tracks"] == 10
    assert (project / "logs" / "train.log").read_text().count("error") == 0


@pytest.mark.slow
def test_snakemake_report_holds_the_run_report_and_every_class_page(project):
    import zipfile

    r = _snakemake(project, "--report", "report.zip")
    assert r.returncode == 0, r.stderr[-3000:]
    names = zipfile.ZipFile(project / "report.zip").namelist()
    pages = sorted(n.rsplit("/", 1)[-1] for n in names if "/data/raw/" in n)
    made = sorted(p.name for p in (project / "results" / "report").glob("*.html"))
    assert "index.html" in made and any(n.startswith("class-") for n in made)
    assert pages == made, (pages, made)


@pytest.mark.slow
def test_rerun_does_only_what_changed(project):
    r = _snakemake(project, "-n")
    assert "Nothing to be done" in r.stdout + r.stderr
    (project / "more-steps.yaml").write_text("train:\n  max_steps: 9\n")
    r = _snakemake(project, "-n", "--configfile", "configs/test.yaml", "more-steps.yaml")
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    planned = dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M))  # the job stats table
    # the new model reruns every stage after it (one prediction job in the test config)
    after_train = ["evaluate", "predict_part", "predict", "classes", "score_variants"]
    after_train += ["benchmark", "report", "all"]
    assert planned == {"train": "1", **dict.fromkeys(after_train, "1"), "total": "9"}, out
    # the same change from the command line: snakemake hands nested values over as strings
    r = _snakemake(
        project, "-n", "--configfile", "configs/test.yaml", "--config", "train={max_steps: 9}"
    )
    out = r.stdout + r.stderr
    assert r.returncode == 0, out
    assert dict(re.findall(r"^(\w+)\s+(\d+)$", out, flags=re.M)) == planned, out


@pytest.mark.slow
def test_bad_config_stops_the_workflow_with_one_clear_line(project):
    r = _snakemake(project, "-n", "--config", "windows={lenght: 5}")
    assert r.returncode != 0
    assert (
        "config error: configs/test.yaml + --config: windows: unknown key(s) 'lenght'" in r.stderr
    )


# pyproject name -> conda-forge name, where they differ
CONDA_NAMES = {"torch": "pytorch", "snakemake": "snakemake-minimal", "igraph": "python-igraph"}


def test_conda_env_has_every_runtime_dependency():
    """`--use-conda` installs the package with --no-deps: its env must list them all."""
    tomllib = pytest.importorskip("tomllib")
    import yaml

    root = Path(__file__).resolve().parents[1]
    project = tomllib.loads((root / "pyproject.toml").read_text())["project"]
    wanted = {
        re.split(r"[<>=!~\[ ;]", dep, maxsplit=1)[0].lower() for dep in project["dependencies"]
    }
    env = yaml.safe_load((root / "workflow" / "envs" / "genomics.yaml").read_text())
    listed = {
        re.split(r"[<>=!~ ]", dep, maxsplit=1)[0].lower()
        for dep in env["dependencies"]
        if isinstance(dep, str)
    }
    missing = sorted(d for d in wanted if CONDA_NAMES.get(d, d) not in listed)
    assert not missing, f"add to workflow/envs/genomics.yaml: {missing}"


@pytest.mark.slow
def test_configfile_means_that_file_alone_and_inputs_are_checked(project):
    """--configfile X is X (not X laid over configs/default.yaml); a missing input file
    is an error before anything runs (snakemake alone would skip the job whose output
    exists and reuse the old genome store)."""
    from genomics.config import dump_config, load_config

    resolved = project / "results" / "config.yaml"  # what the rules read
    assert resolved.read_text() == dump_config(load_config(project / "configs" / "test.yaml"))
    # a dry run with another config leaves it alone (it is written when a run starts)
    r = _snakemake(project, "-n", "--config", "train={max_steps: 99}")
    assert r.returncode == 0, r.stderr[-2000:]
    assert resolved.read_text() == dump_config(load_config(project / "configs" / "test.yaml"))
    r = _snakemake(project, "-n", "--config", "genome={fasta: data/mine.fa}")
    assert r.returncode != 0
    assert "config error: genome.fasta: data/mine.fa does not exist" in r.stderr


@pytest.mark.slow
def test_rerun_with_a_changed_config_trains_again_from_scratch(project):
    """Snakemake reruns train when its config changed; the old run's checkpoints cannot
    resume the new one, so they are set aside and training starts over (the README's
    "train longer" command after a default run)."""
    (project / "more-steps.yaml").write_text("train:\n  max_steps: 9\n")
    r = _snakemake(project, "--configfile", "configs/test.yaml", "more-steps.yaml")
    assert r.returncode == 0, r.stderr[-3000:]
    model = project / "results" / "model" / "convformer"
    assert json.loads((model / "model.json").read_text())["trained"]["steps"] == 9
    assert len(list((model / "superseded").iterdir())) == 1
    log = (project / "logs" / "train.log").read_text()
    assert "are of another run (train.max_steps: 8 != 9): set aside" in log
    r = _snakemake(project, "-n", "--configfile", "configs/test.yaml", "more-steps.yaml")
    assert "Nothing to be done" in r.stdout + r.stderr


def test_score_variants_reads_no_genome_store_in_context_mode(tmp_path):
    """With variants.context the score_variants job neither waits for nor names the genome
    store; without it, it does both."""
    work = copy_workflow(tmp_path)
    (work / "elements.fa").write_text(">e1 chr1:1001-1010\nACGTACGTAC\n")
    commands = {}
    for mode, extra in (
        ("genome", []),
        ("context", ["--config", "variants={context: elements.fa}"]),
    ):
        r = _snakemake(work, "-n", "-p", "--forcerun", "score_variants", *extra)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
        lines = [x for x in r.stdout.splitlines() if "genomics score-variants" in x]
        assert len(lines) == 1, r.stdout[-3000:]
        commands[mode] = lines[0]
    assert "--genome results/genome" in commands["genome"]
    assert "--genome" not in commands["context"] and "--context elements.fa" in commands["context"]
