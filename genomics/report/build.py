"""``genomics report``: the run's outputs -> ``index.html`` and one page per class.

The pages are written atomically, class pages first and the index last; pages of classes
that no longer exist (an earlier run with more classes) are removed.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np

from genomics.classes import ClassModel
from genomics.classes.annotation import (
    NONE,
    Enrichment,
    annotate_all,
    annotation_paths,
    consensus_states,
    read_annotations,
    read_legend,
)
from genomics.classes.figures import plot_annotation, plot_enrichment
from genomics.io import atomic_write_text
from genomics.report import figures as F
from genomics.report.html import Table, embed_figure, embed_png, render
from genomics.report.locations import bins_per_chrom, example_loci
from genomics.report.provenance import input_files, software, stores
from genomics.report.run_files import RunFiles, read_class_bed, read_tsv
from genomics.report.variant_scores import VariantScores, read_variant_scores

__all__ = ["annotations_for", "build_report", "page_name", "report_from_config"]

log = logging.getLogger(__name__)

# one line per column: what it means (table header tooltips and the legend under each table)
METRIC_COLUMNS = {
    "track": "track name, as in the tracks table",
    "kind": "coverage (a signal) or peaks (called regions, predicted as a probability)",
    "n_bins": "held-out bins scored",
    "target_mean": "mean observed value per bin",
    "pred_mean": "mean predicted value per bin (probability for peaks)",
    "pearson": "Pearson r of predicted vs observed per bin (coverage)",
    "pearson_log1p": "Pearson r after log1p of both (coverage; less driven by the highest bins)",
    "spearman": "Spearman rank correlation per bin (coverage)",
    "auroc": "area under the ROC curve, peak bins vs the rest (0.5 = chance)",
    "auprc": "area under the precision-recall curve (peaks)",
    "auprc_baseline": "AUPRC of a random predictor: the fraction of peak bins",
    # with a noise-free store (simulated data; `genomics evaluate --noise-free`)
    "ceiling_pearson": "noise ceiling: Pearson r of observed vs noise-free signal on the same bins",
    "pearson_of_ceiling": "share of the noise ceiling the model reaches (pearson / ceiling_pearson)",
    "ceiling_pearson_log1p": "noise ceiling of pearson_log1p",
    "pearson_log1p_of_ceiling": "pearson_log1p / ceiling_pearson_log1p",
    "ceiling_spearman": "noise ceiling of spearman",
    "spearman_of_ceiling": "spearman / ceiling_spearman",
}
CLASS_COLUMNS = [
    ("class", "class number; the link opens its page"),
    ("name", "the tracks at least half as high as its highest (z), + its annotation state"),
    ("sampled bins", "bins of the clustered sample in the class"),
    ("genome fraction", "fraction of all assigned bins of the genome in the class"),
    ("top tracks", "the three tracks with the highest mean z-score in the class"),
]
VARIANT_COLUMNS = [
    ("id", "variant id from the VCF"),
    ("chrom", "chromosome"),
    ("pos", "position, 1-based as in the VCF"),
    ("ref", "reference allele"),
    ("alt", "alternate allele"),
    ("alt - ref", "change of the class score (projection on the class vector) from ref to alt"),
]


def page_name(k: int) -> str:
    """The file of class ``k``'s page."""
    return f"class-{k}.html"


def _label(model: ClassModel, k: int) -> str:
    return f"{k}: {model.names[k]}"


def _units(kinds) -> list[str]:
    return ["probability" if k == "peaks" else "signal/bin" for k in kinds]


