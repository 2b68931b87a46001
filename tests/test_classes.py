"""Sequence classes: scores, fitting, assignment, the class folder and its bad inputs."""

from __future__ import annotations

import gzip
import json
import logging
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score

from genomics.classes import (
    UNASSIGNED,
    ClassModel,
    assign_profiles,
    build_classes,
    class_scores,
    fit_classes,
    iter_assign,
    load_classes,
    open_store,
)
from genomics.classes.annotation import (
    NONE,
    Enrichment,
    annotate,
    annotation_paths,
    bin_states,
    consensus_states,
    log2_enrichment,
    read_legend,
)
from genomics.classes.annotation import display_name as state_name
from genomics.classes.regions import excluded_bins, read_bed
from genomics.data.genome import GenomeStore, build_genome_store
from genomics.data.targets import FORMAT_VERSION, TargetStore
from genomics.io import StoreError, write_manifest

from conftest import dies_on_call, run_cli, write_fasta

ROOT = Path(__file__).resolve().parents[1]
BIN = 100
KINDS = ["coverage", "coverage", "coverage", "coverage", "peaks", "peaks"]
# three planted groups of bins, each with its own profile (coverage rates, peak probabilities)
GROUPS = np.array(
    [
        [40.0, 30.0, 1.0, 1.0, 0.9, 0.05],
        [1.0, 2.0, 50.0, 25.0, 0.1, 0.05],
        [0.5, 0.5, 0.5, 0.5, 0.02, 0.8],
    ]
)
FIT = dict(n_sample=5000, seed=0, n_components=4, n_neighbors=10, resolution=0.1, n_classes=3)


def _store(folder: Path, arrays: dict[str, np.ndarray], kinds=KINDS, names=None) -> TargetStore:
    """A target store written by hand: ``arrays`` chrom -> (n_bins, t) float32."""
    folder.mkdir(parents=True, exist_ok=True)
    for chrom, arr in arrays.items():
        np.save(folder / f"{chrom}.npy", arr.astype(np.float32))
    names = names or [f"track{i}" for i in range(len(kinds))]
    write_manifest(
        folder,
        kind="targets",
        format_version=FORMAT_VERSION,
        params={"bin_size": BIN, "dtype": "float32"},
        inputs={"genome": {"path": "none", "digest": "0"}},
        files=[f"{c}.npy" for c in arrays],
        extra={
            "chroms": {c: len(a) for c, a in arrays.items()},
            "tracks": [{"name": n, "kind": k} for n, k in zip(names, kinds, strict=True)],
        },
    )
    return TargetStore(folder)


def _planted(n_per_chrom=(1200, 900), seed=0):
    """Profiles of groups in runs of 1-20 bins; returns (arrays, truth per chrom)."""
    rng = np.random.default_rng(seed)
    arrays, truth = {}, {}
    for i, n in enumerate(n_per_chrom):
        group = np.repeat(rng.integers(0, 3, n), rng.integers(1, 20, n))[:n]
        rates = GROUPS[group] * rng.lognormal(0, 0.15, (n, GROUPS.shape[1]))
        rates[:, 4:] = np.clip(GROUPS[group, 4:] + rng.normal(0, 0.05, (n, 2)), 0, 1)
        arrays[f"chr{i + 1}"] = rates
        truth[f"chr{i + 1}"] = group
    return arrays, truth


@pytest.fixture(scope="module")
def planted(tmp_path_factory):
    arrays, truth = _planted()
    store = _store(tmp_path_factory.mktemp("planted") / "targets", arrays)
    return store, truth


@pytest.fixture(scope="module")
def fitted(planted):
    return fit_classes(planted[0], **FIT)


def _model(**kw) -> ClassModel:
    """A two-track model set by hand (coverage, peaks)."""
    base = dict(
        track_names=["cov", "pk"],
        track_kinds=["coverage", "peaks"],
        bin_size=BIN,
        mean=np.array([0.0, 0.5]),
        std=np.array([1.0, 0.5]),
        pca_mean=np.zeros(2),
        pca_components=np.eye(2),
        centroids=np.array([[3.0, 4.0], [2.0, 0.0]]),
        names=["a", "b"],
        top_tracks=["pk,cov", "cov,pk"],
        sizes=np.array([5, 3]),
        genome_fraction=np.array([0.5, 0.3]),
        sample_pcs=np.zeros((8, 2), np.float32),
        sample_labels=np.array([0, 0, 0, 0, 0, 1, 1, 1], np.int16),
    )
    return ClassModel(**{**base, **kw})


# ---------------------------------------------------------------- class scores


