"""Training-recipe search (issue 21): train each variant of a config on the same stores,
score it on the valid split against the noise ceiling, and print one table.

Each variant is a name and ``--set`` overrides (``name:key=value,key=value``; a bare
``name:`` is the config as it is). Every variant trains ``--steps`` optimizer steps with
``genomics train`` into ``<out>/<name>/model`` and is scored with ``genomics evaluate
--split valid --noise-free <stores>/targets-noise-free`` (the valid split only: the test
split is for the figure of the chosen recipe, never for choosing). ``--jobs`` variants run
at once, each with ``--threads`` torch threads; a variant whose ``metrics.json`` exists is
not rerun, so the search resumes where it stopped.

    python bench/recipe_search.py --config configs/hard.yaml --stores results \\
        --out recipe --steps 700 --jobs 2 --threads 1 \\
        --variant base: --variant lr002:train.lr=0.002 \\
        --variant stem64:model.convformer.stem_channels=64

    python bench/recipe_search.py --tiny   # a tiny simulated genome, two 8-step variants

Prints a Markdown table: per-track valid Pearson, the mean, the mean and the lowest share
of the noise ceiling, and each variant's training seconds; ``--json`` also writes it. On
real data (no ``targets-noise-free/`` in ``--stores``, peak tracks) the table gives the
median AUROC and AUPRC over tracks instead.
"""

from __future__ import annotations

import argparse
import concurrent.futures
import json
import logging
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

log = logging.getLogger("recipe_search")


def parse_variant(text: str) -> tuple[str, list[str]]:
    """``name:key=value,key=value`` -> (name, ["key=value", ...])."""
    name, _, sets = text.partition(":")
    if not name or any(c in name for c in "/ "):
        raise SystemExit(
            f"--variant {text!r}: give name:key=value,... (a name without / or spaces)"
        )
    return name, [s for s in sets.split(",") if s]


def run_variant(name: str, sets: list[str], args: argparse.Namespace) -> dict:
    """Train and score one variant (skipped if its metrics exist); returns its row."""
    folder = args.out / name
    metrics = folder / "eval" / "metrics.json"
    timing = folder / "train_seconds.txt"
    stores = args.stores
    common = ["--config", str(args.config), "--set", f"train.max_steps={args.steps}"]
    common += [x for s in sets for x in ("--set", s)]
    data = ["--genome", str(stores / "genome"), "--targets", str(stores / "targets")]
    data += ["--windows", str(stores / "windows")]
    env = dict(os.environ, OMP_NUM_THREADS=str(args.threads), MKL_NUM_THREADS=str(args.threads))
    if not metrics.exists():
        folder.mkdir(parents=True, exist_ok=True)
        with open(folder / "log.txt", "w") as out:
            start = time.perf_counter()
            train = [sys.executable, "-m", "genomics", "train", *common, *data]
            train += ["--out", str(folder / "model")]
            subprocess.run(train, check=True, stdout=out, stderr=subprocess.STDOUT, env=env)
            timing.write_text(f"{time.perf_counter() - start:.1f}\n")
            score = [sys.executable, "-m", "genomics", "evaluate", *common, *data]
            score += ["--model", str(folder / "model"), "--split", "valid"]
            if (stores / "targets-noise-free").is_dir():
                score += ["--noise-free", str(stores / "targets-noise-free")]
            score += ["--out", str(folder / "eval")]
            subprocess.run(score, check=True, stdout=out, stderr=subprocess.STDOUT, env=env)
    result = json.loads(metrics.read_text())
    tracks = {t["track"]: t for t in result["tracks"]}
    shares = [t["pearson_of_ceiling"] for t in tracks.values() if "pearson_of_ceiling" in t]
    peaks = [t for t in tracks.values() if t["kind"] == "peaks"]
    return {
        "variant": name,
        "sets": sets,
        "pearson": {k: t.get("pearson") for k, t in tracks.items()},
        "mean": result["summary"].get("pearson"),
        "share_mean": sum(shares) / len(shares) if shares else None,
        "share_min": min(shares) if shares else None,
        "train_s": _train_seconds(folder, timing),
        "auroc_median": _median([t["auroc"] for t in peaks if t.get("auroc") is not None]),
        "auprc_median": _median([t["auprc"] for t in peaks if t.get("auprc") is not None]),
    }


def _train_seconds(folder: Path, timing: Path) -> float | None:
    """Training wall time: the model's own count, summed over resumed runs (model.json),
    else this script's timing of its last train call."""
    spec = folder / "model" / "model.json"
    if spec.exists():
        seconds = json.loads(spec.read_text()).get("trained", {}).get("seconds")
        if seconds is not None and seconds == seconds:  # nan once unknown
            return float(seconds)
    return float(timing.read_text()) if timing.exists() else None