def _index_context(files: RunFiles, model, spec, *, enrichments, variants, counts, bin_size):
    metrics = files.metrics()
    cols = list(metrics[0]) if metrics else list(METRIC_COLUMNS)
    metric_table = Table.of(
        "metrics",
        [(c, METRIC_COLUMNS.get(c, "")) for c in cols],
        [[r.get(c, "") for c in cols] for r in metrics],
    )
    eval_figs = [
        embed_png(
            p,
            alt=p.stem,
            caption=(
                "Held-out metric per track (coverage: Pearson r; peaks: AUPRC, black tick = chance)."
                if p.stem.startswith("metric_bars")
                else "An example held-out window: observed (grey, filled) and predicted (blue "
                "line) per track; x: position (bp)."
            ),
        )
        for p in files.eval_figures()
    ]
    k = model.n_classes
    class_rows = [
        [
            k_,
            model.names[k_],
            int(model.sizes[k_]),
            float(model.genome_fraction[k_]),
            model.top_tracks[k_].replace(",", ", "),
        ]
        for k_ in range(k)
    ]
    class_cols = list(CLASS_COLUMNS)
    if enrichments:
        top, fold = consensus_states(enrichments, k, min_log2=-np.inf)
        class_cols.append(
            (
                "top state",
                "annotation state most enriched in the class: median log2(observed / expected) "
                "over the annotations holding it",
            )
        )
        for row, state, value in zip(class_rows, top, fold, strict=True):
            row.append(f"{state} ({value:+.2f})" if state and np.isfinite(value) else "")
    class_table = Table.of(
        "classes", class_cols, class_rows, links={0: [page_name(i) for i in range(k)]}
    )
    labels = [_label(model, i) for i in range(k)]
    class_figs = [
        embed_figure(
            F.plot_profile_heatmap(model.centroids, model.track_names, labels),
            "classes by tracks heat strip",
            "Mean standardised predicted signal of each class (rows) per track (columns): red "
            "above the genome-wide mean, blue below (coverage tracks log1p first).",
        ),
        embed_figure(
            F.plot_class_sizes(model.genome_fraction, labels),
            "class genome fractions",
            f"Share of the genome's assigned {bin_size}-bp bins in each class "
            f"({100 * model.info.get('unassigned_genome_fraction', 0.0):.1f}% of bins in no class).",
        ),
    ]
    pca = files.pca_figure()
    if pca is not None:
        class_figs.append(
            embed_png(
                pca,
                "PCA of the sample",
                "The clustered sample on its first two principal components.",
            )
        )
    annotation_table = None
    if enrichments:
        annotation_table = Table.of(
            "annotations",
            [
                ("annotation", "its name (report.annotation or classes.annotation)"),
                ("file", "the BED of labelled regions"),
                ("states", "states in the file"),
                ("bins compared", "assigned bins that a region of the annotation touches"),
                ("AMI", "adjusted mutual information of class and state over those bins "
                 "(0: independent, 1: the same partition)"),
            ],
            [
                [e.name, str(e.path), len(e.states) - 1, e.n_bins, e.ami]
                for e in enrichments
            ],
        )  # fmt: skip
        for e in enrichments:
            class_figs.append(
                embed_figure(
                    plot_annotation(e, labels),
                    f"enrichment heat map of {e.name}",
                    f"Enrichment of the states of {e.name} ({e.path.name}) in each class: log2 "
                    "of (observed + 1) over (expected + 1) bins, expected = the class's bins x "
                    f"the state's share. Adjusted mutual information {e.ami:.3f} over "
                    f"{e.n_bins:,} bins.",
                )
            )
    manifests = files.manifests()
    inputs = Table.of(
        "inputs",
        [
            ("store", "results folder whose manifest names the file"),
            ("input", "what the file is to that store"),
            ("path", "the file as the stage read it"),
            ("checksum", "sha256 of the file (sampled for files over 64 MiB)"),
        ],
        [list(r.values()) for r in input_files(manifests)],
    )
    store_table = Table.of(
        "stores",
        [
            ("store", "results folder"),
            ("kind", "what the store holds"),
            ("digest", "content digest of its manifest (changes when inputs or parameters do)"),
            ("version", "genomics version that wrote it"),
        ],
        [list(r.values()) for r in stores(manifests)],
    )
    return {
        "metric_table": metric_table,
        "summary": _summary_text(files.metrics_summary()),
        "eval_figs": eval_figs,
        "class_table": class_table,
        "class_figs": class_figs,
        "annotation_table": annotation_table,
        "inputs": inputs,
        "stores": store_table,
        "software": software(),
        "config": files.config_text(),
        "spec": spec,
        "variants": _variant_summary(variants, model),
        "benchmark": _benchmark(files),
        "total_bins": int(sum(c.sum() for c in counts.values())),
    }


def _summary_text(metrics: dict) -> str:
    """One line from ``metrics.json``: split, windows and the mean of each metric."""
    summary = metrics.get("summary", {})
    means = [
        f"{key} {value:.3f} (mean of {summary.get(key + '_n', '?')} tracks)"
        for key, value in summary.items()
        if isinstance(value, float) and not key.endswith("_n")
    ]
    head = f"{summary.get('split', 'test')} split, {summary.get('n_windows', '?')} windows"
    return f"{head}: " + ", ".join(means) if means else ""


