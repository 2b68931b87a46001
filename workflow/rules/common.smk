# Config validation and small helpers shared by the rules. Logic lives in the package.
import os
import sys
import time
from pathlib import Path

from genomics.config import ConfigError, config_digest, dump_config, load_config
from genomics.stage_inputs import stage_inputs
from snakemake.exceptions import WorkflowError

# how errors name the config: the --configfile files (else the default) and --config
SOURCE = " + ".join(
    [os.path.relpath(f) for f in workflow.overwrite_configfiles] or ["configs/default.yaml"]
)
if workflow.config_settings.config:
    SOURCE += " + --config"

try:
    # --config hands nested values over as strings ('2000'); load_config types them.
    CFG = load_config(config, name=SOURCE)
    # input files of the data stages; a missing one is an error here, before any planning
    INPUTS = stage_inputs(CFG)
except (ConfigError, OSError, ValueError) as e:
    sys.exit(f"config error: {e}")

# With --use-conda every rule runs in this environment (relative to workflow/rules/);
# its post-deploy script installs the package into it.
CONDA_ENV = "../envs/genomics.yaml"

# The validated config, defaults filled in, that every `genomics` call reads: the CLI and
# the workflow see the same values, --config overrides included. Written when a run
# starts (onstart: holding snakemake's lock, never for a dry run, --lint or a second
# snakemake that cannot lock), so none of those can change it under a running job.
RESOLVED = "results/config.yaml"


def write_resolved_config(path=RESOLVED):
    text = dump_config(CFG)
    p = Path(path)
    if not p.is_file() or p.read_text() != text:
        p.parent.mkdir(parents=True, exist_ok=True)
        tmp = p.with_name(f".{p.name}.tmp-{os.getpid()}")
        tmp.write_text(text)
        tmp.replace(p)


onstart:
    write_resolved_config()


def digest(*sections):
    """Hash of the config sections a rule depends on (a change reruns the rule)."""
    return config_digest({s: CFG[s] for s in sections})


# The trained model's folder name: results/model/<model.name>/
MODEL = CFG["model"]["name"]


def train_launcher():
    """`genomics`, or torchrun starting one DDP process per GPU (train.processes)."""
    n = CFG["train"]["processes"]
    if n == 1:
        return "genomics"
    return f"torchrun --standalone --nproc-per-node {n} -m genomics"


def all_cores():
    """The cores given with --cores: torch in train and evaluate uses them all, as
    `genomics train` run alone would (Snakemake gives a rule one thread unless told), so
    both give the same weights on one machine. 1 where snakemake has no core count (when
    it submits to a cluster, the profile's cpus_per_task sizes the job)."""
    try:
        return workflow.cores
    except WorkflowError:
        return 1


# When a rule fails, snakemake's console says only "Error in rule X ... check log"; the
# reason is the `genomics <stage>: error: ...` line in logs/<stage>.log. Show it.
STARTED = time.time()


onerror:
    for path in sorted(Path("logs").glob("*.log")):
        if path.stat().st_mtime >= STARTED:
            for line in path.read_text(errors="replace").splitlines():
                if line.startswith("genomics ") and ": error: " in line:
                    print(f"{path}: {line}", file=sys.stderr)
