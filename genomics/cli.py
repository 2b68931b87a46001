"""The ``genomics`` command: one subcommand per workflow stage.

Each subcommand parses its arguments, loads the validated config, calls one library
function and writes that stage's outputs. A user mistake (bad config, missing file, wrong
chromosome name, incomplete store) ends with one ``error: ...`` line and exit status 2;
``--debug`` shows the traceback instead.
"""

from __future__ import annotations

import argparse
import logging
import sys
import tempfile
from pathlib import Path

from genomics import __version__
from genomics.config import load_config

log = logging.getLogger("genomics")

# OSError: a missing or unreadable file, a folder where a file should be, a full or
# read-only disk; the message names the path
USER_ERRORS = (ValueError, OSError)


def _message(e: Exception) -> str:
    if isinstance(e, OSError) and e.filename is not None and e.strerror:
        return f"{e.filename}: {e.strerror}"
    return str(e)


def _out_folder(path: Path) -> Path:
    """``path`` as an output folder that can be made and written, checked before any work
    (a mistake here should not surface after an hour of training); nothing is created."""
    probe = path
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not probe.is_dir():
        raise ValueError(f"--out {path}: {probe} is a file, not a folder; give a folder path")
    try:
        with tempfile.TemporaryFile(dir=probe):
            pass
    except OSError as e:
        raise ValueError(f"--out {path}: cannot write into {probe} ({e.strerror or e})") from None
    return path


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--config", "-c", type=Path, help="YAML config (default: all defaults)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set train.lr=0.001 (repeatable)",
    )


def _store_arg(p: argparse.ArgumentParser, name: str, default: str, what: str) -> None:
    p.add_argument(
        f"--{name}", type=Path, default=Path(default), help=f"{what} (default: {default})"
    )


def cmd_simulate(args, cfg) -> None:
    from genomics.simulate import simulate

    simulate(args.out, seed=cfg["seed"], **cfg["simulate"])


def cmd_genome(args, cfg) -> None:
    from genomics.data.genome import build_genome_store

    g = cfg["genome"]
    build_genome_store(g["fasta"], args.out, chroms=g["chroms"], min_length=g["min_length"])


def cmd_targets(args, cfg) -> None:
    from genomics.data.genome import GenomeStore
    from genomics.data.targets import build_target_store, load_tracks

    t = cfg["targets"]
    genome = GenomeStore(args.genome)
    tracks = load_tracks(t["tracks"], source=str(args.config or "config"))
    build_target_store(genome, tracks, args.out, bin_size=t["bin_size"], dtype=t["dtype"])


def cmd_windows(args, cfg) -> None:
    from genomics.data.genome import GenomeStore
    from genomics.data.windows import build_windows

    w = cfg["windows"]
    build_windows(
        GenomeStore(args.genome),
        args.out,
        length=w["length"],
        stride=w["stride"],
        bin_size=cfg["targets"]["bin_size"],
        valid=w["split"]["valid"],
        test=w["split"]["test"],
        max_n_fraction=w["max_n_fraction"],
        blacklist=w["blacklist"],
    )


def cmd_train(args, cfg) -> None:
    from genomics.train.from_config import train_from_config

    out = args.out or _out_folder(Path("results/model") / cfg["model"]["name"])
    result = train_from_config(
        cfg,
        genome_dir=args.genome,
        targets_dir=args.targets,
        windows_dir=args.windows,
        out=out,
        restart_if_changed=args.restart_if_changed,
    )
    log.info(
        "trained %d steps (%.1f epochs) in %.0f s; best %s %s at step %s",
        result.steps,
        result.epochs,
        result.seconds,
        cfg["train"]["early_stopping"]["metric"],
        "n/a" if result.best_value is None else f"{result.best_value:.4f}",
        result.best_step,
    )


def cmd_evaluate(args, cfg) -> None:
    from genomics.evaluate.from_config import evaluate_from_config

    name = cfg["model"]["name"]
    model = args.model or Path("results/model") / name
    default = model.name if args.split == "test" else f"{model.name}-{args.split}"
    out = args.out or _out_folder(Path("results/eval") / default)
    evaluate_from_config(
        cfg,
        model_dir=model,
        genome_dir=args.genome,
        targets_dir=args.targets,
        windows_dir=args.windows,
        out=out,
        split=args.split,
        noise_free_dir=args.noise_free,
    )


def cmd_predict(args, cfg) -> None:
    from genomics.predict.from_config import parse_part, predict_from_config

    name = cfg["model"]["name"]
    model = args.model or Path("results/model") / name
    out = args.out or _out_folder(Path("results/predictions") / model.name)
    if args.bigwig:
        cfg["predict"]["bigwig"] = True
    predict_from_config(
        cfg,
        model_dir=model,
        genome_dir=args.genome,
        out=out,
        part=parse_part(args.part) if args.part else None,
        merge_only=args.merge,
    )


