"""The class folder: what :func:`genomics.classes.build_classes` writes and
:func:`load_classes` reads back, so new profiles are scored without refitting.

Layout (``results/classes/<model>/``)::

    classes.tsv          class, name, size, genome_fraction, top_tracks (+ annotation state)
    model.json           tracks, bin size, standardisation (mean, std), PCA centre, names
    pca_components.npy   (c, t) float64, PCA axes in standardised space
    centroids.npy        (k, t) float64, mean standardised profile per class
    class_vectors.npy    (k, t) float64, the centroids at unit length (what scores use)
    sample_pcs.npy       (n, c) float32, the clustered sample in PCA space (kNN assignment)
    sample_labels.npy    (n,) int16, its class, -1 outside the K classes
    classes.bed          chrom, start, end, class, score: every bin, runs of a class merged
    pca.png              optional, PCA 1-2 of the sample coloured by class
    manifest.json        written last (:mod:`genomics.io.manifest`)
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from pathlib import Path

import numpy as np

from genomics.classes.assign import EXCLUDED
from genomics.classes.model import ClassModel
from genomics.io import StoreError, atomic_path, atomic_save_npy, atomic_write_text, read_manifest

__all__ = [
    "COMMAND",
    "FORMAT_VERSION",
    "KIND",
    "load_classes",
    "read_model",
    "save_figure",
    "write_bed",
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


def write_model(out: Path, model: ClassModel) -> list[str]:
    """Write ``model.json`` and the arrays atomically; return the file names."""
    for name, attr in ARRAYS.items():
        atomic_save_npy(out / name, np.asarray(getattr(model, attr)))
    body = {
        "track_names": model.track_names,
        "track_kinds": model.track_kinds,
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
            row += [states[i], f"{model.info['annotation_log2_enrichment'][i]:.4g}"]
        rows.append("\t".join(row))
    atomic_write_text(out / "classes.tsv", "\n".join(rows) + "\n")
    return "classes.tsv"


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