def test_class_scores_hand_computed():
    # cov e - 1 -> log1p 1 -> z 1; pk 1.0 -> z (1 - 0.5) / 0.5 = 1; vectors (.6, .8), (1, 0)
    got = class_scores(np.array([np.e - 1, 1.0]), _model())
    np.testing.assert_allclose(got, [1.4, 1.0], rtol=1e-6)


def test_class_scores_hand_computed_sqrt():
    # cov 4 -> sqrt 2 -> z 2; pk 1.0 -> z 1; scores 0.6 * 2 + 0.8 * 1 = 2.0 and 2.0
    model = _model(transform="sqrt")
    np.testing.assert_allclose(class_scores(np.array([4.0, 1.0]), model), [2.0, 2.0], rtol=1e-6)
    # profile_of inverts standardise for either transform
    for m in (model, _model()):
        x = np.array([[3.0, 0.2], [0.0, 0.9]])
        np.testing.assert_allclose(m.profile_of(m.standardise(x)), x, atol=1e-12)
    with pytest.raises(ValueError, match="classes.transform 'log2'"):
        _model(transform="log2").standardise(np.ones(2))


def test_class_scores_batch_shapes_agree():
    model = _model()
    x = np.random.default_rng(0).uniform(0, 3, (2, 5, 2))
    whole = class_scores(x, model)
    assert whole.shape == (2, 5, 2)
    np.testing.assert_allclose(whole[1, 3], class_scores(x[1, 3], model))


def test_class_vector_scores_highest_for_its_class(fitted):
    for k in range(fitted.n_classes):
        profile = fitted.profile_of(fitted.centroids[k])
        scores = class_scores(profile, fitted)
        assert scores.argmax() == k
        assert scores[k] == pytest.approx(np.linalg.norm(fitted.centroids[k]), rel=1e-5)


def test_class_scores_wrong_width():
    with pytest.raises(ValueError, match="3 tracks in its last axis but the class model has 2"):
        class_scores(np.zeros((4, 3)), _model())


def test_variant_delta_is_alt_minus_ref_and_swaps_sign(fitted):
    rng = np.random.default_rng(1)
    ref, alt = rng.uniform(0, 5, (2, 7, 6))
    ref[:, 4:], alt[:, 4:] = ref[:, 4:] / 5, alt[:, 4:] / 5
    delta = class_scores(alt, fitted) - class_scores(ref, fitted)
    np.testing.assert_allclose(delta, -(class_scores(ref, fitted) - class_scores(alt, fitted)))


# ---------------------------------------------------------------- fitting and assignment


def test_planted_clusters_recovered(planted, fitted):
    store, truth = planted
    assert fitted.n_classes == 3
    assert sorted(fitted.names) == ["track0+track4+track1", "track2+track3", "track5"]
    for method in ("centroid", "knn", "score"):
        got = np.concatenate([lab for _, lab, _ in iter_assign(store, fitted, method=method)])
        want = np.concatenate([truth[c] for c in store.chroms])
        assert adjusted_mutual_info_score(want, got) > 0.95, method


def test_refit_same_seed_same_classes(planted, fitted):
    again = fit_classes(planted[0], **FIT)
    np.testing.assert_array_equal(again.sample_labels, fitted.sample_labels)
    np.testing.assert_allclose(again.centroids, fitted.centroids)
    assert again.names == fitted.names


def test_agreement_is_measured(fitted):
    agree = fitted.info["agreement"]
    assert agree["n_holdout"] > 0
    assert agree["knn"] > 0.95 and agree["score"] > 0.95 and agree["centroid"] > 0.99


def test_refined_classes_cover_the_sample_and_centroid_assignment_reproduces_them(planted):
    store, _ = planted
    # a high resolution: Leiden cuts the three groups into many clusters
    fine = {**FIT, "resolution": 3.0}
    model = fit_classes(store, **fine)
    assert model.info["n_leiden_clusters"] > 3 and model.n_classes == 3
    assert model.info["unassigned_fraction"] == 0.0
    # the sample's own bins, assigned from their profiles, get the classes they were fitted to
    labels, _ = assign_profiles(model.profile_of(model.centroids), model, method="centroid")
    np.testing.assert_array_equal(labels, np.arange(3))
    # unrefined, the 3 largest of the many clusters leave part of the sample unassigned
    top = fit_classes(store, **fine, refine_clusters=False)
    assert top.info["unassigned_fraction"] > 0.0
    assert top.info["params"]["refine"] is False and model.info["params"]["refine"] is True


