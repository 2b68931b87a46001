"""Training checkpoints: everything needed to resume exactly, written atomically.

A checkpoint is a ``torch.save`` dict of tensors and plain values only (model, optimizer
and scheduler state dicts, step/epoch/batch position, RNG states, early-stopping state and
the config that made it), so it loads with ``weights_only=True``.
"""

from __future__ import annotations

import logging
import re
from pathlib import Path
from typing import Any

import torch

from genomics.io import atomic_path

__all__ = [
    "config_diff",
    "latest_checkpoint",
    "load_checkpoint",
    "resume_key",
    "save_checkpoint",
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


def load_checkpoint(path: str | Path, *, cfg: dict | None = None) -> dict:
    """Load a checkpoint (``weights_only=True``) and, given ``cfg``, check it was made by
    a config that computes the same training.

    Raises
    ------
    ValueError
        The file is damaged, or it was made with a different config (naming the keys).
    """
    path = Path(path)
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except Exception as e:  # torch raises many types for a damaged file
        raise ValueError(
            f"checkpoint {path} is damaged and cannot be loaded ({type(e).__name__}: "
            f"{str(e)[:120]}); delete it to resume from an earlier one, or delete the "
            "checkpoints folder to start over"
        ) from None
    if not isinstance(state, dict) or "model" not in state or "resume_key" not in state:
        raise ValueError(f"checkpoint {path} is not a genomics training checkpoint")
    if cfg is not None:
        diff = config_diff(state["resume_key"], resume_key(cfg))
        if diff:
            raise ValueError(
                f"checkpoint {path} was made with another config ({'; '.join(diff[:5])}); "
                "train into a new output folder, or delete its checkpoints to start over"
            )
    return state
