"""``genomics benchmark``: variant scores against measured effects.

The measured table is a TSV with ``chrom, pos, ref, alt`` (``pos`` 1-based, as in a VCF)
and either

- a ``value`` column (one measured effect per variant), with optional ``group`` (or
  ``element``), ``split`` and ``weight`` columns: one score column is compared with it,
  named (``score``) or chosen on one split (``select_on``: the column and sign with the
  best Spearman there, its mean over the groups when there are groups, as for CAGI5's
  elements) and reported on the other rows; or
- one column per model track (the simulator's ``effects.tsv``): each track's true effect
  is compared with its own score column (``<track>:<stat>``, ``<track>:logodds`` for peak
  tracks). ``stat`` is ``log2fc`` by default: the simulator's true effect is
  ``log2((S_alt + 1) / (S_ref + 1))`` of the signal summed over a window
  (:mod:`genomics.simulate.variants`), the statistic ``<track>:log2fc`` estimates, and
  measured effects (MPRA, eQTL, CAGI5) are log ratios too; ``sad`` ranks the same
  change differently where the reference signal differs.

Rows join on (chrom, pos, ref, alt), chromosome aliases resolved (``20`` = ``chr20``).
Per group (``all`` and each group; an ``element`` like ``enhancer:m3`` is grouped by its
type, ``enhancer``): Spearman and Pearson with bootstrap 95% intervals (percentiles of
``n_boot`` resamples of the variants) and, in the per-track mode, AUROC of ``|score|``
separating variants with a non-zero true effect from those without; the correlations in
that mode are over the variants whose true effect is non-zero. In the one-value mode with
two or more groups a row ``mean over elements`` (``mean over groups`` for a ``group``
column) holds the unweighted mean of the groups' correlations, with a stratified
bootstrap interval (each group resampled within itself; :func:`grouped_correlations`):
CAGI5's headline figure, which a pooled correlation would mix with differences between
elements.

Outputs (``results/benchmark/<model>/``): ``spearman.tsv`` (rows ``all``, the mean over
groups, then each group), ``spearman.json`` (matched/unmatched counts, the chosen column,
``all``, ``mean_over_groups`` and ``per_group`` {group: n, Spearman and its interval},
then every row) and ``scatter-<group>.png``.
"""

from __future__ import annotations

import csv
import gzip
import json
import logging
from pathlib import Path

import numpy as np
from scipy.stats import rankdata
from sklearn.metrics import roc_auc_score

from genomics.data.chroms import ChromAliases
from genomics.io import atomic_write_text
from genomics.variants.stats import COVERAGE_STATS

__all__ = [
    "bootstrap_interval",
    "bootstrap_values",
    "correlations",
    "grouped_correlations",
    "join",
    "percentile_interval",
    "read_table",
    "run_benchmark",
    "benchmark_from_config",
    "weighted_pearson",
    "weighted_spearman",
]

log = logging.getLogger(__name__)

KEY = ("chrom", "pos", "ref", "alt")
ALL = "all"
MEAN = "mean over groups"
MEAN_ELEMENTS = "mean over elements"