def test_more_classes_than_clusters_keeps_what_there_is(planted, caplog):
    with caplog.at_level(logging.WARNING):
        model = fit_classes(planted[0], **{**FIT, "n_classes": 40})
    assert model.n_classes == model.info["n_clusters_found"] < 40
    assert "fewer than classes.n_classes 40" in caplog.text


def test_fewer_bins_than_components(tmp_path):
    arrays, _ = _planted((3,))
    store = _store(tmp_path / "s", arrays)
    with pytest.raises(ValueError, match=r"only 3 bins sampled .* raise classes.n_sample"):
        fit_classes(store, **{**FIT, "n_components": 4})


def test_n_components_above_tracks_uses_all_tracks(planted):
    model = fit_classes(planted[0], **{**FIT, "n_components": 50})
    assert model.pca_components.shape == (6, 6)


# ---------------------------------------------------------------- left-out bins, annotation


def test_excluded_bins_hand_computed():
    codes = np.array([4, 4, 4, 0] + [0, 4, 0, 0] + [4, 4, 4, 4] + [4, 1], np.uint8)
    got = excluded_bins(4, 4, codes=codes)
    np.testing.assert_array_equal(got, [True, False, True, False])  # last: 1 of 2, not > half
    black = (np.array([5]), np.array([6]))
    np.testing.assert_array_equal(excluded_bins(4, 4, blacklist=black), [False, True, False, False])


def test_n_bins_left_out_of_sample_and_bed(tmp_path):
    arrays, _ = _planted((300,))
    n_bp = 300 * BIN - 40
    seq = np.array(list("ACGT"))[np.random.default_rng(0).integers(0, 4, n_bp)]
    seq[1000:3000] = "N"  # bins 10-29
    build_genome_store(write_fasta(tmp_path / "g.fa", {"chr1": "".join(seq)}), tmp_path / "g")
    genome = GenomeStore(tmp_path / "g")
    store = _store(tmp_path / "s", arrays)
    build_classes(store, tmp_path / "c", genome=genome, plot=False, **FIT)
    model = load_classes(tmp_path / "c", store)
    assert model.info["n_sample"] == 280
    rows = [line.split("\t") for line in open(tmp_path / "c" / "classes.bed") if line[0] != "#"]
    covered = sum(int(r[2]) - int(r[1]) for r in rows)
    assert covered == n_bp - 2000
    assert int(rows[-1][2]) == n_bp


def test_nan_bins_left_out(tmp_path):
    """A prediction store holds NaN where no window was run (all N)."""
    arrays, _ = _planted((400,))
    arrays["chr1"][:50] = np.nan
    store = _store(tmp_path / "s", arrays)
    build_classes(store, tmp_path / "c", plot=False, **FIT)
    model = load_classes(tmp_path / "c", store)
    assert model.info["n_sample"] == 350 and np.isfinite(model.centroids).all()
    first = next(line for line in open(tmp_path / "c" / "classes.bed") if line[0] != "#")
    assert first.split("\t")[1] == str(50 * BIN)
    assert model.info["n_bins_assigned"] == 350


def test_track_kinds_checked():
    model = _model()
    with pytest.raises(ValueError, match=r"s has other track kinds than the classes \(pk\); redo"):
        model.check_tracks(["cov", "pk"], ["coverage", "coverage"], "s", "redo")
    with pytest.raises(ValueError, match="s has the classes' tracks in another order; redo"):
        model.check_tracks(["pk", "cov"], ["peaks", "coverage"], "s", "redo")


def test_annotation_needs_a_state_column(tmp_path, planted):
    (tmp_path / "x.bed").write_text("chr1\t0\t100\n")
    with pytest.raises(
        ValueError, match=r"classes.annotation: .*x.bed line 1: expected at least 4"
    ):
        read_bed(tmp_path / "x.bed", ["chr1"], named=True, key="classes.annotation")


# ---------------------------------------------------------------- classes against annotations


def _toy_regions(tmp_path):
    """Bins of 10 bp on c (8 bins) and d (3 bins, no region): A A B B B B A B | - - -."""
    bed = tmp_path / "toy.bed"
    bed.write_text("c\t0\t20\tA\nc\t25\t60\tB\nc\t64\t66\tA\nc\t70\t80\tB\n")
    labels = {
        "c": np.array([0, 0, 1, 1, 1, 1, 1, -1], np.int16),
        "d": np.array([0, 1, 1], np.int16),
    }
    return bed, labels, read_bed(bed, list(labels), named=True)


