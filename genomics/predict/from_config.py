"""``genomics predict``: a model folder + genome store + config -> a prediction store."""

from __future__ import annotations

import logging
from pathlib import Path

from genomics.data.genome import GenomeStore
from genomics.data.intervals import read_bed_intervals
from genomics.inference.device import resolve_device, resolve_precision
from genomics.models.saved import load_model
from genomics.predict.genome_wide import merge_parts, predict_part

__all__ = ["parse_part", "predict_from_config"]

log = logging.getLogger(__name__)


def parse_part(text: str) -> tuple[int, int]:
    """``"2/8"`` -> (2, 8): job 2 (0-based) of 8."""
    try:
        part, parts = (int(v) for v in text.split("/"))
    except ValueError:
        raise ValueError(f"--part {text!r}: expected I/N, e.g. 0/4 (job I of N, 0-based)") from None
    if not 0 <= part < parts:
        raise ValueError(f"--part {text!r}: need 0 <= I < N")
    return part, parts


def predict_from_config(
    cfg: dict,
    *,
    model_dir: str | Path,
    genome_dir: str | Path,
    out: str | Path,
    part: tuple[int, int] | None = None,
    merge_only: bool = False,
) -> dict | None:
    """Predict the genome (``part=None``: every job here, then the merge), one job
    (``part=(i, n)``), or only merge the jobs' outputs (``merge_only``).

    Returns
    -------
    The store's manifest when merged, else None.
    """
    pc = cfg["predict"]
    genome = GenomeStore(genome_dir)
    regions = None
    if pc["regions"]:
        regions = read_bed_intervals(pc["regions"], genome.aliases, key="predict.regions")
    device = resolve_device(pc["device"])
    model, spec = load_model(model_dir, device=device)
    parts = pc["parts"] if part is None else part[1]
    if part is not None and part[1] != pc["parts"]:
        log.warning("--part %d/%d but predict.parts is %d", part[0], part[1], pc["parts"])
    if not merge_only:
        jobs = range(parts) if part is None else [part[0]]
        for i in jobs:
            predict_part(
                model,
                spec,
                model_dir=model_dir,
                genome=genome,
                out=out,
                part=i,
                parts=parts,
                chroms=pc["chroms"],
                regions=regions,
                batch_size=pc["batch_size"],
                reverse_complement=pc["reverse_complement"],
                dtype=pc["dtype"],
                device=device,
                autocast_dtype=resolve_precision(pc["precision"], device),
            )
    if part is not None and not merge_only:
        return None
    return merge_parts(
        out,
        parts=parts,
        genome=genome,
        model_dir=model_dir,
        spec=spec,
        chroms=pc["chroms"],
        regions=regions,
        bigwig=pc["bigwig"],
    )
