"""The run report (`genomics report`): every class has a page, every figure is embedded,
every link resolves, variant sections render when scores exist (and say so when not), bad
input is one clear line, and a real browser opens the pages without errors."""

from __future__ import annotations

import base64
import gzip
import json
import shutil
import subprocess
import time
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest

from genomics.classes import build_classes
from genomics.config import load_config
from genomics.data.genome import GenomeStore
from genomics.data.predictions import PredictionStore
from genomics.io import write_manifest
from genomics.report import RunFiles, annotations_for, build_report, page_name
from genomics.report.html import Table, cell
from genomics.report.locations import bins_per_chrom, example_loci
from genomics.report.variant_scores import class_columns, read_variant_scores

from conftest import run_cli

NAME = "convformer"
# a 1x1 PNG: what a stage's figure file stands in for
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNk+M9QDwADhgGAWjR9awAAAABJRU5ErkJggg=="
)


def _fake_predictions(targets: Path, out: Path, seed: int = 0) -> PredictionStore:
    """A prediction store laid out like ``genomics predict``'s: the observed tracks plus
    noise (float16), with a manifest of kind "predictions"."""
    manifest = json.loads((targets / "manifest.json").read_text())
    out.mkdir(parents=True)
    rng = np.random.default_rng(seed)
    files = []
    for chrom in manifest["chroms"]:
        x = np.load(targets / f"{chrom}.npy").astype(np.float32)
        np.save(out / f"{chrom}.npy", (x * 0.8 + rng.random(x.shape)).astype(np.float16))
        files.append(f"{chrom}.npy")
    shutil.copy(targets / "tracks.tsv", out / "tracks.tsv")
    write_manifest(
        out,
        kind="predictions",
        format_version=1,
        params={"bin_size": manifest["params"]["bin_size"], "dtype": "float16"},
        inputs={"model": {"path": "results/model/convformer", "fingerprint": "sha256:0"}},
        files=[*files, "tracks.tsv"],
        extra={"chroms": manifest["chroms"], "tracks": manifest["tracks"]},
    )
    return PredictionStore(out)


def _fake_eval(folder: Path, names: list[str]) -> None:
    folder.mkdir(parents=True)
    head = "track\tkind\tn_bins\ttarget_mean\tpred_mean\tpearson\tpearson_log1p\tspearman\n"
    rows = [
        f"{n}\tcoverage\t100\t1.0\t0.9\t{0.5 + i / 50}\t0.6\tnan\n" for i, n in enumerate(names)
    ]
    (folder / "metrics.tsv").write_text(head + "".join(rows))
    summary = {"split": "test", "n_windows": 4, "pearson": 0.6, "pearson_n": len(names)}
    (folder / "metrics.json").write_text(json.dumps({"summary": summary}))
    for name in ("metric_bars.png", "tracks-0.png"):
        (folder / name).write_bytes(PNG)


@pytest.fixture(scope="module")
def run(workspace, tmp_path_factory) -> Path:
    """A run's results: the tiny workspace's stores, a fake model, evaluation and
    prediction store, and real classes fitted on the predictions."""
    root, cfg = workspace
    res = tmp_path_factory.mktemp("run") / "results"
    for name in ("sim", "genome", "targets"):
        (res / name).parent.mkdir(parents=True, exist_ok=True)
        (res / name).symlink_to(root / "results" / name)
    store = _fake_predictions(res / "targets", res / "predictions" / NAME)
    model = res / "model" / NAME
    model.mkdir(parents=True)
    spec = {"name": NAME, "n_tracks": store.n_tracks, "track_names": store.names, "seq_len": 8192}
    (model / "model.json").write_text(json.dumps(spec))
    (model / "config.yaml").write_text("seed: 0\n")
    _fake_eval(res / "eval" / NAME, store.names)
    build_classes(
        store,
        res / "classes" / NAME,
        genome=GenomeStore(res / "genome"),
        n_sample=3000,
        n_classes=5,
        seed=0,
        n_components=8,
        n_neighbors=10,
        resolution=1.0,
        plot=True,
        progress=False,
    )
    return res


