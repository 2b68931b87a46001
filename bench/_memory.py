"""Peak memory of the running process, shared by the benchmarks (not a benchmark: the
leading underscore keeps it out of ``tests/test_bench.py``'s ``--tiny`` runs)."""

from __future__ import annotations

import resource
from pathlib import Path


def peak_rss_mib() -> float:
    """Peak RSS of this process's own address space (MiB).

    ``VmHWM`` from ``/proc/self/status`` on Linux. Not ``getrusage().ru_maxrss``: Linux
    carries the parent's peak through fork + exec into a child, so a worker started by a
    parent that once held 1 GiB (a 100-Mbp genome as text) reports at least 1 GiB.
    """
    status = Path("/proc/self/status")
    if status.is_file():
        for line in status.read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
