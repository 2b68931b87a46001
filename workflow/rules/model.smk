# Model stages: train (torchrun when train.processes > 1) -> evaluate on the test split.


rule train:
    input:
        genome="results/genome/manifest.json",
        targets="results/targets/manifest.json",
        windows="results/windows/manifest.json",
    output:
        weights=f"results/model/{MODEL}/weights.safetensors",
        spec=f"results/model/{MODEL}/model.json",
    params:
        config=RESOLVED,
        digest=digest("seed", "model", "train", "augment", "windows", "targets"),
        launcher=train_launcher(),
    threads: all_cores()
    resources:
        # Snakemake's standard GPU resource: the SLURM executor turns it into --gpus=N
        gpu=CFG["train"]["processes"] if CFG["train"]["device"] == "cuda" else 0,
    conda:
        CONDA_ENV
    log:
        "logs/train.log",
    benchmark:
        "logs/train.benchmark.tsv"
    # A rerun after a kill resumes from the checkpoints; a rerun because the config or the
    # stores changed finds checkpoints of the old run, sets them aside and starts over.
    shell:
        "{params.launcher} train --config {params.config} --genome results/genome"
        " --targets results/targets --windows results/windows --out $(dirname {output.weights})"
        " --restart-if-changed > {log} 2>&1"


rule evaluate:
    input:
        weights=f"results/model/{MODEL}/weights.safetensors",
        targets="results/targets/manifest.json",
        windows="results/windows/manifest.json",
        noise_free=[f"{NOISE_FREE}/manifest.json"] if NOISE_FREE else [],
    output:
        tsv=f"results/eval/{MODEL}/metrics.tsv",
        json=f"results/eval/{MODEL}/metrics.json",
    params:
        config=RESOLVED,
        digest=digest("evaluate"),
        noise_free=f"--noise-free {NOISE_FREE}" if NOISE_FREE else "",
    threads: all_cores()
    conda:
        CONDA_ENV
    log:
        "logs/evaluate.log",
    shell:
        "genomics evaluate --config {params.config} --model $(dirname {input.weights})"
        " --genome results/genome --targets results/targets --windows results/windows"
        " {params.noise_free} --out $(dirname {output.tsv}) > {log} 2>&1"
