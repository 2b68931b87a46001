# Genome-wide prediction: one job per part (chromosomes split by length; predict.parts),
# then a merge that writes the prediction store's manifest.

PARTS = CFG["predict"]["parts"]
PREDICTIONS = f"results/predictions/{MODEL}"


wildcard_constraints:
    part=r"\d+",


rule predict_part:
    input:
        weights=f"results/model/{MODEL}/weights.safetensors",
        genome="results/genome/manifest.json",
        regions=INPUTS["predict"],
    output:
        f"{PREDICTIONS}/parts/part-{{part}}-of-{PARTS}.json",
    params:
        config=RESOLVED,
        digest=digest("predict"),
        parts=PARTS,
    # torch in each job uses its share of the cores (parts run side by side)
    threads: max(1, all_cores() // PARTS)
    conda:
        CONDA_ENV
    log:
        f"logs/predict-{{part}}-of-{PARTS}.log",
    shell:
        "OMP_NUM_THREADS={threads} genomics predict --config {params.config}"
        " --model $(dirname {input.weights}) --genome results/genome --out $(dirname $(dirname {output}))"
        " --part {wildcards.part}/{params.parts} > {log} 2>&1"


rule predict:
    input:
        weights=f"results/model/{MODEL}/weights.safetensors",
        parts=expand(f"{PREDICTIONS}/parts/part-{{part}}-of-{PARTS}.json", part=range(PARTS)),
    output:
        f"{PREDICTIONS}/manifest.json",
    params:
        config=RESOLVED,
        digest=digest("predict"),
    conda:
        CONDA_ENV
    log:
        "logs/predict.log",
    shell:
        "genomics predict --config {params.config} --model $(dirname {input.weights})"
        " --genome results/genome --out $(dirname {output}) --merge > {log} 2>&1"
