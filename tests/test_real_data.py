"""configs/chr20.yaml's data stages on the real files in ../shared/data (skipped without them)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from genomics.data.targets import TargetStore
from genomics.data.windows import read_windows

from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.slow
def test_chr20_config_builds_stores_and_windows(shared_data, tmp_path):
    cfg = [
        "-c",
        str(ROOT / "configs" / "chr20.yaml"),
        "--set",
        f"genome.fasta={shared_data / 'hg19-chr20' / 'GRCh37_chr20.fa.gz'}",
        "--set",
        f"targets.tracks={ROOT / 'configs' / 'chr20-tracks.tsv'}",
    ]
    for stage in ("genome", "targets", "windows"):
        code, err = run_cli(tmp_path, [stage, *cfg])
        assert code == 0, err
    res = tmp_path / "results"
    targets = TargetStore(res / "targets")
    assert targets.n_tracks == 109 and set(targets.track_kinds) == {"peaks"}
    bins = targets.bins("chr20")
    assert bins.shape == (63_025_520 // 128 + 1, 109)
    # CAGI5's HNF4A element (chr20:42,984,159-42,984,444) is in the test split
    test = read_windows(res / "windows", "test")
    assert any(s <= 42_984_158 and 42_984_444 <= e for _, s, e in test)
    assert all(40_000_000 <= s and e <= 46_000_000 for _, s, e in test)
    valid = read_windows(res / "windows", "valid")
    assert all(55_000_000 <= s for _, s, e in valid)
    # HNF4A in HepG2 binds its own promoter region: a peak within 2 kb of the element
    hnf4a = targets.names.index("HNF4A.HepG2")
    near = bins[(42_984_158 - 2000) // 128 : (42_984_444 + 2000) // 128, hnf4a]
    assert near.max() > 0
    frac = float(np.mean(bins[:, hnf4a] > 0))
    assert 0.001 < frac < 0.1


def test_chr20_workflow_plans_every_stage(shared_data, tmp_path):
    """`snakemake --configfile configs/chr20.yaml` plans the whole mission on real data:
    stores, train, evaluate, predict, classes against the six ChromHMM files, CAGI5
    scoring in context mode, the benchmark chosen on train, the report (a dry run)."""
    import subprocess
    import sys

    from conftest import copy_workflow

    (tmp_path / "wf").mkdir()
    work = copy_workflow(tmp_path / "wf")
    # the config's ../shared/data paths resolve beside the working directory, as beside
    # the project root
    (tmp_path / "shared").symlink_to(shared_data.parent)
    out = subprocess.run(
        [sys.executable, "-m", "snakemake", "-n", "-p", "--cores", "2", "--configfile",
         "configs/chr20.yaml"],
        cwd=work, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    plan = out.stdout + out.stderr
    for rule in ("genome", "targets", "windows", "train", "evaluate", "predict", "classes",
                 "score_variants", "benchmark", "report"):  # fmt: skip
        assert f"rule {rule}:" in plan, rule
    assert "--context" in plan and "cagi5_elements_hg19.fa" in plan
    assert plan.count("chromhmm-hg19/") >= 6