def test_enrichment_and_ami_hand_computed(tmp_path):
    bed, labels, regions = _toy_regions(tmp_path)
    e = annotate(labels, regions, name="toy", path=bed, n_classes=2, bin_size=10)
    assert e.states == ["A", "B", NONE] and e.names == ["A", "B", NONE]
    # bin 2 (20-30): B covers 5 bases; bin 6 (60-70): A covers 2; bin 7 is unassigned
    assert e.counts.tolist() == [[2, 0, 1], [1, 4, 2]]
    # 10 bins: class 0 has 3, class 1 7; A 3, B 4, (none) 3
    np.testing.assert_allclose(e.expected[0], [0.9, 1.2, 0.9])
    assert e.log2[0, 0] == pytest.approx(np.log2(3 / 1.9))
    assert e.log2[1, 1] == pytest.approx(np.log2(5 / 3.8))
    np.testing.assert_allclose(log2_enrichment(e.counts), e.log2)
    # AMI over the bins with a class and a state (c 0-6), as scikit-learn has it
    want = adjusted_mutual_info_score([0, 0, 1, 1, 1, 1, 1], ["A", "A", "B", "B", "B", "B", "A"])
    assert e.ami == pytest.approx(want) and e.n_bins == 7
    assert e.top() == ([0, 1], [pytest.approx(np.log2(3 / 1.9)), pytest.approx(np.log2(5 / 3.8))])


def test_bin_states_most_bases_ties_and_overlaps():
    # bin 0: A 0-5 and B 5-10 tie -> the state listed first; bin 1: A 10-14 and 11-14
    # merge to 4 bases, B 14-20 covers 6 -> B; bin 2: nothing
    regions = (
        np.array([0, 5, 10, 11, 14]),
        np.array([5, 10, 14, 14, 20]),
        np.array(["A", "B", "A", "A", "B"]),
    )
    assert bin_states(regions, ["A", "B"], 3, 10).tolist() == [0, 1, -1]
    assert bin_states(regions, ["B", "A"], 3, 10).tolist() == [0, 0, -1]


def test_states_sort_naturally(tmp_path):
    bed = tmp_path / "s.bed"
    bed.write_text("c\t0\t10\tE10\nc\t10\t20\tE2\nc\t20\t30\tE1\n")
    labels = {"c": np.array([0, 0, 0], np.int16)}
    regions = read_bed(bed, ["c"], named=True)
    e = annotate(labels, regions, name="s", path=bed, n_classes=1, bin_size=10)
    assert e.states == ["E1", "E2", "E10", NONE]


def test_state_names_and_legends(tmp_path):
    assert state_name("E1", {}) == "E1"
    assert state_name("1_Active_Promoter", {}) == "Active Promoter"
    assert state_name("12_Repressed", {}) == "Polycomb Repressed"
    assert state_name("3_Other_Thing", {}) == "Other Thing"
    broad = read_legend("chromhmm15")
    assert broad["E1"] == "Active Promoter" and broad["E4"] == broad["E5"] == "Strong Enhancer"
    assert len(broad) == 15 and broad["E15"] == "Repetitive/CNV"
    (tmp_path / "legend.tsv").write_text("# state\tname\nE1\tTssA\nE2\tTssFlnk\n")
    assert read_legend(tmp_path / "legend.tsv") == {"E1": "TssA", "E2": "TssFlnk"}
    (tmp_path / "bad.tsv").write_text("E1\tTssA\nE2\n")
    with pytest.raises(ValueError, match=r"bad\.tsv line 2: expected a state and its name"):
        read_legend(tmp_path / "bad.tsv")
    with pytest.raises(FileNotFoundError, match="nope.tsv is neither a file nor one of chromhmm15"):
        read_legend("nope.tsv")


def test_annotation_paths_single_list_mapping():
    assert annotation_paths(None) == {} and annotation_paths([]) == {}
    assert annotation_paths("a/states.bed.gz") == {"states": Path("a/states.bed.gz")}
    files = ["d/Gm12878_15state_segments_hg19.bed.gz", "d/K562_15state_segments_hg19.bed.gz"]
    assert list(annotation_paths(files)) == ["Gm12878", "K562"]
    assert annotation_paths({"x y": "a.bed"}) == {"x y": Path("a.bed")}
    with pytest.raises(ValueError, match="several files would be named 'a'; give a mapping"):
        annotation_paths(["one/a.bed", "two/a.bed.gz"])
    with pytest.raises(ValueError, match="report.annotation: expected a path"):
        annotation_paths(3, key="report.annotation")


def _enrichment(name, counts, states=("X", "Y"), names=None):
    states = [*states, NONE]
    return Enrichment(name, Path(f"{name}.bed"), states, names or states, np.array(counts), 0.0)


