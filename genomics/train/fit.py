"""The training loop: a function over a model and datasets, resumable to the bit.

``fit`` runs AdamW with linear warm-up and cosine decay (optionally after a stretch at
the peak rate), gradient accumulation and clipping, bf16 autocast, periodic validation
(each valid bin scored once, as ``genomics evaluate`` does) with early stopping, and a
checkpoint every ``train.checkpoint_every`` optimizer steps. Killed at any moment and
started again with the same config and output folder, it resumes from the newest
checkpoint and ends with the same weights as a run that was never interrupted: the
checkpoint holds the optimizer, scheduler, RNG states and the data position, and data
order and augmentation depend only on ``(seed, epoch, index)``.

Under ``torchrun`` the same loop runs in every process (DDP); rank 0 validates, logs and
writes files.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.nn.parallel import DistributedDataParallel
from tqdm.auto import tqdm

from genomics.data.dataset import WindowDataset, WindowSampler, make_loader
from genomics.inference.device import autocast
from genomics.inference.losses import track_loss
from genomics.inference.predict import as_input
from genomics.inference.scoring import evaluate_dataset, scored_spans
from genomics.train.checkpoint import (
    latest_checkpoint,
    load_checkpoint,
    resume_key,
    save_checkpoint,
)
from genomics.train.distributed import DistEnv, broadcast_flag, mean_across_ranks
from genomics.train.metrics_log import MetricsLog
from genomics.train.schedule import warmup_cosine_scheduler

__all__ = ["FitResult", "fit", "make_optimizer"]

log = logging.getLogger(__name__)

# metric -> whether larger is better (for early stopping)
_HIGHER_IS_BETTER = {
    "loss": False,
    "pearson": True,
    "pearson_log1p": True,
    "spearman": True,
    "auroc": True,
    "auprc": True,
}


@dataclass
class FitResult:
    steps: int
    epochs: float
    best_step: int | None
    best_value: float | None
    stopped_early: bool
    seconds: float
    history: list[dict] = field(default_factory=list)


@dataclass
class _State:
    step: int = 0
    epoch: int = 0
    batch: int = 0  # batches of this epoch already consumed (this rank)
    seconds: float = 0.0  # wall time of the steps so far, summed over resumed runs
    best_value: float | None = None
    best_step: int | None = None
    bad_evals: int = 0
    stopped_early: bool = False
    # the train-loss log window since its last row: sum of micro-batch losses (mean over
    # ranks) and their count, so a resumed run logs the rows an uninterrupted one would
    window_loss: float = 0.0
    window_n: int = 0


def make_optimizer(model: nn.Module, *, lr: float, weight_decay: float, device: torch.device):
    """AdamW; no weight decay on biases and norm scales (parameters with < 2 dims)."""
    decay = [p for p in model.parameters() if p.requires_grad and p.ndim >= 2]
    no_decay = [p for p in model.parameters() if p.requires_grad and p.ndim < 2]
    groups = [
        {"params": decay, "weight_decay": weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=lr, betas=(0.9, 0.999), fused=device.type == "cuda")


def _rng_state(device: torch.device) -> dict:
    state = {"cpu": torch.get_rng_state()}
    if device.type == "cuda":
        state["cuda"] = torch.cuda.get_rng_state(device)
    return state


def _set_rng_state(state: dict, device: torch.device) -> None:
    torch.set_rng_state(state["cpu"])
    if device.type == "cuda" and "cuda" in state:
        torch.cuda.set_rng_state(state["cuda"], device)


def _gather_rng(device: torch.device, env: DistEnv) -> list[dict]:
    """Every rank's RNG state (each rank's dropout stream differs), gathered on all ranks."""
    mine = _rng_state(device)
    if not env.enabled:
        return [mine]
    states: list = [None] * env.world_size
    dist.all_gather_object(states, {k: v.cpu() for k, v in mine.items()})
    return states


def _improved(value: float, best: float | None, metric: str) -> bool:
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value > best if _HIGHER_IS_BETTER[metric] else value < best


@dataclass(frozen=True)
class _Validation:
    """How validation runs and what early stopping watches."""

    names: list[str]
    kinds: list[str]
    metric: str
    patience: int
    batch_size: int
    max_batches: int | None
    progress: bool | None
    spans: np.ndarray | None = None  # (n_windows, 2): each valid bin scored once


class _Clock:
    """Training wall time, summed over resumed runs (``nan`` once unknown)."""

    def __init__(self, before: float):
        self.before, self.started = before, time.perf_counter()

    def tick(self, st: _State) -> None:
        st.seconds = self.before + time.perf_counter() - self.started


def _setup(model: nn.Module, tc: dict, *, device: torch.device, env: DistEnv):
    """The network to call (DDP- and compile-wrapped), its optimizer and schedule."""
    model.to(device)
    net = DistributedDataParallel(model) if env.enabled else model
    if tc["compile"]:
        net = torch.compile(net)
    optimizer = make_optimizer(model, lr=tc["lr"], weight_decay=tc["weight_decay"], device=device)
    scheduler = warmup_cosine_scheduler(
        optimizer,
        warmup=tc["warmup_steps"],
        total=tc["max_steps"],
        final_fraction=tc["final_lr_fraction"],
        decay_fraction=tc["decay_fraction"],
    )
    return net, optimizer, scheduler


def _resume(
    ckpt_dir: Path,
    model: nn.Module,
    optimizer,
    scheduler,
    *,
    cfg: dict,
    data: dict | None,
    env: DistEnv,
    device: torch.device,
) -> _State:
    """Load the newest checkpoint into model, optimizer, schedule and RNG; its position.
    A fresh state when there is none."""
    ckpt = latest_checkpoint(ckpt_dir)
    if ckpt is None:
        return _State()
    state = load_checkpoint(ckpt, cfg=cfg, data=data)
    if state["world_size"] != env.world_size:
        raise ValueError(
            f"checkpoint {ckpt} was made by {state['world_size']} processes, this run has "
            f"{env.world_size}; resume with the same number (torchrun --nproc-per-node)"
        )
    model.load_state_dict(state["model"])
    optimizer.load_state_dict(state["optimizer"])
    scheduler.load_state_dict(state["scheduler"])
    # wall time unknown (nan) when resuming a checkpoint made before it was recorded
    st = _State(**{"seconds": math.nan, **state["position"]})
    _set_rng_state(state["rng"][env.rank], device)
    log.info("resumed from %s (step %d, epoch %d, batch %d)", ckpt, st.step, st.epoch, st.batch)
    return st


def _save_checkpoint(
    ckpt_dir: Path,
    st: _State,
    model: nn.Module,
    optimizer,
    scheduler,
    *,
    cfg: dict,
    data: dict | None,
    env: DistEnv,
    device: torch.device,
    keep: int,
) -> None:
    """Every rank's RNG gathered; rank 0 writes the checkpoint; all wait for it."""
    rng = _gather_rng(device, env)
    if env.is_main:
        save_checkpoint(
            ckpt_dir,
            {
                "model": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "position": vars(st).copy(),
                "rng": rng,
                "world_size": env.world_size,
                "resume_key": resume_key(cfg),
                "config": cfg,
                "data": data,
            },
            step=st.step,
            keep=keep,
        )
    env.barrier()


