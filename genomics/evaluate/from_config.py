"""``genomics evaluate``: a trained model on the test windows -> metrics and figures.

Writes into the output folder: ``metrics.tsv`` (one row per track), ``metrics.json``
(summary + tracks), ``tracks-<i>.png`` (predicted vs observed in the first
``evaluate.n_examples`` windows of the split) and ``metric_bars.png`` (one panel per track
kind: Pearson r of coverage tracks, AUPRC of peak tracks against chance).

Windows of a split overlap when ``windows.stride`` is below ``windows.length`` (the
default is half); the metrics score each bin of the split once, from the window whose
output centre is nearest (:func:`genomics.inference.scoring.scored_spans`). The loss is
the mean over whole windows.

With a noise-free store (``--noise-free`` or ``evaluate.noise_free``: a target store of
the simulator's noise-free signal, ``genomics targets`` on ``results/sim/clean.tsv``),
each coverage track's row also has its noise ceiling, the same metrics of noise-free
against observed on the same bins (``ceiling_pearson``, ...), and the share of it the
model reaches (``pearson_of_ceiling``, ...); the summary averages them
(:func:`genomics.inference.metrics.add_ceiling`).
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
from genomics.inference.metrics import add_ceiling, summarize
from genomics.inference.scoring import (
    check_noise_free,
    evaluate_dataset,
    noise_ceiling,
    scored_spans,
)
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
    noise_free_dir: str | Path | None = None,
) -> dict:
    """Score the model in ``model_dir`` on one split; returns ``{"summary", "tracks", "loss"}``.

    ``noise_free_dir``: a target store of the noise-free signal (None: the config's
    ``evaluate.noise_free``, which may be null: no ceiling)."""
    device = resolve_device(cfg["train"]["device"])
    dtype = resolve_precision(cfg["train"]["precision"], device)
    model, spec = load_model(model_dir, device=device)
    genome, targets = GenomeStore(genome_dir), TargetStore(targets_dir)
    targets.check_genome(genome)
    ec = cfg["evaluate"]
    noise_free_dir = noise_free_dir or ec["noise_free"]
    noise_free = None
    if noise_free_dir:
        noise_free = TargetStore(noise_free_dir)
        check_noise_free(targets, noise_free)  # before the model runs
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
    spans = scored_spans(
        dataset.windows,
        bin_size=targets.bin_size,
        n_bins=dataset.n_bins,
        crop_bins=spec["crop_bins"],
    )
    res = evaluate_dataset(
        model,
        dataset,
        names=spec["track_names"],
        kinds=spec["track_kinds"],
        device=device,
        dtype=dtype,
        batch_size=ec["batch_size"],
        keep=ec["n_examples"],
        spans=spans,
    )
    if noise_free is not None:
        ceiling = noise_ceiling(
            targets, noise_free, dataset.windows, spans, crop_bins=spec["crop_bins"]
        )
        res["tracks"] = add_ceiling(res["tracks"], ceiling)
        res["summary"] = summarize(res["tracks"])
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    for old in out.glob("tracks-*.png"):  # an earlier run's examples, maybe more of them
        old.unlink()
    res["summary"].update(
        {
            "split": split,
            "n_windows": len(windows),
            "n_bins": int(spans[:, 1].sum() - spans[:, 0].sum()),
            "model": str(model_dir),
            "noise_free": None if noise_free is None else str(noise_free_dir),
        }
    )
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