def test_a_class_takes_a_state_name_only_above_the_threshold():
    agree = [[40, 2, 8], [10, 40, 900]]  # class 0 X-rich (log2 3.5); class 1 Y at about 0
    other = [[5, 40, 5], [45, 2, 903]]  # an annotation that disagrees: class 0 Y-rich
    enrs = [_enrichment("a", agree), _enrichment("b", agree), _enrichment("c", other)]
    states, medians = consensus_states(enrs, 2)
    assert states == ["X", ""]
    x0 = [log2_enrichment(np.array(c))[0, 0] for c in (agree, agree, other)]
    assert medians[0] == pytest.approx(np.median(x0)) and medians[0] > 3
    assert -0.1 < medians[1] < 1  # Y is class 1's best state, but below the threshold
    assert consensus_states(enrs, 2, min_log2=-1.0)[0] == ["X", "Y"]
    # too few of the class's bins in the state: not enriched there, whatever the ratio
    assert consensus_states(enrs, 2, min_bins=50)[0] == ["", ""]
    # states sharing a name are pooled: ChromHMM's E4 and E5 are both Strong Enhancer
    pooled = _enrichment("p", [[3, 3, 4], [0, 0, 90]], ("E4", "E5"), ["SE", "SE", NONE])
    assert consensus_states([pooled], 2)[0] == ["SE", ""]  # 6 bins together, 3 alone


def _state_beds(tmp_path, store, truth):
    """Two annotations marking the planted group 0 (as ``Enh``, and UCSC-style as
    ``7_Enh``), gzipped, named like ChromHMM files."""
    paths = []
    for i, label in enumerate(("Enh", "7_Enh")):
        lines = [
            f"{chrom}\t{b * BIN}\t{(b + 1) * BIN}\t{label}\n"
            for chrom in store.chroms
            for b in np.flatnonzero(truth[chrom] == 0)
        ]
        lines.append(f"{store.chroms[0]}\t0\t10\tOther\n")
        path = tmp_path / f"Cell{i}_2state_segments.bed.gz"
        with gzip.open(path, "wt") as fh:
            fh.write("".join(lines))
        paths.append(path)
    return paths


def test_several_annotations_written_and_name_classes(tmp_path, planted):
    store, truth = planted
    paths = _state_beds(tmp_path, store, truth)
    out = tmp_path / "c"
    build_classes(store, out, annotation=[str(p) for p in paths], plot=True, **FIT)
    model = load_classes(out, store)
    (first,) = [i for i, top in enumerate(model.top_tracks) if top.startswith("track0")]
    assert model.names[first] == "track0+track4+track1 | Enh"
    assert sum(" | " in n for n in model.names) == 1
    summary = json.loads((out / "enrichment" / "summary.json").read_text())
    assert list(summary["annotations"]) == ["Cell0", "Cell1"]
    assigned = model.info["n_bins_assigned"] * (1 - model.info["unassigned_genome_fraction"])
    for name, s in summary["annotations"].items():
        assert s["ami"] > 0.3, name  # group 0 against the rest; the classes find the groups
        assert (out / "enrichment" / f"{name}.png").stat().st_size > 1000
        text = (out / "enrichment" / f"{name}.tsv").read_text()
        rows = [r.split("\t") for r in text.splitlines()]
        assert rows[0] == [
            "class", "class_name", "state", "state_name", "bins", "expected", "log2_enrichment"
        ]  # fmt: skip
        assert len(rows) == 1 + model.n_classes * 3  # Enh, Other, (none) per class
        enh = [r for r in rows[1:] if r[0] == str(first) and r[3] == "Enh"]
        assert len(enh) == 1 and float(enh[0][6]) > 1
        assert sum(int(r[4]) for r in rows[1:]) == pytest.approx(assigned)
    assert summary["classes"][first]["state"] == "Enh"
    table = (out / "classes.tsv").read_text().splitlines()
    assert table[0].endswith("annotation_state\tannotation_log2_enrichment")
    manifest = json.loads((out / "manifest.json").read_text())
    assert sorted(manifest["inputs"]["annotation"]) == ["Cell0", "Cell1"]
    assert "enrichment/summary.json" in manifest["files"]
    # a rerun without annotations leaves no stale tables
    build_classes(store, out, plot=False, **FIT)
    assert not (out / "enrichment").exists()
    assert all(" | " not in n for n in load_classes(out, store).names)


