"""File plumbing shared by every stage: atomic writes and store manifests."""

from genomics.io.atomic import atomic_path, atomic_save_npy, atomic_write_text, new_npy_memmap
from genomics.io.lock import folder_lock
from genomics.io.manifest import (
    StoreError,
    content_digest,
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
    "content_digest",
    "fingerprint",
    "folder_lock",
    "invalidate_store",
    "new_npy_memmap",
    "read_manifest",
    "write_manifest",
]