def cmd_classes(args, cfg) -> None:
    from genomics.classes import classes_from_config

    name = cfg["model"]["name"]
    predictions = args.predictions or Path("results/predictions") / name
    out = args.out or _out_folder(Path("results/classes") / predictions.name)
    classes_from_config(cfg, predictions_dir=predictions, genome_dir=args.genome, out=out)


def cmd_score_variants(args, cfg) -> None:
    from genomics.variants import variants_from_config

    name = cfg["model"]["name"]
    model = args.model or Path("results/model") / name
    vcf = args.vcf or cfg["variants"]["vcf"] or Path("results/sim/variants.vcf")
    out = args.out or _out_folder(Path("results/variants") / model.name)
    if args.strict:
        cfg["variants"]["strict"] = True
    if args.context is not None:
        cfg["variants"]["context"] = str(args.context)
    if args.annotated_vcf:
        cfg["variants"]["annotated_vcf"] = True
    variants_from_config(
        cfg, model_dir=model, genome_dir=args.genome, vcf=vcf, out=out, classes_dir=args.classes
    )


def cmd_benchmark(args, cfg) -> None:
    from genomics.variants.benchmark import benchmark_from_config

    name = cfg["model"]["name"]
    scores = args.scores or Path("results/variants") / name / "scores.tsv.gz"
    measured = args.measured or cfg["benchmark"]["measured"] or Path("results/sim/effects.tsv")
    out = args.out or _out_folder(Path("results/benchmark") / scores.parent.name)
    for key in ("score", "select_on"):
        if getattr(args, key) is not None:
            cfg["benchmark"][key] = getattr(args, key)
    benchmark_from_config(cfg, scores=scores, measured=measured, out=out)