@pytest.mark.parametrize(
    ("line", "error", "match"),
    [
        (None, FileNotFoundError, r"classes.annotation 'bad': BED file .*bad.bed does not exist"),
        ("chr1\t0\t100", ValueError, r"'bad': .*bad.bed line 3: expected at least 4 columns"),
        ("chr1\tten\t100\tA", ValueError, r"bad.bed line 3: start and end must be integers"),
    ],
)
def test_bad_annotation_names_file_and_line(tmp_path, planted, line, error, match):
    store = planted[0]
    out = tmp_path / "c"
    build_classes(store, out, plot=False, **FIT)
    (tmp_path / "good.bed").write_text("chr1\t0\t100\tA\n")
    bad = tmp_path / "bad.bed"
    if line is not None:
        bad.write_text(f"# states\nchr1\t0\t100\tA\n{line}\n")
    with pytest.raises(error, match=match):
        build_classes(store, out, annotation=[tmp_path / "good.bed", bad], plot=False, **FIT)
    load_classes(out, store)  # refused before fitting: the old folder is still trusted


# ---------------------------------------------------------------- the class folder


@pytest.fixture(scope="module")
def built(planted, tmp_path_factory):
    out = tmp_path_factory.mktemp("classes") / "convformer"
    build_classes(planted[0], out, **FIT)
    return out


def test_folder_round_trips(planted, fitted, built):
    store = planted[0]
    model = load_classes(built, store)
    x = np.asarray(store.bins(store.chroms[0])[:50])
    np.testing.assert_allclose(class_scores(x, model), class_scores(x, fitted), rtol=1e-6)
    assert model.names == fitted.names
    table = (built / "classes.tsv").read_text().splitlines()
    assert table[0].split("\t") == ["class", "name", "size", "genome_fraction", "top_tracks"]
    assert len(table) == 1 + model.n_classes
    assert sum(model.genome_fraction) + model.info["unassigned_genome_fraction"] == pytest.approx(1)
    assert (built / "pca.png").stat().st_size > 1000


def test_sqrt_folder_round_trips(planted, tmp_path):
    store = planted[0]
    build_classes(store, tmp_path / "c", plot=False, **FIT, transform="sqrt")
    model = load_classes(tmp_path / "c", store)
    assert model.transform == "sqrt" and model.info["params"]["transform"] == "sqrt"
    x = np.asarray(store.bins(store.chroms[0])[:50], dtype=np.float64)
    z = (np.sqrt(x) - model.mean) / model.std
    z[:, 4:] = (x[:, 4:] - model.mean[4:]) / model.std[4:]  # peak tracks as they are
    np.testing.assert_allclose(class_scores(x, model), z @ model.vectors.T, rtol=1e-5, atol=1e-6)


def test_bed_covers_every_bin_once(planted, built):
    store = planted[0]
    rows = [line.split("\t") for line in open(built / "classes.bed") if line[0] != "#"]
    for chrom in store.chroms:
        mine = [(int(r[1]), int(r[2])) for r in rows if r[0] == chrom]
        assert mine[0][0] == 0 and mine[-1][1] == store.n_bins[chrom] * BIN
        assert all(a[1] == b[0] for a, b in zip(mine, mine[1:], strict=False))
    labels = {int(r[3]) for r in rows}
    assert labels <= set(range(3)) | {UNASSIGNED}


def test_other_tracks_refused(tmp_path, built):
    arrays, _ = _planted((50,))
    other = _store(tmp_path / "other", arrays, names=[f"t{i}" for i in range(6)])
    with pytest.raises(
        ValueError,
        match=r"other \(classes in .*\) has 6 track\(s\) the classes lack .* rerun `genomics classes",
    ):
        load_classes(built, other)


def test_missing_manifest(tmp_path):
    (tmp_path / "preds").mkdir()
    np.save(tmp_path / "preds" / "chr1.npy", np.zeros((3, 2), np.float16))
    with pytest.raises(StoreError, match=r"no manifest.json .* run `genomics predict`"):
        open_store(tmp_path / "preds")
    with pytest.raises(StoreError, match=r"no manifest.json.* run `genomics classes`"):
        load_classes(tmp_path / "preds")


def test_killed_write_leaves_no_manifest(planted, tmp_path, monkeypatch):
    import genomics.classes.run as run

    out = tmp_path / "c"
    build_classes(planted[0], out, plot=False, **FIT)
    load_classes(out)
    monkeypatch.setattr(run, "write_table", dies_on_call(run.write_table, 1))
    with pytest.raises(KeyboardInterrupt):
        build_classes(planted[0], out, plot=False, **FIT)
    assert not (out / "manifest.json").exists()
    with pytest.raises(StoreError, match="genomics classes"):
        load_classes(out)


