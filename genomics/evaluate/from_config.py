"""``genomics evaluate``: a trained model on the test windows -> metrics and figures.

Writes into the output folder: ``metrics.tsv`` (one row per track), ``metrics.json``
(summary + tracks), ``tracks-<i>.png`` (predicted vs observed in the first
``evaluate.n_examples`` windows of the split) and ``metric_bars.png`` (one panel per track
kind: Pearson r of coverage tracks, AUPRC of peak tracks against chance).

Windows of a split overlap when ``windows.stride`` is below ``windows.length`` (the
default is half), so most bins are scored more than once; metrics are over window bins.
"""

from __future__ import annotations

import logging
from pathlib import Path

from genomics.data.dataset import WindowDataset
from genomics.data.genome import GenomeStore
from genomics.data.targets import TargetStore
from genomics.data.windows import read_windows
from genomics.evaluate.figures import plot_kind_bars, plot_tracks
from genomics.evaluate.outputs import save_figure, write_metrics
from genomics.inference.device import resolve_device, resolve_precision
from genomics.inference.scoring import evaluate_dataset
from genomics.models.saved import load_model

__all__ = ["evaluate_from_config"]

log = logging.getLogger(__name__)


def evaluate_from_config(
    cfg: dict,
    *,
    model_dir: str | Path,
    genome_dir: str | Path,
    targets_dir: str | Path,
    windows_dir: str | Path,
    out: str | Path,
    split: str = "test",
) -> dict:
    """Score the model in ``model_dir`` on one split; returns ``{"summary", "tracks", "loss"}``."""
    device = resolve_device(cfg["train"]["device"])
    dtype = resolve_precision(cfg["train"]["precision"], device)
    model, spec = load_model(model_dir, device=device)
    genome, targets = GenomeStore(genome_dir), TargetStore(targets_dir)
    targets.check_genome(genome)
    if spec["targets_digest"] != targets.digest:
        raise ValueError(
            f"{model_dir} was trained on another target store than {targets_dir} "
            "(digest differs); evaluate it against the store it was trained on, or retrain"
        )
    windows = read_windows(windows_dir, split, genome=genome)
    length = windows[0][2] - windows[0][1]
    if length != spec["seq_len"]:
        raise ValueError(
            f"{windows_dir} holds {length}-bp windows but {model_dir} was trained on "
            f"{spec['seq_len']}-bp windows; rerun `genomics windows` with windows.length "
            f"{spec['seq_len']} (the model's config.yaml) into another folder"
        )
    dataset = WindowDataset(genome, targets, windows, crop_bins=spec["crop_bins"], encoding="codes")
    ec = cfg["evaluate"]
    res = evaluate_dataset(
        model,
        dataset,
        names=spec["track_names"],
        kinds=spec["track_kinds"],
        device=device,
        dtype=dtype,
        batch_size=ec["batch_size"],
        keep=ec["n_examples"],
    )
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("tracks-*.png"):  # an earlier run's examples, maybe more of them
        old.unlink()
    res["summary"].update({"split": split, "n_windows": len(windows), "model": str(model_dir)})
    write_metrics(res["tracks"], res["summary"], out)
    for i, (window, pred, target) in enumerate(res["examples"]):
        chrom, start, end = window
        first, last = (
            start + spec["crop_bins"] * spec["bin_size"],
            end - spec["crop_bins"] * spec["bin_size"],
        )
        fig = plot_tracks(
            pred,
            target,
            spec["track_names"],
            kinds=spec["track_kinds"],
            bin_size=spec["bin_size"],
            chrom=chrom,
            start=first,
            title=f"{split} window, scored bins {chrom}:{first + 1:,}-{last:,}",
        )
        save_figure(fig, out / f"tracks-{i}.png")
    save_figure(plot_kind_bars(res["tracks"]), out / "metric_bars.png")
    log.info(
        "%s on %s (%d windows): %s",
        model_dir,
        split,
        len(windows),
        ", ".join(f"{k} {v:.3f}" for k, v in res["summary"].items() if isinstance(v, float)),
    )
    return res
