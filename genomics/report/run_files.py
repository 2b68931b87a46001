"""Where a run's outputs live under ``results/``, read back checked.

Required: the model, its evaluation, the prediction store, the target store and the class
folder. Optional: the annotation (a BED of labelled regions), the variant scores and the
variant benchmark. A required folder that is missing or incomplete is a one-line
``ValueError`` naming it and the command that (re)builds it.
"""

from __future__ import annotations

import csv
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from genomics.classes import ClassModel, load_classes, open_store
from genomics.classes.annotation import annotation_paths
from genomics.classes.assign import EXCLUDED
from genomics.data.targets import TargetStore
from genomics.io import StoreError

__all__ = ["RunFiles", "read_class_bed", "read_tsv"]

SCORES_FILE = "scores.tsv.gz"  # genomics score-variants' table in results/variants/<name>/


def read_tsv(path: Path) -> list[dict[str, str]]:
    """A TSV with a header line as a list of row dicts (``#`` lines before it skipped)."""
    with open(path, newline="") as fh:
        lines = (line for line in fh if not line.startswith("#"))
        return list(csv.DictReader(lines, delimiter="\t"))


def read_class_bed(path: Path, n_bins: dict[str, int], bin_size: int) -> dict[str, np.ndarray]:
    """The class of every bin, from ``classes.bed`` (runs of a class merged).

    Parameters
    ----------
    n_bins : bins per chromosome of the store the classes were assigned on.

    Returns
    -------
    dict chrom -> np.ndarray, shape (n_bins,), int16: the class (0..k-1), -1 unassigned,
    ``EXCLUDED`` (-2) for bins the BED leaves out (mostly N, blacklisted).
    """
    labels = {c: np.full(n, EXCLUDED, dtype=np.int16) for c, n in n_bins.items()}
    with open(path) as fh:
        for lineno, line in enumerate(fh, 1):
            if line.startswith("#") or not line.strip():
                continue
            f = line.split("\t")
            try:
                chrom, start, end, label = f[0], int(f[1]), int(f[2]), int(f[3])
            except (IndexError, ValueError):
                raise ValueError(
                    f"{path} line {lineno}: not a class BED line (chrom, start, end, class); "
                    "rerun `genomics classes`"
                ) from None
            if chrom not in labels:
                raise ValueError(
                    f"{path} line {lineno}: chromosome {chrom!r} is not in the prediction "
                    "store; rerun `genomics classes`"
                )
            lo, hi = start // bin_size, -(-end // bin_size)
            labels[chrom][lo:hi] = label
    return labels


def _need(path: Path, what: str, command: str) -> Path:
    if not path.exists():
        raise StoreError(f"{path}: no {what} here; run `{command}` first")
    return path


@dataclass
class RunFiles:
    """The outputs of one run: ``<results>/<stage>/<name>/`` for the model ``name``.

    Parameters
    ----------
    results : the run's results folder.
    name : the model's name (``model.name`` in the config).
    annotation : BEDs whose 4th column is a state (ChromHMM, the simulator's element
        types): a path, a list of paths or a mapping name -> path; None for none. Read as
        ``annotations``, name -> path.
    """

    results: Path
    name: str
    annotation: str | Path | list | dict | None = None

    def __post_init__(self):
        self.results = Path(self.results)
        self.annotations = annotation_paths(self.annotation, key="report.annotation")

    def stage(self, stage: str) -> Path:
        """``<results>/<stage>/<name>``."""
        return self.results / stage / self.name

    # -- required -------------------------------------------------------------------------
    def model_spec(self) -> dict:
        """The trained model's ``model.json``."""
        path = _need(self.stage("model") / "model.json", "trained model", "genomics train")
        return json.loads(path.read_text())

    def config_text(self) -> str:
        """The config the run used: ``<results>/config.yaml``, else the model folder's."""
        for path in (self.results / "config.yaml", self.stage("model") / "config.yaml"):
            if path.is_file():
                return path.read_text()
        return "(no config.yaml in the results or the model folder)"

    def eval_folder(self) -> Path:
        folder = self.stage("eval")
        _need(folder / "metrics.tsv", "evaluation", "genomics evaluate")
        return folder

    def metrics(self) -> list[dict[str, str]]:
        """Held-out metrics, one row per track (``eval/<name>/metrics.tsv``)."""
        return read_tsv(self.eval_folder() / "metrics.tsv")

    def metrics_summary(self) -> dict:
        path = self.eval_folder() / "metrics.json"
        return json.loads(path.read_text()) if path.is_file() else {}

    def eval_figures(self) -> list[Path]:
        """The evaluation's PNGs: metric bars first, then example windows in order."""
        folder = self.eval_folder()
        bars = sorted(folder.glob("metric_bars*.png"))
        windows = sorted(folder.glob("tracks-*.png"), key=lambda p: int(p.stem.split("-")[-1] or 0))
        return bars + windows

    def predictions(self):
        """The prediction store (a :class:`~genomics.data.predictions.PredictionStore`)."""
        return open_store(self.stage("predictions"))

    def targets(self) -> TargetStore:
        """The observed tracks (``<results>/targets``)."""
        return TargetStore(self.results / "targets")

    def classes(self, store=None) -> ClassModel:
        """The class model, checked against ``store`` when given."""
        return load_classes(self.stage("classes"), store)

    def class_bed(self) -> Path:
        return _need(self.stage("classes") / "classes.bed", "class BED", "genomics classes")

    def pca_figure(self) -> Path | None:
        path = self.stage("classes") / "pca.png"
        return path if path.is_file() else None

    # -- optional -------------------------------------------------------------------------
    def variant_scores(self) -> Path | None:
        """``variants/<name>/scores.tsv.gz`` when variants were scored, else None."""
        path = self.stage("variants") / SCORES_FILE
        return path if path.is_file() else None

    def benchmark_folder(self) -> Path | None:
        """``benchmark/<name>/`` when a benchmark ran (it holds a TSV), else None."""
        folder = self.stage("benchmark")
        return folder if folder.is_dir() and any(folder.glob("*.tsv")) else None

    def manifests(self) -> dict[str, dict]:
        """Every store manifest under ``results`` (``genome``, ``classes/<name>``, ...)."""
        found = {}
        for path in sorted(self.results.glob("**/manifest.json")):
            rel = path.parent.relative_to(self.results)
            if len(rel.parts) > 2 or "superseded" in rel.parts:
                continue
            try:
                found[str(rel)] = json.loads(path.read_text())
            except (json.JSONDecodeError, OSError):
                continue
        return found
