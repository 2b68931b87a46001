"""Genome-wide prediction into a prediction store, one job (part) at a time, then a merge.

A part predicts its chromosomes (:func:`~genomics.predict.tiling.partition`) window by
window (:class:`~genomics.predict.tiling.Tiling`), in batches, writing each chromosome
into a memory-mapped ``<chrom>.npy`` that is renamed into place when complete, then
``parts/part-<i>-of-<n>.json``. Memory is one batch of windows whatever the chromosome
length. :func:`merge_parts` checks that the parts agree (same model, genome and settings)
and cover the chromosomes asked for, and writes ``tracks.tsv``, optional bigWigs and the
manifest, last. A store whose parts are being rewritten has no manifest, so no later
stage trusts a half-made store.
"""

from __future__ import annotations

import hashlib
import json
import logging
import time
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import pyBigWig
import torch
from torch import nn
from tqdm.auto import tqdm

from genomics.data.encoding import N_CODE
from genomics.data.genome import GenomeStore
from genomics.data.predictions import FORMAT_VERSION, KIND
from genomics.inference.predict import forward, to_probabilities
from genomics.io import (
    atomic_path,
    atomic_write_text,
    fingerprint,
    invalidate_store,
    new_npy_memmap,
    write_manifest,
)
from genomics.predict.tiling import Tiling, partition

__all__ = ["merge_parts", "part_name", "predict_chromosome", "predict_part", "select_chroms"]

log = logging.getLogger(__name__)

FLOAT16_MAX = float(np.finfo(np.float16).max)


def part_name(part: int, parts: int) -> str:
    return f"parts/part-{part}-of-{parts}.json"


def select_chroms(
    genome: GenomeStore, chroms: Sequence[str] | None, regions: dict | None = None
) -> dict[str, int]:
    """``{store name: length}`` of the chromosomes asked for (all when None) that have
    regions (when given), in genome order."""
    names = set(genome.sizes) if chroms is None else {genome.resolve(c) for c in chroms}
    if regions is not None:
        with_regions = {c for c, (starts, _) in regions.items() if starts.size}
        if not with_regions:
            raise ValueError(
                "predict.regions has no interval on the genome store's chromosomes "
                f"({', '.join(list(genome.sizes)[:5])}...): an empty BED, or another assembly?"
            )
        names &= with_regions
    if not names:
        raise ValueError("no chromosome to predict: predict.chroms and predict.regions share none")
    return {c: n for c, n in genome.sizes.items() if c in names}


