"""Where does a promoter's attention go? A probe of long-range routing in a trained convformer.

For every planted promoter on the held-out chromosomes (``sim/elements.bed``), a window of
the model's input length centred on it goes through the model; forward hooks on each
attention layer recompute the softmax weights of one query bin (the promoter's, or one
``--offset`` bins away as a control) and report, per block and head, the enrichment of
attention on the bins of planted enhancer elements inside each long-range track's
distance band: attention mass on those bins divided by their share of the window (1 =
uniform, 0 = ignored). Enrichment at the promoter but not at the control bin means the
head routes enhancers to promoters; whether the prediction then uses them is what the
knock-out test in ``bench/model_comparison.py`` measures.

    python bench/attention_probe.py --model results/model/convformer --results results
    python bench/attention_probe.py --model ... --offset 40      # control query bin
    python bench/attention_probe.py --tiny    # an untrained tiny model on a tiny genome, seconds
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from model_comparison import _promoters  # noqa: E402

from genomics.data.encoding import one_hot  # noqa: E402
from genomics.data.genome import GenomeStore  # noqa: E402
from genomics.models.attention import Attention  # noqa: E402
from genomics.models.saved import load_model  # noqa: E402
from genomics.simulate.grammar import Grammar  # noqa: E402


def query_weights(attn: Attention, x: torch.Tensor, cos, sin, query: int) -> np.ndarray:
    """Softmax attention weights of bin ``query`` over all bins, shape (h, l), float64.

    ``x`` is the layer's input (b=1, l, c); q and k come from :meth:`Attention.project`, as
    the layer's own forward pass uses them.
    """
    q, k, _, scale = attn.project(x, cos, sin)
    scores = torch.einsum("h d, h l d -> h l", q[0, :, query], k[0]) * scale
    return torch.softmax(scores, dim=-1).double().numpy()


def main() -> None:
    p = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("--model", type=Path, help="a trained model folder (required but with --tiny)")
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--chroms", nargs="+", default=["chr3", "chr4"])
    p.add_argument("--offset", type=int, default=0, help="query this many bins from the promoter")
    p.add_argument(
        "--tiny",
        action="store_true",
        help="an untrained tiny convformer on a tiny simulated genome (checks the script)",
    )
    args = p.parse_args()
    if args.tiny:
        with tempfile.TemporaryDirectory() as tmp:
            model_dir, results = _tiny(Path(tmp))
            probe(model_dir, results, ["chr1", "chr2"], args.offset)
        return
    if args.model is None:
        p.error("--model is required (or --tiny)")
    probe(args.model, args.results, args.chroms, args.offset)


def _tiny(work: Path, length: int = 65_536) -> tuple[Path, Path]:
    """A tiny simulated genome (``results/sim``, ``results/genome``) and an untrained
    convformer saved as ``genomics train`` saves one; the window holds the 10-30 kb band."""
    from genomics.data.genome import build_genome_store
    from genomics.models import build_model
    from genomics.models.saved import save_model
    from genomics.simulate import simulate

    results = work / "results"
    simulate(results / "sim", seed=0, n_chroms=2, chrom_length=200_000, n_variants=10)
    build_genome_store(results / "sim" / "genome.fa", results / "genome", progress=False)
    names = Grammar.from_dict(
        json.loads((results / "sim" / "grammar.json").read_text())
    ).track_names
    hparams = {"dim": 16, "depth": 1, "heads": 2}
    kinds = ["coverage"] * len(names)
    torch.manual_seed(0)
    model = build_model(
        "convformer", n_tracks=len(names), track_kinds=kinds, bin_size=128, crop_bins=0, **hparams
    )
    spec = {
        "name": "convformer",
        "hparams": hparams,
        "n_tracks": len(names),
        "track_names": names,
        "track_kinds": kinds,
        "bin_size": 128,
        "crop_bins": 0,
        "seq_len": length,
    }
    save_model(work / "model", model, spec)
    return work / "model", results


def probe(model_dir: Path, results: Path, chroms: list[str], offset: int) -> None:
    """Print, per long-range track, block and head, the attention enrichment (see above)."""
    model, spec = load_model(model_dir)
    model.eval()
    length, bin_size = spec["seq_len"], spec["bin_size"]
    n_bins = length // bin_size
    query = n_bins // 2 + offset
    grammar = Grammar.from_dict(json.loads((results / "sim" / "grammar.json").read_text()))
    bands = {
        grammar.motifs[t.motifs[1]].name: (t.name, t.distance)
        for t in grammar.tracks
        if t.kind == "expr"
    }
    layers = [m for m in model.modules() if isinstance(m, Attention)]
    captured: list[np.ndarray] = []
    for layer in layers:
        layer.register_forward_hook(
            lambda mod, inp, out: captured.append(query_weights(mod, *inp, query=query))
        )
    genome = GenomeStore(results / "genome")
    enrichment: dict[tuple, list[float]] = {}
    for chrom, pos, near in _promoters(results, chroms):
        lo = pos - length // 2
        captured.clear()
        with torch.no_grad():
            model(torch.from_numpy(one_hot(genome.fetch(chrom, lo, lo + length)))[None])
        for motif, (track, (near_bp, far_bp)) in bands.items():
            bins = {
                b
                for s, e in near.get(motif, [])
                for b in range((s - lo) // bin_size, (e - lo) // bin_size + 1)
                if 0 <= b < n_bins and near_bp <= abs(b - query) * bin_size <= far_bp
            }
            if not bins:
                continue
            idx = np.array(sorted(bins))
            for block, w in enumerate(captured):  # w: (h, l)
                for head in range(w.shape[0]):
                    share = w[head, idx].sum() / (idx.size / n_bins)
                    enrichment.setdefault((track, block, head), []).append(share)
    print("track\tblock\thead\tpromoters\tmean_enrichment\tmedian_enrichment")
    for (track, block, head), v in sorted(enrichment.items()):
        print(f"{track}\t{block}\t{head}\t{len(v)}\t{np.mean(v):.2f}\t{np.median(v):.2f}")


if __name__ == "__main__":
    main()
