"""Evaluate predictions: per-track metrics, figures, and the files that hold them.

- :mod:`genomics.inference.metrics` (re-exported): :class:`TrackMetrics` (streaming, per track) and
  :func:`summarize`.
- :mod:`genomics.evaluate.figures`: functions that return matplotlib Figures.
- :mod:`genomics.evaluate.outputs`: the writer (metrics TSV/JSON, figures), atomically.
"""

from genomics.evaluate.figures import plot_kind_bars, plot_metric_bars, plot_scatter, plot_tracks
from genomics.evaluate.outputs import read_metrics_tsv, save_figure, write_metrics
from genomics.inference.metrics import COLUMNS, KINDS, METRICS, TrackMetrics, pearson_r, summarize

__all__ = [
    "COLUMNS",
    "KINDS",
    "METRICS",
    "TrackMetrics",
    "pearson_r",
    "plot_kind_bars",
    "plot_metric_bars",
    "plot_scatter",
    "plot_tracks",
    "read_metrics_tsv",
    "save_figure",
    "summarize",
    "write_metrics",
]
