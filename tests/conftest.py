"""Shared test fixtures: tiny inputs built by code, never downloaded."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
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


def planted_stores(tmp_path: Path, motifs: dict[str, str], seed: int = 0) -> dict[str, Path]:
    """Stores of three random 200-kb chromosomes with each motif planted 120 times in each
    (either strand, sites of different motifs apart), and one peaks track per motif that
    marks 200 bp around its sites. Windows of 8,192 bp; chr2 valid, chr3 test.

    Returns ``genome_dir``, ``targets_dir`` and ``windows_dir``.
    """
    from genomics.data.genome import GenomeStore, build_genome_store
    from genomics.data.targets import build_target_store
    from genomics.data.windows import build_windows

    rng = np.random.default_rng(seed)
    records, peaks = {}, {name: [] for name in motifs}
    for c in range(3):
        seq = rng.choice(list("ACGT"), 200_000, p=[0.29, 0.21, 0.21, 0.29])
        slots = rng.choice(np.arange(2, 398), size=120 * len(motifs), replace=False)
        for i, slot in enumerate(slots):
            name = list(motifs)[i % len(motifs)]
            motif = motifs[name]
            rc = motif[::-1].translate(str.maketrans("ACGT", "TGCA"))
            start = int(slot) * 500 + int(rng.integers(0, 400))
            seq[start : start + len(motif)] = list(motif if rng.random() < 0.5 else rc)
            centre = start + len(motif) // 2
            peaks[name].append((f"chr{c + 1}", centre - 100, centre + 100))
        records[f"chr{c + 1}"] = "".join(seq)
    write_fasta(tmp_path / "toy.fa", records)
    tracks = []
    for name, rows in peaks.items():
        bed = tmp_path / f"{name}.bed"
        bed.write_text("".join(f"{c}\t{s}\t{e}\n" for c, s, e in sorted(rows)))
        tracks.append({"name": name, "path": str(bed), "kind": "peaks"})
    build_genome_store(tmp_path / "toy.fa", tmp_path / "genome")
    genome = GenomeStore(tmp_path / "genome")
    build_target_store(genome, tracks, tmp_path / "targets", bin_size=128)
    build_windows(
        genome,
        tmp_path / "windows",
        length=8192,
        stride=4096,
        bin_size=128,
        valid=["chr2"],
        test=["chr3"],
    )
    return {d: tmp_path / d.split("_")[0] for d in ("genome_dir", "targets_dir", "windows_dir")}


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
