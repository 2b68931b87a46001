"""Give every bin a class: by a vote of its nearest sampled neighbours in PCA space, by
its nearest class mean, or by its largest class score; streamed per chromosome in chunks.

``centroid`` (nearest class mean in PCA space) is the default: classes refined by k-means
(``classes.refine``, the default) are exactly the regions nearest their means, so it
reproduces them (every held-out sampled bin on the default data, bench/RESULTS.md) at the
cost of a (chunk x c) @ (c x k) product.

Without refinement (the K largest Leiden clusters) ``knn`` reproduces the clusters of
held-out sampled bins better (default synthetic targets: 99% of held-out bins against 52%
by score, and 98.6% against 96% of those inside the K classes): a Leiden class is a region
of the kNN graph, not a cone around its mean, and only the vote can leave a bin
unassigned. ``score`` gives every bin the class of its largest class score.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import numpy as np

from genomics.classes.model import ClassModel

__all__ = [
    "ASSIGN_METHODS",
    "EXCLUDED",
    "KNN_EPS",
    "KnnVote",
    "agreement",
    "assign_profiles",
    "iter_assign",
    "nearest",
]

ASSIGN_METHODS = ("score", "knn", "centroid")
EXCLUDED = -2  # the label of a left-out bin (mostly N, blacklisted) in iter_assign
KNN_EPS = 1.0  # approximate neighbours: each within (1 + eps) x the true k-th distance
CHUNK_BINS = 1 << 16


class KnnVote:
    """Majority class of the ``n_neighbors`` nearest reference points (ties: the lower
    label, ``UNASSIGNED`` first).

    Parameters
    ----------
    points : np.ndarray, shape (n, c), float; reference points (PCA space).
    labels : np.ndarray, shape (n,), int; their class, ``UNASSIGNED`` outside the K.
    n_classes : K.
    """

    def __init__(self, points: np.ndarray, labels: np.ndarray, n_classes: int, n_neighbors: int):
        from scipy.spatial import cKDTree

        self.tree = cKDTree(np.asarray(points, dtype=np.float32))
        self.labels = np.asarray(labels, dtype=np.int64)
        self.n_classes = n_classes
        self.k = min(n_neighbors, len(self.labels))

    def __call__(self, points: np.ndarray) -> np.ndarray:
        """np.ndarray, shape (n, c) -> labels, shape (n,), int16."""
        _, ind = self.tree.query(points, k=self.k, eps=KNN_EPS, workers=-1)
        votes = self.labels[ind.reshape(len(points), self.k)] + 1  # UNASSIGNED -> 0
        counts = np.zeros((len(points), self.n_classes + 1), dtype=np.int32)
        np.add.at(counts, (np.arange(len(points))[:, None], votes), 1)
        return (counts.argmax(1) - 1).astype(np.int16)


def assign_profiles(
    profiles: np.ndarray, model: ClassModel, *, method: str = "score", vote: KnnVote | None = None
) -> tuple[np.ndarray, np.ndarray]:
    """Class and score of each profile.

    Parameters
    ----------
    profiles : np.ndarray, shape (n, t), float; store units.
    method : "score" (the class of largest score), "knn" (vote of ``vote``) or
        "centroid" (the nearest class mean in PCA space).
    vote : KnnVote over the model's sample (built when None and needed).

    Returns
    -------
    labels : np.ndarray, shape (n,), int16; ``UNASSIGNED`` only with "knn".
    scores : np.ndarray, shape (n,), float32; the score of the bin's class (of its
        best-scoring class when unassigned).
    """
    if method not in ASSIGN_METHODS:
        raise ValueError(f"assign method {method!r}: use one of {', '.join(ASSIGN_METHODS)}")
    z = model.standardise(profiles)
    scores = z @ model.vectors.T  # (n, k)
    best = scores.argmax(1)
    if method == "score":
        labels = best.astype(np.int16)
    elif method == "centroid":
        labels = nearest(model.project(z), model.project(model.centroids))
    else:
        if vote is None:
            vote = KnnVote(model.sample_pcs, model.sample_labels, model.n_classes, _k(model))
        labels = vote(model.project(z).astype(np.float32))
    pick = np.where(labels >= 0, labels, best)
    return labels, scores[np.arange(len(pick)), pick].astype(np.float32)


def nearest(points: np.ndarray, means: np.ndarray) -> np.ndarray:
    """Index of the nearest of ``means`` (k, c) for each of ``points`` (n, c) -> (n,) int16."""
    d = (means**2).sum(1)[None] - 2 * points @ means.T  # |p|^2 is the same for every mean
    return d.argmin(1).astype(np.int16)


def _k(model: ClassModel) -> int:
    return int(model.info.get("params", {}).get("n_neighbors", 15))


def iter_assign(
    store,
    model: ClassModel,
    *,
    method: str = "score",
    excluded: Callable[[str], np.ndarray] | None = None,
    chunk_bins: int = CHUNK_BINS,
    progress: Callable[[int], None] | None = None,
) -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
    """Assign every bin of ``store``, one chromosome at a time, reading it in chunks.

    Parameters
    ----------
    store : the store the model's tracks match (check with ``model.check_tracks``).
    excluded : ``chrom -> (n_bins,) bool``, bins to leave out (``EXCLUDED`` label);
        bins with a NaN (not predicted: all-N windows) are left out too.
    progress : called with the number of bins done after each chunk.

    Yields
    ------
    (chrom, labels (n_bins,) int16, scores (n_bins,) float32); memory is one
    chromosome's labels and scores plus one chunk of profiles.
    """
    vote = None
    if method == "knn":
        vote = KnnVote(model.sample_pcs, model.sample_labels, model.n_classes, _k(model))
    for chrom in store.chroms:
        arr = store.bins(chrom)
        n = arr.shape[0]
        labels = np.empty(n, dtype=np.int16)
        scores = np.empty(n, dtype=np.float32)
        for lo in range(0, n, chunk_bins):
            hi = min(lo + chunk_bins, n)
            chunk = np.array(arr[lo:hi], dtype=np.float32)  # a copy: NaN rows are zeroed
            bad = ~np.isfinite(chunk).all(1)  # NaN: bins a prediction run did not cover
            chunk[bad] = 0.0
            labels[lo:hi], scores[lo:hi] = assign_profiles(chunk, model, method=method, vote=vote)
            labels[lo:hi][bad], scores[lo:hi][bad] = EXCLUDED, np.nan
            if progress is not None:
                progress(hi - lo)
        if excluded is not None:
            out = excluded(chrom)
            labels[out] = EXCLUDED
            scores[out] = np.nan
        yield chrom, labels, scores


def agreement(
    z: np.ndarray,
    pcs: np.ndarray,
    labels: np.ndarray,
    hold: np.ndarray,
    *,
    k: int,
    n_neighbors: int,
) -> dict:
    """How well each assignment method reproduces the clusters of held-out sampled bins.

    The held-out bins keep the label Leiden gave them (clustered with the rest); each
    method sees only the other bins (their labels, PCA points and class vectors).

    Parameters
    ----------
    z : np.ndarray, shape (n, t); standardised features of the sample.
    pcs : np.ndarray, shape (n, c); its PCA coordinates.
    labels : np.ndarray, shape (n,), int; Leiden classes, ``UNASSIGNED`` outside the K.
    hold : np.ndarray, shape (n,), bool; the held-out bins.

    Returns
    -------
    dict: ``n_holdout``; per method the fraction of held-out bins given their cluster's
    class (``<method>``: all held-out bins, an unassigned one counting as right only
    if left unassigned; ``<method>_in_classes``: those in the K classes) and the adjusted
    mutual information with the clusters (``<method>_ami``).
    """
    from sklearn.metrics import adjusted_mutual_info_score

    ref = ~hold
    if hold.sum() == 0 or ref.sum() <= n_neighbors:
        return {"n_holdout": int(hold.sum())}
    truth = labels[hold]
    centroids, means = _class_means(z, labels, ref, k), _class_means(pcs, labels, ref, k)
    vectors = centroids / np.maximum(np.linalg.norm(centroids, axis=1, keepdims=True), 1e-12)
    guess = {
        "score": (z[hold] @ vectors.T).argmax(1),
        "centroid": nearest(pcs[hold], means),
        "knn": KnnVote(pcs[ref], labels[ref], k, n_neighbors)(pcs[hold]),
    }
    out: dict = {"n_holdout": int(hold.sum())}
    inside = truth >= 0
    for name, g in guess.items():
        out[name] = round(float(np.mean(g == truth)), 4)
        out[f"{name}_in_classes"] = round(float(np.mean(g[inside] == truth[inside])), 4)
        out[f"{name}_ami"] = round(float(adjusted_mutual_info_score(truth, g)), 4)
    return out


def _class_means(x: np.ndarray, labels: np.ndarray, ref: np.ndarray, k: int) -> np.ndarray:
    """(k, d) mean of ``x`` (n, d) over the ``ref`` rows of each class 0..k-1 (zeros for a
    class with none)."""
    return np.stack(
        [
            x[ref & (labels == i)].mean(0) if np.any(ref & (labels == i)) else np.zeros(x.shape[1])
            for i in range(k)
        ]
    )