def _variant_summary(variants: VariantScores | None, model: ClassModel) -> dict | None:
    if variants is None:
        return None
    return {
        "path": str(variants.path),
        "n": len(variants),
        "missing": [model.names[i] for i in np.flatnonzero(~variants.have)],
    }


BENCHMARK_COLUMNS = {
    "track": "the track whose measured effects are compared",
    "score": "the score column of the variant table compared with them",
    "group": "variants of one element type (all: every variant)",
    "n_all": "variants in the group",
    "n": "variants the correlations use (per-track truth: those with a non-zero effect)",
    "spearman": "Spearman rank correlation of score and measured effect",
    "pearson": "Pearson correlation of score and measured effect",
    "n_null": "variants with no measured effect",
    "auroc": "AUROC of |score| separating effectful from null variants (0.5 = chance)",
}


def _bench_column(name: str) -> tuple[str, str]:
    for suffix, what in (("_lo", "lower"), ("_hi", "upper")):
        if name.endswith(suffix) and name[: -len(suffix)] in BENCHMARK_COLUMNS:
            return name, f"{what} end of the bootstrap 95% interval of {name[: -len(suffix)]}"
    return name, BENCHMARK_COLUMNS.get(name, "")


def _benchmark(files: RunFiles) -> dict | None:
    folder = files.benchmark_folder()
    if folder is None:
        return None
    tables = []
    for path in sorted(folder.glob("*.tsv")):
        rows = read_tsv(path)
        if rows:
            cols = list(rows[0])
            tables.append(
                (
                    path.name,
                    Table.of(
                        f"bench-{path.stem}",
                        [_bench_column(c) for c in cols],
                        [[r[c] for c in cols] for r in rows],
                    ),
                )
            )
    figs = [embed_png(p, p.stem, p.name) for p in sorted(folder.glob("*.png"))]
    facts = {}  # the scalar entries of its JSON files: matched and unmatched counts, inputs
    for path in sorted(folder.glob("*.json")):
        try:
            body = json.loads(path.read_text())
        except (json.JSONDecodeError, OSError):
            continue
        if isinstance(body, dict):
            facts |= {k: v for k, v in body.items() if isinstance(v, (str, int, float))}
    return {"folder": str(folder), "tables": tables, "figs": figs, "facts": facts}


def _class_enrichment(k: int, enrichments: list[Enrichment]) -> dict:
    """Class ``k`` against every annotation: one line each (its most enriched state), a
    heat strip (annotations x states) and the full table."""
    lines, rows, columns = [], [], {}
    for e in enrichments:
        fold, expected = e.log2[k], e.expected[k]
        for j, (state, name) in enumerate(zip(e.states, e.names, strict=True)):
            columns.setdefault(state, state if state == name else f"{state} {name}")
            rows.append([e.name, state, name, int(e.counts[k, j]), float(expected[j]), fold[j]])
        top, value = e.top()
        if top[k] < 0:
            lines.append(f"{e.name} (AMI {e.ami:.3f}): no state")
            continue
        j = top[k]
        lines.append(
            f"{e.name} (AMI {e.ami:.3f}): most enriched in {columns[e.states[j]]}, log2 "
            f"{value[k]:+.2f} ({e.counts[k, j]:,} bins, {expected[j]:,.0f} expected)"
        )
    if not any(e.counts[:, -1].any() for e in enrichments):  # every bin has a state
        columns.pop(NONE)
    grid = np.full((len(enrichments), len(columns)), np.nan)
    index = {state: i for i, state in enumerate(columns)}
    for r, e in enumerate(enrichments):
        for j, state in enumerate(e.states):
            if state in index:
                grid[r, index[state]] = e.log2[k, j]
    return {
        "lines": lines,
        "fig": embed_figure(
            plot_enrichment(grid, list(columns.values()), [e.name for e in enrichments]),
            f"annotation enrichment of class {k}",
            "log2 of (observed + 1) over (expected + 1) bins of this class in each state of "
            "each annotation (expected: the class's bins x the state's share of all "
            "assigned bins); blank: a state the annotation does not have.",
        ),
        "table": Table.of(
            "enrichment",
            [
                ("annotation", "the annotation's name"),
                ("state", "annotation state (4th column of its BED)"),
                ("name", "the state's name (classes.state_names)"),
                ("bins", "bins of this class in the state (the state covering most of a bin)"),
                ("expected", "the class's bins x the state's share of all assigned bins"),
                ("log2 obs/exp", "log2((bins + 1) / (expected + 1))"),
            ],
            rows,
        ),
    }


