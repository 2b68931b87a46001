"""Prediction store: a model's genome-wide predictions, laid out like the target store.

Layout of a store folder (written by ``genomics predict``)::

    <chrom>.npy      predictions, shape (ceil(length / bin_size), n_tracks), float16/32:
                     rates (>= 0) for coverage tracks, probabilities for peak tracks;
                     NaN for bins whose bases are all N (not run through the model)
    tracks.tsv       index, name, kind of each track
    parts/           one JSON per prediction job (what it predicted, with what)
    bigwig/          optional: one bigWig per track
    manifest.json    written last, by the merge of the parts

Whatever reads a target store reads this one: :class:`PredictionStore` is a
:class:`~genomics.data.targets.TargetStore` with another kind and command.
"""

from __future__ import annotations

from genomics.data.targets import TargetStore

__all__ = ["COMMAND", "FORMAT_VERSION", "KIND", "PredictionStore"]

KIND = "predictions"
FORMAT_VERSION = 1
COMMAND = "genomics predict"


class PredictionStore(TargetStore):
    """Read access to a prediction store (see the module docstring)."""

    KIND, FORMAT_VERSION, COMMAND, LABEL = KIND, FORMAT_VERSION, COMMAND, "prediction"

    @property
    def model(self) -> dict:
        """The model that predicted: ``{"path", "fingerprint", "name"}``."""
        return dict(self.manifest["inputs"]["model"])