def read_table(path: str | Path, *, required=KEY) -> dict[str, list[str]]:
    """A TSV (gzipped or not) as columns of strings; ValueError naming a missing column."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    opener = gzip.open if path.read_bytes()[:2] == b"\x1f\x8b" else open
    with opener(path, "rt", newline="") as fh:
        reader = csv.reader((line for line in fh if not line.startswith("##")), delimiter="\t")
        try:
            head = [h.lstrip("#").strip() for h in next(reader)]
        except StopIteration:
            raise ValueError(f"{path}: empty table") from None
        rows = [r for r in reader if r]
    missing = [c for c in required if c not in head]
    if missing:
        raise ValueError(
            f"{path}: no column {', '.join(map(repr, missing))} (it has {', '.join(head[:12])})"
        )
    bad = [i for i, r in enumerate(rows) if len(r) != len(head)]
    if bad:
        raise ValueError(
            f"{path} line {bad[0] + 2}: {len(rows[bad[0]])} fields, the header has {len(head)}"
        )
    return {h: [r[i] for r in rows] for i, h in enumerate(head)}


def join(scores: dict, measured: dict) -> tuple[np.ndarray, np.ndarray, dict]:
    """Row indices of ``scores`` and ``measured`` that hold the same variant.

    Returns
    -------
    (i_scores, i_measured, counts): int arrays of equal length, and matched/unmatched
    counts. Chromosome names of ``measured`` are resolved against those of ``scores``.
    """
    aliases = ChromAliases(dict.fromkeys(scores["chrom"]))
    index = {}
    for i, key in enumerate(zip(*(scores[k] for k in KEY), strict=True)):
        index.setdefault((key[0], int(key[1]), key[2].upper(), key[3].upper()), i)
    i_s, i_m = [], []
    for j, (c, p, r, a) in enumerate(zip(*(measured[k] for k in KEY), strict=True)):
        chrom = aliases.resolve(c)
        i = None if chrom is None else index.get((chrom, int(p), r.upper(), a.upper()))
        if i is not None:
            i_s.append(i)
            i_m.append(j)
    counts = {
        "matched": len(i_s),
        "unmatched_measured": len(measured["chrom"]) - len(i_m),
        "unmatched_scores": len(scores["chrom"]) - len(set(i_s)),
    }
    return np.array(i_s, np.int64), np.array(i_m, np.int64), counts


def weighted_pearson(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Pearson correlation along the last axis: ``(..., n) -> (...)``; NaN if constant."""
    w = np.ones(x.shape[-1]) if w is None else w
    w = w / w.sum(axis=-1, keepdims=True)
    xm = x - (w * x).sum(-1, keepdims=True)
    ym = y - (w * y).sum(-1, keepdims=True)
    cov = (w * xm * ym).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        return cov / np.sqrt((w * xm * xm).sum(-1) * (w * ym * ym).sum(-1))


def weighted_spearman(x: np.ndarray, y: np.ndarray, w: np.ndarray | None = None) -> np.ndarray:
    """Spearman correlation (Pearson of average ranks) along the last axis."""
    return weighted_pearson(rankdata(x, axis=-1), rankdata(y, axis=-1), w)


def bootstrap_values(
    func, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, *, n_boot: int, rng
) -> np.ndarray:
    """``func(x, y, w)`` on ``n_boot`` resamples of the pairs: shape (n_boot,), NaN where a
    resample has no value (e.g. a constant column); empty when ``n_boot`` is 0 or n < 3."""
    if n_boot == 0 or x.size < 3:
        return np.empty(0)
    vals = []
    for start in range(0, n_boot, 200):  # 200 resamples at a time: memory stays small
        idx = rng.integers(0, x.size, size=(min(200, n_boot - start), x.size))
        vals.append(func(x[idx], y[idx], None if w is None else w[idx]))
    return np.concatenate(vals)


def percentile_interval(values: np.ndarray) -> tuple[float, float]:
    """The 2.5th and 97.5th percentiles of the finite ``values`` (NaN, NaN if none)."""
    values = values[np.isfinite(values)]
    if not values.size:
        return float("nan"), float("nan")
    lo, hi = np.percentile(values, [2.5, 97.5])
    return float(lo), float(hi)


def bootstrap_interval(
    func, x: np.ndarray, y: np.ndarray, w: np.ndarray | None, *, n_boot: int, rng
) -> tuple[float, float]:
    """Percentile 95% interval of ``func(x, y, w)`` over ``n_boot`` resamples of the pairs."""
    return percentile_interval(bootstrap_values(func, x, y, w, n_boot=n_boot, rng=rng))


_CORRELATIONS = (("spearman", weighted_spearman), ("pearson", weighted_pearson))


def _correlation_draws(x, y, w, *, n_boot: int, seed) -> tuple[dict, dict]:
    """(n, Spearman and Pearson with intervals; the bootstrap values behind them)."""
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    out, draws = {"n": int(x.size)}, {}
    for name, func in _CORRELATIONS:
        rng = np.random.default_rng(seed)
        out[name] = float(func(x, y, w)) if x.size >= 2 else float("nan")
        draws[name] = bootstrap_values(func, x, y, w, n_boot=n_boot, rng=rng)
        out[f"{name}_lo"], out[f"{name}_hi"] = percentile_interval(draws[name])
    return out, draws


def correlations(x, y, w=None, *, n_boot: int = 1000, seed: int = 0) -> dict:
    """n, Spearman and Pearson of ``x`` against ``y`` with bootstrap 95% intervals."""
    return _correlation_draws(x, y, w, n_boot=n_boot, seed=seed)[0]


