"""``genomics classes``: fit classes on a store, assign every bin, write the class folder.

The folder's manifest is removed before the first file is written and written last, so
a killed run leaves a folder that :func:`genomics.classes.load_classes` refuses.
"""

from __future__ import annotations

import json
import logging
import shutil
from pathlib import Path

from tqdm.auto import tqdm

from genomics.classes.annotation import (
    LEGENDS,
    annotate_all,
    annotation_paths,
    consensus_states,
    read_annotations,
    read_legend,
)
from genomics.classes.assign import ASSIGN_METHODS, iter_assign
from genomics.classes.files import (
    COMMAND,
    ENRICHMENT,
    FORMAT_VERSION,
    KIND,
    finite_or_none,
    save_figure,
    write_bed,
    write_enrichment,
    write_model,
    write_table,
)
from genomics.classes.fit import fit_classes, name_classes
from genomics.classes.sample import leave_out
from genomics.io import (
    StoreError,
    fingerprint,
    folder_lock,
    invalidate_store,
    write_manifest,
)

__all__ = ["build_classes", "classes_from_config", "open_store"]

log = logging.getLogger(__name__)


def open_store(path: str | Path):
    """The prediction store (or a target store: observed profiles) at ``path``.

    Raises
    ------
    StoreError naming the folder and `genomics predict` when there is no manifest (a
    missing or killed prediction run).
    """
    path = Path(path)
    manifest = path / "manifest.json"
    if not manifest.is_file():
        what = "does not exist" if not path.exists() else "has no manifest.json (killed run?)"
        raise StoreError(
            f"{path}: the prediction store {what}; run `genomics predict` to (re)build it"
        )
    try:
        kind = json.loads(manifest.read_text()).get("kind")
    except (json.JSONDecodeError, AttributeError):
        kind = None
    if kind == "targets":
        from genomics.data.targets import TargetStore

        return TargetStore(path)
    try:
        from genomics.data.predictions import PredictionStore
    except ImportError:
        raise StoreError(f"{path}: a {kind!r} store, which this genomics cannot read") from None
    return PredictionStore(path)


def _input(path) -> dict | None:
    return None if path is None else {"path": str(path), "fingerprint": fingerprint(path)}


def _kept(chunks, labels: dict):
    """Pass ``iter_assign``'s chunks on, keeping each chromosome's labels in ``labels``."""
    for chrom, lab, scores in chunks:
        labels[chrom] = lab
        yield chrom, lab, scores


