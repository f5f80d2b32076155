"""Terminal progress, the one-screen summary, and rank files (CSV/JSON)."""

from __future__ import annotations

import csv
import io
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from engine.catalog import Catalog
from engine.scan import display_key


class ProgressBar:
    """A one-line progress bar on stderr (silent when not a terminal)."""

    def __init__(self, enabled: bool = True, width: int = 30) -> None:
        self.enabled = enabled
        self.width = width
        self.t0 = time.perf_counter()
        self._last = 0.0
        self._shown = False
        self._start: tuple[int, float] | None = None  # (done, time) at the first analysis event: cached shots are not the rate

    def update(self, ev: Any) -> None:
        if not self.enabled:
            return
        now = time.perf_counter()
        if ev.phase == "analyse" and ev.total and now - self._last < 0.1 and ev.done < ev.total:
            return
        self._last = now
        if ev.phase == "analyse" and ev.total:
            frac = ev.done / ev.total
            fill = int(frac * self.width)
            if self._start is None:
                self._start = (ev.done, now)
            rate = (ev.done - self._start[0]) / max(now - self._start[1], 1e-6)
            eta = (ev.total - ev.done) / rate if rate > 0 else 0
            line = f"analysing [{'#' * fill}{'.' * (self.width - fill)}] {ev.done}/{ev.total}  {rate:5.1f}/s  ETA {eta:4.0f}s"
        else:
            line = ev.message or ev.phase
        sys.stderr.write("\r\x1b[2K" + line[:120])
        sys.stderr.flush()
        self._shown = True

    def close(self) -> None:
        if self.enabled and self._shown:
            sys.stderr.write("\r\x1b[2K")
            sys.stderr.flush()


def print_summary(summary: Any, output: Path | None = None, file: Any = None) -> None:
    out = file or sys.stdout
    rate = summary.analysed / summary.seconds if summary.seconds and summary.analysed else 0.0
    print(
        f"{summary.n_groups} group(s), {summary.n_shots} shot(s), {summary.n_faces} face(s) in {summary.seconds:.1f}s "
        f"({summary.analysed} analysed{f' at {rate:.1f}/s' if rate else ''}, {summary.reused} cached)",
        file=out,
    )
    if summary.cancelled:
        print("cancelled: finished shots are kept; run again to resume", file=out)
    with Catalog(summary.catalog_path) as cat:
        rows = cat.ranked_shots()
        groups = cat.groups()
        small = [k for k, pv in cat.previews().items() if pv["note"]]
        from engine.taste.apply import ranked_by

        by = ranked_by(cat)
    by_group: dict[int, list[dict[str, Any]]] = {}
    for r in rows:
        by_group.setdefault(r["group_id"], []).append(r)
    shown = 0
    for g in groups:
        members = by_group.get(g["id"], [])  # best first
        best = members[0] if members else None
        if best is None:
            continue
        if shown < 12:
            rest = f", then {display_key(members[1]['key'])} ({members[1]['score']:.0f})" if len(members) > 1 else ""
            print(f"  group {g['id']:>3}: {len(members):>3} shot(s); best {display_key(best['key'])} (score {best['score']:.0f}){rest}", file=out)
        shown += 1
    if shown > 12:
        print(f"  ... and {shown - 12} more group(s)", file=out)
    bad_dates = getattr(summary, "bad_dates", [])
    if bad_dates:
        print(
            f"{len(bad_dates)} shot(s) have an impossible or out-of-range EXIF date; their file time is "
            f"used instead (time_source 'file-bad-exif'), e.g. {display_key(bad_dates[0])}",
            file=out,
        )
    if summary.skipped:
        print(f"skipped {len(summary.skipped)} file(s):", file=out)
        for path, reason in summary.skipped[:20]:
            print(f"  {display_key(path)}: {reason}", file=out)
        if len(summary.skipped) > 20:
            print(f"  ... and {len(summary.skipped) - 20} more (see the catalog)", file=out)
    if by and by.get("profile") not in (None, "default"):
        print(f"ranked by your taste ({by['profile']}, learned from {by.get('n_decisions')} decisions); `culler taste off` for the default ranking", file=out)
    if small:
        from engine.rawpreview import TOO_SMALL_NOTE

        print(f"{len(small)} RAW shot(s) listed and grouped, but {TOO_SMALL_NOTE} (under 1,000 px): {', '.join(small[:5])}{' ...' if len(small) > 5 else ''}", file=out)
    print(f"catalog: {summary.catalog_path}", file=out)
    if output:
        print(f"ranks: {output}", file=out)


