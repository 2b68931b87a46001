# The run report: results/report/index.html and a page per class (class-<k>.html beside it).

from genomics.report import annotations_for

# On the synthetic default, the simulator's planted elements; else report.annotation or
# classes.annotation; none without them (the class pages then have no enrichment section).
# `genomics report` finds the same files in the config.
REPORT_ANNOTATIONS = [str(p) for p in annotations_for(CFG, "results", must_exist=False).values()]

# The variant scores and benchmark, when the workflow has their rules (variants.smk,
# included before this file): the report renders their sections when their files exist.
REPORT_VARIANTS = []
for _rule in ("score_variants", "benchmark"):
    try:
        REPORT_VARIANTS += list(getattr(rules, _rule).output)
    except (AttributeError, WorkflowError):
        pass


rule report:
    input:
        model=f"results/model/{MODEL}/model.json",
        metrics=f"results/eval/{MODEL}/metrics.json",
        predictions=f"results/predictions/{MODEL}/manifest.json",
        targets="results/targets/manifest.json",
        classes=f"results/classes/{MODEL}/manifest.json",
        annotation=REPORT_ANNOTATIONS,
        variants=REPORT_VARIANTS,
    output:
        report(
            directory("results/report"),
            htmlindex="index.html",
            caption="../report/index.rst",
            category="Run report",
        ),
    params:
        config=RESOLVED,
        digest=digest("report"),
    conda:
        CONDA_ENV
    log:
        "logs/report.log",
    benchmark:
        "logs/report.benchmark.tsv"
    shell:
        "genomics report --config {params.config} --results results"
        " --out {output} > {log} 2>&1"