def cmd_report(args, cfg) -> None:
    from genomics.report import report_from_config

    out = args.out or _out_folder(args.results / "report")
    report_from_config(cfg, results=args.results, out=out, annotation=args.annotation)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="genomics", description="Learn how DNA sequence controls chromatin."
    )
    parser.add_argument("--version", action="version", version=f"genomics {__version__}")
    verbosity = parser.add_mutually_exclusive_group()
    verbosity.add_argument("-v", "--verbose", action="store_true", help="debug logging")
    verbosity.add_argument("-q", "--quiet", action="store_true", help="warnings and errors only")
    parser.add_argument("--debug", action="store_true", help="show tracebacks for errors")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    p = sub.add_parser("simulate", help="write the synthetic genome, tracks and variants")
    _common(p)
    _store_arg(p, "out", "results/sim", "output folder")
    p.set_defaults(func=cmd_simulate)

    p = sub.add_parser("genome", help="build the genome store from the FASTA")
    _common(p)
    _store_arg(p, "out", "results/genome", "genome store to write")
    p.set_defaults(func=cmd_genome)

    p = sub.add_parser("targets", help="bin the tracks into the target store")
    _common(p)
    _store_arg(p, "genome", "results/genome", "genome store")
    _store_arg(p, "out", "results/targets", "target store to write")
    p.set_defaults(func=cmd_targets)

    p = sub.add_parser("windows", help="tile the genome into train/valid/test windows")
    _common(p)
    _store_arg(p, "genome", "results/genome", "genome store")
    _store_arg(p, "out", "results/windows", "windows folder to write")
    p.set_defaults(func=cmd_windows)

    p = sub.add_parser("train", help="train the configured model (resumes from checkpoints)")
    _common(p)
    _store_arg(p, "genome", "results/genome", "genome store")
    _store_arg(p, "targets", "results/targets", "target store")
    _store_arg(p, "windows", "results/windows", "windows folder")
    p.add_argument("--out", type=Path, help="model folder (default: results/model/<model.name>)")
    p.add_argument(
        "--restart-if-changed",
        action="store_true",
        help="if the folder's checkpoints were made with another config or on other data, "
        "set them aside (superseded/<run>/) and train this config (resuming its own run if "
        "one was set aside earlier) instead of stopping with an error; the workflow passes "
        "this, as it reruns train only when those changed",
    )
    p.set_defaults(func=cmd_train)

    p = sub.add_parser("evaluate", help="score a trained model on held-out windows")
    _common(p)
    p.add_argument("--model", type=Path, help="model folder (default: results/model/<model.name>)")
    _store_arg(p, "genome", "results/genome", "genome store")
    _store_arg(p, "targets", "results/targets", "target store")
    _store_arg(p, "windows", "results/windows", "windows folder")
    p.add_argument(
        "--split", default="test", choices=["train", "valid", "test"], help="which windows"
    )
    p.add_argument(
        "--noise-free",
        type=Path,
        help="target store of the noise-free signal (default: evaluate.noise_free): adds "
        "each coverage track's noise ceiling and the share of it the model reaches",
    )
    p.add_argument(
        "--out",
        type=Path,
        help="output folder (default: results/eval/<model folder name>, with -<split> "
        "for a split other than test)",
    )
    p.set_defaults(func=cmd_evaluate)

    p = sub.add_parser("predict", help="predict every bin of the genome into a prediction store")
    _common(p)
    p.add_argument("--model", type=Path, help="model folder (default: results/model/<model.name>)")
    _store_arg(p, "genome", "results/genome", "genome store")
    p.add_argument(
        "--out",
        type=Path,
        help="prediction store (default: results/predictions/<model folder name>)",
    )
    jobs = p.add_mutually_exclusive_group()
    jobs.add_argument(
        "--part",
        metavar="I/N",
        help="run only job I (0-based) of N (chromosomes split by length); merge with --merge",
    )
    jobs.add_argument(
        "--merge", action="store_true", help="only merge the jobs' outputs into the store"
    )
    p.add_argument("--bigwig", action="store_true", help="also write one bigWig per track")
    p.set_defaults(func=cmd_predict)

    p = sub.add_parser("classes", help="cluster a prediction store's bins into sequence classes")
    _common(p)
    p.add_argument(
        "--predictions",
        type=Path,
        help="prediction store, or a target store (default: results/predictions/<model.name>)",
    )
    _store_arg(p, "genome", "results/genome", "genome store (mostly-N bins are left out)")
    p.add_argument(
        "--out", type=Path, help="class folder (default: results/classes/<predictions folder name>)"
    )
    p.set_defaults(func=cmd_classes)

    p = sub.add_parser("score-variants", help="score a VCF's variants with a trained model")
    _common(p)
    p.add_argument("--model", type=Path, help="model folder (default: results/model/<model.name>)")
    _store_arg(p, "genome", "results/genome", "genome store (unused with --context)")
    p.add_argument(
        "--vcf",
        type=Path,
        help="VCF (plain or bgzipped) or TSV table with chrom, pos (1-based), ref, alt "
        "columns (default: variants.vcf, else results/sim/variants.vcf)",
    )
    p.add_argument(
        "--context",
        type=Path,
        help="short-context mode: FASTA of elements ('>name chrom:start-end' headers, 1-based "
        "inclusive); each variant is scored in its element, centred in a window filled by "
        "variants.context_fill (default: variants.context, else the genome)",
    )
    p.add_argument(
        "--classes",
        type=Path,
        help="class folder from `genomics classes` (class-score columns; none without it)",
    )
    p.add_argument(
        "--out", type=Path, help="output folder (default: results/variants/<model folder name>)"
    )
    p.add_argument(
        "--strict", action="store_true", help="a REF that differs from the genome is an error"
    )
    p.add_argument(
        "--annotated-vcf",
        action="store_true",
        help="also write annotated.vcf.gz, the input VCF with the scores as INFO fields "
        "(default: variants.annotated_vcf); needs a VCF input",
    )
    p.set_defaults(func=cmd_score_variants)

    p = sub.add_parser("benchmark", help="variant scores against measured effects (Spearman)")
    _common(p)
    p.add_argument(
        "--scores",
        type=Path,
        help="scores.tsv.gz of score-variants (default: results/variants/<model.name>/)",
    )
    p.add_argument(
        "--measured",
        type=Path,
        help="measured effects TSV (default: benchmark.measured, else results/sim/effects.tsv)",
    )
    p.add_argument("--score", metavar="COLUMN", help="the score column to benchmark")
    p.add_argument(
        "--select-on",
        metavar="SPLIT",
        help="choose the best score column (sign allowed) on this split, report on the others",
    )
    p.add_argument(
        "--out", type=Path, help="output folder (default: results/benchmark/<scores folder name>)"
    )
    p.set_defaults(func=cmd_benchmark)

    p = sub.add_parser("report", help="write the run report: index.html and a page per class")
    _common(p)
    _store_arg(p, "results", "results", "the run's results folder")
    p.add_argument(
        "--annotation",
        type=Path,
        nargs="+",
        metavar="BED",
        help="BEDs of labelled regions (4th column: state) for class enrichment, each named "
        "after its file (default: report.annotation, else classes.annotation, else "
        "results/sim/elements.bed on the synthetic default)",
    )
    p.add_argument("--out", type=Path, help="report folder (default: <results>/report)")
    p.set_defaults(func=cmd_report)

    return parser


def _setup_logging(args) -> None:
    level = logging.DEBUG if args.verbose else logging.WARNING if args.quiet else logging.INFO
    logging.basicConfig(
        level=level, format=f"%(asctime)s genomics {args.command}: %(message)s", datefmt="%H:%M:%S"
    )


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _setup_logging(args)
    try:
        if args.out is not None:  # train and evaluate check their defaults themselves
            _out_folder(args.out)
        cfg = load_config(args.config, args.overrides)
        args.func(args, cfg)
    except USER_ERRORS as e:
        if args.debug:
            raise
        print(f"genomics {args.command}: error: {_message(e)}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print(f"genomics {args.command}: interrupted", file=sys.stderr)
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
