"""Per-class regulatory reports a biologist can read (``genomics report``).

- :func:`build_report`, :func:`report_from_config` (:mod:`.build`): a run's outputs ->
  ``index.html`` (provenance, held-out metrics, the class table, variant benchmark) and
  ``class-<k>.html`` per class (what defines it, where it is, how variants move it,
  annotation enrichment), self-contained (figures embedded, no network).
- :class:`RunFiles` (:mod:`.run_files`): where the run's outputs are, read back checked.
- Figures in :mod:`.figures`, HTML pieces in :mod:`.html`, templates in ``templates/``.
"""

from genomics.report.build import annotations_for, build_report, page_name, report_from_config
from genomics.report.run_files import RunFiles

__all__ = ["RunFiles", "annotations_for", "build_report", "page_name", "report_from_config"]