def test_bad_input_before_fitting_keeps_the_old_folder(planted, tmp_path):
    out = tmp_path / "c"
    build_classes(planted[0], out, plot=False, **FIT)
    with pytest.raises(ValueError, match="raise classes.n_sample"):
        build_classes(planted[0], out, plot=False, **{**FIT, "n_sample": 2})
    load_classes(out)


# ---------------------------------------------------------------- command line, bench


def test_cli_classes(workspace):
    root, _ = workspace
    code, err = run_cli(
        root,
        [
            "classes",
            "--predictions",
            "results/targets",
            "--out",
            "results/classes/observed",
            "--set",
            "classes.n_sample=2000",
            "--set",
            "classes.plot=false",
            "--set",
            "classes.annotation=[results/sim/elements.bed]",
        ],
    )
    assert code == 0, err
    manifest = json.loads((root / "results/classes/observed/manifest.json").read_text())
    assert manifest["params"]["n_sample"] == 2000 and manifest["params"]["assign"] == "centroid"
    assert list(manifest["inputs"]["annotation"]) == ["elements"]
    summary = json.loads((root / "results/classes/observed/enrichment/summary.json").read_text())
    assert 0 < summary["annotations"]["elements"]["ami"] < 1
    store = open_store(root / "results/targets")
    assert load_classes(root / "results/classes/observed", store).n_classes >= 1


def test_cli_bad_annotation_is_one_line(workspace, tmp_path):
    root, _ = workspace
    (tmp_path / "states.bed").write_text("chr1\t0\t100\tE1\nchr1\t100\t200\n")
    argv = ["classes", "--predictions", "results/targets", "--out", str(tmp_path / "c")]
    code, err = run_cli(root, [*argv, "--set", f"classes.annotation=[{tmp_path}/states.bed]"])
    assert code == 2 and err.count("\n") == 1
    assert (
        "classes.annotation 'states': " in err and "states.bed line 2: expected at least 4" in err
    )
    code, err = run_cli(root, [*argv, "--set", "classes.annotation={x: nope.bed}"])
    assert code == 2 and err.count("\n") == 1 and "'x': BED file nope.bed does not exist" in err


def test_stage_inputs_lists_every_annotation(tmp_path):
    from genomics.config import load_config
    from genomics.stage_inputs import stage_inputs

    a, b = tmp_path / "a.bed", tmp_path / "b.bed"
    a.write_text("chr1\t0\t10\tE1\n")
    cfg = load_config(overrides=[f"classes.annotation=[{a}, {b}]"])
    with pytest.raises(FileNotFoundError, match=r"classes.annotation 'b': .*b.bed does not exist"):
        stage_inputs(cfg)
    b.write_text("chr1\t0\t10\tE2\n")
    assert stage_inputs(cfg)["classes"] == [str(a), str(b)]
    cfg = load_config(overrides=[f"classes.annotation={a}", "classes.state_names=chromhmm15"])
    assert stage_inputs(cfg)["classes"] == [str(a)]
    cfg = load_config(overrides=[f"classes.state_names={tmp_path}/legend.tsv"])
    with pytest.raises(FileNotFoundError, match="classes.state_names: .*legend.tsv does not exist"):
        stage_inputs(cfg)


def test_cli_missing_predictions(workspace):
    root, _ = workspace
    code, err = run_cli(root, ["classes", "--predictions", "results/nope"])
    assert code == 2
    assert err.count("\n") == 1 and "run `genomics predict`" in err


