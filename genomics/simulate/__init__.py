"""Synthetic default data with a known sequence -> signal grammar (``genomics simulate``).

- :func:`simulate` writes the genome, tracks, planted elements, variants and true effects;
- :func:`make_grammar` rebuilds the grammar (motifs, track rules) from seed + parameters;
- :func:`expected_signal` is the noise-free oracle, ``(l,) codes -> (l, t)`` coverage;
- :func:`variant_effects` computes true variant effects with it.
"""

from genomics.simulate.grammar import DEFAULTS, Grammar, Motif, Track, check_params, make_grammar
from genomics.simulate.oracle import expected_signal, motif_activations, signal_reach
from genomics.simulate.simulate import simulate
from genomics.simulate.variants import variant_effects

__all__ = [
    "DEFAULTS",
    "Grammar",
    "Motif",
    "Track",
    "check_params",
    "expected_signal",
    "make_grammar",
    "motif_activations",
    "signal_reach",
    "simulate",
    "variant_effects",
]