def _class_context(
    k: int,
    model: ClassModel,
    store,
    targets,
    labels: dict[str, np.ndarray],
    counts: dict[str, np.ndarray],
    *,
    enrichments: list[Enrichment],
    variants: VariantScores | None,
    n_loci: int,
    locus_bins: int,
    tracks_per_locus: int,
    top_variants: int,
) -> dict:
    label = _label(model, k)
    z = model.centroids[k]
    figs = {
        "profile": embed_figure(
            F.plot_class_profile(z, model.track_names),
            f"mean profile of class {k}",
            "Mean standardised predicted signal per track in this class (z-score: standard "
            "deviations above the genome-wide mean; coverage tracks log1p first); the top "
            "three tracks in orange.",
        )
    }
    in_class = {c: int(v[k]) for c, v in counts.items()}
    assigned = {c: int(v.sum()) for c, v in counts.items()}
    figs["chroms"] = embed_figure(
        F.plot_bins_per_chrom(in_class, assigned, store.bin_size),
        f"class {k} per chromosome",
        "Share of each chromosome's assigned bins in this class; the number above a bar "
        "counts its bins.",
    )
    top = np.argsort(-z, kind="stable")[: min(tracks_per_locus, model.n_tracks)]
    names = [model.track_names[i] for i in top]
    kinds = [model.track_kinds[i] for i in top]
    obs_cols = [targets.names.index(n) if n in targets.names else None for n in names]
    loci = []
    for locus in example_loci(labels, k, n=n_loci, width=locus_bins):
        pred = store.fetch(locus.chrom, locus.start_bin, locus.end_bin)[:, top]
        obs = np.full_like(pred, np.nan)
        try:
            raw = targets.fetch(targets.resolve(locus.chrom), locus.start_bin, locus.end_bin)
            for j, c in enumerate(obs_cols):
                if c is not None:
                    obs[:, j] = raw[:, c]
        except ValueError:
            log.info("%s: not in the target store; locus drawn without observed", locus.chrom)
        start, end = locus.start_bin * store.bin_size, locus.end_bin * store.bin_size
        where = f"{locus.chrom}:{start + 1:,}-{end:,}"
        fig = F.plot_locus(
            pred,
            obs,
            labels[locus.chrom][locus.start_bin : locus.end_bin],
            names,
            k=k,
            n_classes=model.n_classes,
            chrom=locus.chrom,
            start=start,
            bin_size=store.bin_size,
            units=_units(kinds),
        )
        loci.append(
            embed_figure(
                fig,
                f"class {k} at {where}",
                f"{where} (1-based), around a run of {locus.run_bins} bins of this class: the "
                "class's top tracks, observed (grey, filled) and predicted (blue line); the "
                "strip beneath colours the bins of this class.",
            )
        )
    ctx = {
        "k": k,
        "label": label,
        "name": model.names[k],
        "top_tracks": model.top_tracks[k].replace(",", ", "),
        "size": int(model.sizes[k]),
        "fraction": float(model.genome_fraction[k]),
        "bins": int(sum(in_class.values())),
        "bin_size": store.bin_size,
        "figs": figs,
        "loci": loci,
        "enrichment": None,
        "variants": None,
    }
    if enrichments:
        ctx["enrichment"] = _class_enrichment(k, enrichments)
    if variants is not None and variants.have[k]:
        d = variants.delta[:, k]
        vcols = [(a, b) for a, b in VARIANT_COLUMNS]

        def rows(raising):
            return [list(r.values()) for r in variants.top(k, top_variants, raising=raising)]

        ctx["variants"] = {
            "n": int(np.isfinite(d).sum()),
            "fig": embed_figure(
                F.plot_variant_deltas(d, label),
                f"variant effects on class {k}",
                "Distribution of alt - ref class scores over all scored variants (counts on a "
                "log scale).",
            ),
            "raising": Table.of("raising", vcols, rows(True)),
            "lowering": Table.of("lowering", vcols, rows(False)),
        }
    return ctx