@pytest.mark.slow
def test_scale_bench_tiny(tmp_path):
    out = subprocess.run(
        [
            sys.executable,
            str(ROOT / "bench" / "classes_scale.py"),
            "--tiny",
            "--out",
            str(tmp_path),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-2000:]
    assert "projected" in out.stdout


def test_merge_low_signal_joins_background_clusters_and_renumbers_by_size():
    from genomics.classes.fit import merge_low_signal

    rng = np.random.default_rng(0)
    t = 4
    # clusters 0-2: background (every track near 0); 3: track 0 high; 4: track 2 high
    centres = np.zeros((5, t))
    centres[3, 0] = 3.0
    centres[4, 2] = 2.0
    sizes = [30, 25, 20, 40, 10]
    cluster = np.repeat(np.arange(5), sizes)
    z = centres[cluster] + rng.normal(0, 0.05, (len(cluster), t))
    merged = merge_low_signal(cluster, z)
    # background (75 bins) is now one cluster, the largest: 0; then track-0 (40) and track-2 (10)
    assert np.all(merged[cluster <= 2] == 0)
    assert np.all(merged[cluster == 3] == 1) and np.all(merged[cluster == 4] == 2)
    # a signal cluster is never merged, and nothing changes with one background cluster
    one = merge_low_signal(np.where(cluster <= 2, 0, cluster - 2), z)
    assert len(np.unique(one)) == 3


def test_merge_similar_joins_clusters_of_one_direction_only():
    from genomics.classes.fit import merge_similar

    rng = np.random.default_rng(0)
    t = 4
    # 0: track 0 strong; 1: track 0 weak (same direction); 2: track 0 + track 1 (cosine 0.71
    # with 0); 3 and 4: background (low signal, never merged by direction)
    centres = np.zeros((5, t))
    centres[0, 0], centres[1, 0] = 4.0, 1.0
    centres[2, :2] = 2.0
    centres[3, 3], centres[4, 3] = 0.1, -0.1
    sizes = [10, 30, 20, 15, 5]
    cluster = np.repeat(np.arange(5), sizes)
    z = centres[cluster] + rng.normal(0, 0.01, (len(cluster), t))
    merged = merge_similar(cluster, z, 0.99)
    # 0 and 1 are one cluster (40 bins, now the largest: 0), then 2 (20), 3 (15), 4 (5)
    assert np.all(merged[cluster <= 1] == 0)
    assert [int(merged[cluster == c][0]) for c in (2, 3, 4)] == [1, 2, 3]
    # a lower threshold also joins track 0 + track 1; background is never joined
    loose = merge_similar(cluster, z, 0.5)
    assert len(np.unique(loose[cluster <= 2])) == 1
    assert len(np.unique(loose)) == 3
    # nothing above the threshold: labels only renumbered by size
    strict = merge_similar(cluster, z, 1.0)
    assert len(np.unique(strict)) == 5 and np.all(strict[cluster == 1] == 0)


def _ward_brute_force(cluster, points, k):
    """Reference for merge_to: recompute every pair's Ward cost from the means each step."""
    groups = {i: np.flatnonzero(cluster == i) for i in np.unique(cluster)}
    while len(groups) > k:
        keys = sorted(groups)
        best = None
        for i, a in enumerate(keys):
            for b in keys[i + 1 :]:
                pa, pb = points[groups[a]], points[groups[b]]
                na, nb = len(pa), len(pb)
                cost = na * nb / (na + nb) * ((pa.mean(0) - pb.mean(0)) ** 2).sum()
                if best is None or cost < best[0]:
                    best = (cost, a, b)
        _, a, b = best
        groups[a] = np.concatenate([groups[a], groups.pop(b)])
    out = np.empty(len(cluster), np.int64)
    for i, members in enumerate(sorted(groups.values(), key=lambda m: (-len(m), m.min()))):
        out[members] = i
    return out


def test_merge_to_merges_the_cheapest_pairs_by_ward():
    from genomics.classes.fit import merge_to

    rng = np.random.default_rng(0)
    # A (50 bins at 0) and a small slice of it, B (5 at 0.5); C (40 at 5) and D (4 at 5.3)
    centres = np.array([[0.0, 0.0], [0.5, 0.0], [5.0, 0.0], [5.3, 0.0]])
    sizes = [50, 5, 40, 4]
    cluster = np.repeat(np.arange(4), sizes)
    pts = centres[cluster] + rng.normal(0, 0.01, (len(cluster), 2))
    merged = merge_to(cluster, pts, 2)
    assert np.all(merged[cluster <= 1] == 0) and np.all(merged[cluster >= 2] == 1)
    # as many as asked or fewer: labels only renumbered by size
    same = merge_to(cluster, pts, 4)
    assert [int(same[cluster == c][0]) for c in range(4)] == [0, 2, 1, 3]
    # the Lance-Williams updates give what recomputing every cost each step gives
    for seed in range(3):
        r = np.random.default_rng(seed)
        cl = r.integers(0, 9, 120)
        p = r.normal(0, 1, (120, 3)) + r.normal(0, 3, (9, 3))[cl]
        np.testing.assert_array_equal(merge_to(cl, p, 3), _ward_brute_force(cl, p, 3))


def test_refine_moves_each_point_to_its_nearest_mean():
    from genomics.classes.fit import refine

    rng = np.random.default_rng(0)
    pts = np.concatenate([rng.normal(0, 0.1, (30, 2)), rng.normal(4, 0.1, (20, 2))])
    cluster = np.repeat([0, 1], [30, 20])
    wrong = cluster.copy()
    wrong[[0, 1]] = 1  # two points of the first group start in the second cluster
    got, n_iter, moved = refine(wrong, pts, seed=0)
    np.testing.assert_array_equal(got, cluster)
    assert moved == pytest.approx(2 / 50) and n_iter >= 1