def rank_and_report(opts: Any, output: Path | None, prog: str, quiet: bool = False) -> tuple[int, Any]:
    """Run the pipeline with a progress bar, write ``output``, print the summary.

    Returns (exit code, summary or None); user errors become one line on stderr.
    """
    from engine.pipeline import PipelineError, rank_folder

    bar = ProgressBar(enabled=not quiet and sys.stderr.isatty())
    try:
        summary = rank_folder(opts, progress=bar.update)
    except PipelineError as exc:
        print(f"{prog}: {exc}", file=sys.stderr)
        return 1, None
    finally:
        bar.close()
    if output:
        try:
            write_ranks(summary.catalog_path, output, summary.identities or None)
        except OSError as exc:
            print(f"{prog}: cannot write {output}: {exc.strerror or exc}", file=sys.stderr)
            return 1, summary
    print_summary(summary, output)
    return (0 if summary.n_shots else 1), summary


def default_identities() -> dict[str, str]:
    """member -> cache identity of the default members (built-in and installed packs)."""
    from engine.quality.registry import default_member_names, member_specs

    return {n: s.cache_id for n, s in member_specs(default_member_names()).items()}


def rank_rows(catalog_path: Path, identities: dict[str, str] | None = None) -> tuple[list[dict[str, Any]], list[str]]:
    """One dict per analysed shot, ordered by group and rank, and the member names.

    ``identities``: member -> cache identity of the members the ranking used (``RankSummary.
    identities``; default: the default members').  Only scores stored under those identities
    are reported, as ``regroup`` fuses only those: an older model's scores of the same pack, or
    a member no longer selected, never appear in a rank file."""
    if identities is None:
        identities = default_identities()
    with Catalog(catalog_path) as cat:
        rows = cat.ranked_shots()
        scores = cat.scores_by_hash(identities)
    members = sorted({m for s in scores.values() for m in s})
    out = []
    for r in rows:
        sc = scores.get(r["hash"], {})
        out.append(
            {
                "file": r["key"], "group": r["group_id"], "rank": r["rank"], "score": r["score"],
                "faces": r["n_faces"] or 0, "suggested": r["suggested"], "raw": r["raw_path"],
                "capture_time": r["capture_time"], "time_source": r["time_source"],
                "camera": " ".join(x for x in (r["make"], r["model"]) if x) or None,
                "members": {m: {"value": sc[m][0], "quality": sc[m][1]} for m in members if m in sc},
            }
        )  # fmt: skip
    return out, members


def write_ranks(catalog_path: Path, output: Path, identities: dict[str, str] | None = None) -> None:
    """Write the ranks as CSV (one column per member signal) or JSON, atomically
    (``identities``: as :func:`rank_rows`)."""
    rows, members = rank_rows(catalog_path, identities)
    if output.suffix.lower() == ".json":
        text = json.dumps({"members": members, "shots": rows}, indent=1)
    else:
        buf = io.StringIO()
        w = csv.writer(buf, lineterminator="\n")
        w.writerow(["file", "group", "rank", "score", "faces", *members, "suggested", "raw", "capture_time", "time_source", "camera"])
        for r in rows:
            vals = [
                f"{r['members'][m]['value']:.6g}" if m in r["members"] else "" for m in members
            ]
            w.writerow([r["file"], r["group"], r["rank"], f"{r['score']:.3f}", r["faces"], *vals, r["suggested"], r["raw"] or "", r["capture_time"] or "", r["time_source"] or "", r["camera"] or ""])
        text = buf.getvalue()
    output = Path(output)
    tmp = output.with_name(f".{output.name}.tmp{os.getpid()}")
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, output)
