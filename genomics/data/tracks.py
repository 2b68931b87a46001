"""The track list: read a tracks table (or the config's list), validate it, find each kind.

A tracks table is a TSV whose header names track keys (``$defs/track`` in the config
schema)::

    name        path                    kind      aggregate  scale  description
    cebpb_fc    tracks/cebpb.fc.bw      coverage  mean       1.0    CEBPB A549 fold change
    cebpb_peak  tracks/cebpb.bed.gz                                 CEBPB IDR peaks

``name`` and ``path`` are required; empty cells take the schema default; paths are
relative to the table's folder. ``kind: auto`` becomes ``coverage`` for a bigWig and
``peaks`` for BED-like text (gz or not).
"""

from __future__ import annotations

import copy
import gzip
import struct
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import jsonschema

from genomics.config import schema

__all__ = ["TRACK_KEYS", "load_tracks", "sniff_kind", "track_schema"]

BIGWIG_MAGIC = 0x888FFC26
BIGBED_MAGIC = 0x8789F2EB
_SNIFF = 1 << 16  # bytes looked at to tell text from binary


def track_schema() -> dict:
    """The schema of one track (``$defs/track``)."""
    return schema()["$defs"]["track"]


TRACK_KEYS = tuple(track_schema()["properties"])


def _first_bytes(path: Path, n: int = 16) -> bytes:
    with open(path, "rb") as fh:
        return fh.read(n)


def _head_text(path: Path) -> str | None:
    """The first KiB of a text file (gunzipped if need be), or None if it is not text."""
    try:
        if _first_bytes(path, 2) == b"\x1f\x8b":
            with gzip.open(path, "rb") as fh:
                head = fh.read(_SNIFF)
        else:
            head = _first_bytes(path, _SNIFF)
    except (OSError, EOFError):
        return None
    if b"\x00" in head:
        return None
    try:
        return head.decode("utf-8")
    except UnicodeDecodeError as e:
        if e.start < len(head) - 3:  # not just a character cut in half at the end
            return None
        return head[: e.start].decode("utf-8")


_BEDGRAPH = "convert it with bedGraphToBigWig and use kind: coverage"


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _bed_problem(text: str, *, declared: str = "auto") -> str | None:
    """Why ``text`` does not start like a BED file, or None if it does.

    With ``declared="auto"`` a file of exactly four columns whose fourth is a number on
    every line may be a bedGraph (a signal, not peaks: binning it as peaks would turn every
    interval into a 1), and is refused: whole numbers on intervals that do not touch are
    as likely read counts with zero runs left out as numbered peaks. ``declared="peaks"``
    reads such a file as peaks.
    """
    lines = text.splitlines()
    if len(lines) > 1 and not text.endswith("\n"):
        lines = lines[:-1]  # cut off at the end of the sniffed bytes
    data = []
    for line in lines:
        if line.startswith("track") and "bedgraph" in line.lower():
            return f"it is a bedGraph; {_BEDGRAPH}"
        if not line.strip() or line.startswith(("#", "track", "browser")):
            continue
        fields = line.split()
        if not data and (len(fields) < 3 or not (fields[1].isdigit() and fields[2].isdigit())):
            return f"its first data line is not chrom<TAB>start<TAB>end: {line[:60]!r}"
        data.append(fields)
    signal = bool(data) and all(len(f) == 4 and _is_number(f[3]) for f in data)
    if signal and declared == "auto":
        return (
            f"its 4th column is a number on every line ({' '.join(data[0])!r}), as in a "
            f"bedGraph; {_BEDGRAPH} (or set kind: peaks if these are peaks with numbers for "
            "names)"
        )
    return None


