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
"""

from __future__ import annotations

import argparse
import json
import sys
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
    p.add_argument("--model", type=Path, required=True)
    p.add_argument("--results", type=Path, default=Path("results"))
    p.add_argument("--chroms", nargs="+", default=["chr3", "chr4"])
    p.add_argument("--offset", type=int, default=0, help="query this many bins from the promoter")
    args = p.parse_args()

    model, spec = load_model(args.model)
    model.eval()
    length, bin_size = spec["seq_len"], spec["bin_size"]
    n_bins = length // bin_size
    query = n_bins // 2 + args.offset
    grammar = Grammar.from_dict(json.loads((args.results / "sim" / "grammar.json").read_text()))
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
    genome = GenomeStore(args.results / "genome")
    enrichment: dict[tuple, list[float]] = {}
    for chrom, pos, near in _promoters(args.results, args.chroms):
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
