"""workflow/profiles/slurm through the real SLURM executor plugin, against fake SLURM commands.

tests/fake_slurm.py stands in for sbatch/srun/sacct/...: jobs run on this machine, and every
sbatch and srun call is recorded, so the test sees what a cluster would be asked for.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import copy_workflow

pytest.importorskip("snakemake_executor_plugin_slurm")

ROOT = Path(__file__).resolve().parents[1]
COMMANDS = ("sbatch", "srun", "sacct", "squeue", "scontrol", "sinfo")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory) -> Path:
    """A copy of the workflow plus fake SLURM commands on PATH (in ``bin/``)."""
    work = copy_workflow(tmp_path_factory.mktemp("slurm"))
    (work / "bin").mkdir()
    (work / "state").mkdir()
    for command in COMMANDS:
        wrapper = work / "bin" / command
        fake = ROOT / "tests" / "fake_slurm.py"
        wrapper.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{fake}" {command} "$@"\n')
        wrapper.chmod(0o755)
    return work


def _run(work: Path, *args: str) -> tuple[subprocess.CompletedProcess, list[dict]]:
    """Run snakemake with the SLURM profile; return the result and the SLURM calls made."""
    calls = work / "state" / "calls.jsonl"
    calls.unlink(missing_ok=True)
    env = dict(
        os.environ,
        PATH=f"{work / 'bin'}{os.pathsep}{Path(sys.executable).parent}{os.pathsep}"
        + os.environ.get("PATH", ""),
        FAKE_SLURM_DIR=str(work / "state"),
    )
    cmd = [
        sys.executable,
        "-m",
        "snakemake",
        "--profile",
        "workflow/profiles/slurm",
        "--configfile",
        "configs/test.yaml",
        "--slurm-init-seconds-before-status-checks",
        "1",
        "--retries",
        "0",
        *args,
    ]
    r = subprocess.run(cmd, cwd=work, env=env, capture_output=True, text=True, timeout=900)
    made = [json.loads(line) for line in calls.read_text().splitlines()] if calls.exists() else []
    return r, made


def _sbatch_by_rule(calls: list[dict]) -> dict[str, str]:
    """``rule name -> sbatch options`` (the job script itself left out)."""
    out = {}
    for call in calls:
        if call["command"] == "sbatch":
            argv = [a for a in call["argv"] if not a.startswith("--wrap")]
            rule = argv[argv.index("--comment") + 1].removeprefix("rule_")
            out[rule] = " ".join(argv)
    return out


@pytest.mark.slow
def test_every_rule_runs_as_a_slurm_job_with_the_profiles_resources(cluster):
    """Up to the prediction store, in two prediction jobs (the stages after it run the
    same way and are left out to keep the test short)."""
    targets = [
        "results/eval/convformer/metrics.json",
        "results/predictions/convformer/manifest.json",
    ]
    r, calls = _run(cluster, *targets, "--config", "predict={parts: 2}")
    assert r.returncode == 0, r.stderr[-3000:]
    res = cluster / "results"
    assert (res / "model/convformer/weights.safetensors").is_file()
    assert json.loads((res / "eval/convformer/metrics.json").read_text())["summary"]["n_tracks"]

    jobs = _sbatch_by_rule(calls)
    rules = {re.sub(r"_wildcards_.*", "", job) for job in jobs}  # predict_part_wildcards_0
    assert rules == {
        "simulate", "genome", "targets", "noise_free_targets", "windows", "train", "evaluate",
        "predict_part", "predict",
    }  # fmt: skip
    assert sorted(j for j in jobs if j.startswith("predict_part")) == [
        "predict_part_wildcards_0", "predict_part_wildcards_1"
    ]  # fmt: skip
    for rule, options in jobs.items():
        want = {
            "train": (2880, 128000, 16),
            "targets": (120, 32000, 8),
            "noise_free_targets": (120, 32000, 8),
        }.get(rule, (120, 16000, 4))
        assert f"-t {want[0]} --mem {want[1]} " in options, options
        assert f"--cpus-per-task={want[2]}" in options, options
        assert "--gpus" not in options and "--gres" not in options, options  # train on CPU
    # each job runs its rule as one step inside its allocation
    steps = [c["argv"] for c in calls if c["command"] == "srun"]
    assert len(steps) == len(jobs)
    assert all("--allowed-rules" in argv for argv in steps)


@pytest.mark.slow
def test_cuda_training_asks_slurm_for_one_gpu_per_process(cluster):
    r, calls = _run(cluster, "--config", "train={device: cuda, processes: 2}")
    # this machine has no GPU: the job starts, asks for GPUs and fails at once, clearly
    assert r.returncode != 0
    jobs = _sbatch_by_rule(calls)
    assert re.search(r"--gpus=2\b", jobs["train"]), jobs["train"]
    assert not any("--gpus" in options for rule, options in jobs.items() if rule != "train")
    (step,) = [c["argv"] for c in calls if c["command"] == "srun" and "train:" in c["argv"]]
    assert "--gpus=2" in step
    log = (cluster / "logs" / "train.log").read_text()
    # torchrun started two processes and the first to stop said why; the other may be
    # killed by torchrun before it prints (a race: 2 lines in one CI run, 1 in the next)
    assert log.count("train.device is 'cuda' but no CUDA device is visible") >= 1, log[-2000:]
    # and snakemake's console shows that line, not only "Error in rule train ... check log"
    assert "logs/train.log: genomics train: error: train.device is 'cuda'" in r.stderr
