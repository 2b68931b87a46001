# Variant effects: score a VCF (or a variant table) with the trained model (class scores
# from the class folder), then benchmark the scores against measured effects. On the
# synthetic default the VCF and the true effects are the simulator's; on other data,
# variants.vcf and benchmark.measured (without a VCF these rules are left out, and the
# report says so). With variants.context (a FASTA of elements, e.g. CAGI5's) each variant
# is scored inside its element, centred in a filled window, instead of on the genome.

SYNTHETIC = Path(CFG["genome"]["fasta"]).parent == Path("results/sim")
VCF = CFG["variants"]["vcf"] or ("results/sim/variants.vcf" if SYNTHETIC else None)
MEASURED = CFG["benchmark"]["measured"] or (
    "results/sim/effects.tsv" if SYNTHETIC else None
)
CONTEXT = CFG["variants"]["context"]
# variants.annotated_vcf: score-variants also writes the input VCF with the scores as INFO
# fields (its tabix index, written only for a sorted input, is not a declared output)
ANNOTATED = (
    [f"results/variants/{MODEL}/annotated.vcf.gz"] if CFG["variants"]["annotated_vcf"] else []
)


if VCF:

    rule score_variants:
        input:
            weights=f"results/model/{MODEL}/weights.safetensors",
            genome=[] if CONTEXT else "results/genome/manifest.json",  # unread in context mode
            classes=f"results/classes/{MODEL}/manifest.json",
            vcf=VCF,
            context=CONTEXT or [],
        output:
            scores=f"results/variants/{MODEL}/scores.tsv.gz",
            summary=f"results/variants/{MODEL}/summary.json",
            annotated=ANNOTATED,
        params:
            config=RESOLVED,
            digest=digest("seed", "variants") if CONTEXT else digest("variants"),
            context=f" --context {CONTEXT}" if CONTEXT else "",
            genome="" if CONTEXT else " --genome results/genome",
            annotated=" --annotated-vcf" if ANNOTATED else "",
        threads: all_cores()
        conda:
            CONDA_ENV
        log:
            "logs/score_variants.log",
        benchmark:
            "logs/score_variants.benchmark.tsv"
        shell:
            "OMP_NUM_THREADS={threads} genomics score-variants --config {params.config}"
            " --model $(dirname {input.weights}){params.genome}"
            " --vcf {input.vcf}{params.context}{params.annotated}"
            " --classes $(dirname {input.classes}) --out $(dirname {output.scores}) > {log} 2>&1"



if VCF and MEASURED:

    rule benchmark:
        input:
            scores=f"results/variants/{MODEL}/scores.tsv.gz",
            measured=MEASURED,
        output:
            f"results/benchmark/{MODEL}/spearman.json",
        params:
            config=RESOLVED,
            digest=digest("seed", "benchmark"),
        conda:
            CONDA_ENV
        log:
            "logs/benchmark.log",
        benchmark:
            "logs/benchmark.benchmark.tsv"
        shell:
            "genomics benchmark --config {params.config} --scores {input.scores}"
            " --measured {input.measured} --out $(dirname {output}) > {log} 2>&1"
