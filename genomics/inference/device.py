"""Device and precision choices, made once and loudly."""

from __future__ import annotations

import contextlib

import torch

__all__ = ["autocast", "resolve_device", "resolve_precision"]


def resolve_device(name: str, *, local_rank: int = 0) -> torch.device:
    """``auto`` -> CUDA if present else CPU; ``cuda`` without a GPU is an error (a silent
    fallback to CPU would turn hours into weeks)."""
    if name == "auto":
        name = "cuda" if torch.cuda.is_available() else "cpu"
    if name == "cuda":
        if not torch.cuda.is_available():
            raise ValueError(
                "train.device is 'cuda' but no CUDA device is visible to torch "
                f"(torch {torch.__version__}, built with CUDA {torch.version.cuda}); "
                "use train.device=cpu or auto, or install a CUDA build of torch"
            )
        return torch.device("cuda", local_rank % torch.cuda.device_count())
    if name == "cpu":
        return torch.device("cpu")
    raise ValueError(f"train.device {name!r}: choose auto, cpu or cuda")


def resolve_precision(precision: str, device: torch.device) -> torch.dtype:
    """``auto`` -> bf16 on CUDA, fp32 on CPU. Returns the autocast dtype (float32: none)."""
    if precision == "auto":
        precision = "bf16" if device.type == "cuda" else "fp32"
    if precision == "bf16":
        if device.type == "cuda" and not torch.cuda.is_bf16_supported():
            raise ValueError("train.precision bf16: this GPU has no bf16 support; use fp32")
        return torch.bfloat16
    if precision == "fp32":
        return torch.float32
    raise ValueError(f"train.precision {precision!r}: choose auto, bf16 or fp32")


def autocast(device: torch.device, dtype: torch.dtype):
    """Mixed-precision context for the forward pass (a no-op for fp32)."""
    if dtype == torch.float32:
        return contextlib.nullcontext()
    return torch.autocast(device.type, dtype=dtype)
