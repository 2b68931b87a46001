"""The files a config names, per workflow stage, checked before Snakemake plans anything.

Snakemake skips a job whose output exists even when an input it lists is missing, so a
mistyped ``genome.fasta`` after an earlier run would silently reuse the old genome store;
and it reruns a job only for the inputs it is told about, so the track files inside a
tracks table must be listed too. :func:`stage_inputs` gives both.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from genomics.classes.annotation import LEGENDS, annotation_paths
from genomics.data.tracks import track_paths

__all__ = ["stage_inputs"]


def _made_by_workflow(path: str, results: str) -> bool:
    return Path(path).parts[:1] == Path(results).parts[:1]


def stage_inputs(cfg: dict[str, Any], *, results: str = "results") -> dict[str, list[str]]:
    """Input files of the ``genome``, ``targets``, ``windows``, ``predict`` and ``classes``
    stages of ``cfg``.

    Files under ``results`` are made by the workflow (the synthetic genome and tracks) and
    may not exist yet; every other file must exist. The track files of a user's tracks
    table are listed; those of a table the workflow makes are not (the table stands for
    them, and the list must not change once it is made, or Snakemake would rerun).

    Raises
    ------
    FileNotFoundError
        A file outside ``results`` that does not exist, naming the config key.
    ValueError
        A tracks table that cannot be read.
    """
    tracks = cfg["targets"]["tracks"]
    named = {
        "genome": [("genome.fasta", cfg["genome"]["fasta"])],
        "targets": [],
        "windows": [],
    }
    if isinstance(tracks, str):
        named["targets"].append(("targets.tracks", tracks))
        if not _made_by_workflow(tracks, results):  # else the same inputs before and after
            named["targets"] += [(f"a track of {tracks}", p) for p in track_paths(tracks)]
    else:
        named["targets"] += [("targets.tracks", p) for p in track_paths(tracks)]
    if cfg["windows"]["blacklist"]:
        named["windows"].append(("windows.blacklist", cfg["windows"]["blacklist"]))
    named["predict"] = (
        [("predict.regions", cfg["predict"]["regions"])] if cfg["predict"]["regions"] else []
    )
    named["classes"] = [
        (f"classes.annotation {name!r}", path)
        for name, path in annotation_paths(cfg["classes"]["annotation"]).items()
    ]
    legend = cfg["classes"]["state_names"]
    if legend and legend not in LEGENDS:
        named["classes"].append(("classes.state_names", legend))
    for stage in named.values():
        for key, path in stage:
            if not _made_by_workflow(str(path), results) and not Path(path).is_file():
                raise FileNotFoundError(f"{key}: {path} does not exist; fix the path")
    return {stage: [str(p) for _, p in files] for stage, files in named.items()}