def _fake_scores(path: Path, class_names: list[str], *, skip: int) -> None:
    """A scores table as `genomics score-variants` writes it: id chrom pos ref alt, track
    columns, then ``class:<name>`` per class (class ``skip`` left out)."""
    rng = np.random.default_rng(1)
    cols = [f"class:{n}" for k, n in enumerate(class_names) if k != skip]
    lines = ["\t".join(["id", "chrom", "pos", "ref", "alt", "tf_m0:sad", *cols])]
    for i in range(40):
        d = rng.normal(size=len(cols))
        lines.append(
            "\t".join(
                [f"v{i}", "chr1", str(1000 + 37 * i), "A", "G", "0.1"] + [f"{x:.4g}" for x in d]
            )
        )
    path.parent.mkdir(parents=True, exist_ok=True)
    with gzip.open(path, "wt") as fh:
        fh.write("\n".join(lines) + "\n")


class _Links(HTMLParser):
    def __init__(self):
        super().__init__()
        self.hrefs, self.imgs, self.ids = [], [], set()

    def handle_starttag(self, tag, attrs):
        a = dict(attrs)
        if "id" in a:
            self.ids.add(a["id"])
        if tag == "a" and "href" in a:
            self.hrefs.append(a["href"])
        if tag == "img":
            self.imgs.append(a.get("src", ""))
        if tag in ("script", "link") and (a.get("src") or "").startswith("http"):
            self.hrefs.append(a["src"])


def _parse(path: Path) -> _Links:
    p = _Links()
    p.feed(path.read_text())
    return p


def _check_pages(out: Path) -> dict[str, _Links]:
    """Every page's images are non-empty PNG data URIs and every link resolves inside."""
    pages = {p.name: _parse(p) for p in out.glob("*.html")}
    for name, page in pages.items():
        assert page.imgs, f"{name} has no figure"
        for src in page.imgs:
            assert src.startswith("data:image/png;base64,"), (name, src[:40])
            data = base64.b64decode(src.split(",", 1)[1])
            assert data[:8] == b"\x89PNG\r\n\x1a\n" and len(data) > 60, name
        for href in page.hrefs:
            assert not href.startswith(("http:", "https:", "//")), (name, href)
            target, _, anchor = href.partition("#")
            target = target or name
            assert target in pages, (name, href)
            if anchor:
                assert anchor in pages[target].ids, (name, href)
    return pages


