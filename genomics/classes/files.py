"""The class folder: what :func:`genomics.classes.build_classes` writes and
:func:`load_classes` reads back, so new profiles are scored without refitting.

Layout (``results/classes/<model>/``)::

    classes.tsv          class, name, size, genome_fraction, top_tracks (+ annotation state
                         and its median log2 enrichment, with annotations)
    model.json           tracks, bin size, standardisation (mean, std), PCA centre, names
    pca_components.npy   (c, t) float64, PCA axes in standardised space
    centroids.npy        (k, t) float64, mean standardised profile per class
    class_vectors.npy    (k, t) float64, the centroids at unit length (what scores use)
    sample_pcs.npy       (n, c) float32, the clustered sample in PCA space (kNN assignment)
    sample_labels.npy    (n,) int16, its class, -1 outside the K classes
    classes.bed          chrom, start, end, class, score: every bin, runs of a class merged
    pca.png              optional, PCA 1-2 of the sample coloured by class
    enrichment/          with annotations (:mod:`genomics.classes.annotation`):
      <annotation>.tsv   class, class_name, state, state_name, bins, expected, log2_enrichment
      <annotation>.png   optional, its classes x states heat map
      summary.json       AMI and bins compared per annotation, each class's state
    manifest.json        written last (:mod:`genomics.io.manifest`)
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from genomics.classes.annotation import NAME_MIN_BINS, NAME_MIN_LOG2, Enrichment
from genomics.classes.assign import EXCLUDED
from genomics.classes.model import ClassModel
from genomics.io import StoreError, atomic_path, atomic_save_npy, atomic_write_text, read_manifest

__all__ = [
    "COMMAND",
    "ENRICHMENT",
    "FORMAT_VERSION",
    "KIND",
    "finite_or_none",
    "load_classes",
    "read_model",
    "save_figure",
    "write_bed",
    "write_enrichment",
    "write_model",
    "write_table",
]

KIND = "classes"
FORMAT_VERSION = 1
COMMAND = "genomics classes"
ARRAYS = {  # file -> ClassModel attribute
    "pca_components.npy": "pca_components",
    "centroids.npy": "centroids",
    "class_vectors.npy": "vectors",
    "sample_pcs.npy": "sample_pcs",
    "sample_labels.npy": "sample_labels",
}
BED_HEADER = "#chrom\tstart\tend\tclass\tscore\n"
ENRICHMENT = "enrichment"  # the folder of the per-annotation tables


def write_model(out: Path, model: ClassModel) -> list[str]:
    """Write ``model.json`` and the arrays atomically; return the file names."""
    for name, attr in ARRAYS.items():
        atomic_save_npy(out / name, np.asarray(getattr(model, attr)))
    body = {
        "track_names": model.track_names,
        "track_kinds": model.track_kinds,
        "transform": model.transform,
        "bin_size": model.bin_size,
        "mean": model.mean.tolist(),
        "std": model.std.tolist(),
        "pca_mean": model.pca_mean.tolist(),
        "names": model.names,
        "top_tracks": model.top_tracks,
        "sizes": model.sizes.tolist(),
        "genome_fraction": model.genome_fraction.tolist(),
        "info": model.info,
    }
    atomic_write_text(out / "model.json", json.dumps(body, indent=1) + "\n")
    return ["model.json", *ARRAYS]


def read_model(folder: Path) -> ClassModel:
    """The ClassModel in ``folder`` (no manifest check: see :func:`load_classes`)."""
    body = json.loads((folder / "model.json").read_text())
    arrays = {a: np.load(folder / f) for f, a in ARRAYS.items() if a != "vectors"}
    return ClassModel(
        track_names=body["track_names"],
        track_kinds=body["track_kinds"],
        bin_size=int(body["bin_size"]),
        mean=np.array(body["mean"]),
        std=np.array(body["std"]),
        pca_mean=np.array(body["pca_mean"]),
        names=body["names"],
        top_tracks=body["top_tracks"],
        sizes=np.array(body["sizes"], dtype=np.int64),
        genome_fraction=np.array(body["genome_fraction"]),
        info=body["info"],
        transform=body.get("transform", "log1p"),  # folders written before the option
        **arrays,
    )


def write_table(out: Path, model: ClassModel) -> str:
    """Write ``classes.tsv`` (one row per class, largest first); return its name."""
    states = model.info.get("annotation_state")
    head = ["class", "name", "size", "genome_fraction", "top_tracks"]
    if states is not None:
        head += ["annotation_state", "annotation_log2_enrichment"]
    rows = ["\t".join(head)]
    for i in range(model.n_classes):
        row = [str(i), model.names[i], str(model.sizes[i])]
        row += [f"{model.genome_fraction[i]:.6g}", model.top_tracks[i]]
        if states is not None:
            fold = model.info["annotation_log2_enrichment"][i]
            row += [states[i], "" if fold is None else f"{fold:.4g}"]
        rows.append("\t".join(row))
    atomic_write_text(out / "classes.tsv", "\n".join(rows) + "\n")
    return "classes.tsv"


def finite_or_none(value: float) -> float | None:
    """A float for JSON: None for NaN and infinities (not JSON)."""
    return float(value) if np.isfinite(value) else None


def _file_stem(name: str) -> str:
    return re.sub(r"[^\w.+-]+", "_", name).strip("._") or "annotation"


def write_enrichment(
    out: Path, model: ClassModel, enrichments: list[Enrichment], *, legend=None, plot=True
) -> list[str]:
    """Write ``enrichment/<annotation>.tsv`` (and ``.png``) per annotation and
    ``enrichment/summary.json``; files of annotations no longer named are removed.

    Returns
    -------
    list of str: the files written, relative to ``out``.
    """
    folder = out / ENRICHMENT
    folder.mkdir(exist_ok=True)
    stems = {e.name: _file_stem(e.name) for e in enrichments}
    if len(set(stems.values())) < len(stems):
        raise ValueError(f"annotation names {sorted(stems)} do not make distinct file names")
    files, summary = [], {}
    for e in enrichments:
        stem = stems[e.name]
        fold, expected = e.log2, e.expected
        rows = ["class\tclass_name\tstate\tstate_name\tbins\texpected\tlog2_enrichment"]
        for i in range(model.n_classes):
            for j, (state, name) in enumerate(zip(e.states, e.names, strict=True)):
                rows.append(
                    f"{i}\t{model.names[i]}\t{state}\t{name}\t{e.counts[i, j]}\t"
                    f"{expected[i, j]:.6g}\t{fold[i, j]:.4f}"
                )
        atomic_write_text(folder / f"{stem}.tsv", "\n".join(rows) + "\n")
        files.append(f"{ENRICHMENT}/{stem}.tsv")
        if plot:
            from genomics.classes.figures import plot_annotation

            labels = [f"{i}: {model.names[i]}" for i in range(model.n_classes)]
            save_figure(plot_annotation(e, labels), folder / f"{stem}.png")
            files.append(f"{ENRICHMENT}/{stem}.png")
        top, top_log2 = e.top()
        summary[e.name] = {
            "path": str(e.path),
            "file": f"{stem}.tsv",
            "ami": finite_or_none(e.ami),
            "n_bins": e.n_bins,
            "n_bins_classed": int(e.counts.sum()),
            "states": e.states,
            "state_names": e.names,
            "top_state": [e.states[t] if t >= 0 else "" for t in top],
            "top_log2_enrichment": [finite_or_none(v) for v in top_log2],
        }
    body = {
        "annotations": summary,
        "state_names": None if legend is None else str(legend),
        "naming": {"min_median_log2_enrichment": NAME_MIN_LOG2, "min_bins": NAME_MIN_BINS},
        "classes": [
            {
                "class": i,
                "name": model.names[i],
                "state": model.info["annotation_state"][i],
                "median_log2_enrichment": model.info["annotation_log2_enrichment"][i],
            }
            for i in range(model.n_classes)
        ],
    }
    atomic_write_text(folder / "summary.json", json.dumps(body, indent=1) + "\n")
    files.append(f"{ENRICHMENT}/summary.json")
    keep = {Path(f).name for f in files}
    for stale in folder.iterdir():
        if stale.is_file() and stale.name not in keep:
            stale.unlink()
    return files


def write_bed(
    path: Path,
    chunks: Iterable[tuple[str, np.ndarray, np.ndarray]],
    *,
    bin_size: int,
    n_classes: int,
    lengths: Mapping[str, int] | None = None,
) -> np.ndarray:
    """Write the class BED from :func:`genomics.classes.assign.iter_assign`'s output.

    Runs of bins with one class become one line (score: the run's mean); left-out bins
    (N, blacklist) are not written; an unassigned bin's class is -1.

    Parameters
    ----------
    lengths : chromosome lengths in bp (the last bin is cut there), or None.

    Returns
    -------
    np.ndarray, shape (k + 1,), int64: bins per class, the last entry unassigned.
    """
    counts = np.zeros(n_classes + 1, dtype=np.int64)
    with atomic_path(path) as tmp, open(tmp, "w") as fh:
        fh.write(BED_HEADER)
        for chrom, labels, scores in chunks:
            n = len(labels)
            kept = labels != EXCLUDED
            per = np.bincount(labels[kept] + 1, minlength=n_classes + 1)  # unassigned first
            counts += np.r_[per[1:], per[:1]]
            if n == 0:
                continue
            starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
            ends = np.r_[starts[1:], n]
            sums = np.add.reduceat(np.where(kept, scores, 0.0).astype(np.float64), starts)
            mean = sums / (ends - starts)
            end_bp = np.minimum(ends * bin_size, (lengths or {}).get(chrom, n * bin_size))
            lines = [
                f"{chrom}\t{s * bin_size}\t{e}\t{lab}\t{m:.4f}\n"
                for s, e, lab, m in zip(starts, end_bp, labels[starts], mean, strict=True)
                if lab != EXCLUDED
            ]
            fh.writelines(lines)
    return counts


def save_figure(fig, path: Path, *, dpi: int = 120) -> None:
    """Save a matplotlib Figure atomically (format from the suffix)."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=path.suffix.lstrip("."), dpi=dpi, bbox_inches="tight")


def load_classes(folder: str | Path, store=None) -> ClassModel:
    """Read a class folder written by ``genomics classes``; check it matches ``store``.

    Parameters
    ----------
    store : a PredictionStore/TargetStore the classes will be applied to, or None; its
        track names, kinds and bin size must be the model's.

    Raises
    ------
    StoreError (a ValueError) naming the folder and the command to rerun: no or an
    incomplete manifest (a killed run), or tracks that differ from ``store``'s.
    """
    folder = Path(folder)
    manifest = read_manifest(folder, kind=KIND, format_version=FORMAT_VERSION, command=COMMAND)
    model = read_model(folder)
    model.info["manifest"] = {"digest": manifest["digest"], "inputs": manifest["inputs"]}
    if store is not None:
        fix = f"rerun `{COMMAND} --predictions {store.path} --out {folder}`"
        try:
            where = f"{store.path} (classes in {folder})"
            model.check_tracks(store.names, store.track_kinds, where=where, fix=fix)
        except ValueError as e:
            raise StoreError(str(e)) from None
        if int(store.bin_size) != model.bin_size:
            raise StoreError(
                f"{folder}: classes fitted on {model.bin_size}-bp bins but {store.path} has "
                f"{store.bin_size}-bp bins; {fix}"
            )
    return model
