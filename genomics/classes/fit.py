"""Fit sequence classes (Sei-style) on a sample of a store's bins.

Sample bins -> transform per track (log1p or sqrt of coverage, peak probabilities as they
are) -> standardise -> PCA (randomized) -> kNN graph -> Leiden clustering -> the K largest
clusters are the classes; or, with ``refine`` (the default), Leiden's clusters merged
(Ward) down to K and then polished by k-means started from them, so every sampled bin
has a class. A class vector is the unit-length mean standardised profile of its members.
"""

from __future__ import annotations

import logging
import time
import warnings
from pathlib import Path

import numpy as np

from genomics.classes.assign import KNN_EPS, agreement
from genomics.classes.model import KINDS, UNASSIGNED, ClassModel, to_features
from genomics.classes.sample import Sample, sample_bins

__all__ = [
    "fit_classes",
    "knn_graph",
    "leiden",
    "merge_low_signal",
    "merge_similar",
    "merge_to",
    "name_classes",
    "refine",
]

log = logging.getLogger(__name__)

HOLDOUT = 0.1  # sampled bins held out to measure how well each assignment method agrees
TOP_TRACKS = 3
LOW_SIGNAL_Z = 0.5  # a class whose every track's mean z is below this is "low signal"


def knn_graph(points: np.ndarray, n_neighbors: int, *, eps: float = KNN_EPS):
    """Undirected, unweighted k-nearest-neighbour graph (an edge where either end is
    among the other's ``n_neighbors`` nearest; self-loops and duplicates dropped).

    scipy's cKDTree rather than scikit-learn's NearestNeighbors: the same exact answer
    1.5x faster on 2 cores, and its ``eps`` approximate search another ~5x (a graph for
    clustering does not need exact neighbours).

    Parameters
    ----------
    points : np.ndarray, shape (n, c), float

    Returns
    -------
    igraph.Graph with n vertices.
    """
    import igraph
    from scipy.spatial import cKDTree

    n = len(points)
    _, ind = cKDTree(points).query(points, k=n_neighbors + 1, eps=eps, workers=-1)
    src = np.repeat(np.arange(n, dtype=np.int64), n_neighbors + 1)
    dst = ind.reshape(-1).astype(np.int64)
    lo, hi = np.minimum(src, dst), np.maximum(src, dst)
    keep = lo != hi
    pairs = np.unique(lo[keep] * n + hi[keep])
    edges = np.column_stack([pairs // n, pairs % n])
    return igraph.Graph(n=n, edges=edges, directed=False)


def leiden(graph, *, resolution: float, seed: int) -> np.ndarray:
    """Leiden clustering (RBConfiguration, i.e. modularity with a resolution) of ``graph``.

    Returns
    -------
    np.ndarray, shape (n,), int64; cluster 0 is the largest, 1 the next, ... (ties broken
    by the first member), so the numbering does not depend on Leiden's internal order.
    """
    import leidenalg

    part = leidenalg.find_partition(
        graph,
        leidenalg.RBConfigurationVertexPartition,
        resolution_parameter=resolution,
        seed=seed,
    )
    raw = np.asarray(part.membership, dtype=np.int64)
    sizes = np.bincount(raw)
    first = np.full(len(sizes), len(raw))
    np.minimum.at(first, raw, np.arange(len(raw)))
    order = np.lexsort((first, -sizes))  # by size, largest first, then first member
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[raw]


def name_classes(centroids: np.ndarray, track_names: list[str], states=None):
    """An automatic name and the top tracks of each class.

    The name joins the tracks whose mean z is at least half the class's largest one
    (up to three, highest first); a class whose tracks all lie below 0.5 standard
    deviations over the mean is ``low signal``. `` | <state>`` adds the state a class takes
    from the annotations (:func:`genomics.classes.annotation.consensus_states`). Repeated
    names get ``#2``, ``#3``, ...

    Parameters
    ----------
    centroids : np.ndarray, shape (k, t), float; mean standardised profile per class.
    states : list of str or None, length k; a state name per class ("" for none).

    Returns
    -------
    (names, top_tracks): lists of str, length k; top_tracks is comma-separated.
    """
    names, tops = [], []
    for i, m in enumerate(centroids):
        order = np.argsort(-m, kind="stable")
        tops.append(",".join(track_names[j] for j in order[:TOP_TRACKS]))
        if m[order[0]] < LOW_SIGNAL_Z:
            name = "low signal"
        else:
            lead = [j for j in order[:TOP_TRACKS] if m[j] >= 0.5 * m[order[0]]]
            name = "+".join(track_names[j] for j in lead)
        if states is not None and states[i]:
            name += f" | {states[i]}"
        names.append(name)
    seen: dict[str, int] = {}
    for i, name in enumerate(names):
        seen[name] = seen.get(name, 0) + 1
        if seen[name] > 1:
            names[i] = f"{name} #{seen[name]}"
    return names, tops


def merge_low_signal(cluster: np.ndarray, z: np.ndarray) -> np.ndarray:
    """Clusters whose mean profile is low signal (every track's mean z below
    ``LOW_SIGNAL_Z``) merged into one, then all renumbered largest first.

    Leiden cuts the smooth background of predicted profiles into many clusters of similar
    size that differ by shades of nothing; one background class is what a reader (and a
    comparison with an annotation, where background is one state) expects.

    Parameters
    ----------
    cluster : np.ndarray, shape (n,), int; Leiden's cluster of each sampled bin.
    z : np.ndarray, shape (n, t), float; the standardised features.

    Returns
    -------
    np.ndarray, shape (n,), int64; clusters 0.. by decreasing size.
    """
    _, means = _cluster_means(cluster, z)
    low = np.flatnonzero(means.max(1) < LOW_SIGNAL_Z)
    merged = cluster.astype(np.int64)
    if len(low) > 1:
        merged = np.where(np.isin(merged, low), low[0], merged)
        log.info("%d low-signal clusters merged into one", len(low))
    return _by_size(merged, len(means))


def merge_similar(cluster: np.ndarray, z: np.ndarray, min_cosine: float) -> np.ndarray:
    """Clusters whose mean profiles point the same way (cosine >= ``min_cosine``) merged,
    the closest pair first (average linkage: a merged cluster's mean is its members'
    mean), then all renumbered largest first. Low-signal clusters are left as they are.

    Leiden cuts one kind of element into several clusters that differ in strength, not in
    which tracks they raise (cosine 0.97-0.999 on the default model's predictions). A
    class score is a projection onto the class's unit vector, so strength is what the
    score measures within one class, not a reason for another class.

    Parameters
    ----------
    cluster : np.ndarray, shape (n,), int; cluster of each sampled bin.
    z : np.ndarray, shape (n, t), float; the standardised features.
    min_cosine : merge while two clusters' mean profiles have at least this cosine.

    Returns
    -------
    np.ndarray, shape (n,), int64; clusters 0.. by decreasing size.
    """
    sizes, means = _cluster_means(cluster, z)
    parent = np.arange(len(sizes))
    active = [i for i in range(len(sizes)) if means[i].max() >= LOW_SIGNAL_Z]
    n_active = len(active)
    while len(active) > 1:
        unit = means[active] / np.linalg.norm(means[active], axis=1, keepdims=True)
        cos = unit @ unit.T
        np.fill_diagonal(cos, -np.inf)
        a, b = np.unravel_index(np.argmax(cos), cos.shape)
        if cos[a, b] < min_cosine:
            break
        keep, gone = active[a], active[b]
        total = sizes[keep] + sizes[gone]
        means[keep] = (sizes[keep] * means[keep] + sizes[gone] * means[gone]) / total
        sizes[keep] = total
        parent[parent == gone] = keep
        active.remove(gone)
    if len(active) < n_active:
        log.info("%d clusters merged into others of the same profile", n_active - len(active))
    return _by_size(parent[cluster], len(sizes))


def merge_to(cluster: np.ndarray, points: np.ndarray, k: int) -> np.ndarray:
    """Clusters merged pairwise until ``k`` remain, the cheapest pair first by Ward's
    criterion (the rise in the within-cluster sum of squares, ``n_a n_b / (n_a + n_b)``
    times the squared distance of the means), then renumbered largest first.

    Leiden cuts a continuum (one kind of element at many strengths, the flanks of its
    sites) into many small clusters; keeping only the K largest leaves whole kinds of
    element unassigned while second slices of another kind take their places. Ward merges
    the small slices into their nearest large neighbour first, so the K that remain are
    K kinds of element.

    Parameters
    ----------
    cluster : np.ndarray, shape (n,), int; cluster 0.. of each point.
    points : np.ndarray, shape (n, c), float; the points (PCA coordinates).
    k : clusters to keep (all are kept when there are no more than ``k``).

    Returns
    -------
    np.ndarray, shape (n,), int64; clusters 0..k-1 by decreasing size.
    """
    sizes, means = _cluster_means(cluster, points)
    m = len(sizes)
    if m <= k:
        return _by_size(cluster.astype(np.int64), m)
    sq = (means**2).sum(1)
    dist = np.maximum(sq[:, None] + sq[None] - 2 * means @ means.T, 0.0)
    cost = dist * (sizes[:, None] * sizes[None]) / (sizes[:, None] + sizes[None])
    np.fill_diagonal(cost, np.inf)
    parent = np.arange(m)
    for _ in range(m - k):
        a, b = np.unravel_index(np.argmin(cost), cost.shape)
        na, nb = sizes[a], sizes[b]
        # Lance-Williams update for Ward: the cost of every other cluster j with a + b
        nj = sizes
        merged = ((na + nj) * cost[a] + (nb + nj) * cost[b] - nj * cost[a, b]) / (na + nb + nj)
        cost[a], cost[:, a] = merged, merged
        cost[b], cost[:, b] = np.inf, np.inf
        cost[a, a] = np.inf
        sizes[a] = na + nb
        parent[parent == b] = a
    return _by_size(parent[cluster], m)


def refine(cluster: np.ndarray, points: np.ndarray, *, seed: int) -> tuple[np.ndarray, int, float]:
    """k-means (scikit-learn, Lloyd) started from the means of ``cluster``: each point
    moves to its nearest cluster mean until none moves, so every cluster is the region
    nearest its mean, as the class vector (a mean) summarises it.

    Parameters
    ----------
    cluster : np.ndarray, shape (n,), int; clusters 0..k-1, every point in one.
    points : np.ndarray, shape (n, c), float; the points (PCA coordinates).

    Returns
    -------
    (clusters, shape (n,), int64, 0.. by decreasing size; k-means iterations run; the
    fraction of points that changed cluster).
    """
    from sklearn.cluster import KMeans

    _, means = _cluster_means(cluster, points)
    k = len(means)
    km = KMeans(n_clusters=k, init=means, n_init=1, random_state=seed).fit(points)
    moved = float(np.mean(km.labels_ != cluster))  # k-means keeps the init's numbering
    return _by_size(km.labels_.astype(np.int64), k), int(km.n_iter_), moved


def _cluster_means(cluster: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Size (k,) and mean standardised profile (k, t), float64, of each cluster 0..k-1."""
    from scipy import sparse

    n_found = int(cluster.max()) + 1
    onehot = sparse.csr_matrix(
        (np.ones(len(cluster), np.float64), (cluster, np.arange(len(cluster)))),
        shape=(n_found, len(cluster)),
    )
    sizes = np.asarray(onehot.sum(1)).ravel()
    return sizes, np.asarray(onehot @ z.astype(np.float64)) / np.maximum(sizes, 1)[:, None]


def _by_size(cluster: np.ndarray, n_found: int) -> np.ndarray:
    """Labels renumbered 0.. by decreasing size (ties: lower label first); int64."""
    counts = np.bincount(cluster, minlength=n_found)
    order = np.argsort(-counts, kind="stable")
    rank = np.empty(n_found, np.int64)
    rank[order] = np.arange(n_found)
    return rank[cluster]


def _check(store, sample: Sample, n_components: int, n_neighbors: int, n_classes: int):
    kinds = list(store.track_kinds)
    bad = sorted({k for k in kinds if k not in KINDS})
    if bad:
        raise ValueError(f"{store.path}: unknown track kind(s) {bad}; expected {KINDS}")
    n = len(sample)
    if n < max(n_components, n_neighbors + 1, n_classes):
        raise ValueError(
            f"{store.path}: only {n} bins sampled (of {sample.n_eligible} eligible), fewer "
            f"than classes.n_components {n_components}, classes.n_neighbors + 1 "
            f"{n_neighbors + 1} or classes.n_classes {n_classes}; raise classes.n_sample "
            "or lower those"
        )


def fit_classes(
    store,
    *,
    n_sample: int,
    seed: int,
    n_components: int,
    n_neighbors: int,
    resolution: float,
    n_classes: int,
    merge_low: bool = True,
    merge_cosine: float | None = None,
    refine_clusters: bool = True,
    transform: str = "log1p",
    blacklist: str | Path | None = None,
    genome=None,
) -> ClassModel:
    """Fit sequence classes on a seeded sample of ``store``'s bins.

    Parameters
    ----------
    store : a PredictionStore or TargetStore (``.chroms``, ``.names``, ``.track_kinds``,
        ``.bin_size``, ``.n_bins``, ``.bins(chrom)``, ``.path``).
    n_sample : bins to sample (all eligible bins if fewer).
    seed : seeds the sample, the hold-out, the PCA and Leiden: same seed, same classes.
    n_components : PCA components (at most the number of tracks; fewer are used then).
    n_neighbors : neighbours per bin in the kNN graph (and votes in kNN assignment).
    resolution : Leiden resolution; higher finds more, smaller clusters.
    n_classes : K, the classes. Without ``refine_clusters`` the K largest clusters (the
        rest unassigned); with it, the clusters merged down to K. If Leiden finds fewer,
        all of them are kept with a warning (the class file records how many were
        found): a run that asks for too many is still usable, and the warning says what
        to change.
    merge_low : merge the low-signal clusters into one before keeping the K largest
        (:func:`merge_low_signal`).
    merge_cosine : merge clusters whose mean profiles have at least this cosine before
        keeping the K largest (:func:`merge_similar`); None merges none.
    refine_clusters : merge the clusters down to K (:func:`merge_to`) and refine them
        by k-means (:func:`refine`) instead of keeping the K largest: every sampled bin
        gets a class, and one seed's classes are the next seed's (bench/RESULTS.md).
    transform : of coverage tracks, "log1p" or "sqrt" (:func:`to_features`).
    blacklist : BED of regions whose bins are left out, or None.
    genome : a GenomeStore; bins more than half N are left out. None keeps them.

    Returns
    -------
    ClassModel; ``genome_fraction`` is the sample's (the assignment of every bin
    replaces it), ``info["agreement"]`` how well each assignment method reproduces the
    clusters of held-out sampled bins.
    """
    from sklearn.decomposition import PCA

    seconds = {}
    t0 = time.perf_counter()
    sample = sample_bins(store, n_sample, seed=seed, genome=genome, blacklist=blacklist)
    _check(store, sample, n_components, n_neighbors, n_classes)
    seconds["sample"] = time.perf_counter() - t0
    names, kinds = list(store.names), list(store.track_kinds)
    if n_components > len(names):
        log.info("n_components %d > %d tracks: using %d", n_components, len(names), len(names))
        n_components = len(names)

    t0 = time.perf_counter()
    coverage = np.array([k == "coverage" for k in kinds])
    z = to_features(sample.profiles, coverage, transform).astype(np.float32)
    del sample.profiles  # the features hold what is needed; profiles are reread on assign
    mean = z.mean(0, dtype=np.float64)
    std = z.std(0, dtype=np.float64)
    flat = std < 1e-6
    if flat.any():
        log.warning(
            "%d track(s) are constant over the sample (%s): they do not shape the classes",
            int(flat.sum()),
            ", ".join(n for n, f in zip(names, flat, strict=True) if f),
        )
        std[flat] = 1.0
    z -= mean.astype(np.float32)
    z /= std.astype(np.float32)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # constant tracks: zero variance
        pca = PCA(n_components=n_components, svd_solver="randomized", random_state=seed)
        pcs = pca.fit_transform(z).astype(np.float32)
    seconds["pca"] = time.perf_counter() - t0

    t0 = time.perf_counter()
    graph = knn_graph(pcs, n_neighbors)
    seconds["knn_graph"] = time.perf_counter() - t0
    t0 = time.perf_counter()
    cluster = leiden(graph, resolution=resolution, seed=seed)
    del graph
    n_leiden = int(cluster.max()) + 1
    if merge_low:
        cluster = merge_low_signal(cluster, z)
    if merge_cosine is not None:
        cluster = merge_similar(cluster, z, merge_cosine)
    seconds["leiden"] = time.perf_counter() - t0
    n_found = int(cluster.max()) + 1
    if n_found < n_classes:
        log.warning(
            "%s: Leiden found %d clusters (%d after merging), fewer than "
            "classes.n_classes %d: keeping all %d (raise classes.resolution for more, smaller "
            "clusters, or lower n_classes)",
            store.path,
            n_leiden,
            n_found,
            n_classes,
            n_found,
        )
    k = min(n_classes, n_found)
    moved, n_iter = 0.0, 0
    if refine_clusters:
        t0 = time.perf_counter()
        cluster, n_iter, moved = refine(merge_to(cluster, pcs, k), pcs, seed=seed)
        seconds["refine"] = time.perf_counter() - t0
        log.info(
            "clusters merged to %d and refined (%d k-means iterations; %.1f%% of the sample moved)",
            k,
            n_iter,
            100 * moved,
        )
    labels = np.where(cluster < k, cluster, UNASSIGNED).astype(np.int16)

    t0 = time.perf_counter()
    centroids = np.stack([z[labels == i].mean(0, dtype=np.float64) for i in range(k)])
    sizes = np.bincount(labels[labels >= 0], minlength=k).astype(np.int64)
    hold = np.random.default_rng([seed, 1]).random(len(labels)) < HOLDOUT
    agree = agreement(z, pcs, labels, hold, k=k, n_neighbors=n_neighbors)
    seconds["agreement"] = time.perf_counter() - t0

    class_names, tops = name_classes(centroids, names)
    info = {
        "params": {
            "n_sample": n_sample,
            "seed": seed,
            "n_components": n_components,
            "n_neighbors": n_neighbors,
            "resolution": resolution,
            "n_classes": n_classes,
            "merge_low": merge_low,
            "merge_cosine": merge_cosine,
            "refine": refine_clusters,
            "transform": transform,
        },
        "n_sample": len(sample),
        "n_eligible": sample.n_eligible,
        "n_clusters_found": n_found,
        "n_leiden_clusters": n_leiden,
        "unassigned_fraction": float(np.mean(labels < 0)),
        "refine_iterations": n_iter,
        "refine_moved_fraction": round(moved, 6),
        "explained_variance": [round(float(v), 6) for v in pca.explained_variance_ratio_],
        "agreement": agree,
        "seconds": {key: round(v, 3) for key, v in seconds.items()},
    }
    log.info(
        "%d clusters (%d from Leiden) in %d sampled bins; %d kept as classes (%.1f%% of the "
        "sample unassigned)",
        n_found,
        n_leiden,
        len(sample),
        k,
        100 * info["unassigned_fraction"],
    )
    return ClassModel(
        track_names=names,
        track_kinds=kinds,
        bin_size=int(store.bin_size),
        mean=mean,
        std=std,
        pca_mean=pca.mean_.astype(np.float64),
        pca_components=pca.components_.astype(np.float64),
        centroids=centroids,
        names=class_names,
        top_tracks=tops,
        sizes=sizes,
        genome_fraction=sizes / len(labels),
        sample_pcs=pcs,
        sample_labels=labels,
        info=info,
        transform=transform,
    )
