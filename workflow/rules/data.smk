# Data stages: simulate (default data only) -> genome store -> target store -> windows.


rule simulate:
    output:
        fasta="results/sim/genome.fa",
        tracks="results/sim/tracks.tsv",
        elements="results/sim/elements.bed",
        vcf="results/sim/variants.vcf",
        effects="results/sim/effects.tsv",
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
