# Data stages: simulate (default data only) -> genome store -> target store -> windows.


rule simulate:
    output:
        fasta="results/sim/genome.fa",
        tracks="results/sim/tracks.tsv",
        elements="results/sim/elements.bed",
        vcf="results/sim/variants.vcf",
        effects="results/sim/effects.tsv",
        clean="results/sim/clean.tsv",
    params:
        config=RESOLVED,
        digest=digest("seed", "simulate"),
    conda:
        CONDA_ENV
    log:
        "logs/simulate.log",
    benchmark:
        "logs/simulate.benchmark.tsv"
    shell:
        "genomics simulate --config {params.config} --out results/sim > {log} 2>&1"


rule genome:
    input:
        fasta=INPUTS["genome"],
    output:
        "results/genome/manifest.json",
    params:
        config=RESOLVED,
        digest=digest("genome"),
    conda:
        CONDA_ENV
    log:
        "logs/genome.log",
    benchmark:
        "logs/genome.benchmark.tsv"
    shell:
        "genomics genome --config {params.config} --out results/genome > {log} 2>&1"


rule targets:
    input:
        genome="results/genome/manifest.json",
        tracks=INPUTS["targets"],
    output:
        "results/targets/manifest.json",
    params:
        config=RESOLVED,
        digest=digest("targets"),
    conda:
        CONDA_ENV
    log:
        "logs/targets.log",
    benchmark:
        "logs/targets.benchmark.tsv"
    shell:
        "genomics targets --config {params.config} --genome results/genome"
        " --out results/targets > {log} 2>&1"


# The simulator's noise-free signal binned exactly like the targets (same genome store,
# bin size, dtype and track settings), for evaluate's noise ceiling. Only on the synthetic
# default (targets.tracks is the simulator's table) and when evaluate.noise_free names no
# store of the user's own.
NOISE_FREE = (
    "results/targets-noise-free"
    if CFG["targets"]["tracks"] == "results/sim/tracks.tsv" and not CFG["evaluate"]["noise_free"]
    else None
)


rule noise_free_targets:
    input:
        genome="results/genome/manifest.json",
        tracks="results/sim/clean.tsv",
    output:
        "results/targets-noise-free/manifest.json",
    params:
        config=RESOLVED,
        digest=digest("targets"),
    conda:
        CONDA_ENV
    log:
        "logs/noise_free_targets.log",
    benchmark:
        "logs/noise_free_targets.benchmark.tsv"
    shell:
        "genomics targets --config {params.config} --set targets.tracks={input.tracks}"
        " --genome results/genome --out $(dirname {output}) > {log} 2>&1"


rule windows:
    input:
        genome="results/genome/manifest.json",
        blacklist=INPUTS["windows"],
    output:
        "results/windows/manifest.json",
        expand("results/windows/{split}.bed", split=["train", "valid", "test"]),
    params:
        config=RESOLVED,
        digest=digest("windows", "targets"),
    conda:
        CONDA_ENV
    log:
        "logs/windows.log",
    shell:
        "genomics windows --config {params.config} --genome results/genome"
        " --out results/windows > {log} 2>&1"
