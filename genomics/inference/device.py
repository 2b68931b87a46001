"""Device and precision choices, made once and loudly."""

from __future__ import annotations

import contextlib
import logging

import torch

__all__ = ["autocast", "cpu_has_bf16", "resolve_device", "resolve_precision"]

log = logging.getLogger(__name__)


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


def cpu_has_bf16() -> bool:
    """Whether this CPU computes bf16 natively (AVX512-BF16 or AMX tiles), where bf16
    autocast trains faster than fp32 (1.4x on a 2-core Xeon with AMX, bench/RESULTS.md);
    without them bf16 is emulated and slower."""
    try:
        return bool(torch.cpu._is_avx512_bf16_supported() or torch.cpu._is_amx_tile_supported())
    except (AttributeError, RuntimeError):  # private helpers: absent in some builds
        return False


def resolve_precision(
    precision: str, device: torch.device, *, cpu_auto_bf16: bool = False
) -> torch.dtype:
    """``auto`` -> bf16 on CUDA; on CPU fp32, or bf16 with ``cpu_auto_bf16`` (training) when
    the CPU has bf16 units (:func:`cpu_has_bf16`). Returns the autocast dtype (float32:
    none)."""
    if precision == "auto":
        if device.type == "cuda":
            precision = "bf16"
        elif cpu_auto_bf16 and cpu_has_bf16():
            precision = "bf16"
            log.info("precision auto: bf16 autocast (this CPU has bf16 units)")
        else:
            precision = "fp32"
            if cpu_auto_bf16:
                log.info("precision auto: fp32 (this CPU has no bf16 units)")
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