@pytest.fixture(scope="module")
def report(run, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("report")
    t0 = time.perf_counter()
    build_report(RunFiles(run, NAME, run / "sim" / "elements.bed"), out, n_loci=2)
    print(f"report built in {time.perf_counter() - t0:.1f} s: {out}")
    return out


def test_a_page_per_class_figures_embedded_links_resolve(run, report):
    n = json.loads((run / "classes" / NAME / "manifest.json").read_text())["n_classes"]
    assert sorted(p.name for p in report.glob("class-*.html")) == sorted(
        page_name(k) for k in range(n)
    )
    pages = _check_pages(report)
    index = pages["index.html"]
    assert {page_name(k) for k in range(n)} <= set(index.hrefs)
    text = (report / "index.html").read_text()
    assert "No variant scores in this run" in text
    assert "sha256:" in text  # input checksums from the manifests
    for page in report.glob("class-*.html"):
        html = page.read_text()
        assert "No variant scores in this run" in html
        assert "Annotation enrichment" in html and "motif:" in html
        assert html.count("<img") >= 3  # profile, chromosomes, at least one locus


def test_variant_sections_when_scores_exist(run, tmp_path):
    res = tmp_path / "results"
    shutil.copytree(run, res, symlinks=True)
    model = RunFiles(res, NAME).classes()
    _fake_scores(res / "variants" / NAME / "scores.tsv.gz", model.names, skip=1)
    (res / "benchmark" / NAME).mkdir(parents=True)
    (res / "benchmark" / NAME / "spearman.tsv").write_text("track\tspearman\ntf_m0\t0.5\n")
    (res / "benchmark" / NAME / "scatter.png").write_bytes(PNG)
    out = tmp_path / "report"
    build_report(RunFiles(res, NAME), out, n_loci=1, top_variants=3)
    _check_pages(out)
    index = (out / "index.html").read_text()
    assert "40 scored variant alleles" in index and "spearman.tsv" in index
    shown = (out / page_name(0)).read_text()
    assert "Variants that raise the class most" in shown and "v" in shown
    assert "No variant scores in this run for this class" in (out / page_name(1)).read_text()


def test_stale_class_pages_removed(report, run, tmp_path):
    out = tmp_path / "r"
    out.mkdir()
    (out / "class-99.html").write_text("old")
    build_report(RunFiles(run, NAME), out, n_loci=0)
    assert not (out / "class-99.html").exists()


def test_missing_class_folder_is_one_line_naming_it(run, tmp_path):
    res = tmp_path / "results"
    shutil.copytree(run, res, symlinks=True)
    shutil.rmtree(res / "classes")
    with pytest.raises(ValueError, match=r"classes/convformer.*genomics classes"):
        build_report(RunFiles(res, NAME), tmp_path / "out")
    shutil.rmtree(res / "eval")
    with pytest.raises(ValueError, match=r"eval/convformer/metrics.tsv.*genomics evaluate"):
        build_report(RunFiles(res, NAME), tmp_path / "out")
    assert not (tmp_path / "out" / "index.html").exists()


def test_cli_report(run):
    root = run.parent
    code, err = run_cli(
        root, ["report", "--set", "report.example_loci=1", "--out", "results/report"]
    )
    assert code == 0, err
    assert (root / "results/report/index.html").is_file()
    # the synthetic default's annotation is found without --annotation
    assert "Annotation enrichment" in (root / "results/report" / page_name(0)).read_text()
    code, err = run_cli(root, ["report", "--results", "nope"])
    assert code == 2 and err.count("\n") == 1 and "genomics train" in err, err


def test_example_loci_and_counts_hand_made():
    labels = {"a": np.array([0, 0, 1, 1, 1, -1, -2, 1], dtype=np.int16), "b": np.array([1, 0])}
    counts = bins_per_chrom(labels, 2)
    assert counts["a"].tolist() == [2, 4, 1] and counts["b"].tolist() == [1, 1, 0]
    loci = example_loci(labels, 1, n=3, width=4)
    assert (loci[0].chrom, loci[0].start_bin, loci[0].end_bin, loci[0].run_bins) == ("a", 1, 5, 3)
    assert all(x.end_bin - x.start_bin <= 4 for x in loci)
    assert not example_loci(labels, 5, n=2, width=4)


def _segments(path: Path, sizes: dict[str, int], *, step: int = 5000) -> Path:
    """A ChromHMM-like segmentation (UCSC labels) tiling each chromosome in 5-kb steps."""
    states = ["1_Active_Promoter", "13_Heterochrom/lo", "13_Heterochrom/lo", "8_Insulator"]
    with gzip.open(path, "wt") as fh:
        for chrom, n in sizes.items():
            for i, start in enumerate(range(0, n, step)):
                fh.write(f"{chrom}\t{start}\t{min(start + step, n)}\t{states[i % 4]}\n")
    return path


def test_several_annotations_heat_maps_and_ami(run, tmp_path):
    sizes = dict(line.split() for line in (run / "genome" / "chrom.sizes").read_text().splitlines())
    seg = _segments(tmp_path / "seg.bed.gz", {c: int(n) for c, n in sizes.items()})
    files = RunFiles(run, NAME, {"elements": run / "sim" / "elements.bed", "segments": seg})
    out = tmp_path / "report"
    build_report(files, out, n_loci=0)
    pages = _check_pages(out)
    index = (out / "index.html").read_text()
    assert "Classes against annotations" in index and 'id="annotations"' in index
    assert index.count("Adjusted mutual information") == 2
    for name in ("elements", "segments"):
        assert f"enrichment heat map of {name}" in index
    n = len(pages["index.html"].imgs)
    build_report(RunFiles(run, NAME, run / "sim" / "elements.bed"), tmp_path / "one", n_loci=0)
    assert n == len(_parse(tmp_path / "one" / "index.html").imgs) + 1  # a heat map each
    page = (out / page_name(0)).read_text()
    assert page.count("(AMI ") == 2 and "segments (AMI" in page and "elements (AMI" in page
    assert "Active Promoter" in page and "Heterochrom/lo" in page  # UCSC labels named


def test_annotations_from_the_config(tmp_path):
    cfg = load_config(overrides=["classes.annotation=[x/A_seg.bed, x/B_seg.bed]"])
    assert annotations_for(cfg, tmp_path) == {"A": Path("x/A_seg.bed"), "B": Path("x/B_seg.bed")}
    cfg = load_config(overrides=["report.annotation={mine: m.bed}"])
    assert annotations_for(cfg, tmp_path) == {"mine": Path("m.bed")}
    cfg = load_config(overrides=[f"genome.fasta={tmp_path}/sim/genome.fa"])
    assert annotations_for(cfg, tmp_path) == {}
    assert annotations_for(cfg, tmp_path, must_exist=False) == {
        "elements": tmp_path / "sim" / "elements.bed"
    }


def test_class_columns_by_index_or_name(tmp_path):
    names = ["tf_m0", "low signal"]
    assert class_columns(["id", "class:low signal", "class_0"], names) == [2, 1]
    assert class_columns(["class:0:x"], names) == [0, None]
    path = tmp_path / "s.tsv"
    path.write_text("id\tchrom\tpos\tref\talt\tclass:tf_m0\nv\tchr1\t5\tA\tC\tNA\n")
    s = read_variant_scores(path, names)
    assert len(s) == 1 and np.isnan(s.delta).all() and s.have.tolist() == [True, False]
    path.write_text("id\tchrom\tref\n")
    with pytest.raises(ValueError, match="lacks column.*pos.*score-variants"):
        read_variant_scores(path, names)


def test_cells_format_and_sort_numbers():
    t = Table.of("t", [("a", "")], [["3"], ["1.23456789"], ["nan"], ["x"]])
    assert [r[0].text for r in t.rows] == ["3", "1.235", "-", "x"]
    assert cell(1234).text == "1,234" and cell(1234).sort == "1234" and cell(1234).num


# -- a real browser -----------------------------------------------------------------------

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).is_file()),
    None,
)
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
# put first in <head>: records errors; after load, the images that did not decode
PROBE_HEAD = """<script>window.__errors = [];
window.addEventListener("error", function (e) { window.__errors.push(String(e.message || e.type)); }, true);
(function () { var f = console.error; console.error = function () {
  window.__errors.push(Array.prototype.join.call(arguments, " ")); f.apply(console, arguments); }; })();
</script>"""
PROBE_TAIL = """<script>window.addEventListener("load", function () {
  var imgs = Array.prototype.slice.call(document.images);
  var pre = document.createElement("pre"); pre.id = "probe";
  pre.textContent = JSON.stringify({errors: window.__errors, images: imgs.length,
    broken: imgs.filter(function (i) { return !i.complete || i.naturalWidth === 0; }).length});
  document.body.appendChild(pre);
  var th = document.querySelector("table.sortable th"); if (th) th.click();
});</script>"""


