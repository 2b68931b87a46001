"""Every benchmark script still runs: ``bench/*.py --tiny`` in a fresh interpreter.

The scripts are found by glob, so a script added later is covered without editing this
file; each must take ``--tiny`` (tiny synthetic data it makes itself, no GPU, no network,
seconds to a minute) and exercise the same code path as its full run.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"

# --tiny runs that take more than a few seconds on 2 cores (subprocesses that each import
# torch, training): deselected by the default `python -m pytest`, run in CI
SLOW = {
    "data_loader.py",
    "model_comparison.py",
    "recipe_search.py",
    "train_throughput.py",
    "variant_throughput.py",
}

# what each known script prints when it works (any other script: a line with a number)
EXPECTED = {
    "attention_probe.py": r"(?m)^expr_e0\t0\t0\t\d+\t[\d.]+\t[\d.]+$",
    "cagi5_kmer.py": r"mean over elements \(test split\): Spearman -?[\d.]+ \[-?[\d.]+, -?[\d.]+\]",
    "classes_ami.py": r"k-means \(same K, same features\)\s+\d+\s+-?[\d.]+",
    "kmer_baseline.py": r"\| \*\*mean\*\* \| pearson \| n/a \| -?[\d.]+ \| [\d.]+ \| n/a \|",
    "recipe_search.py": r"\| `lr01` \|.*\| \*\*-?[\d.]+\*\* \|",
    "predict_throughput.py": r"ratio ours RC off / naive: [\d.]+x",
    "data_loader.py": r"\*\*ratio ours \(1 process\) / naive\*\* \| \*\*\d+x\*\*",
    "gpu_profile.py": r"\| \*\*sum of parts\*\* \|.*\n\nSequences/s these parts allow",
    "model_comparison.py": r"\| \*\*mean, long-range \(expr_\*\)\*\* \| -?[\d.]+ \(",
    "train_throughput.py": r"\| ours: convformer \| [\d.]+ \| 1 \| \d+ \| [\d.]+ \|",
}


def _scripts() -> list:
    return [
        pytest.param(path, marks=[pytest.mark.slow] if path.name in SLOW else [], id=path.name)
        for path in sorted(BENCH.glob("*.py"))
        if not path.name.startswith("_")  # helpers the scripts share, e.g. _memory.py
    ]


def test_bench_scripts_are_found():
    known = {"data_loader.py", "train_throughput.py", "classes_ami.py", "predict_throughput.py"}
    assert known <= {p.name for p in BENCH.glob("*.py")}


@pytest.mark.parametrize("script", _scripts())
def test_tiny_run(script: Path, tmp_path: Path):
    env = {
        **os.environ,
        "CUDA_VISIBLE_DEVICES": "",  # --tiny needs no GPU
        "OMP_NUM_THREADS": "1",  # 2 OpenMP threads beside the other tests crawl
        "MPLBACKEND": "Agg",
    }
    proc = subprocess.run(
        [sys.executable, str(script), "--tiny"],
        cwd=tmp_path,  # anything written by a relative path lands here, not in the repo
        env=env,
        capture_output=True,
        text=True,
        timeout=900,
    )
    hint = "" if "--tiny" in script.read_text() else f" ({script.name} has no --tiny flag)"
    assert proc.returncode == 0, (
        f"{script.name} --tiny exited {proc.returncode}{hint}\n"
        f"stdout:\n{proc.stdout[-3000:]}\nstderr:\n{proc.stderr[-5000:]}"
    )
    pattern = EXPECTED.get(script.name, r"\d")
    assert re.search(pattern, proc.stdout), f"{script.name} --tiny printed:\n{proc.stdout[-3000:]}"


def test_gpu_check_script_parses():
    subprocess.run(["bash", "-n", str(BENCH / "gpu_check.sh")], check=True)
