"""``genomics train``: stores + windows + config -> a trained, exported model folder.

Layout of a model folder (``results/model/<name>/``)::

    config.yaml            the full config that trained it
    model.json             how to rebuild the network, tracks, provenance
    weights.safetensors    the weights (best validation step, else the last)
    best.safetensors       best weights so far (while training)
    metrics.tsv            training log (step, epoch, split, metric, value)
    checkpoints/           step-*.pt, to resume
    superseded/<run>/      runs of other configs or data, set aside by --restart-if-changed
    .lock                  held by the training that writes here (pid inside)
"""

from __future__ import annotations

import contextlib
import logging
import math
from pathlib import Path

import torch

from genomics import __version__
from genomics.config import dump_config
from genomics.data.dataset import WindowDataset
from genomics.data.genome import GenomeStore
from genomics.data.targets import TargetStore
from genomics.data.windows import (
    held_out_regions,
    read_windows,
    spread_sample,
    windows_manifest,
)
from genomics.inference.device import resolve_device, resolve_precision
from genomics.inference.metrics import METRICS, METRICS_BY_KIND
from genomics.io import atomic_write_text, folder_lock
from genomics.models.saved import build_from_spec, network_spec, save_model, save_weights
from genomics.train.checkpoint import latest_checkpoint, swap_run_state
from genomics.train.distributed import init_distributed
from genomics.train.fit import FitResult, fit
from genomics.train.motif_init import seed_first_layer, seedable_first_layer
from genomics.train.output_bias import init_output_bias, track_means

__all__ = ["model_spec", "train_from_config"]

log = logging.getLogger(__name__)


def model_spec(cfg: dict, targets: TargetStore, genome: GenomeStore) -> dict:
    """What ``model.json`` records: enough to rebuild the network and know its inputs."""
    return {
        **network_spec(
            cfg,
            track_names=list(targets.names),
            track_kinds=list(targets.track_kinds),
            bin_size=targets.bin_size,
        ),
        "genome_digest": genome.digest,
        "targets_digest": targets.digest,
        "genomics_version": __version__,
    }