def grouped_correlations(
    x, y, groups, w=None, *, n_boot: int = 1000, seed: int = 0, mean_label: str = MEAN
) -> list[dict]:
    """Correlations over all pairs, per group, and their mean over the groups.

    Parameters
    ----------
    x, y : np.ndarray, shape (n,), float; score and measured effect.
    groups : np.ndarray, shape (n,), str, or None (only the ``all`` row).
    w : np.ndarray, shape (n,), float, or None; weights.

    Returns
    -------
    list of dict, one row per ``group``: ``all`` (every pair; resampled with ``seed``),
    then ``mean_label`` when there are two or more groups, then each group in sorted order
    (resampled with ``[seed, k]``, the k-th group). The mean row is the unweighted mean of
    the groups' correlations, ``n_groups`` of them (groups with too few pairs or a constant column
    left out), with a stratified bootstrap interval (replicate ``i`` is the mean of the
    groups' replicates ``i``, each group resampled within itself).
    """
    x, y = np.asarray(x, np.float64), np.asarray(y, np.float64)
    rows = [{"group": ALL, **correlations(x, y, w, n_boot=n_boot, seed=seed)}]
    if groups is None:
        return rows
    groups = np.asarray(groups, dtype=object)
    names = sorted(set(groups))
    draws = []
    for k, name in enumerate(names):
        sel = groups == name
        row, d = _correlation_draws(
            x[sel], y[sel], None if w is None else w[sel], n_boot=n_boot, seed=[seed, k]
        )
        rows.append({"group": name, **row})
        draws.append(d)
    if len(names) < 2:
        return rows
    mean = {"group": mean_label, "n": int(sum(r["n"] for r in rows[1:]))}
    for name, _ in _CORRELATIONS:
        ok = [i for i, r in enumerate(rows[1:]) if np.isfinite(r[name])]
        mean[name] = float(np.mean([rows[1 + i][name] for i in ok])) if ok else float("nan")
        reps = [draws[i][name] for i in ok]
        if reps and all(r.size for r in reps):
            mean[f"{name}_lo"], mean[f"{name}_hi"] = percentile_interval(np.mean(reps, axis=0))
        else:
            mean[f"{name}_lo"] = mean[f"{name}_hi"] = float("nan")
        if name == "spearman":
            mean["n_groups"] = len(ok)
    rows.insert(1, mean)
    return rows


def _floats(col: list[str], what: str) -> np.ndarray:
    try:
        return np.array([float(v) if v not in ("", "NA", "nan", ".") else np.nan for v in col])
    except ValueError as e:
        raise ValueError(f"{what}: {e}") from None


def _groups(measured: dict) -> list[str] | None:
    if "group" in measured:
        return measured["group"]
    if "element" in measured:
        return [e.split(":")[0] for e in measured["element"]]
    return None


def _per_track(scores, measured, i_s, i_m, *, stat, n_boot, seed) -> tuple[list, dict]:
    """Rows of the per-track mode and, per group, (track, score, truth) for the figures."""
    groups = _groups(measured)
    g = None if groups is None else np.array(groups, dtype=object)[i_m]
    rows, points = [], {}
    tracks = [c for c in measured if f"{c}:{stat}" in scores or f"{c}:logodds" in scores]
    other = [f"{c}:{k}" for c in measured for k in COVERAGE_STATS if f"{c}:{k}" in scores]
    if other and not tracks:
        raise ValueError(
            f"the scores table has no column {other[0].split(':')[0]}:{stat} (benchmark.stat "
            f"{stat}) but has {other[0]}: set benchmark.stat (--set benchmark.stat=...) to "
            f"one of {', '.join(sorted({c.split(':')[1] for c in other}))}"
        )
    if not tracks:
        raise ValueError(
            "the measured table has neither a 'value' column nor columns named after the "
            f"scored tracks (score columns: {', '.join(list(scores)[5:10])} ...)"
        )
    for track in tracks:
        col = f"{track}:{stat}" if f"{track}:{stat}" in scores else f"{track}:logodds"
        s = _floats(scores[col], col)[i_s]
        t = _floats(measured[track], track)[i_m]
        names = [ALL] + ([] if g is None else sorted(set(g)))
        for name in names:
            sel = np.isfinite(s) & np.isfinite(t)
            if name != ALL:
                sel &= g == name
            eff = sel & (t != 0)
            row = {"track": track, "score": col, "group": name, "n_all": int(sel.sum())}
            row |= correlations(s[eff], t[eff], n_boot=n_boot, seed=seed)
            null = sel & (t == 0)
            row["n_null"] = int(null.sum())
            both = eff | null
            row["auroc"] = (
                float(roc_auc_score(eff[both], np.abs(s[both])))
                if eff.any() and null.any()
                else float("nan")
            )
            rows.append(row)
            points.setdefault(name, []).append((track, s[eff], t[eff]))
    return rows, points