def sniff_kind(path: str | Path, declared: str = "auto", *, where: str = "") -> str:
    """Resolve a track's ``kind`` from the file's content.

    Parameters
    ----------
    path : the track file.
    declared : "auto", "coverage" or "peaks" (as in the config).
    where : prefix for errors (table and line, or the track name).

    Returns
    -------
    "coverage" (a bigWig) or "peaks" (BED-like text, gz or not).
    """
    path = Path(path)
    where = where or str(path)
    head = _first_bytes(path)
    magic = struct.unpack("<I", head[:4])[0] if len(head) >= 4 else None
    if magic == BIGWIG_MAGIC:
        if declared == "peaks":
            raise ValueError(
                f"{where}: {path} is a bigWig, not a peak file; set kind: coverage (or auto)"
            )
        return "coverage"
    if declared == "coverage":
        raise ValueError(
            f"{where}: {path} is not a bigWig (first bytes {head!r}); "
            "give a bigWig or set kind: peaks (or auto) for a BED/narrowPeak file"
        )
    if magic == BIGBED_MAGIC:
        raise ValueError(
            f"{where}: {path} is a bigBed, which is not read; convert it with "
            "bigBedToBed and use the BED file"
        )
    text = _head_text(path)
    if text is None and head[:2] == b"\x1f\x8b":
        raise ValueError(
            f"{where}: {path} is gzip-compressed but cannot be read as text (truncated or "
            "damaged?); download or compress it again"
        )
    if text is None:
        raise ValueError(
            f"{where}: {path} is neither a bigWig nor BED-like text (first bytes {head!r}); "
            "give a bigWig (coverage) or a BED/narrowPeak file, gz or not (peaks)"
        )
    problem = _bed_problem(text, declared=declared)
    if problem:
        raise ValueError(f"{where}: {path} is not a BED/narrowPeak file: {problem}")
    return "peaks"


def _error_text(error: jsonschema.ValidationError) -> str:
    key = ".".join(str(p) for p in error.absolute_path)
    if error.validator == "additionalProperties":
        unknown = sorted(set(error.instance) - set(TRACK_KEYS))
        return f"unknown key(s) {', '.join(map(repr, unknown))}; allowed: {', '.join(TRACK_KEYS)}"
    return f"{key}: {error.message}" if key else error.message


def _validate(track: Mapping[str, Any], where: str) -> dict:
    """Schema-check one track and fill its defaults."""
    track = copy.deepcopy(dict(track))
    errors = list(jsonschema.Draft202012Validator(track_schema()).iter_errors(track))
    if errors:
        raise ValueError(f"{where}: {_error_text(errors[0])}")
    for key, spec in track_schema()["properties"].items():
        if "default" in spec and key not in track:
            track[key] = copy.deepcopy(spec["default"])
    return track


def _cell(value: str, spec: dict, where: str, key: str) -> Any:
    """A table cell as the type the schema wants (numbers and null; others stay str)."""
    types = spec.get("type", "string")
    types = types if isinstance(types, list) else [types]
    if "null" in types and value.lower() in ("null", "none", "na"):
        return None
    if "number" in types:
        try:
            return float(value)
        except ValueError:
            raise ValueError(f"{where}: column {key!r} must be a number, got {value!r}") from None
    return value


