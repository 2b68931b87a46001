"""What made a run: input files with their fingerprints (from the store manifests), store
digests, software versions, date and machine."""

from __future__ import annotations

import datetime
import os
import platform
import sys
from importlib import metadata

__all__ = ["input_files", "software", "stores"]

PACKAGES = ("genomics", "torch", "numpy", "scipy", "scikit-learn", "matplotlib", "jinja2")


def _walk(value, key: str):
    """(key, path, fingerprint) of every input dict holding a fingerprint."""
    if isinstance(value, dict):
        if "fingerprint" in value and "path" in value:
            yield value.get("name") or key, str(value["path"]), str(value["fingerprint"])
        for k, v in value.items():
            if isinstance(v, (dict, list)):
                yield from _walk(v, k)
    elif isinstance(value, list):
        for v in value:
            yield from _walk(v, key)


def input_files(manifests: dict[str, dict]) -> list[dict]:
    """One row per input file named in any manifest: store, input, path, checksum.

    Parameters
    ----------
    manifests : store folder (relative to results) -> its manifest.
    """
    rows, seen = [], set()
    for store, manifest in manifests.items():
        for key, path, fp in _walk(manifest.get("inputs", {}), "input"):
            if (store, path, fp) in seen:
                continue
            seen.add((store, path, fp))
            rows.append({"store": store, "input": key, "path": path, "checksum": fp})
    return rows


def stores(manifests: dict[str, dict]) -> list[dict]:
    """One row per store: folder, kind, digest, genomics version that wrote it."""
    return [
        {
            "store": store,
            "kind": str(m.get("kind", "")),
            "digest": str(m.get("digest", "")),
            "version": str(m.get("genomics_version", "")),
        }
        for store, m in manifests.items()
    ]


def software() -> dict[str, str]:
    """Python, package versions (read from their metadata: nothing imported), date, machine."""
    out = {"python": sys.version.split()[0]}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = "not installed"
    out["date"] = datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z")
    out["machine"] = f"{platform.node()} ({platform.platform()}, {os.cpu_count()} CPUs)"
    return out