def _mean_spearman(x: np.ndarray, y: np.ndarray, g: np.ndarray | None) -> float:
    """Spearman of ``x`` and ``y``, or (groups given) its mean over the groups that have
    one."""
    if g is None:
        return float(weighted_spearman(x, y))
    rhos = [float(weighted_spearman(x[g == k], y[g == k])) for k in set(g) if (g == k).sum() >= 3]
    rhos = [r for r in rhos if np.isfinite(r)]
    return float(np.mean(rhos)) if rhos else float("nan")


def _select(scores, y, i_s, sel, columns, g) -> tuple[str, int, float]:
    """The score column and sign with the best Spearman on the rows ``sel``: over those
    rows, or, with groups, its mean over the groups (the figure that is reported)."""
    best = (None, 1, -np.inf)
    for col in columns:
        x = _floats(scores[col], col)[i_s]
        ok = sel & np.isfinite(x) & np.isfinite(y)
        if ok.sum() < 3:
            continue
        rho = _mean_spearman(x[ok], y[ok], None if g is None else g[ok])
        if np.isfinite(rho) and abs(rho) > best[2]:
            best = (col, 1 if rho >= 0 else -1, abs(rho))
    if best[0] is None:
        raise ValueError("select_on: no score column has 3 or more values on that split")
    return best


def _one_value(scores, measured, i_s, i_m, *, score, select_on, n_boot, seed):
    y = _floats(measured["value"], "value")[i_m]
    w = _floats(measured["weight"], "weight")[i_m] if "weight" in measured else None
    groups = _groups(measured)
    g = None if groups is None else np.array(groups, dtype=object)[i_m]
    report = np.ones(y.size, bool)
    chosen = {}
    sign = 1
    if score is None:
        if select_on is None:
            raise ValueError(
                "the measured table has a 'value' column: name the score column "
                "(--score / benchmark.score) or choose one on a split (--select-on)"
            )
        if "split" not in measured:
            raise ValueError(f"select_on {select_on!r}: the measured table has no 'split' column")
        split = np.array(measured["split"], dtype=object)[i_m]
        on = split == select_on
        if not on.any():
            raise ValueError(
                f"select_on {select_on!r}: no matched variant has that split "
                f"(splits: {', '.join(sorted(set(split))[:6])})"
            )
        if on.all():
            raise ValueError(
                f"select_on {select_on!r}: every matched variant is on that split, none is "
                "left to report on; score the other split's variants too"
            )
        columns = list(scores)[5:]
        score, sign, rho = _select(scores, y, i_s, on, columns, g)
        report = ~on
        chosen = {
            "score": score,
            "sign": sign,
            "selected_on": select_on,
            "selected_by": "spearman" if g is None else "mean spearman over groups",
            "spearman_there": rho,
            "reported_on": ", ".join(sorted(set(split[report]))),
        }
        log.info(
            "selected %s%s on split %s (%s %.3f)",
            "-" if sign < 0 else "",
            score,
            select_on,
            chosen["selected_by"],
            rho,
        )
    elif score not in scores:
        raise ValueError(f"score column {score!r} is not in the scores table")
    x = sign * _floats(scores[score], score)[i_s]
    sel = report & np.isfinite(x) & np.isfinite(y)
    label = MEAN if "group" in measured or "element" not in measured else MEAN_ELEMENTS
    rows = grouped_correlations(
        x[sel],
        y[sel],
        None if g is None else g[sel],
        None if w is None else w[sel],
        n_boot=n_boot,
        seed=seed,
        mean_label=label,
    )
    head = {"track": "value", "score": ("-" if sign < 0 else "") + score}
    rows = [head | r for r in rows]
    points = {}
    for r in rows:
        if r["group"] in (MEAN, MEAN_ELEMENTS):
            continue
        keep = sel if r["group"] == ALL else sel & (g == r["group"])
        points[r["group"]] = [("value", x[keep], y[keep])]
    return rows, points, chosen


