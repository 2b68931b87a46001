"""Model families that map one-hot DNA ``(b, 4, l)`` to binned tracks ``(b, bins, t)``.

:func:`build_model` is the one way in; :data:`MODELS` maps config names to classes:

- ``convformer`` (:class:`~genomics.models.convformer.Convformer`): conv tower + transformer
  with rotary position embeddings (the main model, Enformer-like);
- ``conv`` (:class:`~genomics.models.conv.DilatedConv`): conv tower + dilated residual
  convs (Basenji-like baseline with a finite receptive field);
- ``convrnn`` (:class:`~genomics.models.convrnn.ConvRNN`): conv tower + bidirectional GRU.

Every model has ``output_bins(seq_len)``; coverage tracks come out through a softplus,
peak tracks as logits. Shared blocks live in :mod:`genomics.models.layers`.
"""

from __future__ import annotations

import inspect
from collections.abc import Sequence
from typing import Any

from torch import nn

from genomics.models.conv import DilatedConv
from genomics.models.convformer import Convformer
from genomics.models.convrnn import ConvRNN
from genomics.models.flops import count_flops

__all__ = ["MODELS", "build_model", "count_flops", "model_hparams"]

MODELS: dict[str, type[nn.Module]] = {
    "convformer": Convformer,
    "conv": DilatedConv,
    "convrnn": ConvRNN,
}

_SHARED = ("n_tracks", "track_kinds", "bin_size", "crop_bins")


def _check_name(name: str) -> type[nn.Module]:
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; allowed: {', '.join(MODELS)}")
    return MODELS[name]


def model_hparams(name: str) -> dict[str, Any]:
    """The hyperparameters of model ``name`` and their defaults (beyond the shared four)."""
    params = inspect.signature(_check_name(name).__init__).parameters.values()
    return {
        p.name: p.default
        for p in params
        if p.kind is inspect.Parameter.KEYWORD_ONLY and p.name not in _SHARED
    }


def build_model(
    name: str,
    *,
    n_tracks: int,
    track_kinds: Sequence[str],
    bin_size: int,
    crop_bins: int,
    **hparams: Any,
) -> nn.Module:
    """Build model ``name`` for ``n_tracks`` tracks at ``bin_size`` bp.

    Parameters
    ----------
    name : a key of :data:`MODELS`.
    n_tracks : number of output tracks ``t``.
    track_kinds : list of str, length t, "coverage" or "peaks" per track.
    bin_size : bp per output bin (a power of two).
    crop_bins : bins dropped from each end of the output.
    **hparams : the model's own hyperparameters (see :func:`model_hparams`; the config's
        ``model.<name>`` section).

    Raises
    ------
    ValueError
        For an unknown model name or hyperparameter (naming the allowed ones) and for
        invalid values.
    """
    cls = _check_name(name)
    allowed = model_hparams(name)
    unknown = sorted(set(hparams) - set(allowed))
    if unknown:
        raise ValueError(
            f"unknown hyperparameter(s) {', '.join(map(repr, unknown))} for model {name!r}; "
            f"allowed: {', '.join(allowed)}"
        )
    return cls(
        n_tracks=n_tracks,
        track_kinds=list(track_kinds),
        bin_size=bin_size,
        crop_bins=crop_bins,
        **hparams,
    )
