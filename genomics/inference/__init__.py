"""Inference pieces shared by training, evaluation and every later stage.

- :mod:`genomics.inference.device`: device and precision resolution, autocast;
- :mod:`genomics.inference.losses`: the training loss per track kind;
- :mod:`genomics.inference.predict`: the public :func:`predict` (sequences -> tracks);
- :mod:`genomics.inference.metrics`: streaming per-track metrics;
- :mod:`genomics.inference.scoring`: a model scored on a dataset of windows.
"""

from genomics.inference.device import autocast, resolve_device, resolve_precision
from genomics.inference.losses import track_loss
from genomics.inference.predict import predict, to_probabilities

__all__ = [
    "autocast",
    "predict",
    "resolve_device",
    "resolve_precision",
    "to_probabilities",
    "track_loss",
]
