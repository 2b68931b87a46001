"""The fitted class model: the per-track transform, standardisation, PCA and class vectors.

Everything needed to score or assign a new profile without refitting; written and read by
:mod:`genomics.classes.files`.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np

__all__ = ["KINDS", "TRANSFORMS", "UNASSIGNED", "ClassModel", "to_features"]

KINDS = ("coverage", "peaks")
TRANSFORMS = ("log1p", "sqrt")  # of coverage tracks; peak probabilities stay as they are
UNASSIGNED = -1  # the label of a bin outside the K classes kept


def to_features(profile: np.ndarray, coverage: np.ndarray, transform: str = "log1p") -> np.ndarray:
    """Per-track transform: ``log1p`` (or ``sqrt``) of coverage tracks (rates >= 0), peak
    probabilities as they are.

    ``sqrt`` stabilises the variance of counts (Poisson: the square root's variance is
    about 1/4 whatever the rate); ``log1p`` stretches the low rates where counting noise
    lives and squeezes the peaks.

    Parameters
    ----------
    profile : np.ndarray, shape (..., t), float (store units)
    coverage : np.ndarray, shape (t,), bool; True for coverage tracks
    transform : one of ``TRANSFORMS``

    Returns
    -------
    np.ndarray, shape (..., t), float64 (a new array)
    """
    if transform not in TRANSFORMS:
        raise ValueError(f"classes.transform {transform!r}: use one of {', '.join(TRANSFORMS)}")
    x = np.array(profile, dtype=np.float64)
    rate = np.maximum(x[..., coverage], 0.0)
    x[..., coverage] = np.log1p(rate) if transform == "log1p" else np.sqrt(rate)
    return x


@dataclass
class ClassModel:
    """A fitted set of sequence classes.

    Attributes
    ----------
    track_names, track_kinds : list of str, length t; the store columns it was fitted on.
    bin_size : bp per bin of that store.
    mean, std : np.ndarray, shape (t,), float64; standardisation of the transformed tracks.
    pca_mean : np.ndarray, shape (t,), float64; PCA centre in standardised space.
    pca_components : np.ndarray, shape (c, t), float64; PCA axes (rows, unit length).
    centroids : np.ndarray, shape (k, t), float64; mean standardised profile per class.
    names, top_tracks : list of str, length k.
    sizes : np.ndarray, shape (k,), int64; sampled bins per class.
    genome_fraction : np.ndarray, shape (k,), float64; fraction of assigned bins (of the
        sample until the whole store is assigned).
    sample_pcs : np.ndarray, shape (n, c), float32; the clustered sample in PCA space
        (reference points for nearest-neighbour assignment).
    sample_labels : np.ndarray, shape (n,), int16; its class, ``UNASSIGNED`` outside the K.
    info : dict; parameters and diagnostics (agreement of the assignment methods, ...).
    transform : how coverage tracks are transformed (:func:`to_features`).
    """

    track_names: list[str]
    track_kinds: list[str]
    bin_size: int
    mean: np.ndarray
    std: np.ndarray
    pca_mean: np.ndarray
    pca_components: np.ndarray
    centroids: np.ndarray
    names: list[str]
    top_tracks: list[str]
    sizes: np.ndarray
    genome_fraction: np.ndarray
    sample_pcs: np.ndarray
    sample_labels: np.ndarray
    info: dict = field(default_factory=dict)
    transform: str = "log1p"

    @property
    def n_classes(self) -> int:
        return len(self.names)

    @property
    def n_tracks(self) -> int:
        return len(self.track_names)

    @property
    def coverage(self) -> np.ndarray:
        """np.ndarray, shape (t,), bool: the coverage tracks (transformed by ``transform``)."""
        return np.array([k == "coverage" for k in self.track_kinds])

    @property
    def vectors(self) -> np.ndarray:
        """Unit class vectors, shape (k, t), float64: the centroids scaled to length 1."""
        norm = np.linalg.norm(self.centroids, axis=1, keepdims=True)
        return self.centroids / np.maximum(norm, 1e-12)

    def standardise(self, profile: np.ndarray) -> np.ndarray:
        """Store-unit profiles -> standardised features, shape (..., t), float64."""
        self._check_width(profile)
        return (to_features(profile, self.coverage, self.transform) - self.mean) / self.std

    def project(self, z: np.ndarray) -> np.ndarray:
        """Standardised features (..., t) -> PCA coordinates (..., c), float64."""
        return (np.asarray(z, dtype=np.float64) - self.pca_mean) @ self.pca_components.T

    def profile_of(self, z: np.ndarray) -> np.ndarray:
        """Inverse of :meth:`standardise`: standardised features (..., t) -> store units."""
        x = np.asarray(z, dtype=np.float64) * self.std + self.mean
        cov = self.coverage
        if self.transform == "log1p":
            x[..., cov] = np.expm1(x[..., cov])
        else:
            x[..., cov] = np.maximum(x[..., cov], 0.0) ** 2
        return x

    def check_tracks(self, names: Sequence[str], kinds: Sequence[str], where: str, fix: str):
        """ValueError unless ``names``/``kinds`` are this model's tracks, in its order.

        Parameters
        ----------
        where : what holds ``names`` (a store or model folder), for the message.
        fix : what to do about it (the command to rerun), for the message.
        """
        names, kinds = list(names), list(kinds)
        if names == self.track_names and kinds == self.track_kinds:
            return
        extra = [n for n in names if n not in self.track_names]
        missing = [n for n in self.track_names if n not in names]
        if extra or missing:
            what = (
                f"{len(extra)} track(s) the classes lack ({', '.join(extra[:3]) or '-'}) and "
                f"lacks {len(missing)} of theirs ({', '.join(missing[:3]) or '-'})"
            )
        elif names != self.track_names:
            what = "the classes' tracks in another order"
        else:
            bad = [n for n, a, b in zip(names, kinds, self.track_kinds, strict=True) if a != b]
            what = f"other track kinds than the classes ({', '.join(bad[:3])})"
        raise ValueError(f"{where} has {what}; {fix}")

    def _check_width(self, profile) -> None:
        t = np.shape(profile)[-1] if np.ndim(profile) else 0
        if t != self.n_tracks:
            raise ValueError(
                f"profile has {t} tracks in its last axis but the class model has "
                f"{self.n_tracks} ({', '.join(self.track_names[:3])}, ...)"
            )