def _valid_spans(
    valid_set: WindowDataset | None, batch_size: int, max_batches: int | None
) -> np.ndarray | None:
    """The bins of each validation window that it alone scores (:func:`scored_spans`), among
    the windows validation runs (the first ``max_batches`` batches), so overlapping windows
    do not count a bin twice. Shape (len(valid_set), 2); None without a valid set."""
    if valid_set is None or len(valid_set) == 0:
        return None
    n = len(valid_set) if max_batches is None else min(len(valid_set), max_batches * batch_size)
    spans = np.zeros((len(valid_set), 2), np.int64)
    spans[:n] = scored_spans(
        valid_set.windows[:n],
        bin_size=valid_set.bin_size,
        n_bins=valid_set.n_bins,
        crop_bins=valid_set.crop_bins,
    )
    return spans


def _validate(
    model: nn.Module,
    valid_set: WindowDataset | None,
    st: _State,
    history: MetricsLog,
    v: _Validation,
    *,
    device: torch.device,
    dtype: torch.dtype,
    env: DistEnv,
    on_best,
) -> bool:
    """Rank 0 validates, logs and tracks the best step; returns (on every rank) whether to
    stop early."""
    stop = False
    if env.is_main and valid_set is not None:
        res = evaluate_dataset(
            model,
            valid_set,
            names=v.names,
            kinds=v.kinds,
            device=device,
            dtype=dtype,
            batch_size=v.batch_size,
            max_batches=v.max_batches,
            progress=v.progress,
            spans=v.spans,
        )
        value = res["loss"] if v.metric == "loss" else res["summary"].get(v.metric, float("nan"))
        history.add(st.step, st.epoch, "valid", {"loss": res["loss"], **res["summary"]})
        if _improved(value, st.best_value, v.metric):
            st.best_value, st.best_step, st.bad_evals = float(value), st.step, 0
            if on_best is not None:
                on_best(model, st.step, value)
        else:
            st.bad_evals += 1
        chance = res["summary"].get("auprc_baseline") if v.metric == "auprc" else None
        log.info(
            "step %d valid (%d windows) loss %.4f %s %.4f%s (best %.4f at %s)",
            st.step,
            res["windows"],
            res["loss"],
            v.metric,
            value,
            "" if chance is None else f" (chance {chance:.4f})",
            float("nan") if st.best_value is None else st.best_value,
            st.best_step,
        )
        stop = v.patience > 0 and st.bad_evals >= v.patience
    return broadcast_flag(stop, env)