def build_report(
    files: RunFiles,
    out: str | Path,
    *,
    n_loci: int = 3,
    locus_bins: int = 160,
    tracks_per_locus: int = 6,
    top_variants: int = 10,
    state_names: str | Path | None = None,
) -> list[Path]:
    """Write ``index.html`` and ``class-<k>.html`` for every class into ``out``.

    Parameters
    ----------
    files : the run's outputs.
    n_loci : example loci per class page.
    locus_bins : bins drawn per example locus.
    tracks_per_locus : the class's top tracks drawn at each locus.
    top_variants : variants listed as raising and as lowering each class.
    state_names : a legend for the annotation states (``classes.state_names``).

    Returns
    -------
    list of Path: the pages written, index last.

    Raises
    ------
    ValueError (StoreError, FileNotFoundError) naming the missing or incomplete output and
    the command that rebuilds it.
    """
    out = Path(out)
    spec = files.model_spec()
    files.eval_folder()
    store = files.predictions()
    model = files.classes(store)
    targets = files.targets()
    labels = read_class_bed(files.class_bed(), store.n_bins, store.bin_size)
    counts = bins_per_chrom(labels, model.n_classes)
    legend = read_legend(state_names)
    regions = read_annotations(files.annotations, list(labels), key="report.annotation")
    enrichments = annotate_all(
        labels,
        files.annotations,
        regions,
        n_classes=model.n_classes,
        bin_size=store.bin_size,
        legend=legend,
    )
    variants = None
    if (path := files.variant_scores()) is not None:
        variants = read_variant_scores(path, model.names)
    common = {
        "run": files.name,
        "n_classes": model.n_classes,
        "class_links": [(page_name(i), _label(model, i)) for i in range(model.n_classes)],
    }
    written = []
    for k in range(model.n_classes):
        ctx = _class_context(
            k,
            model,
            store,
            targets,
            labels,
            counts,
            enrichments=enrichments,
            variants=variants,
            n_loci=n_loci,
            locus_bins=locus_bins,
            tracks_per_locus=tracks_per_locus,
            top_variants=top_variants,
        )
        html = render(
            "class.html.j2", title=f"Class {ctx['label']} · {files.name}", **common, **ctx
        )
        atomic_write_text(out / page_name(k), html)
        written.append(out / page_name(k))
    keep = {p.name for p in written}
    for stale in out.glob("class-*.html"):
        if stale.name not in keep:
            stale.unlink()
    ctx = _index_context(
        files,
        model,
        spec,
        enrichments=enrichments,
        variants=variants,
        counts=counts,
        bin_size=store.bin_size,
    )
    html = render("index.html.j2", title=f"{files.name}: run report", **common, **ctx)
    atomic_write_text(out / "index.html", html)
    written.append(out / "index.html")
    log.info("report of %d classes in %s", model.n_classes, out)
    return written


def annotations_for(
    cfg: dict, results: str | Path = "results", *, must_exist=True
) -> dict[str, Path]:
    """The annotations the report uses, name -> path: ``report.annotation``, else
    ``classes.annotation``, else, on the synthetic default data (``genome.fasta`` is
    ``<results>/sim/genome.fa``), the simulator's ``sim/elements.bed`` (when it exists,
    unless ``must_exist`` is False: the workflow names it before the simulator has run)."""
    for key in ("report", "classes"):
        found = annotation_paths(cfg[key]["annotation"], key=f"{key}.annotation")
        if found:
            return found
    sim = Path(results) / "sim"
    elements = sim / "elements.bed"
    if Path(cfg["genome"]["fasta"]).parent == sim and (elements.is_file() or not must_exist):
        return {"elements": elements}
    return {}


def report_from_config(
    cfg: dict, *, results: str | Path, out: str | Path, annotation=None
) -> list[Path]:
    """:func:`build_report` with the config's ``report`` section, ``model.name`` and
    ``classes.state_names``; ``annotation`` (paths, or a mapping name -> path) replaces the
    config's (:func:`annotations_for`)."""
    r = cfg["report"]
    files = RunFiles(results, cfg["model"]["name"], annotation or annotations_for(cfg, results))
    return build_report(
        files,
        out,
        n_loci=r["example_loci"],
        locus_bins=r["locus_bins"],
        tracks_per_locus=r["tracks_per_locus"],
        top_variants=r["top_variants"],
        state_names=cfg["classes"]["state_names"],
    )
