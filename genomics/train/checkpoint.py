"""Training checkpoints: everything needed to resume exactly, written atomically.

A checkpoint is a ``torch.save`` dict of tensors and plain values only (model, optimizer
and scheduler state dicts, step/epoch/batch position, RNG states, early-stopping state and
the config that made it), so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import hashlib
import json
import logging
import re
import shutil
from pathlib import Path
from typing import Any

import torch

from genomics.io import atomic_path

__all__ = [
    "config_diff",
    "latest_checkpoint",
    "load_checkpoint",
    "resume_key",
    "run_key",
    "save_checkpoint",
    "swap_run_state",
]

log = logging.getLogger(__name__)

_NAME = re.compile(r"^step-(\d+)\.pt$")

# Keys that do not change what training computes: a checkpoint made with other values of
# these still resumes. Everything else must match.
_NEUTRAL = {
    ("train", "num_workers"),
    ("train", "checkpoint_every"),
    ("train", "keep_checkpoints"),
    ("train", "log_every"),
    ("train", "progress"),
    ("train", "compile"),
    ("train", "processes"),  # the number of processes is checked on its own
    ("evaluate",),
    ("simulate",),
    ("genome",),
}


def resume_key(cfg: dict) -> dict:
    """The part of a config that must match for a checkpoint to resume."""
    out: dict[str, Any] = {}
    for section, value in cfg.items():
        if (section,) in _NEUTRAL:
            continue
        if isinstance(value, dict):
            out[section] = {k: v for k, v in value.items() if (section, k) not in _NEUTRAL}
        else:
            out[section] = value
    return out


def config_diff(a: Any, b: Any, prefix: str = "") -> list[str]:
    """Dotted keys whose values differ between two nested dicts, e.g. ``["model.dim: 64 != 96"]``."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in sorted(set(a) | set(b), key=str):
            out += config_diff(a.get(key), b.get(key), f"{prefix}{key}.")
        return out
    return [] if a == b else [f"{prefix.rstrip('.')}: {a!r} != {b!r}"]


def save_checkpoint(folder: str | Path, state: dict, *, step: int, keep: int = 2) -> Path:
    """Write ``folder/step-<step>.pt`` atomically and keep only the newest ``keep``."""
    folder = Path(folder)
    path = folder / f"step-{step:08d}.pt"
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    for old in _checkpoints(folder)[:-keep]:
        old.unlink(missing_ok=True)
    return path


def _checkpoints(folder: Path) -> list[Path]:
    if not folder.is_dir():
        return []
    found = [(int(m[1]), p) for p in folder.iterdir() if (m := _NAME.match(p.name))]
    return [p for _, p in sorted(found)]


def latest_checkpoint(folder: str | Path) -> Path | None:
    """The newest ``step-*.pt`` in ``folder``, or None."""
    found = _checkpoints(Path(folder))
    return found[-1] if found else None


def load_checkpoint(
    path: str | Path, *, cfg: dict | None = None, data: dict | None = None, mmap: bool = False
) -> dict:
    """Load a checkpoint (``weights_only=True``) and, given ``cfg``, check it was made by
    a config that computes the same training; given ``data`` (the content digests of the
    stores trained on, e.g. ``{"genome": ..., "targets": ..., "windows": ...}``), check it
    was made on the same data.

    Parameters
    ----------
    mmap : map the tensors from the file instead of reading them (a cheap check of the
        config and data only; do not train from such a state).

    Raises
    ------
    ValueError
        The file is damaged or is not a training checkpoint, or it was made with a
        different config or other data (naming the keys or stores).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True, mmap=mmap)
    except Exception as e:  # torch raises many types for a damaged file
        raise ValueError(
            f"checkpoint {path} is damaged and cannot be loaded ({type(e).__name__}: "
            f"{str(e)[:120]}); delete it to resume from an earlier one, or delete the "
            "checkpoints folder to start over"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "resume_key" not in state:
        raise ValueError(f"checkpoint {path} is not a genomics training checkpoint")
    fix = (
        "train into a new output folder, or delete its checkpoints to start over "
        "(--restart-if-changed sets them aside and starts over)"
    )
    if cfg is not None:
        diff = config_diff(state["resume_key"], resume_key(cfg))
        if diff:
            raise ValueError(
                f"checkpoint {path} was made with another config ({'; '.join(diff[:5])}); {fix}"
            )
    if data is not None and state.get("data") is not None:
        diff = config_diff(state["data"], data)
        if diff:
            stores = ", ".join(d.split(":")[0] for d in diff)
            raise ValueError(
                f"checkpoint {path} was made on other data (the {stores} store changed since: "
                f"{'; '.join(diff[:3])}); {fix}"
            )
    return state


RUN_STATE = ("checkpoints", "best.safetensors", "metrics.tsv")
SUPERSEDED = "superseded"


def run_key(resume: dict, data: dict | None) -> str:
    """16 hex digits naming a training run: its resume key and the stores it trains on."""
    text = json.dumps({"resume_key": resume, "data": data}, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def swap_run_state(out: str | Path, *, cfg: dict, data: dict | None = None) -> None:
    """Make ``out``'s run state (``checkpoints/``, ``best.safetensors``, ``metrics.tsv``)
    the one of this config and data, setting any other aside instead of refusing it.

    If the newest checkpoint was made with another config or on other data, that run's
    state moves to ``out/superseded/<its run key>/``; then, if the run of this config and
    data was set aside earlier, it moves back and resumes. So a workflow that reruns train
    because its config changed trains the new config, and going back to an earlier config
    resumes (or reuses) its run instead of training it again. A damaged checkpoint is still
    an error.
    """
    out = Path(out)
    mine = run_key(resume_key(cfg), data)
    ckpt = latest_checkpoint(out / "checkpoints")
    if ckpt is not None:
        state = load_checkpoint(ckpt, mmap=True)
        theirs = run_key(state["resume_key"], state.get("data"))
        if theirs == mine:
            return
        diff = config_diff(state["resume_key"], resume_key(cfg))
        diff += config_diff(state.get("data"), data)
        del state  # its tensors map the file that moves next
        aside = out / SUPERSEDED / theirs
        shutil.rmtree(aside, ignore_errors=True)
        aside.mkdir(parents=True)
        for name in RUN_STATE:
            if (out / name).exists():
                (out / name).rename(aside / name)
        log.warning(
            "the checkpoints in %s are of another run (%s): set aside in %s",
            out,
            "; ".join(diff[:3]),
            aside,
        )
    earlier = out / SUPERSEDED / mine
    if earlier.is_dir() and latest_checkpoint(earlier / "checkpoints") is not None:
        for name in RUN_STATE:
            (out / name).unlink(missing_ok=True)  # best/metrics of no run (no checkpoint)
            if (earlier / name).exists():
                (earlier / name).rename(out / name)
        shutil.rmtree(earlier)
        log.warning("the run of this config and data, set aside earlier, is back: it resumes")
    elif ckpt is not None:
        log.warning("training starts over")
