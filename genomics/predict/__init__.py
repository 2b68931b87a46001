"""Genome-wide prediction (``genomics predict``): a trained model tiled over chromosomes
into a prediction store (:mod:`genomics.data.predictions`).

- :mod:`genomics.predict.tiling`: where windows go, which chromosomes each job takes;
- :mod:`genomics.predict.genome_wide`: one job's chromosomes, and the merge of the jobs;
- :mod:`genomics.predict.from_config`: the command, from a config.
"""

from genomics.predict.genome_wide import merge_parts, predict_part
from genomics.predict.tiling import Tiling, partition

__all__ = ["Tiling", "merge_parts", "partition", "predict_part"]
