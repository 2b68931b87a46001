"""Model comparison: convformer vs conv (dilated CNN) vs convrnn on held-out synthetic data.

All three get the same data, windows, conv tower (width, stem, pooling), optimiser,
schedule and number of steps; only the part after the tower differs (transformer, dilated
residual convs, bidirectional GRU). The synthetic genome has local tracks (a motif makes a
peak) and long-range tracks (``expr_*``: a promoter's signal scales with enhancers 10-30 kb
and 20-50 kb away), so the long-range tracks show what attention over the whole window
buys over a finite receptive field. Reported: held-out (test chromosome) Pearson per
track, raw and log1p, from ``genomics evaluate``; and, because a promoter's position alone
explains most of an expr track's Pearson (a model blind to enhancers reaches ~0.85), two
direct tests of enhancer use on the held-out chromosomes: an in-silico knock-out of each
promoter's enhancers (predicted vs the oracle's effect) and the simulated enhancer SNVs.

Runs the real CLI (simulate, genome, targets, windows, train, evaluate) into
``bench/out/model_comparison``; training resumes if interrupted, so rerunning continues.

    python bench/model_comparison.py                      # ~1.5 h on 2 CPU cores
    python bench/model_comparison.py --steps 200          # a quick look
    python bench/model_comparison.py --tiny               # configs/test.yaml, 4 steps, ~1 min
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
MODELS = ("convformer", "conv", "convrnn")


def _run(args: list[str], cwd: Path) -> float:
    t0 = time.perf_counter()
    cmd = [sys.executable, "-m", "genomics", "-q", *args]
    print("$", " ".join(cmd[2:]), flush=True)
    subprocess.run(cmd, cwd=cwd, check=True)
    return time.perf_counter() - t0


def variant_effects(model_dir: Path, res: Path, chroms: list[str]) -> dict[str, float]:
    """Spearman between predicted and true effects of the simulated SNVs in ``chroms``.

    The prediction mirrors the truth in ``sim/effects.tsv``: a window of the model's input
    length centred on the variant, and per track log2((S_alt + 1) / (S_ref + 1)) with S the
    signal summed over the window. Reported per element class: enhancer variants on the
    long-range track they drive (the promoter can be up to 50 kb away, far outside the
    conv baseline's receptive field), motif variants on their local track.
    """
    import numpy as np
    import torch
    from scipy.stats import spearmanr

    from genomics.data.encoding import encode, one_hot
    from genomics.data.genome import GenomeStore
    from genomics.models.saved import load_model

    model, spec = load_model(model_dir)
    genome = GenomeStore(res / "genome")
    length, names = spec["seq_len"], spec["track_names"]
    with open(res / "sim" / "effects.tsv", newline="") as f:
        rows = list(csv.DictReader(f, delimiter="\t"))
    groups = {"enhancer:m8": "expr_e0", "enhancer:m9": "expr_e1"}
    groups.update({f"motif:m{k}": f"tf_m{k}" for k in range(5)})
    rows = [r for r in rows if r["chrom"] in chroms and r["element"] in groups]
    pred = np.zeros((len(rows), len(names)))
    with torch.no_grad():
        for i, r in enumerate(rows):
            p = int(r["pos"]) - 1  # VCF-style 1-based in the table
            codes = genome.fetch(r["chrom"], p - length // 2, p + length // 2)
            alt = codes.copy()
            alt[length // 2] = encode(r["alt"])[0]
            x = torch.from_numpy(np.stack([one_hot(codes), one_hot(alt)]))
            s = model(x).sum(dim=1).double().numpy()  # (2, t)
            pred[i] = np.log2((s[1] + 1) / (s[0] + 1))
    out = {}
    for element, track in groups.items():
        idx = [i for i, r in enumerate(rows) if r["element"] == element]
        if track in names and len(idx) > 5:
            t = names.index(track)
            true = [float(rows[i][track]) for i in idx]
            out[f"{element} -> {track} (n={len(idx)})"] = float(spearmanr(pred[idx, t], true)[0])
    return out


def _promoters(res: Path, chroms: list[str]) -> list[tuple[str, int, dict[str, list]]]:
    """Planted promoters on ``chroms`` and the enhancer elements around each.

    Returns ``[(chrom, centre, {enhancer motif name: [(start, end), ...]})]``, every
    planted enhancer element within 64 kb of the promoter, from ``sim/elements.bed``.
    """
    elements: dict[str, list] = {}
    with open(res / "sim" / "elements.bed") as f:
        for line in f:
            chrom, start, end, name = line.split("\t")[:4]
            elements.setdefault(chrom, []).append((int(start), int(end), name))
    out = []
    for chrom in chroms:
        rows = elements.get(chrom, [])
        for start, end, name in rows:
            if name.startswith("promoter:"):
                centre = (start + end) // 2
                near: dict[str, list] = {}
                for s, e, n in rows:
                    if n.startswith("enhancer:") and abs((s + e) // 2 - centre) < 65_536:
                        near.setdefault(n.split(":")[1], []).append((s, e))
                out.append((chrom, centre, near))
    return out


def enhancer_knockout(
    model_dir: Path | None, res: Path, promoters: list, length: int = 131_072, half: int = 6
) -> dict:
    """Does the model use the distal enhancers? In-silico knock-out, per long-range track.

    For every planted promoter on the held-out chromosomes: a window of the model's input
    length centred on it, once as is and once with every planted enhancer element of the
    track's enhancer motif shuffled (bases permuted in place, so composition is kept and
    the motifs are gone). The effect is ``log2((S_ko + 1) / (S_wt + 1))`` with ``S`` the
    track's signal summed over the ``2 * half + 1`` bins around the promoter; the truth is
    the same quantity from the simulator's oracle (``model_dir=None``). Enhancers sit
    3-65 kb from their promoter, so a model whose receptive field is a few kb predicts an
    effect of about 0 for every promoter.

    Returns
    -------
    dict: track name -> effects, shape (promoters,), float64
    """
    import numpy as np
    import torch

    from genomics.data.encoding import one_hot
    from genomics.data.genome import GenomeStore
    from genomics.simulate import oracle
    from genomics.simulate.grammar import Grammar

    grammar = Grammar.from_dict(json.loads((res / "sim" / "grammar.json").read_text()))
    tracks = [t for t in grammar.tracks if t.kind == "expr"]
    genome = GenomeStore(res / "genome")
    if model_dir is None:
        names, bin_size, crop = grammar.track_names, 128, 0

        def predict(codes: np.ndarray) -> np.ndarray:  # (l,) -> (bins, t)
            sig = oracle.expected_signal(codes, grammar).astype(np.float64)
            return sig.reshape(-1, bin_size, sig.shape[1]).sum(1)
    else:
        from genomics.models.saved import load_model

        model, spec = load_model(model_dir)
        length, names, bin_size = spec["seq_len"], spec["track_names"], spec["bin_size"]
        crop = spec["crop_bins"]

        def predict(codes: np.ndarray) -> np.ndarray:
            with torch.no_grad():
                return model(torch.from_numpy(one_hot(codes))[None])[0].double().numpy()

    centre = (length // 2) // bin_size - crop
    effects = {t.name: [] for t in tracks}
    for k, (chrom, pos, near) in enumerate(promoters):
        lo = pos - length // 2
        codes = genome.fetch(chrom, lo, lo + length)
        wt = predict(codes)[centre - half : centre + half + 1].sum(0)
        for track in tracks:
            ko = codes.copy()
            rng = np.random.default_rng(k)
            for s, e in near.get(grammar.motifs[track.motifs[1]].name, []):
                s, e = max(s - lo, 0), min(e - lo, length)
                if e > s:
                    ko[s:e] = rng.permutation(ko[s:e])
            y = predict(ko)[centre - half : centre + half + 1].sum(0)
            j = names.index(track.name)
            effects[track.name].append(np.log2((y[j] + 1) / (wt[j] + 1)))
    return {name: np.array(v) for name, v in effects.items()}


def _knockout_scores(pred: dict, truth: dict) -> dict[str, tuple[float, float]]:
    """track -> (Spearman of predicted vs true knock-out effect, mean predicted effect)."""
    from scipy.stats import spearmanr

    return {t: (float(spearmanr(pred[t], truth[t])[0]), float(pred[t].mean())) for t in truth}


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--config", type=Path, default=ROOT / "configs" / "default.yaml")
    p.add_argument("--out", type=Path, default=HERE / "out" / "model_comparison")
    p.add_argument("--steps", type=int, default=1500)
    p.add_argument("--models", nargs="+", default=list(MODELS), choices=MODELS)
    p.add_argument("--set", dest="overrides", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument(
        "--extra",
        action="append",
        default=[],
        metavar="LABEL:MODEL:KEY=VALUE[,KEY=VALUE]",
        help="an extra column: MODEL trained with these overrides, e.g. conv-lr2e-3:conv:train.lr=0.002",
    )
    p.add_argument(
        "--tiny",
        action="store_true",
        help="configs/test.yaml, 4 steps, in a temporary folder (checks the script)",
    )
    args = p.parse_args()
    if args.tiny:
        args.config, args.steps = ROOT / "configs" / "test.yaml", 4
        if args.models == list(MODELS):
            args.models = ["convformer", "conv"]
        # enhancers within the 16-kb window, so that the knock-out has an effect to find
        args.overrides.append("simulate.expr_distances=[[2000, 6000], [3000, 7000]]")
        with tempfile.TemporaryDirectory() as tmp:
            args.out = Path(tmp)
            _compare(args)
        return
    _compare(args)


def _compare(args: argparse.Namespace) -> None:
    """Prepare the data once, train and evaluate each model, print the tables."""
    from genomics.config import load_config

    base = load_config(args.config, args.overrides)
    tower = {
        k: base["model"]["convformer"][k]
        for k in ("dim", "stem_channels", "pool", "stem_kernel", "tower_kernel")
    }
    sets = [
        f"train.max_steps={args.steps}",
        f"train.eval_every={max(args.steps // 6, 1)}",
        "train.progress=false",
        *[f"model.{m}.{k}={json.dumps(v)}" for m in ("conv", "convrnn") for k, v in tower.items()],
        *args.overrides,
    ]
    cfg_args = ["--config", str(args.config.resolve())] + [a for s in sets for a in ("--set", s)]
    work = args.out.resolve()
    work.mkdir(parents=True, exist_ok=True)
    res = work / "results"
    if not (res / "windows" / "manifest.json").is_file():
        _run(["simulate", *cfg_args, "--out", str(res / "sim")], work)
        _run(["genome", *cfg_args, "--out", str(res / "genome")], work)
        _run(["targets", *cfg_args, "--out", str(res / "targets")], work)
        _run(["windows", *cfg_args, "--out", str(res / "windows")], work)

    runs = [(name, name, []) for name in args.models]
    for extra in args.extra:
        label, name, sets_ = extra.split(":", 2)
        runs.append((label, name, [a for s in sets_.split(",") for a in ("--set", s)]))
    held_out = base["windows"]["split"]["valid"] + base["windows"]["split"]["test"]
    promoters = _promoters(res, held_out)
    truth = enhancer_knockout(None, res, promoters, length=base["windows"]["length"])
    rows = {}
    for label, name, own in runs:
        model_dir, eval_dir = res / "model" / label, res / "eval" / label
        _run(
            ["train", *cfg_args, *own, "--set", f"model.name={name}", "--out", str(model_dir)],
            work,
        )
        _run(
            [
                "evaluate",
                *cfg_args,
                *own,
                "--set",
                f"model.name={name}",
                "--model",
                str(model_dir),
                "--out",
                str(eval_dir),
            ],
            work,
        )
        spec = json.loads((model_dir / "model.json").read_text())
        metrics = json.loads((eval_dir / "metrics.json").read_text())
        effects = variant_effects(model_dir, res, held_out)
        knockout = _knockout_scores(enhancer_knockout(model_dir, res, promoters), truth)
        print(f"enhancer knock-out, {label}: {knockout}", flush=True)
        rows[label] = {
            "knockout": knockout,
            "spec": spec,
            "tracks": metrics["tracks"],
            "train_s": spec["trained"].get("seconds"),  # summed over resumes; None: unknown
            "effects": effects,
        }

    from genomics.models.saved import load_model

    conv_rf = None
    if "conv" in rows:
        model, _ = load_model(res / "model" / "conv")
        conv_rf = model.receptive_field()
    names = [t["track"] for t in next(iter(rows.values()))["tracks"]]
    print(f"\n# model comparison ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPU cores)")
    print(
        "command: python bench/model_comparison.py "
        + ("--tiny " if args.tiny else f"--steps {args.steps} ")
        + " ".join(f"--set {s}" for s in args.overrides)
        + " ".join(f" --extra {e}" for e in args.extra)
    )
    print(
        f"held-out test chromosome {base['windows']['split']['test']}; windows "
        f"{base['windows']['length']:,} bp; {args.steps} steps x batch {base['train']['batch_size']}; "
        f"shared tower {tower}; conv receptive field {conv_rf} bp\n"
    )
    head = "| track | " + " | ".join(f"{m} r (log1p r)" for m in rows) + " |"
    print(head + "\n|" + "---|" * (len(rows) + 1))
    for i, track in enumerate(names):
        cells = [
            f"{r['tracks'][i]['pearson']:.3f} ({r['tracks'][i]['pearson_log1p']:.3f})"
            for r in rows.values()
        ]
        print(f"| {track} | " + " | ".join(cells) + " |")
    for label, sel in [
        ("mean, local tracks", lambda n: not n.startswith("expr")),
        ("mean, long-range (expr_*)", lambda n: n.startswith("expr")),
    ]:
        cells = []
        for r in rows.values():
            vals = [t["pearson"] for t in r["tracks"] if sel(t["track"])]
            logs = [t["pearson_log1p"] for t in r["tracks"] if sel(t["track"])]
            cells.append(f"{sum(vals) / len(vals):.3f} ({sum(logs) / len(logs):.3f})")
        print(f"| **{label}** | " + " | ".join(cells) + " |")
    print(
        "| parameters | "
        + " | ".join(f"{r['spec'].get('n_parameters', 0):,}" for r in rows.values())
        + " |"
    )
    print(
        "| train wall time (s) | "
        + " | ".join(
            "n/a" if r["train_s"] is None else f"{r['train_s']:.0f}" for r in rows.values()
        )
        + " |"
    )
    print(
        "| best valid step | "
        + " | ".join(str(r["spec"]["trained"]["best_step"]) for r in rows.values())
        + " |"
    )
    print(
        f"\nEnhancer knock-out on the held-out chromosomes {held_out}: Spearman of predicted "
        "vs true effect on each planted promoter of shuffling its track's enhancers "
        "(mean predicted log2 fold change in brackets)\n"
    )
    print(
        "| track | " + " | ".join(rows) + " | truth (mean log2 FC) |\n|" + "---|" * (len(rows) + 2)
    )
    for track, true in truth.items():
        cells = [
            f"{r['knockout'][track][0]:.3f} ({r['knockout'][track][1]:.3f})" for r in rows.values()
        ]
        print(f"| {track} (n={true.size}) | " + " | ".join(cells) + f" | {true.mean():.3f} |")
    print(
        f"\nSimulated variant effects on the held-out chromosomes {held_out}: Spearman of "
        "predicted vs true log2 fold change\n"
    )
    print("| variants -> track | " + " | ".join(rows) + " |\n|" + "---|" * (len(rows) + 1))
    for key in next(iter(rows.values()))["effects"]:
        cells = [f"{r['effects'].get(key, float('nan')):.3f}" for r in rows.values()]
        print(f"| {key} | " + " | ".join(cells) + " |")


if __name__ == "__main__":
    main()
