# Sequence classes from the prediction store (Sei-style: PCA, kNN graph, Leiden).

rule classes:
    input:
        predictions=f"results/predictions/{MODEL}/manifest.json",
        genome="results/genome/manifest.json",
        annotation=INPUTS["classes"],
    output:
        f"results/classes/{MODEL}/manifest.json",
    params:
        config=RESOLVED,
        digest=digest("seed", "classes"),
    threads: all_cores()
    conda:
        CONDA_ENV
    log:
        "logs/classes.log",
    benchmark:
        "logs/classes.benchmark.tsv"
    shell:
        "OMP_NUM_THREADS={threads} genomics classes --config {params.config}"
        " --predictions $(dirname {input.predictions}) --genome results/genome"
        " --out $(dirname {output}) > {log} 2>&1"
