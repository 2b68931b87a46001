"""``metrics.tsv``: the training log, one row per (step, split, metric), resumable.

Tidy long format (``step epoch split metric value``) so that new metrics need no new
columns. On resume, rows after the checkpoint's step are dropped, so the log of a resumed
run reads like that of an uninterrupted one.
"""

from __future__ import annotations

import math
from pathlib import Path

from genomics.io import atomic_write_text

__all__ = ["MetricsLog"]

HEADER = "step\tepoch\tsplit\tmetric\tvalue\n"


class MetricsLog:
    """Append-only metrics table.

    Parameters
    ----------
    path : the TSV file.
    keep_until : keep existing rows with ``step <= keep_until`` (0: start a new log).
    write : False on non-zero DDP ranks (rows are still kept in memory).
    """

    def __init__(self, path: str | Path, *, keep_until: int = 0, write: bool = True):
        self.path, self.write = Path(path), write
        self.rows: list[dict] = []
        if keep_until > 0 and self.path.is_file():
            for line in self.path.read_text().splitlines()[1:]:
                parts = line.split("\t")
                if len(parts) != 5:
                    continue  # a line cut short by a kill
                step, epoch, split, metric, value = parts
                if int(step) <= keep_until:
                    self.rows.append(
                        {
                            "step": int(step),
                            "epoch": int(epoch),
                            "split": split,
                            "metric": metric,
                            "value": float(value),
                        }
                    )
        if self.write:
            atomic_write_text(self.path, HEADER + "".join(self._line(r) for r in self.rows))

    @staticmethod
    def _line(r: dict) -> str:
        value = r["value"]
        text = "nan" if isinstance(value, float) and math.isnan(value) else f"{value:.6g}"
        return f"{r['step']}\t{r['epoch']}\t{r['split']}\t{r['metric']}\t{text}\n"

    def add(self, step: int, epoch: int, split: str, values: dict) -> None:
        """Record ``values`` (metric -> number) for a step and split."""
        new = [
            {"step": step, "epoch": epoch, "split": split, "metric": k, "value": float(v)}
            for k, v in values.items()
            if isinstance(v, (int, float))
        ]
        self.rows.extend(new)
        if self.write:
            with open(self.path, "a") as fh:
                fh.write("".join(self._line(r) for r in new))

    def last(self, split: str, metric: str) -> float | None:
        """The latest value of a metric, or None."""
        for r in reversed(self.rows):
            if r["split"] == split and r["metric"] == metric:
                return r["value"]
        return None
