"""Class scores: a predicted profile projected onto each unit class vector (Sei's sequence
class score, in standardised track space). Variant scoring uses ``alt - ref`` per class."""

from __future__ import annotations

import numpy as np

from genomics.classes.model import ClassModel

__all__ = ["class_scores"]


def class_scores(profile: np.ndarray, model: ClassModel) -> np.ndarray:
    """Project profiles onto each class vector.

    The profile is transformed per track (log1p or sqrt of coverage, as the model was
    fitted; peak probabilities as they are), standardised with the mean and standard
    deviation of the fitted sample, and dotted with each unit class vector.

    Parameters
    ----------
    profile : np.ndarray, shape (..., t), float
        Profiles in store units (predicted rates >= 0 for coverage tracks, probabilities
        for peak tracks), tracks in the model's order (``model.track_names``).
    model : ClassModel
        From :func:`genomics.classes.fit_classes` or :func:`genomics.classes.load_classes`.

    Returns
    -------
    np.ndarray, shape (..., k), float32
        Score of each class; ``k = model.n_classes``.
    """
    z = model.standardise(profile)
    return (z @ model.vectors.T).astype(np.float32)
