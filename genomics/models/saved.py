"""A trained model on disk: ``weights.safetensors`` + ``model.json`` (+ ``config.yaml``).

``model.json`` holds everything needed to rebuild the network (family, hyperparameters,
tracks, bin size, crop, window length) and what it was trained on (store digests), so any
`genomics` command can load the model from the folder alone, with no pickle and no
training state.
"""

from __future__ import annotations

import json
from pathlib import Path

import torch
from safetensors.torch import load_file, save_file
from torch import nn

from genomics.io import atomic_path, atomic_write_text

__all__ = ["build_from_spec", "load_model", "network_spec", "save_model", "save_weights"]

FORMAT_VERSION = 1
WEIGHTS = "weights.safetensors"
SPEC = "model.json"


def save_weights(model: nn.Module, path: str | Path) -> None:
    """Write the model's state dict as safetensors, atomically."""
    state = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    with atomic_path(path) as tmp:
        save_file(state, str(tmp), metadata={"format": "pt"})


def save_model(
    folder: str | Path, model: nn.Module, spec: dict, *, weights: str | Path | None = None
) -> None:
    """Write ``model.json`` and the weights into ``folder``.

    Parameters
    ----------
    spec : ``name``, ``hparams``, ``n_tracks``, ``track_names``, ``track_kinds``,
        ``bin_size``, ``crop_bins``, ``seq_len`` and provenance.
    weights : an existing safetensors file to install as the weights (e.g. the best
        validation checkpoint) instead of the model's current state.
    """
    folder = Path(folder)
    spec = _complete(spec)
    if weights is not None:
        with atomic_path(folder / WEIGHTS) as tmp:
            tmp.write_bytes(Path(weights).read_bytes())
    else:
        save_weights(model, folder / WEIGHTS)
    atomic_write_text(
        folder / SPEC, json.dumps({"format_version": FORMAT_VERSION, **spec}, indent=1) + "\n"
    )


def _complete(spec: dict) -> dict:
    """``spec`` with every hyperparameter stated: those it leaves out take the defaults
    :func:`~genomics.models.build_model` built the network with, so a ``model.json``
    rebuilds the same network whatever the defaults become later."""
    from genomics.models import model_hparams

    if "name" not in spec or "hparams" not in spec:
        return spec
    return {**spec, "hparams": {**model_hparams(spec["name"]), **spec["hparams"]}}


def network_spec(
    cfg: dict, *, track_names: list[str], track_kinds: list[str], bin_size: int
) -> dict:
    """The part of ``model.json`` that rebuilds the network: the config's model and window
    settings for these tracks (provenance is the caller's to add)."""
    name = cfg["model"]["name"]
    return {
        "name": name,
        "hparams": dict(cfg["model"][name]),
        "n_tracks": len(track_names),
        "track_names": list(track_names),
        "track_kinds": list(track_kinds),
        "bin_size": bin_size,
        "crop_bins": cfg["windows"]["crop_bins"],
        "seq_len": cfg["windows"]["length"],
    }


def build_from_spec(spec: dict) -> nn.Module:
    """A freshly initialised network as ``model.json``'s ``spec`` describes it (missing
    hyperparameters take the model's defaults)."""
    from genomics.models import build_model

    return build_model(
        spec["name"],
        n_tracks=spec["n_tracks"],
        track_kinds=spec["track_kinds"],
        bin_size=spec["bin_size"],
        crop_bins=spec["crop_bins"],
        **spec["hparams"],
    )


def load_model(folder: str | Path, *, device: str | torch.device = "cpu") -> tuple[nn.Module, dict]:
    """Rebuild a saved model in eval mode on ``device``.

    Returns
    -------
    (model, spec)
    """
    folder = Path(folder)
    spec_path, weights_path = folder / SPEC, folder / WEIGHTS
    for p in (spec_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"{p} does not exist: {folder} is not a trained model; run `genomics train`"
            )
    try:
        spec = json.loads(spec_path.read_text())
    except json.JSONDecodeError as e:
        raise ValueError(
            f"{spec_path}: damaged ({e}); rerun `genomics train` into {folder} (it rewrites "
            "it from its checkpoints) or retrain"
        ) from None
    if spec.get("format_version") != FORMAT_VERSION:
        raise ValueError(
            f"{spec_path}: model format {spec.get('format_version')}, expected {FORMAT_VERSION}"
        )
    # written before stem_activation existed (save_model now states every hparam): none
    model = build_from_spec({**spec, "hparams": {"stem_activation": "none", **spec["hparams"]}})
    try:
        state = load_file(str(weights_path))
    except Exception as e:  # safetensors raises its own error types for damaged files
        raise ValueError(
            f"{weights_path}: damaged weights file ({e}); rerun `genomics train` into "
            f"{folder} (it rewrites the weights from its checkpoints) or retrain"
        ) from None
    try:
        model.load_state_dict(state)
    except RuntimeError as e:
        raise ValueError(
            f"{weights_path}: weights do not fit the model in {spec_path} ({str(e)[:200]})"
        ) from None
    return model.to(device).eval(), spec