def predict_chromosome(
    model: nn.Module,
    genome: GenomeStore,
    chrom: str,
    path: Path,
    *,
    tiling: Tiling,
    kinds: Sequence[str],
    batch_size: int,
    dtype: str,
    device: torch.device,
    autocast_dtype: torch.dtype,
    reverse_complement: bool,
    regions: tuple[np.ndarray, np.ndarray] | None = None,
    bar: tqdm | None = None,
) -> dict:
    """Predict every bin of ``chrom`` into ``path`` (``.npy``, (n_bins, t), atomically).

    Parameters
    ----------
    regions : sorted, disjoint ``(starts, ends)`` in bp: only windows whose output bins
        overlap one are run (the other bins are NaN). None: the whole chromosome.

    Returns
    -------
    dict with ``n_bins``, ``windows`` (run through the model), ``skipped`` (windows whose
    output bins are all N: NaN in the store), ``outside`` (windows outside ``regions``:
    NaN) and ``clipped`` (values past float16's range).
    """
    n_bins = -(-genome.sizes[chrom] // tiling.bin_size)
    codes = genome.codes(chrom)  # (length,) uint8, memory-mapped
    stats = {"n_bins": n_bins, "windows": 0, "skipped": 0, "outside": 0, "clipped": 0}
    with atomic_path(path) as tmp:
        arr = new_npy_memmap(tmp, dtype=dtype, shape=(n_bins, len(kinds)))
        batch: list[tuple[np.ndarray, int, int]] = []

        def flush() -> None:
            if not batch:
                return
            x = torch.from_numpy(np.stack([b[0] for b in batch])).to(device)
            x = x.unsqueeze(-2).eq(torch.arange(4, device=device, dtype=x.dtype)[:, None])
            pred = forward(
                model, x.float(), dtype=autocast_dtype, reverse_complement=reverse_complement
            )
            pred = to_probabilities(pred.cpu().numpy(), kinds)  # (b, out_bins, t)
            if dtype == "float16":
                over = np.abs(pred) > FLOAT16_MAX
                stats["clipped"] += int(over.sum())
                np.clip(pred, -FLOAT16_MAX, FLOAT16_MAX, out=pred)
            for p, (_, first, last) in zip(pred, batch, strict=True):
                arr[first:last] = p[: last - first]
            stats["windows"] += len(batch)
            if bar is not None:
                bar.update(len(batch))
            batch.clear()

        for k in range(tiling.n_windows(n_bins)):
            start, end, first = tiling.window(k)
            last = min(first + tiling.out_bins, n_bins)
            if regions is not None and not _overlaps(regions, first * tiling.bin_size,
                                                     last * tiling.bin_size):  # fmt: skip
                arr[first:last] = np.nan
                stats["outside"] += 1
                if bar is not None:
                    bar.update(1)
                continue
            if np.all(codes[first * tiling.bin_size : last * tiling.bin_size] == N_CODE):
                arr[first:last] = np.nan
                stats["skipped"] += 1
                if bar is not None:
                    bar.update(1)
                continue
            batch.append((genome.fetch(chrom, start, end), first, last))
            if len(batch) == batch_size:
                flush()
        flush()
        arr.flush()  # then renamed into place (the map closes with the function)
    if stats["clipped"]:
        log.warning(
            "%s: %d predicted values beyond float16's range were clipped to +-%g; "
            "use predict.dtype=float32 to keep them",
            chrom,
            stats["clipped"],
            FLOAT16_MAX,
        )
    return stats


def _overlaps(regions: tuple[np.ndarray, np.ndarray], start: int, end: int) -> bool:
    """Whether ``[start, end)`` overlaps one of the sorted, disjoint ``regions``."""
    starts, ends = regions
    i = int(np.searchsorted(ends, start, side="right"))  # first region ending after start
    return i < starts.size and starts[i] < end


@torch.inference_mode()
def predict_part(
    model: nn.Module,
    spec: dict,
    *,
    model_dir: str | Path,
    genome: GenomeStore,
    out: str | Path,
    part: int = 0,
    parts: int = 1,
    chroms: Sequence[str] | None = None,
    regions: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    batch_size: int = 4,
    reverse_complement: bool = True,
    dtype: str = "float16",
    device: torch.device | None = None,
    autocast_dtype: torch.dtype = torch.float32,
    progress: bool | None = None,
) -> dict:
    """Predict the chromosomes of job ``part`` of ``parts`` into the store folder ``out``.

    Parameters
    ----------
    model, spec : from :func:`genomics.models.saved.load_model` (``spec`` gives the window
        length, bin size and tracks).
    model_dir : the model folder (recorded with its weights' fingerprint).
    chroms : chromosomes to predict (None: all of the genome store's).
    regions : per chromosome (store names), sorted disjoint ``(starts, ends)`` to predict
        (:func:`genomics.data.intervals.read_bed_intervals`); chromosomes without any are
        left out. None: whole chromosomes.

    Returns
    -------
    dict, what ``parts/part-<i>-of-<n>.json`` holds.
    """
    if not 0 <= part < parts:
        raise ValueError(f"part {part} of {parts}: need 0 <= part < parts")
    device = device or torch.device("cpu")
    out = Path(out)
    # bad input stops here, before anything is written
    sizes = select_chroms(genome, chroms, regions)
    seq_len, bin_size = int(spec["seq_len"]), int(spec["bin_size"])
    tiling = Tiling(seq_len, bin_size, model.output_bins(seq_len))
    (out / "parts").mkdir(parents=True, exist_ok=True)
    invalidate_store(out)  # from here until the merge, the folder is not a store
    kinds = list(spec["track_kinds"])
    mine = partition(sizes, parts)[part]
    model.to(device).eval()
    n_windows = sum(tiling.n_windows(-(-sizes[c] // bin_size)) for c in mine)
    started = time.perf_counter()
    done = {}
    disable = None if progress is None else not progress
    with tqdm(
        total=n_windows, desc=f"predict {part + 1}/{parts}", unit="win", disable=disable
    ) as bar:
        for chrom in mine:
            done[chrom] = predict_chromosome(
                model,
                genome,
                chrom,
                out / f"{chrom}.npy",
                tiling=tiling,
                kinds=kinds,
                batch_size=batch_size,
                dtype=dtype,
                device=device,
                autocast_dtype=autocast_dtype,
                reverse_complement=reverse_complement,
                regions=None if regions is None else regions[chrom],
                bar=bar,
            )
    seconds = time.perf_counter() - started
    run = sum(s["windows"] for s in done.values())
    record = {
        "part": part,
        "parts": parts,
        "chroms": done,
        "model": _model_record(model_dir, spec),
        "genome": {"path": str(genome.path), "digest": genome.digest},
        "params": {
            **_params(spec, tiling, reverse_complement=reverse_complement, dtype=dtype),
            "regions": None if regions is None else _regions_digest(regions),
        },
        "seconds": seconds,
    }
    atomic_write_text(out / part_name(part, parts), json.dumps(record, indent=1) + "\n")
    bp = sum(sizes[c] for c in mine)
    log.info(
        "part %d/%d: %d chromosome(s), %.1f Mbp in %.1f s (%.0f bp/s, %.2f windows/s%s)",
        part + 1,
        parts,
        len(mine),
        bp / 1e6,
        seconds,
        bp / max(seconds, 1e-9),
        run / max(seconds, 1e-9),
        ", RC averaged" if reverse_complement else "",
    )
    return record


def _regions_digest(regions: dict[str, tuple[np.ndarray, np.ndarray]]) -> str:
    """Identifies a set of regions (jobs of one store must share it)."""
    h = hashlib.sha256()
    for chrom in sorted(regions):
        h.update(chrom.encode())
        for a in regions[chrom]:
            h.update(np.ascontiguousarray(a, dtype=np.int64).tobytes())
    return h.hexdigest()[:16]


def _model_record(model_dir: str | Path, spec: dict) -> dict:
    weights = Path(model_dir) / "weights.safetensors"
    return {"path": str(model_dir), "name": spec["name"], "fingerprint": fingerprint(weights)}


def _params(spec: dict, tiling: Tiling, *, reverse_complement: bool, dtype: str) -> dict:
    return {
        "bin_size": tiling.bin_size,
        "dtype": dtype,
        "seq_len": tiling.seq_len,
        "out_bins": tiling.out_bins,
        "reverse_complement": reverse_complement,
        "tracks": [
            {"name": n, "kind": k}
            for n, k in zip(spec["track_names"], spec["track_kinds"], strict=True)
        ],
    }


def _read_part(out: Path, part: int, parts: int) -> dict:
    path = out / part_name(part, parts)
    fix = f"run `genomics predict --part {part}/{parts}` (or `genomics predict` for all)"
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        raise ValueError(f"{path} is missing: job {part} of {parts} has not run; {fix}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"{path}: damaged ({e}); {fix}") from None


def merge_parts(
    out: str | Path,
    *,
    parts: int,
    genome: GenomeStore,
    model_dir: str | Path,
    spec: dict,
    chroms: Sequence[str] | None = None,
    regions: dict[str, tuple[np.ndarray, np.ndarray]] | None = None,
    bigwig: bool = False,
) -> dict:
    """Check the ``parts`` jobs' records against each other and this model and genome,
    then write ``tracks.tsv``, optional ``bigwig/<track>.bw`` and the manifest.

    Returns
    -------
    dict, the store's manifest.
    """
    out = Path(out)
    records = [_read_part(out, i, parts) for i in range(parts)]
    model = _model_record(model_dir, spec)
    for i, rec in enumerate(records):
        where = out / part_name(i, parts)
        if rec["model"]["fingerprint"] != model["fingerprint"]:
            raise ValueError(
                f"{where}: made with other weights than {model_dir} (retrained since?); "
                f"rerun `genomics predict --part {i}/{parts}`"
            )
        if rec["genome"]["digest"] != genome.digest or rec["params"] != records[0]["params"]:
            raise ValueError(
                f"{where}: made with another genome store or other predict settings than "
                f"part 0; rerun `genomics predict` for every part"
            )
    want = select_chroms(genome, chroms, regions)
    got = {c: s for rec in records for c, s in rec["chroms"].items()}
    if set(got) != set(want):
        missing = sorted(set(want) - set(got))
        raise ValueError(
            f"{out}: the parts cover other chromosomes than asked for (missing: "
            f"{', '.join(missing[:5]) or 'none'}; predict.chroms or predict.parts changed "
            "since they ran?); rerun `genomics predict` for every part"
        )
    params = records[0]["params"]
    rows = [{"index": i, **t} for i, t in enumerate(params["tracks"])]
    header = "index\tname\tkind\n"
    atomic_write_text(
        out / "tracks.tsv",
        header + "".join(f"{r['index']}\t{r['name']}\t{r['kind']}\n" for r in rows),
    )
    files = [f"{c}.npy" for c in want] + ["tracks.tsv"]
    if bigwig:
        files += write_bigwigs(out, want, rows, bin_size=params["bin_size"])
    n_bins = {c: got[c]["n_bins"] for c in want}
    manifest = write_manifest(
        out,
        kind=KIND,
        format_version=FORMAT_VERSION,
        params={k: v for k, v in params.items() if k != "tracks"},
        inputs={"genome": records[0]["genome"], "model": model},
        files=files,
        extra={"chroms": n_bins, "tracks": rows},
    )
    log.info(
        "prediction store %s: %d tracks x %d chromosomes, %d bins of %d bp (%d windows "
        "of all-N bases skipped)",
        out,
        len(rows),
        len(n_bins),
        sum(n_bins.values()),
        params["bin_size"],
        sum(got[c]["skipped"] for c in want),
    )
    return manifest


def write_bigwigs(
    out: Path, sizes: dict[str, int], rows: list[dict], *, bin_size: int
) -> list[str]:
    """One bigWig per track from the store's arrays (NaN bins left out); returns the file
    names relative to ``out``."""
    (out / "bigwig").mkdir(exist_ok=True)
    names = []
    for row in rows:
        name = f"bigwig/{row['name']}.bw"
        with atomic_path(out / name) as tmp:
            bw = pyBigWig.open(str(tmp), "w")
            try:
                bw.addHeader(list(sizes.items()))
                for chrom, length in sizes.items():
                    values = np.load(out / f"{chrom}.npy", mmap_mode="r")[:, row["index"]]
                    _add_chrom(bw, chrom, length, values, bin_size)
            finally:
                bw.close()
        names.append(name)
    return names


def _add_chrom(bw, chrom: str, length: int, values: np.ndarray, bin_size: int) -> None:
    """Runs of finite bins as fixed-step entries; the last, partial bin ends at ``length``."""
    values = np.asarray(values, dtype=np.float64)
    full = length // bin_size  # bins that end inside the chromosome
    ok = np.isfinite(values[:full])
    edges = np.flatnonzero(np.diff(np.r_[0, ok.astype(np.int8), 0]))
    for a, b in zip(edges[::2], edges[1::2], strict=True):
        bw.addEntries(
            chrom, int(a) * bin_size, values=values[a:b].tolist(), span=bin_size, step=bin_size
        )
    if values.size > full and np.isfinite(values[full]):
        bw.addEntries([chrom], [full * bin_size], ends=[length], values=[float(values[full])])
