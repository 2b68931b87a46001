"""File plumbing shared by every stage: atomic writes and store manifests."""

from genomics.io.atomic import atomic_path, atomic_save_npy, atomic_write_text
from genomics.io.manifest import (
    StoreError,
    fingerprint,
    invalidate_store,
    read_manifest,
    write_manifest,
)

__all__ = [
    "StoreError",
    "atomic_path",
    "atomic_save_npy",
    "atomic_write_text",
    "fingerprint",
    "invalidate_store",
    "read_manifest",
    "write_manifest",
]