def _read_table(table: Path) -> list[tuple[str, dict]]:
    """``(where, track)`` per row of a tracks table; paths made relative to the table."""
    if table.is_dir():
        raise ValueError(f"targets.tracks: {table} is a folder; give the tracks table (a TSV)")
    if not table.is_file():
        raise FileNotFoundError(f"tracks table {table} does not exist; fix targets.tracks")
    props = track_schema()["properties"]
    rows: list[tuple[str, dict]] = []
    header: list[str] | None = None
    try:
        text = table.read_text(encoding="utf-8-sig")  # -sig: Excel's "UTF-8 CSV" has a BOM
    except UnicodeDecodeError as e:
        raise ValueError(
            f"{table}: not UTF-8 text (byte {e.object[e.start]:#04x} at offset {e.start}); "
            "targets.tracks takes a tab-separated tracks table (see the README), not a "
            "track file itself; if it is a table, save it as UTF-8"
        ) from None
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        cells = [c.strip() for c in line.split("\t")]
        if header is None:
            header = [c.lstrip("#").strip() for c in cells]
            unknown = [c for c in header if c not in props]
            if unknown:
                raise ValueError(
                    f"{table} line {lineno}: unknown column(s) {', '.join(map(repr, unknown))}; "
                    f"allowed: {', '.join(TRACK_KEYS)} (columns are separated by tabs)"
                )
            missing = [k for k in ("name", "path") if k not in header]
            if missing:
                raise ValueError(
                    f"{table} line {lineno}: the header lacks the required column(s) "
                    f"{', '.join(missing)}; it has {', '.join(header)}"
                )
            dupes = sorted({c for c in header if header.count(c) > 1})
            if dupes:
                raise ValueError(f"{table} line {lineno}: column(s) {dupes} appear twice")
            continue
        if line.startswith("#"):
            continue
        where = f"{table} line {lineno}"
        if len(cells) > len(header):
            raise ValueError(
                f"{where}: {len(cells)} cells but the header has {len(header)} columns "
                "(columns are separated by tabs)"
            )
        track = {
            key: _cell(value, props[key], where, key)
            for key, value in zip(header, cells, strict=False)
            if value != ""
        }
        if isinstance(track.get("path"), str):
            track["path"] = str(table.parent / track["path"])
        rows.append((where, track))
    if not rows:
        raise ValueError(
            f"{table}: no tracks (the table is empty or has only a header); "
            "add one row per track with at least name and path"
        )
    return rows


def track_paths(spec: str | Path | Sequence[Mapping[str, Any]]) -> list[str]:
    """The track files that ``targets.tracks`` names (from the table when it is one,
    relative to its folder), unchecked: the workflow lists them as the targets rule's
    inputs, so that changing a track file rebuilds the target store.

    Raises
    ------
    FileNotFoundError, ValueError
        As :func:`load_tracks`, for a table that is missing or malformed.
    """
    if isinstance(spec, (str, Path)):
        return [str(track["path"]) for _, track in _read_table(Path(spec))]
    return [str(track["path"]) for track in spec if "path" in track]


def load_tracks(
    spec: str | Path | Sequence[Mapping[str, Any]], *, source: str = "config"
) -> list[dict]:
    """Read and check the track list; every track comes back complete, kind resolved.

    Parameters
    ----------
    spec : the config's ``targets.tracks``: a tracks table path (TSV, paths relative to
        its folder) or a list of track mappings (paths relative to the working directory).
    source : names the config in errors about a list.

    Returns
    -------
    list of dict, one per track, with every key of ``$defs/track``; ``path`` is a str and
    ``kind`` is "coverage" or "peaks".

    Raises
    ------
    FileNotFoundError
        A missing table or track file.
    ValueError
        A bad row or track (naming the table and line, or the track), an unknown column,
        duplicate names, an empty table, or a file whose content does not fit its kind.
    """
    if isinstance(spec, (str, Path)):
        rows = _read_table(Path(spec))
    else:
        if not spec:
            raise ValueError(f"{source}: targets.tracks is an empty list; give at least one track")
        rows = []
        for i, track in enumerate(spec):
            if not isinstance(track, Mapping):
                raise ValueError(f"{source}: targets.tracks[{i}] must be a mapping, got {track!r}")
            rows.append((f"{source}: targets.tracks[{i}] ({track.get('name', '?')})", dict(track)))
    tracks: list[dict] = []
    seen: dict[str, str] = {}
    for where, raw in rows:
        track = _validate(raw, where)
        name = track["name"]
        if name in seen:
            raise ValueError(
                f"{where}: duplicate track name {name!r} (also at {seen[name]}); "
                "every track needs its own name"
            )
        seen[name] = where
        path = Path(track["path"])
        if not path.is_file():
            what = "is a folder, not a file" if path.is_dir() else "does not exist"
            hint = " (relative paths in a tracks table start at the table's folder)"
            raise FileNotFoundError(
                f"{where}: track {name!r} file {path} {what}; fix its path"
                + (hint if " line " in where else "")
            )
        track["path"] = str(path)
        track["kind"] = sniff_kind(path, track["kind"], where=f"{where}: track {name!r}")
        tracks.append(track)
    return tracks