def build_classes(
    store,
    out: str | Path,
    *,
    genome=None,
    blacklist: str | Path | None = None,
    annotation=None,
    state_names: str | Path | None = None,
    assign: str = "centroid",
    plot: bool = True,
    progress: bool | None = None,
    **fit,
) -> dict:
    """Fit classes on ``store``, assign every bin and write the class folder ``out``.

    Parameters
    ----------
    store : a PredictionStore or TargetStore.
    genome : the GenomeStore the store was made from: mostly-N bins are left out of the
        sample and of the BED, and the BED's last bin per chromosome ends at its length.
    blacklist : see :func:`genomics.classes.fit_classes`.
    annotation : BEDs whose 4th column is a state (ChromHMM): a path, a list of paths or a
        mapping name -> path (:func:`genomics.classes.annotation.annotation_paths`). Each is
        compared with the classes over every assigned bin (``enrichment/``), and a class
        the annotations agree on is named after its state.
    state_names : a legend for the states: ``chromhmm15`` or a TSV of state and name
        (:func:`genomics.classes.annotation.read_legend`).
    assign : "centroid", "knn" or "score" (see :mod:`genomics.classes.assign`).
    plot : also write ``pca.png``.
    fit : n_sample, seed, n_components, n_neighbors, resolution, n_classes, merge_low,
        merge_cosine, refine_clusters, transform (:func:`genomics.classes.fit_classes`).

    Returns
    -------
    dict, the folder's manifest.
    """
    if assign not in ASSIGN_METHODS:
        raise ValueError(f"classes.assign {assign!r}: use one of {', '.join(ASSIGN_METHODS)}")
    paths = annotation_paths(annotation)
    legend = read_legend(state_names)
    regions = read_annotations(paths, list(store.chroms))  # bad files stop the run here
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    with folder_lock(out, COMMAND):
        model = fit_classes(store, genome=genome, blacklist=blacklist, **fit)
        invalidate_store(out)  # the fit worked: from here the old folder is not trusted
        lengths = None
        if genome is not None:
            lengths = {c: genome.sizes[genome.resolve(c)] for c in store.chroms}
        total = sum(store.n_bins.values())
        disable = None if progress is None else not progress
        labels: dict = {}
        with tqdm(total=total, unit="bin", unit_scale=True, desc="assign", disable=disable) as bar:
            chunks = iter_assign(
                store,
                model,
                method=assign,
                excluded=leave_out(store, genome, blacklist),
                progress=bar.update,
            )
            counts = write_bed(
                out / "classes.bed",
                _kept(chunks, labels) if paths else chunks,
                bin_size=store.bin_size,
                n_classes=model.n_classes,
                lengths=lengths,
            )
        assigned = max(int(counts.sum()), 1)
        model.genome_fraction = counts[:-1] / assigned
        model.info["assign"] = assign
        model.info["unassigned_genome_fraction"] = float(counts[-1] / assigned)
        model.info["n_bins_assigned"] = int(counts.sum())
        enrichments = annotate_all(
            labels,
            paths,
            regions,
            n_classes=model.n_classes,
            bin_size=store.bin_size,
            legend=legend,
        )
        del labels
        files = []
        if enrichments:
            states, fold = consensus_states(enrichments, model.n_classes)
            model.names = name_classes(model.centroids, model.track_names, states)[0]
            model.info["annotation_state"] = states
            model.info["annotation_log2_enrichment"] = [finite_or_none(v) for v in fold]
            model.info["annotation_ami"] = {e.name: finite_or_none(e.ami) for e in enrichments}
            files += write_enrichment(out, model, enrichments, legend=state_names, plot=plot)
        else:
            shutil.rmtree(out / ENRICHMENT, ignore_errors=True)  # an earlier run's
        files += write_model(out, model) + [write_table(out, model), "classes.bed"]
        if plot:
            from genomics.classes.figures import plot_pca

            save_figure(plot_pca(model, seed=fit.get("seed", 0)), out / "pca.png")
            files.append("pca.png")
        manifest = write_manifest(
            out,
            kind=KIND,
            format_version=FORMAT_VERSION,
            params={
                **fit,
                "assign": assign,
                "state_names": None if state_names is None else str(state_names),
            },
            inputs={
                "predictions": {"path": str(store.path), "digest": store.digest},
                "genome": None
                if genome is None
                else {"path": str(genome.path), "digest": genome.digest},
                "blacklist": _input(blacklist),
                "annotation": {name: _input(path) for name, path in paths.items()},
                "state_names": None if str(state_names) in LEGENDS else _input(state_names),
            },
            files=files,
            extra={"tracks": model.track_names, "n_classes": model.n_classes},
        )
    log.info(
        "%d classes from %s into %s (%s assignment; %.1f%% of bins unassigned)",
        model.n_classes,
        store.path,
        out,
        assign,
        100 * model.info["unassigned_genome_fraction"],
    )
    return manifest


def classes_from_config(
    cfg: dict, *, predictions_dir: str | Path, genome_dir: str | Path, out: str | Path
) -> dict:
    """:func:`build_classes` with the config's ``classes`` section, its top-level ``seed``
    and ``windows.blacklist``."""
    from genomics.data.genome import GenomeStore

    c = cfg["classes"]
    store = open_store(predictions_dir)
    return build_classes(
        store,
        out,
        genome=GenomeStore(genome_dir),
        blacklist=cfg["windows"]["blacklist"],
        annotation=c["annotation"],
        state_names=c["state_names"],
        assign=c["assign"],
        plot=c["plot"],
        n_sample=c["n_sample"],
        seed=cfg["seed"],
        n_components=c["n_components"],
        n_neighbors=c["n_neighbors"],
        resolution=c["resolution"],
        n_classes=c["n_classes"],
        merge_low=c["merge_low_signal"],
        merge_cosine=c["merge_cosine"],
        refine_clusters=c["refine"],
        transform=c["transform"],
    )