def _summary(rows: list[dict]) -> dict:
    """The headline figures of the one-value mode, easy to read from the JSON: Spearman
    over all, per group and the mean over groups, each with its interval."""
    keys = ("n", "spearman", "spearman_lo", "spearman_hi")
    out = {}
    for r in rows:
        entry = {k: r[k] for k in keys} | ({"n_groups": r["n_groups"]} if "n_groups" in r else {})
        if r["group"] == ALL:
            out["all"] = entry
        elif r["group"] in (MEAN, MEAN_ELEMENTS):
            out["mean_over_groups"] = entry
        else:
            out.setdefault("per_group", {})[r["group"]] = entry
    return out


def run_benchmark(
    scores_path: str | Path,
    measured_path: str | Path,
    out: str | Path,
    *,
    score: str | None = None,
    stat: str = "log2fc",
    select_on: str | None = None,
    n_boot: int = 1000,
    seed: int = 0,
    plot: bool = True,
) -> dict:
    """Benchmark a scores table against measured effects (module docstring); write
    ``spearman.tsv``, ``spearman.json`` and the figures into ``out``; return the JSON."""
    out = Path(out)
    scores = read_table(scores_path)
    measured = read_table(measured_path)
    i_s, i_m, counts = join(scores, measured)
    if counts["matched"] == 0:
        raise ValueError(
            f"no variant of {measured_path} is in {scores_path} (joined on chrom, pos, ref, "
            "alt; chromosome aliases resolved)"
        )
    log.info("%d variants matched, %d measured unmatched, %d scored unmatched", *counts.values())
    chosen = {}
    if "value" in measured or score is not None:
        if "value" not in measured:
            raise ValueError(f"{measured_path}: no column 'value' to compare {score!r} with")
        rows, points, chosen = _one_value(
            scores, measured, i_s, i_m, score=score, select_on=select_on, n_boot=n_boot, seed=seed
        )
    else:
        rows, points = _per_track(scores, measured, i_s, i_m, stat=stat, n_boot=n_boot, seed=seed)
    out.mkdir(parents=True, exist_ok=True)
    cols = list(rows[0])
    for r in rows:
        cols += [c for c in r if c not in cols]
    lines = ["\t".join(cols)]
    for r in rows:
        lines.append("\t".join(_cell(r.get(c, "")) for c in cols))
    headline = _summary(rows) if "value" in measured else {}
    mean = headline.get("mean_over_groups")
    result = {
        **counts,
        **chosen,
        # scalars (the report shows them): the figure a grouped benchmark reports
        **({} if mean is None else {f"mean_{k}": v for k, v in mean.items() if k != "n"}),
        "scores": str(scores_path),
        "measured": str(measured_path),
        **headline,
        "rows": rows,
    }
    if plot:
        from genomics.classes.files import save_figure
        from genomics.variants.figures import scatter_figure

        for group, panels in points.items():
            save_figure(
                scatter_figure(panels, title=f"{group}"), out / f"scatter-{_safe(group)}.png"
            )
    atomic_write_text(out / "spearman.tsv", "\n".join(lines) + "\n")
    atomic_write_text(out / "spearman.json", json.dumps(result, indent=1, default=_json) + "\n")
    for r in rows:
        if r["group"] in (ALL, MEAN, MEAN_ELEMENTS):
            log.info(
                "%s vs %s, %s: Spearman %.3f [%.3f, %.3f], n %d",
                r["score"],
                r["track"],
                r["group"],
                r["spearman"],
                r["spearman_lo"],
                r["spearman_hi"],
                r["n"],
            )
    return result


def _safe(name: str) -> str:
    return "".join(c if c.isalnum() or c in "-_." else "_" for c in name)


def _cell(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def _json(v):
    return None if isinstance(v, float) and not np.isfinite(v) else v


def benchmark_from_config(cfg: dict, *, scores, measured, out) -> dict:
    """The stage as the CLI runs it."""
    b = cfg["benchmark"]
    return run_benchmark(
        scores,
        measured,
        out,
        score=b["score"],
        stat=b["stat"],
        select_on=b["select_on"],
        n_boot=b["n_boot"],
        seed=cfg["seed"],
        plot=b["plot"],
    )