def train_from_config(
    cfg: dict,
    *,
    genome_dir: str | Path,
    targets_dir: str | Path,
    windows_dir: str | Path,
    out: str | Path,
    restart_if_changed: bool = False,
) -> FitResult:
    """Train the configured model and export it to ``out`` (see module docstring).

    A rerun resumes from the newest checkpoint in ``out/checkpoints``; one made with
    another config or on other data is an error, or with ``restart_if_changed`` is set
    aside (see :func:`~genomics.train.checkpoint.swap_run_state`). Another ``genomics
    train`` writing into ``out`` at the same time is an error.
    """
    tc = cfg["train"]
    device = resolve_device(tc["device"])
    env = init_distributed(device.type)
    if env.enabled and device.type == "cuda":
        device = torch.device("cuda", env.local_rank)
    dtype = resolve_precision(tc["precision"], device, cpu_auto_bf16=True)
    if device.type == "cuda":
        torch.backends.cuda.matmul.allow_tf32 = True
        torch.backends.cudnn.allow_tf32 = True
    out = Path(out)

    genome, targets = GenomeStore(genome_dir), TargetStore(targets_dir)
    targets.check_genome(genome)
    windows = windows_manifest(windows_dir, genome=genome)
    train_w, valid_w = read_windows(windows_dir, "train"), read_windows(windows_dir, "valid")
    seq_len = train_w[0][2] - train_w[0][1]
    if seq_len != cfg["windows"]["length"]:
        raise ValueError(
            f"{windows_dir} holds {seq_len}-bp windows but windows.length is "
            f"{cfg['windows']['length']}; rerun `genomics windows` with this config"
        )
    kinds = set(targets.track_kinds)
    usable = ["loss"] + [
        m for m in METRICS if m != "auprc_baseline" and any(m in METRICS_BY_KIND[k] for k in kinds)
    ]
    if tc["early_stopping"]["metric"] not in usable:
        raise ValueError(
            f"train.early_stopping.metric {tc['early_stopping']['metric']!r} is not computed "
            f"for the {' and '.join(sorted(kinds))} tracks of {targets_dir}; use one of "
            f"{', '.join(usable)}"
        )
    common = dict(crop_bins=cfg["windows"]["crop_bins"], seed=cfg["seed"], encoding="codes")
    train_set = WindowDataset(
        genome,
        targets,
        train_w,
        shift_bins=cfg["augment"]["shift_bins"],
        keep_out=held_out_regions(windows, genome),
        reverse_complement=cfg["augment"]["reverse_complement"],
        **common,
    )
    if tc["eval_batches"] is not None:
        valid_w = spread_sample(valid_w, tc["eval_batches"] * tc["batch_size"])
    valid_set = WindowDataset(genome, targets, valid_w, **common)
    if tc["batch_size"] > len(train_set):
        raise ValueError(
            f"train.batch_size {tc['batch_size']} is larger than the {len(train_set)} train "
            f"windows in {windows_dir}: batches would repeat windows; lower it, or cut more "
            "windows (a smaller windows.stride)"
        )
    if tc["processes"] > 1 and not env.enabled:
        log.warning(
            "train.processes is %d but this is one process: start it with `torchrun "
            "--nproc-per-node %d -m genomics train ...` (the workflow does)",
            tc["processes"],
            tc["processes"],
        )

    spec = model_spec(cfg, targets, genome)
    torch.manual_seed(cfg["seed"])  # the same initial weights on every rank
    try:
        model = build_from_spec(spec)
    except ValueError as e:  # hyperparameters that contradict each other
        raise ValueError(f"model.{spec['name']}: {e}") from None
    model.output_bins(seq_len)  # a window the model cannot take fails here, not mid-epoch
    if tc["init_motifs"]:
        seedable_first_layer(model, tc["init_motifs"])  # a bad value fails before any folder
    n_params = spec["n_parameters"] = sum(p.numel() for p in model.parameters())
    log.info(
        "%s: %.2fM parameters, %d tracks, %d train / %d valid windows of %d bp on %s (%s)",
        spec["name"],
        n_params / 1e6,
        spec["n_tracks"],
        len(train_set),
        len(valid_set),
        seq_len,
        device,
        str(dtype).removeprefix("torch."),
    )

    data = {
        "genome": genome.digest,
        "targets": targets.digest,
        "windows": windows["content_digest"],
    }
    with contextlib.ExitStack() as stack:
        if env.is_main:
            out.mkdir(parents=True, exist_ok=True)
            stack.enter_context(folder_lock(out, "genomics train"))
            if restart_if_changed:
                swap_run_state(out, cfg=cfg, data=data)
        env.barrier()
        # a run that resumes takes its weights from the checkpoint: no data-driven start
        if latest_checkpoint(out / "checkpoints") is None:
            if tc["init_motifs"]:
                seed_first_layer(model, tc["init_motifs"], genome, targets, train_w)
            if tc["init_output_bias"]:
                means = track_means(targets, train_w, crop_bins=cfg["windows"]["crop_bins"])
                init_output_bias(model.head.linear, means, spec["track_kinds"])
        torch.manual_seed(cfg["seed"] * 1000 + env.rank)  # each rank's own dropout stream
        result = _train(model, train_set, valid_set, cfg, spec, out, device, dtype, env, data)
    env.barrier()
    if env.enabled:
        torch.distributed.destroy_process_group()
    return result


def _train(model, train_set, valid_set, cfg, spec, out, device, dtype, env, data) -> FitResult:
    """Fit and export (rank 0 holds the folder's lock)."""
    best_path = out / "best.safetensors"
    if env.is_main and latest_checkpoint(out / "checkpoints") is None:
        best_path.unlink(missing_ok=True)  # from an earlier run that started over

    def on_best(m, step, value):
        save_weights(m, best_path)

    result = fit(
        model,
        train_set,
        valid_set,
        cfg=cfg,
        out=out,
        device=device,
        dtype=dtype,
        track_names=spec["track_names"],
        track_kinds=spec["track_kinds"],
        env=env,
        on_best=on_best,
        data=data,
    )
    if env.is_main:
        spec["trained"] = {
            "steps": result.steps,
            "best_step": result.best_step,
            "metric": cfg["train"]["early_stopping"]["metric"],
            "best_value": result.best_value,
            "stopped_early": result.stopped_early,
            "weights": "best" if best_path.is_file() else "last",
            # wall time summed over resumed runs; None when an old checkpoint lacked it
            "seconds": round(result.seconds, 3) if math.isfinite(result.seconds) else None,
        }
        # written with the weights, not before training: a run refused at its checkpoint
        # (another config, other data) leaves the folder's config.yaml as it was
        atomic_write_text(out / "config.yaml", dump_config(cfg))
        save_model(out, model, spec, weights=best_path if best_path.is_file() else None)
        log.info(
            "model saved to %s (%s weights, step %s)",
            out,
            spec["trained"]["weights"],
            result.best_step if best_path.is_file() else result.steps,
        )
    return result
