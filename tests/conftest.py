"""Shared test fixtures: tiny inputs built by code, never downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

# One torch (OpenMP) thread in the tests and in every process they start, set before
# anything imports torch: beside other busy processes on 2 cores, two spinning OpenMP
# threads made a tiny model's training step 100x slower (1.6 s against 15 ms).
os.environ.setdefault("OMP_NUM_THREADS", "1")

SHARED_DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data"


def pytest_terminal_summary(terminalreporter, config):
    """Under the default ``-m 'not slow'`` (pyproject.toml), say what was left out."""
    items = terminalreporter.stats.get("deselected", [])
    deselected = sum(1 for item in items if item.get_closest_marker("slow"))
    if deselected and config.getoption("markexpr") == "not slow":
        terminalreporter.write_line(
            f"{deselected} slow tests deselected (end-to-end workflow, SLURM, resume after "
            "SIGKILL, DDP, torch.compile, bench --tiny runs); every test: "
            "python -m pytest -m 'slow or not slow'",
            yellow=True,
        )


@pytest.fixture
def shared_data() -> Path:
    """The real data folder beside the project; tests that need it skip when it is absent."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real data not available at {SHARED_DATA}")
    return SHARED_DATA


def copy_workflow(dest: Path) -> Path:
    """Copy the workflow files (Snakefile, workflow/, configs/) into ``dest``; return it."""
    root = Path(__file__).resolve().parents[1]
    for name in ("Snakefile", "workflow", "configs"):
        src = root / name
        (shutil.copytree if src.is_dir() else shutil.copy)(src, dest / name)
    return dest


def dies_on_call(real, n: int):
    """``real`` wrapped so that its ``n``-th call raises KeyboardInterrupt (a kill there)."""
    calls = []

    def wrapper(*args, **kwargs):
        calls.append(1)
        if len(calls) == n:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    return wrapper


def write_fasta(path: Path, records: dict[str, str], width: int = 60) -> Path:
    """Write ``records`` (name -> sequence) as a FASTA with lines of ``width``."""
    with open(path, "w") as fh:
        for name, seq in records.items():
            fh.write(f">{name}\n")
            for i in range(0, len(seq), width):
                fh.write(seq[i : i + width] + "\n")
    return path


TINY_CONFIG = {
    "seed": 0,
    "simulate": {"n_chroms": 3, "chrom_length": 240_000, "n_variants": 100},
    "windows": {"length": 8192, "stride": 4096, "split": {"valid": ["chr2"], "test": ["chr3"]}},
    "model": {
        "name": "convformer",
        # stem_activation and decay_fraction as before their defaults changed: the losses
        # test_training_matches_the_run_recorded_before_the_refactor pins were logged so
        "convformer": {"dim": 16, "depth": 1, "heads": 2, "pool": "max", "stem_activation": "none"},
    },
    "train": {
        "device": "cpu",
        "precision": "fp32",  # the same numerics on every CPU (auto: bf16 where it has units)
        "decay_fraction": 1.0,
        "batch_size": 2,
        "max_steps": 16,
        "warmup_steps": 2,
        "eval_every": 4,
        "eval_batches": 2,
        "checkpoint_every": 4,
        "log_every": 2,
        "num_workers": 0,
        "progress": False,
    },
}


@pytest.fixture(scope="session")
def workspace(tmp_path_factory):
    """A tiny synthetic genome run through simulate -> genome -> targets -> windows.

    Returns (folder, config dict); stores under folder/results/{genome,targets,windows}.
    """
    from genomics.config import load_config
    from genomics.data.genome import GenomeStore, build_genome_store
    from genomics.data.targets import build_target_store
    from genomics.data.windows import build_windows
    from genomics.simulate import simulate

    root = tmp_path_factory.mktemp("workspace")
    res = root / "results"
    cfg = load_config(TINY_CONFIG)
    simulate(res / "sim", seed=cfg["seed"], **cfg["simulate"])
    build_genome_store(res / "sim" / "genome.fa", res / "genome")
    genome = GenomeStore(res / "genome")
    build_target_store(genome, str(res / "sim" / "tracks.tsv"), res / "targets", bin_size=128)
    w = cfg["windows"]
    build_windows(
        genome,
        res / "windows",
        length=w["length"],
        stride=w["stride"],
        bin_size=128,
        valid=w["split"]["valid"],
        test=w["split"]["test"],
    )
    return root, cfg


def run_cli(root: Path, argv: list[str]) -> tuple[int, str]:
    """Run the ``genomics`` CLI in this process from folder ``root``; return (exit code, stderr)."""
    import contextlib
    import io
    import os

    from genomics.cli import main

    err = io.StringIO()
    cwd = os.getcwd()
    os.chdir(root)
    try:
        with contextlib.redirect_stderr(err):
            code = main(argv)
    finally:
        os.chdir(cwd)
    return code, err.getvalue()
