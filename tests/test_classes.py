"""Sequence classes: scores, fitting, assignment, the class folder and its bad inputs."""

from __future__ import annotations

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
    build_classes,
    class_scores,
    fit_classes,
    iter_assign,
    load_classes,
    open_store,
)
from genomics.classes.regions import bin_labels, excluded_bins, read_bed
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
    for method in ("knn", "score"):
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
    assert agree["knn"] > 0.95 and agree["score"] > 0.95


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


def test_bin_labels_overlapping_regions():
    regions = {
        "c": (np.array([0, 100, 150]), np.array([1000, 200, 160]), np.array(["A", "B", "C"]))
    }
    got = bin_labels(regions, "c", np.array([0, 1, 2, 3, 20]), 100, missing="-")
    # centres 50, 150, 250, 350, 2050: A; C starts last before 150 (and covers it); A; A; none
    assert list(got) == ["A", "C", "A", "A", "-"]


def test_annotation_names_classes(tmp_path, planted):
    store, truth = planted
    lines = []
    for chrom in store.chroms:
        for b in np.flatnonzero(truth[chrom] == 0):
            lines.append(f"{chrom}\t{b * BIN}\t{(b + 1) * BIN}\tEnh\n")
    lines.append(f"{store.chroms[0]}\t0\t10\tOther\n")
    (tmp_path / "states.bed").write_text("".join(lines))
    model = fit_classes(store, **FIT, annotation=tmp_path / "states.bed")
    (first,) = [i for i, top in enumerate(model.top_tracks) if top.startswith("track0")]
    assert model.names[first] == "track0+track4+track1 | Enh"
    assert model.info["annotation_log2_enrichment"][first] > 1


def test_annotation_needs_a_state_column(tmp_path, planted):
    (tmp_path / "x.bed").write_text("chr1\t0\t100\n")
    with pytest.raises(
        ValueError, match=r"classes.annotation: .*x.bed line 1: expected at least 4"
    ):
        read_bed(tmp_path / "x.bed", ["chr1"], named=True, key="classes.annotation")


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
        ],
    )
    assert code == 0, err
    manifest = json.loads((root / "results/classes/observed/manifest.json").read_text())
    assert manifest["params"]["n_sample"] == 2000 and manifest["params"]["assign"] == "knn"
    store = open_store(root / "results/targets")
    assert load_classes(root / "results/classes/observed", store).n_classes >= 1


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
