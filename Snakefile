# genomics workflow: every rule calls the `genomics` CLI; the logic lives in the package.
#   snakemake --cores 2                              # default: synthetic genome, offline
#   snakemake --cores 2 --configfile configs/chr20.yaml
#   snakemake --profile workflow/profiles/slurm ...  # per-chromosome jobs on a cluster


# The default config, unless config files are given with --configfile: then those alone
# (Snakemake would otherwise lay them over this one and mix in its keys), plus --config.
if not workflow.overwrite_configfiles:

    configfile: "configs/default.yaml"


include: "workflow/rules/common.smk"
include: "workflow/rules/data.smk"
include: "workflow/rules/model.smk"
include: "workflow/rules/predict.smk"
include: "workflow/rules/classes.smk"
include: "workflow/rules/variants.smk"
include: "workflow/rules/report.smk"


rule all:
    input:
        f"results/eval/{MODEL}/metrics.json",
        f"results/classes/{MODEL}/manifest.json",
        "results/report",
    default_target: True
