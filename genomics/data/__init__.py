"""Data stages: genome store, target store, windows, streaming dataset.

Array conventions, fixed for the whole package
----------------------------------------------
- Sequence codes: ``uint8`` arrays, ``A=0 C=1 G=2 T=3 N=4`` (see :mod:`genomics.data.encoding`).
- One-hot sequence windows: ``(b, 4, l)`` float, channels in ``ACGT`` order, N all zeros.
  Reverse complement of a one-hot window is ``x.flip(-1, -2)``.
- Targets and predictions: ``(b, l, t)``, bins along ``l`` and tracks last, the same layout
  as the target store's per-chromosome arrays ``(n_bins, t)``.
- Coordinates: 0-based half-open ``[start, end)`` everywhere inside the package.
"""
