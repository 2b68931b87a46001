"""A one-machine stand-in for the SLURM commands that snakemake-executor-plugin-slurm calls.

Used by tests/test_slurm_profile.py to run the workflow through ``--profile
workflow/profiles/slurm`` without a cluster. Called as ``fake_slurm.py COMMAND ARGS...``
(the test puts small ``sbatch``, ``srun``, ``sacct``, ... wrappers on PATH).

- ``sbatch`` records its arguments in ``$FAKE_SLURM_DIR/calls.jsonl``, runs the job script
  (``--wrap=...`` or stdin) to the end with the SLURM environment a job gets, writes its
  output to ``--output`` and prints the job id (``--parsable``).
- ``srun`` records its arguments and runs the command after its options.
- ``sacct`` / ``squeue`` report the state of every job submitted under ``--name``.
- ``scontrol show config`` reports a MinJobAge; ``sinfo`` exists.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

STATE = Path(os.environ["FAKE_SLURM_DIR"])


def _record(command: str, argv: list[str], **extra) -> None:
    with open(STATE / "calls.jsonl", "a") as f:
        f.write(json.dumps({"command": command, "argv": argv, **extra}) + "\n")


def _option(argv: list[str], *names: str) -> str | None:
    """The value of ``--name value``, ``--name=value`` or ``-n value`` in ``argv``."""
    for i, arg in enumerate(argv):
        for name in names:
            if arg == name and i + 1 < len(argv):
                return argv[i + 1]
            if name.startswith("--") and arg.startswith(name + "="):
                return arg[len(name) + 1 :]
    return None


def sbatch(argv: list[str]) -> int:
    jobs = sorted(STATE.glob("job-*.json"))
    job_id = str(1000 + len(jobs))
    wrap = _option(argv, "--wrap")
    script = wrap if wrap is not None else sys.stdin.read()
    name = _option(argv, "--job-name", "-J") or "job"
    out = (_option(argv, "--output", "-o") or "slurm-%j.out").replace("%j", job_id)
    workdir = _option(argv, "-D", "--chdir") or os.getcwd()
    env = dict(os.environ, SLURM_JOB_ID=job_id, SLURM_JOB_NAME=name)
    gpus = _option(argv, "--gpus")
    if gpus:
        env["SLURM_GPUS"] = gpus.split(":")[-1]
    _record("sbatch", argv, job_id=job_id)
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    with open(out, "w") as log:
        rc = subprocess.run(
            ["sh", "-c", script], cwd=workdir, env=env, stdout=log, stderr=subprocess.STDOUT
        ).returncode
    state = "COMPLETED" if rc == 0 else "FAILED"
    (STATE / f"job-{job_id}.json").write_text(json.dumps({"name": name, "state": state}))
    print(job_id)
    return 0


def srun(argv: list[str]) -> int:
    _record("srun", argv)
    i = 0
    while i < len(argv) and argv[i].startswith("-"):
        i += 1
    return subprocess.run(argv[i:]).returncode


def job_states(argv: list[str]) -> int:
    name = _option(argv, "--name")
    if name is None:  # e.g. the plugin guessing an account from past jobs: none here
        return 0
    for path in sorted(STATE.glob("job-*.json")):
        job = json.loads(path.read_text())
        if job["name"] == name:
            print(f"{path.stem.removeprefix('job-')}|{job['state']}")
    return 0


def scontrol(argv: list[str]) -> int:
    if argv[:2] == ["show", "config"]:
        print("MinJobAge               = 300 sec")
    return 0


COMMANDS = {
    "sbatch": sbatch,
    "srun": srun,
    "sacct": job_states,
    "squeue": job_states,
    "scontrol": scontrol,
    "sinfo": lambda argv: 0,
}

if __name__ == "__main__":
    sys.exit(COMMANDS[sys.argv[1]](sys.argv[2:]))
