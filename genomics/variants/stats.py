"""The variant statistics, each a small pure function of ``(y_ref, y_alt)`` registered by
name (baskerville's vocabulary).

Inputs are predictions over the scored bins, shape ``(b, bins, t)`` in model units (rates
for coverage tracks, logits for peak tracks); bins outside a variant's scored span are 0 in
both arrays. Each returns ``(b, t)``.

========  ==========  ===========================================================
name      tracks      definition
========  ==========  ===========================================================
sad       coverage    sum over the scored bins of ``alt - ref``
log2fc    coverage    ``log2((sum alt + c) / (sum ref + c))``, ``c`` the pseudocount
l2        coverage    ``sqrt(sum (alt - ref)^2)`` over the scored bins
logodds   peaks       ``alt - ref`` logit at the variant's bin (one bin is passed)
========  ==========  ===========================================================
"""

from __future__ import annotations

import numpy as np

__all__ = ["COVERAGE_STATS", "PEAK_STATS", "STATS", "l2", "log2fc", "logodds", "sad"]


def sad(y_ref: np.ndarray, y_alt: np.ndarray) -> np.ndarray:
    """Sum of ``alt - ref`` over bins: ``(b, bins, t) -> (b, t)``."""
    return (y_alt - y_ref).sum(axis=1)


def log2fc(y_ref: np.ndarray, y_alt: np.ndarray, pseudocount: float = 1.0) -> np.ndarray:
    """log2 fold change of the summed signal: ``(b, bins, t) -> (b, t)``."""
    return np.log2((y_alt.sum(axis=1) + pseudocount) / (y_ref.sum(axis=1) + pseudocount))


def l2(y_ref: np.ndarray, y_alt: np.ndarray) -> np.ndarray:
    """L2 norm of the bin-wise difference: ``(b, bins, t) -> (b, t)``."""
    return np.sqrt(np.square(y_alt - y_ref).sum(axis=1))


def logodds(y_ref: np.ndarray, y_alt: np.ndarray) -> np.ndarray:
    """Mean logit difference over the bins given (the variant's bin): ``(b, bins, t) -> (b, t)``."""
    return (y_alt - y_ref).mean(axis=1)


STATS = {"sad": sad, "log2fc": log2fc, "l2": l2, "logodds": logodds}
COVERAGE_STATS = ("sad", "log2fc", "l2")
PEAK_STATS = ("logodds",)