def _median(values: list[float]) -> float | None:
    return float(statistics.median(values)) if values else None


def peak_table(rows: list[dict]) -> str:
    """Rows of a search on peak tracks (real data): median AUROC and AUPRC over tracks."""
    head = ["variant", "median AUROC", "median AUPRC", "mean Pearson", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"`{r['variant']}`", f"**{r['auroc_median']:.3f}**"]
        cells += [f"**{r['auprc_median']:.4f}**", f"{r['mean']:.3f}"]
        cells += [f"{r['train_s']:.0f}" if r["train_s"] else ""]
        lines.append("| " + " | ".join(cells) + " |")
    sets = [f"- `{r['variant']}`: {', '.join(r['sets']) or '(the config as it is)'}" for r in rows]
    return "\n".join(lines + [""] + sets)


def table(rows: list[dict]) -> str:
    """Rows as one Markdown table, tracks as columns (share of ceiling when known)."""
    if rows[0]["auroc_median"] is not None and rows[0]["share_mean"] is None:
        return peak_table(rows)
    tracks = list(rows[0]["pearson"])
    head = ["variant", *tracks, "mean", "share of ceiling (mean / min)", "train s"]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for r in rows:
        cells = [f"`{r['variant']}`", *(f"{r['pearson'][t]:.3f}" for t in tracks)]
        share = f"{r['share_mean']:.2f} / {r['share_min']:.2f}" if r["share_mean"] else ""
        cells += [f"**{r['mean']:.3f}**", share]
        cells += [f"{r['train_s']:.0f}" if r["train_s"] else ""]
        lines.append("| " + " | ".join(cells) + " |")
    sets = [f"- `{r['variant']}`: {', '.join(r['sets']) or '(the config as it is)'}" for r in rows]
    return "\n".join(lines + [""] + sets)


def _tiny_stores(folder: Path, config: Path) -> Path:
    """Build the stores a search needs on the tiny test genome, as the workflow does."""
    g = [sys.executable, "-m", "genomics"]
    c = ["--config", str(config)]
    steps = [
        ["simulate", *c, "--out", "results/sim"],
        ["genome", *c, "--out", "results/genome"],
        ["targets", *c, "--genome", "results/genome", "--out", "results/targets"],
        ["targets", *c, "--set", "targets.tracks=results/sim/clean.tsv", "--genome",
         "results/genome", "--out", "results/targets-noise-free"],
        ["windows", *c, "--genome", "results/genome", "--out", "results/windows"],
    ]  # fmt: skip
    for step in steps:
        subprocess.run([*g, *step], check=True, cwd=folder, capture_output=True)
    return folder / "results"


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--config", type=Path)
    p.add_argument(
        "--stores",
        type=Path,
        help="folder with genome/, targets/, windows/ (and targets-noise-free/ if simulated)",
    )
    p.add_argument("--out", type=Path)
    p.add_argument("--steps", type=int, default=700)
    p.add_argument("--jobs", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--variant", action="append", type=parse_variant)
    p.add_argument("--json", type=Path)
    p.add_argument(
        "--tiny", action="store_true", help="the tiny test genome, two variants (seconds)"
    )
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", datefmt="%H:%M:%S")
    if args.tiny:
        tmp = tempfile.TemporaryDirectory()
        args.config = Path(__file__).resolve().parents[1] / "configs" / "test.yaml"
        args.stores = _tiny_stores(Path(tmp.name), args.config)
        args.out, args.steps, args.threads = Path(tmp.name) / "search", 8, 1
        args.variant = [("base", []), ("lr01", ["train.lr=0.01"])]
    if not (args.config and args.stores and args.out and args.variant):
        p.error("give --config, --stores, --out and at least one --variant (or --tiny)")
    for sub in ("genome", "targets", "windows"):
        if not (args.stores / sub).is_dir():
            raise SystemExit(
                f"--stores {args.stores}: no {sub}/ folder; run the workflow up to it first"
            )
    failed = set()
    with concurrent.futures.ThreadPoolExecutor(args.jobs) as pool:
        futures = {pool.submit(run_variant, n, s, args): n for n, s in args.variant}
        for f in concurrent.futures.as_completed(futures):
            try:
                f.result()
                log.info("%s done", futures[f])
            except subprocess.CalledProcessError:
                failed.add(futures[f])
                log.error("%s failed: see %s", futures[f], args.out / futures[f] / "log.txt")
    rows = [run_variant(n, s, args) for n, s in args.variant if n not in failed]
    if not rows:
        raise SystemExit(f"every variant failed; see {args.out}/<variant>/log.txt")
    text = table(rows)
    print(text)
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1) + "\n")


if __name__ == "__main__":
    main()