def _chromium(page: Path, tmp: Path, *extra: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{time.monotonic_ns()}"
    profile.mkdir()
    cmd = [CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *extra, page.as_uri()]
    return subprocess.run(cmd, capture_output=True, text=True, timeout=120)


@pytest.mark.slow  # starts a browser four times
@pytest.mark.skipif(CHROMIUM is None, reason="chromium not installed (apt-get install chromium)")
@pytest.mark.parametrize("page", ["index.html", page_name(0)])
def test_pages_open_in_headless_chromium(report, page, tmp_path):
    html = (report / page).read_text()
    probed = report / f"probe-{page}"
    probed.write_text(
        html.replace("<head>", "<head>" + PROBE_HEAD, 1).replace(
            "</body>", PROBE_TAIL + "</body>", 1
        )
    )
    try:
        r = _chromium(
            probed,
            tmp_path,
            "--dump-dom",
            "--virtual-time-budget=5000",
            "--enable-logging=stderr",
            "--v=0",
        )
    finally:
        probed.unlink()
    assert r.returncode == 0, r.stderr[-2000:]
    start = r.stdout.find('<pre id="probe">')
    assert start >= 0, "the probe did not run: " + r.stderr[-2000:]
    body = r.stdout[start + len('<pre id="probe">') : r.stdout.find("</pre>", start)]
    probe = json.loads(body.replace("&quot;", '"').replace("&amp;", "&"))
    assert probe["errors"] == [], probe
    assert probe["images"] > 0 and probe["broken"] == 0, probe
    console = [
        x for x in r.stderr.splitlines() if "CONSOLE" in x and ("Uncaught" in x or "rror" in x)
    ]
    assert not console, console
    shot = tmp_path / f"{page}.png"
    r = _chromium(report / page, tmp_path, f"--screenshot={shot}", "--window-size=1280,2400")
    assert shot.is_file() and shot.stat().st_size > 10_000, r.stderr[-2000:]
    print(f"screenshot of {page}: {shot}")


def test_every_evaluate_column_has_a_legend():
    """The metrics table explains each column evaluate can write, ceiling columns included."""
    from genomics.inference.metrics import CEILING_COLUMNS, COLUMNS
    from genomics.report.build import METRIC_COLUMNS

    missing = [c for c in (*COLUMNS, *CEILING_COLUMNS) if not METRIC_COLUMNS.get(c)]
    assert not missing