def _backward(
    net: nn.Module,
    x: torch.Tensor,
    y: torch.Tensor,
    coverage: torch.Tensor,
    *,
    dtype: torch.dtype,
    accumulate: int,
    sync: bool,
    env: DistEnv,
) -> torch.Tensor:
    """Forward and backward of one micro-batch (gradients summed, DDP's all-reduce only
    on the last micro-batch of a step); returns its loss, detached."""
    no_sync = (
        net.no_sync()
        if env.enabled and not sync and hasattr(net, "no_sync")
        else contextlib.nullcontext()
    )
    with no_sync:
        with autocast(x.device, dtype):
            pred = net(x)
        loss = track_loss(pred, y, coverage)
        (loss / accumulate).backward()
    return loss.detach()


def _optimizer_step(model: nn.Module, optimizer, scheduler, *, grad_clip: float) -> float:
    """Clip, step, zero the gradients, advance the schedule; returns the rate it used."""
    if grad_clip > 0:
        torch.nn.utils.clip_grad_norm_(model.parameters(), grad_clip)
    optimizer.step()
    optimizer.zero_grad(set_to_none=True)
    lr = scheduler.get_last_lr()[0]
    scheduler.step()
    return lr


def fit(
    model: nn.Module,
    train_set: WindowDataset,
    valid_set: WindowDataset | None,
    *,
    cfg: dict,
    out: str | Path,
    device: torch.device,
    dtype: torch.dtype = torch.float32,
    track_names: list[str],
    track_kinds: list[str],
    env: DistEnv | None = None,
    on_best=None,
    data: dict | None = None,
) -> FitResult:
    """Train ``model`` in place on ``train_set``; validate on ``valid_set``.

    Parameters
    ----------
    cfg : the full validated config (``train`` section used; all of it is stored in
        checkpoints, and a checkpoint made by a config that trains differently is refused).
    out : the model folder; ``checkpoints/`` and ``metrics.tsv`` go there.
    dtype : autocast dtype (torch.bfloat16 on CUDA; torch.float32 means none).
    on_best : called as ``on_best(model, step, value)`` on rank 0 whenever validation improves.
    data : content digests of the stores trained on (``{"genome", "targets", "windows"}``);
        kept in checkpoints, and a checkpoint made on other data is refused.

    Returns
    -------
    FitResult
    """
    env = env or DistEnv()
    tc = cfg["train"]
    out = Path(out)
    ckpt_dir = out / "checkpoints"
    coverage = torch.tensor([k == "coverage" for k in track_kinds], device=device)
    v = _Validation(
        names=track_names,
        kinds=track_kinds,
        metric=tc["early_stopping"]["metric"],
        patience=tc["early_stopping"]["patience"],
        batch_size=tc["batch_size"],
        max_batches=tc["eval_batches"],
        progress=tc["progress"],
        spans=_valid_spans(valid_set, tc["batch_size"], tc["eval_batches"]),
    )
    net, optimizer, scheduler = _setup(model, tc, device=device, env=env)
    sampler = WindowSampler(
        len(train_set),
        batch_size=tc["batch_size"],
        shuffle=True,
        seed=cfg["seed"],
        rank=env.rank,
        world_size=env.world_size,
    )
    st = _resume(ckpt_dir, model, optimizer, scheduler, cfg=cfg, data=data, env=env, device=device)
    history = MetricsLog(out / "metrics.tsv", keep_until=st.step, write=env.is_main)
    clock = _Clock(st.seconds)

    def checkpoint() -> None:
        clock.tick(st)
        _save_checkpoint(
            ckpt_dir, st, model, optimizer, scheduler, cfg=cfg, data=data, env=env,
            device=device, keep=tc["keep_checkpoints"],
        )  # fmt: skip

    global_batch = tc["batch_size"] * env.world_size
    bar = tqdm(
        total=tc["max_steps"],
        initial=st.step,
        desc="train",
        unit="step",
        disable=(not env.is_main) or (None if tc["progress"] is None else not tc["progress"]),
    )
    net.train()
    micro, window_t = 0, time.perf_counter()
    # summed on the device: no host sync per step
    loss_sum = torch.tensor(st.window_loss, dtype=torch.float64, device=device)
    while st.step < tc["max_steps"] and not st.stopped_early:
        sampler.set_position(st.epoch, st.batch)
        loader = make_loader(
            train_set,
            sampler,
            num_workers=tc["num_workers"],
            pin_memory=device.type == "cuda",
            seed=cfg["seed"] + st.epoch,
        )
        for xb, yb in loader:
            st.batch += 1
            micro += 1
            sync = micro % tc["accumulate"] == 0
            x, y = as_input(xb, device), yb.to(device, non_blocking=True)
            loss = _backward(
                net, x, y, coverage, dtype=dtype, accumulate=tc["accumulate"], sync=sync, env=env
            )
            loss_sum += loss.double()
            st.window_n += 1
            if not sync:
                continue
            lr = _optimizer_step(model, optimizer, scheduler, grad_clip=tc["grad_clip"])
            st.step += 1
            bar.update(1)
            if st.step % tc["log_every"] == 0 or st.step == tc["max_steps"]:
                elapsed = time.perf_counter() - window_t
                seqs = st.window_n * global_batch
                row = {
                    "loss": float(mean_across_ranks(loss_sum, env)) / st.window_n,
                    "lr": lr,
                    "seq_per_s": seqs / elapsed,
                }
                history.add(st.step, st.epoch, "train", row)
                bar.set_postfix(loss=f"{row['loss']:.4f}", seq_s=f"{row['seq_per_s']:.1f}")
                loss_sum.zero_()
                st.window_n, window_t = 0, time.perf_counter()
            if st.step % tc["eval_every"] == 0 or st.step == tc["max_steps"]:
                st.stopped_early = _validate(
                    model, valid_set, st, history, v, device=device, dtype=dtype, env=env,
                    on_best=on_best,
                )  # fmt: skip
                window_t = time.perf_counter()
            if (
                st.step % tc["checkpoint_every"] == 0
                or st.step == tc["max_steps"]
                or st.stopped_early
            ):
                # every rank takes the mean, so rank 0's checkpoint holds the window for all
                loss_sum = mean_across_ranks(loss_sum, env)
                st.window_loss = float(loss_sum)
                checkpoint()
                window_t = time.perf_counter()  # throughput counts training time only
            if st.step >= tc["max_steps"] or st.stopped_early:
                break
        else:
            st.epoch += 1
            st.batch = 0
    bar.close()
    clock.tick(st)
    if st.stopped_early:
        log.info(
            "early stop at step %d: %s did not improve for %d validations",
            st.step,
            v.metric,
            v.patience,
        )
    epochs = st.epoch + st.batch / max(len(sampler), 1)
    return FitResult(
        steps=st.step,
        epochs=epochs,
        best_step=st.best_step,
        best_value=st.best_value,
        stopped_early=st.stopped_early,
        seconds=st.seconds,
        history=history.rows,
    )
