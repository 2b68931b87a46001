"""Variant effects: ``genomics score-variants`` and ``genomics benchmark``.

- :mod:`.vcf`: VCF records or variant-table rows -> alleles (multi-allelic split,
  symbolic/SV alleles and REF mismatches rejected with a reason); the one 1-based ->
  0-based conversion.
- :mod:`.context`: short-context mode, variants scored inside short sequences (an MPRA's
  elements) centred in the model's window, the rest filled (N or seeded shuffles).
- :mod:`.stats`: the statistics (SAD, log2 fold change, L2, log-odds), registered by name.
- :mod:`.score`: :func:`score_variants`, paired ref/alt windows through a model (shared
  reference windows, indel alignment, RC averaging) into statistics.
- :mod:`.run`: :func:`score_vcf`, a whole VCF or table streamed into a gzipped TSV.
- :mod:`.annotate`: the input VCF with the scores as INFO fields (``--annotated-vcf``).
- :mod:`.benchmark`: scores joined with measured effects; Spearman/Pearson with bootstrap
  intervals, column selection on a training split, AUROC against the simulator's truth.
"""

from genomics.variants.context import Context
from genomics.variants.run import score_columns, score_vcf, variants_from_config
from genomics.variants.score import Geometry, indel_alignment, score_profiles, score_variants
from genomics.variants.stats import STATS
from genomics.variants.vcf import Allele, Reject, iter_alleles, zero_based

__all__ = [
    "STATS",
    "Allele",
    "Context",
    "Geometry",
    "Reject",
    "indel_alignment",
    "iter_alleles",
    "score_columns",
    "score_profiles",
    "score_variants",
    "score_vcf",
    "variants_from_config",
    "zero_based",
]
