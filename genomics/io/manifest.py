"""Store manifests: what made a store, written last, checked before a store is trusted.

A store is a folder of data files plus ``manifest.json``. A build first removes the old
manifest (:func:`invalidate_store`), renames each finished data file into place, and
writes the manifest last (:func:`write_manifest`). A reader trusts the folder only if the
manifest is there, is of the expected kind and format, its digest matches its content and
every file it lists exists with the recorded size (:func:`read_manifest`). So a build
killed half-way leaves a folder that no later stage will read.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from pathlib import Path
from typing import Any

from genomics.io.atomic import atomic_write_text

__all__ = [
    "StoreError",
    "content_digest",
    "fingerprint",
    "invalidate_store",
    "read_manifest",
    "write_manifest",
]

MANIFEST = "manifest.json"
_FULL_HASH_LIMIT = 64 << 20
_SAMPLE = 1 << 20


class StoreError(ValueError):
    """A store that is missing, incomplete, of the wrong kind, or built from other inputs."""


def fingerprint(path: str | Path) -> str:
    """Content fingerprint of a file: ``sha256:<hex>`` of the whole file up to 64 MiB,
    else ``sha256-sampled:<hex>`` of its size, first MiB and last MiB (fast on big tracks)."""
    path = Path(path)
    size = path.stat().st_size
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        if size <= _FULL_HASH_LIMIT:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
            return f"sha256:{h.hexdigest()}"
        h.update(str(size).encode())
        h.update(fh.read(_SAMPLE))
        fh.seek(size - _SAMPLE)
        h.update(fh.read(_SAMPLE))
    return f"sha256-sampled:{h.hexdigest()}"


def _digest(body: dict) -> str:
    text = json.dumps(body, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def _without_paths(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _without_paths(v) for k, v in value.items() if k != "path"}
    if isinstance(value, list):
        return [_without_paths(v) for v in value]
    return value


def content_digest(manifest: dict) -> str:
    """What a store holds, as 16 hex digits: its manifest without paths, file sizes (a
    table that records paths changes size with them; the sizes are checked on reading),
    the genomics version and the integrity digest.

    Two builds from the same inputs (by fingerprint) with the same parameters have the same
    content digest, however their paths were spelled (``results/genome`` or an absolute
    path); downstream stages and models record and compare this one.
    """
    skip = ("digest", "genomics_version", "files")
    body = {k: v for k, v in manifest.items() if k not in skip}
    return _digest(_without_paths(body))


def invalidate_store(store: str | Path) -> None:
    """Remove a store's manifest so that nobody trusts it while it is being rebuilt."""
    with contextlib.suppress(FileNotFoundError):
        (Path(store) / MANIFEST).unlink()


def write_manifest(
    store: str | Path,
    *,
    kind: str,
    format_version: int,
    params: dict[str, Any],
    inputs: dict[str, Any],
    files: list[str],
    extra: dict[str, Any] | None = None,
) -> dict:
    """Write ``manifest.json`` into ``store`` (atomically; call it after all data files).

    Parameters
    ----------
    kind : "genome", "targets", ... (what a reader expects).
    params : the parameters that shaped the data (bin size, ...).
    inputs : what the store was made from: input files with fingerprints, upstream digests.
    files : data file names relative to ``store``; their sizes are recorded.
    extra : anything else a reader needs (chromosome sizes, track table, ...).
    """
    from genomics import __version__

    store = Path(store)
    body = {
        "kind": kind,
        "format_version": format_version,
        "genomics_version": __version__,
        "params": params,
        "inputs": inputs,
        "files": {name: (store / name).stat().st_size for name in sorted(files)},
        **(extra or {}),
    }
    manifest = {**body, "digest": _digest(body)}
    atomic_write_text(store / MANIFEST, json.dumps(manifest, indent=1, default=str) + "\n")
    return manifest


def read_manifest(store: str | Path, *, kind: str, format_version: int, command: str) -> dict:
    """Read and check a store's manifest; raise :class:`StoreError` saying what to rerun.

    Parameters
    ----------
    command : the command that builds this store, named in the error (e.g. ``genomics genome``).
    """
    store = Path(store)
    path = store / MANIFEST
    fix = f"run `{command}` to (re)build it"
    if not store.is_dir():
        raise StoreError(f"{store}: no {kind} store here; {fix}")
    if not path.is_file():
        raise StoreError(
            f"{store}: no {MANIFEST}, so the {kind} store is incomplete "
            f"(an interrupted build?); {fix}"
        )
    try:
        manifest = json.loads(path.read_text())
        body = {k: v for k, v in manifest.items() if k != "digest"}
        ok = manifest.get("digest") == _digest(body)
    except (json.JSONDecodeError, AttributeError):
        ok = False
    if not ok:
        raise StoreError(f"{path}: damaged manifest (digest mismatch); {fix}")
    if manifest.get("kind") != kind:
        raise StoreError(f"{store}: holds a {manifest.get('kind')!r} store, not a {kind} store")
    if manifest.get("format_version") != format_version:
        raise StoreError(
            f"{store}: {kind} store format {manifest.get('format_version')} but this "
            f"genomics reads format {format_version}; {fix}"
        )
    for name, size in manifest["files"].items():
        f = store / name
        if not f.is_file() or f.stat().st_size != size:
            raise StoreError(f"{f}: missing or changed since the {kind} store was built; {fix}")
    return manifest
