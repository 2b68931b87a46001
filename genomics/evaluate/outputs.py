"""Write evaluation outputs: the metrics table, its JSON twin, and figures.

The only module of :mod:`genomics.evaluate` that touches the disk; every file is written
atomically (:mod:`genomics.io.atomic`).
"""

from __future__ import annotations

import json
import logging
import math
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

from genomics.inference.metrics import COLUMNS
from genomics.io.atomic import atomic_path, atomic_write_text

__all__ = ["read_metrics_tsv", "save_figure", "write_metrics"]

log = logging.getLogger(__name__)

FIGURE_FORMATS = ("png", "pdf", "svg")


def _columns(rows: Sequence[Mapping]) -> list[str]:
    """The fixed columns, then any other keys in the order they first appear."""
    extra = []
    for row in rows:
        extra += [k for k in row if k not in COLUMNS and k not in extra]
    return [*COLUMNS, *extra]


def _cell(value: Any) -> str:
    """A TSV cell: floats at full precision (``nan`` for NaN), absent values empty."""
    if value is None:
        return ""
    if isinstance(value, float):
        return repr(value)  # round-trips exactly; NaN -> 'nan', inf -> 'inf'
    text = str(value)
    if any(c in text for c in "\t\n\r"):
        raise ValueError(f"value {text!r} contains a tab or newline and cannot go in a TSV cell")
    return text


def _json_safe(value: Any) -> Any:
    """``value`` with NaN and infinities as ``null`` (strict JSON has no NaN)."""
    if isinstance(value, Mapping):
        return {str(k): _json_safe(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_json_safe(v) for v in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if hasattr(value, "item"):  # numpy scalars
        return _json_safe(value.item())
    return value


def write_metrics(
    rows: Sequence[Mapping],
    summary: Mapping,
    out_dir: str | Path,
    *,
    prefix: str = "metrics",
) -> tuple[Path, Path]:
    """Write ``<prefix>.tsv`` and ``<prefix>.json`` under ``out_dir``, atomically.

    Parameters
    ----------
    rows : list of dict
        Per-track rows from :meth:`genomics.inference.metrics.TrackMetrics.compute`.
    summary : dict
        From :func:`genomics.inference.metrics.summarize`.
    out_dir : str or Path
        Folder, created when missing.
    prefix : str, default "metrics"
        File name stem.

    Returns
    -------
    (Path, Path)
        The TSV and JSON paths.

    Notes
    -----
    The TSV has a header row, then one row per track: ``track``, ``kind``, ``n_bins``,
    ``target_mean``, ``pred_mean``, ``pearson``, ``pearson_log1p``, ``spearman``, ``auroc``,
    ``auprc``, ``auprc_baseline`` (then any other keys). An undefined metric is written
    ``nan``; a metric the track's kind does not have is left empty. Floats are written with ``repr`` and read back
    exactly. The JSON is ``{"summary": summary, "tracks": rows}`` with NaN as ``null``.
    """
    if not prefix or "/" in prefix or "\\" in prefix:
        raise ValueError(f"prefix must be a plain file name stem, got {prefix!r}")
    out_dir = Path(out_dir)
    columns = _columns(rows)
    lines = ["\t".join(columns)]
    lines += ["\t".join(_cell(row.get(c)) for c in columns) for row in rows]
    tsv = out_dir / f"{prefix}.tsv"
    atomic_write_text(tsv, "\n".join(lines) + "\n")
    doc = {"summary": _json_safe(dict(summary)), "tracks": _json_safe([dict(r) for r in rows])}
    js = out_dir / f"{prefix}.json"
    atomic_write_text(js, json.dumps(doc, indent=2, allow_nan=False) + "\n")
    log.info("wrote metrics of %d tracks to %s and %s", len(rows), tsv, js)
    return tsv, js


def read_metrics_tsv(path: str | Path) -> list[dict]:
    """Read a table written by :func:`write_metrics` back into rows.

    Empty cells are dropped, ``n_bins`` becomes an int, other columns but ``track`` and
    ``kind`` become floats.
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"metrics table not found: {path}")
    lines = path.read_text().splitlines()
    if not lines:
        raise ValueError(f"{path}: empty file, expected a header row")
    header = lines[0].split("\t")
    rows = []
    for lineno, line in enumerate(lines[1:], start=2):
        cells = line.split("\t")
        if len(cells) != len(header):
            raise ValueError(f"{path} line {lineno}: {len(cells)} cells, header has {len(header)}")
        row: dict = {}
        for key, cell in zip(header, cells, strict=True):
            if cell == "":
                continue
            if key in ("track", "kind"):
                row[key] = cell
            elif key == "n_bins":
                row[key] = int(cell)
            else:
                try:
                    row[key] = float(cell)
                except ValueError:
                    row[key] = cell
        rows.append(row)
    return rows


def _close(fig: Figure) -> None:
    """Release ``fig``: drop it from pyplot's list when pyplot made it, and clear it."""
    pyplot = sys.modules.get("matplotlib.pyplot")
    if pyplot is not None:
        pyplot.close(fig)
    fig.clear()


def save_figure(fig: Figure, path: str | Path, *, dpi: int = 120) -> Path:
    """Save ``fig`` atomically, then close it.

    Parameters
    ----------
    fig : matplotlib.figure.Figure
    path : str or Path
        Destination; its suffix picks the format (``.png``, ``.pdf`` or ``.svg``).
    dpi : int, default 120

    Returns
    -------
    Path
        ``path``.
    """
    path = Path(path)
    fmt = path.suffix.lower().lstrip(".")
    if fmt not in FIGURE_FORMATS:
        raise ValueError(
            f"cannot tell the figure format of {path}: the suffix must be one of "
            f"{', '.join('.' + f for f in FIGURE_FORMATS)}"
        )
    try:
        with atomic_path(path) as tmp:
            fig.savefig(tmp, format=fmt, dpi=dpi)
    finally:
        _close(fig)
    log.info("wrote figure %s", path)
    return path
