"""The report as Markdown (``figures/<profile>/report.md``, figures linked beside it) and as one
self-contained HTML page (``report.html``: the same Markdown through python-markdown, thumbnails
embedded as base64), plus ``report_scorecard.csv`` and ``report_cells.csv`` (every number the report shows)."""

from __future__ import annotations

import html
import math

import pandas as pd

from ood_helpers.core.artifacts import atomic_write_text, save_table
from ood_helpers.report import compare
from ood_helpers.report.build import Report
from ood_helpers.report.deviations import marks
from ood_helpers.report.figures import thumbnail
from ood_helpers.report.registry import PAPERS
from ood_helpers.report.scorecard import VERDICTS, scorecard_frame

MAX_ROWS = 60  # longer tables are cut in the report (the whole table is in its CSV)


def _cell(value) -> str:
    text = "–" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)
    return text.replace("|", "\\|").replace("\n", " ")


def md_table(frame: pd.DataFrame) -> str:
    """A Markdown pipe table of ``frame`` (index dropped), pipes in cells escaped."""
    head = "| " + " | ".join(_cell(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    body = ["| " + " | ".join(_cell(v) for v in row) + " |" for row in frame.itertuples(index=False)]
    return "\n".join([head, rule, *body])


def _cut(frame: pd.DataFrame, name: str) -> tuple[pd.DataFrame, str]:
    if len(frame) <= MAX_ROWS:
        return frame, ""
    return frame.head(MAX_ROWS), f"\n\n*First {MAX_ROWS} of {len(frame)} rows; the whole table is `{name}`.*"


def _minutes(seconds: float) -> str:
    if math.isnan(seconds):
        return "missing"
    return f"{seconds:.0f} s" if seconds < 120 else f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def to_markdown(report: Report, images: str = "link") -> str:
    """The report as Markdown; ``images`` = "link" (``<img src="<figure>.png">``, for a file beside the PNGs)
    or "embed" (base64 thumbnails, for the self-contained HTML)."""
    if images not in ("link", "embed"):
        raise ValueError(f"images must be 'link' or 'embed', got {images!r}")
    p, out = report.provenance, []
    out.append(f"# Reproduction report · profile `{report.profile}`\n")
    out.append("Every number below is read from the files notebooks 00-11 wrote to "
               f"`figures/{report.profile}/` (nothing recomputed); a file that is not there is shown as "
               "**missing**, never as zero.\n")
    out += [f"- **{k}**: " + (", ".join(f"`{c}` ({n} files)" for c, n in v.items()) if isinstance(v, dict) else str(v))
            for k, v in p.items()]
    counts = {v: sum(c.verdict == v for c in report.claims) for v in VERDICTS}
    out.append("\n## Scorecard\n")
    out.append("Verdicts: " + ", ".join(f"{n} {v}" for v, n in counts.items()) + ". " + RULE_TEXT + " Ordering: the "
               "share of method pairs we order as the paper does and Kendall's tau between our values and the paper's "
               "(\"–\": the paper prints no numbers for these methods). Deviations: the parts of the paper's recipe "
               "this profile changes (listed in full below).\n")
    card = pd.DataFrame([{"paper": c.paper, "claim": c.claim, "verdict": f"**{c.verdict}**", "evidence": c.evidence,
                          "paper's numbers, same rule": c.paper_verdict or "–",
                          "deviations": ", ".join(d.split(":")[0] for d in c.deviations) or "–",
                          "ordering": str(c.ordering), "from": c.sources} for c in report.claims])
    out.append(md_table(card))
    out.append(deviations_markdown(report))
    out.append("\n## Every table beside the paper's\n")
    out.append("Cells: our mean ± std over the trials (n), the paper's printed value, and ours − paper in the table's "
               "unit. *Not comparable as is* names why a value should not be read against the paper's.\n")
    for paper, entries in report.by_paper().items():
        if not entries:
            continue
        out.append(f"\n### {paper if paper != 'beyond' else 'Beyond the papers'} · {PAPERS[paper]}\n")
        for e in entries:
            s = e.spec
            out.append(f"\n#### {s.paper_table}: {s.title} (`{s.name}`, notebook {s.notebook})\n")
            if e.missing:
                out.append(f"**missing**: {e.frame} (notebook {s.notebook} has not written it in this profile).\n")
                continue
            if e.marks:
                out.append("*Not comparable as is*: " + "; ".join(e.marks) + ".\n")
            if e.ordering.pairs:
                out.append(f"Ordering: {e.ordering} (over {e.ordering.columns} columns).\n")
            shown = compare.display(e.frame) if s.summary else e.frame
            shown, note = _cut(shown, f"{s.name}_summary.csv" if s.summary else f"{s.name}.csv")
            out.append(md_table(shown) + note + "\n")
    out.append("\n## Figures\n")
    out.append(figures_markdown(report, images))
    out.append("\n## Wall time per notebook\n")
    out.append("From the runner's latest `runs/<profile>/summary.json`, else from papermill's record in the "
               "notebook's executed copy in `runs/<profile>/` (the runner rewrites the summary on every run).\n")
    wt = report.wall_times.assign(seconds=report.wall_times["seconds"].map(_minutes))
    out.append(md_table(wt.rename(columns={"seconds": "wall time"})))
    return "\n".join(out) + "\n"


RULE_TEXT = ("A claim \"A beats B\" is **reproduced** when the 95 % Student-t interval of the paired differences "
             "A - B lies above zero in every cell (range, table, dataset) the paper's sentence covers, **not "
             "reproduced** when it lies below zero in any cell, **inconclusive** otherwise (an interval holding zero, "
             "or none known: one value each); \"no loss\" claims read a 90 % interval against the claim's named "
             "margin (TOST). The intervals pair A and B by trained model where the trials name several, else by "
             "trial, and say which (N models x M evaluation trials). The paper's own numbers are read by the same rule "
             "(Welch's interval from its mean ± std where printed).")


def deviations_markdown(report: Report) -> str:
    """Each paper's deviations from its recipe in this profile, one line a category."""
    intro = (f"Every setting of profile `{report.profile}` that differs from the `paper` profile's, by paper "
             "(derived from the settings; `ood_helpers/report/deviations.py`). Each table and claim of a paper "
             "carries its paper's deviations.\n")
    lines = ["\n### Deviations from the papers' recipes\n", intro]
    for paper in PAPERS:
        found = marks(paper, report.profile)
        if found:
            lines.append(f"- **{paper}**: " + "; ".join(found))
    return "\n".join(lines) + "\n"


def figures_markdown(report: Report, images: str = "link") -> str:
    """The figure index as a Markdown table with a thumbnail per figure (``images`` as in :func:`to_markdown`)."""
    rows = []
    for r in report.figures.to_dict("records"):
        img = "–"
        if r["status"] != "missing":
            path = report.sources.figure(r["figure"])
            src = thumbnail(path) if images == "embed" else f"{r['figure']}.png"
            img = f'<img src="{src}" width="240" alt="{html.escape(r["figure"])}">'
        rows.append({"figure": f"`{r['figure']}`", "notebook": r["notebook"], "paper": r["paper"],
                     "regenerates": r["paper figure"], "status": r["status"], "commit": r["commit"],
                     "written": r["written"], "thumbnail": img})
    return md_table(pd.DataFrame(rows)) if rows else "No figures."


def figures_html(report: Report) -> str:
    """The figure index as an HTML table with embedded thumbnails (for a notebook's output)."""
    import markdown

    return markdown.markdown(figures_markdown(report, "embed"), extensions=["tables"], output_format="html")


CSS = ("body{font-family:system-ui,sans-serif;max-width:1200px;margin:2em auto;padding:0 1em;line-height:1.4}"
       "table{border-collapse:collapse;margin:.5em 0 1.5em;font-size:.85em}"
       "th,td{border:1px solid #ccc;padding:.25em .5em;vertical-align:top}th{background:#f3f3f3}"
       "code{background:#f6f6f6;padding:0 .2em}")


def to_html(report: Report) -> str:
    """One self-contained HTML page: the Markdown with embedded thumbnails, rendered by python-markdown."""
    import markdown

    body = markdown.markdown(to_markdown(report, images="embed"), extensions=["tables"], output_format="html")
    title = html.escape(f"Reproduction report · {report.profile}")
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{title}</title>'
            f"<style>{CSS}</style></head><body>\n{body}\n</body></html>\n")


def write(report: Report) -> dict:
    """Writes ``report.md`` and ``report.html`` into ``figures/<profile>/``, and through ``artifacts.save_table``
    (CSV + Markdown + JSON sidecar) ``report_scorecard`` and ``report_cells`` (every number shown); returns the paths."""
    folder, config = report.sources.folder, {"tables read": [e.spec.name for e in report.tables if not e.missing],
                                             "tables missing": report.missing()}
    return {
        "markdown": atomic_write_text(folder / "report.md", to_markdown(report)),
        "html": atomic_write_text(folder / "report.html", to_html(report)),
        "scorecard": save_table(scorecard_frame(report.claims), "report_scorecard", folder.name, config=config,
                                latex=False)[0],
        "cells": save_table(report.cells(), "report_cells", folder.name, config=config, latex=False)[0],
    }


def show_tables(report: Report) -> None:
    """Displays (in a notebook) every registered table: a heading naming the paper's table and our file, "missing"
    where the file is absent, the not-comparable marks and the ordering, then the comparison (summary tables)
    or the table as the notebook wrote it."""
    from IPython.display import Markdown, display

    for entry in report.tables:
        s = entry.spec
        display(Markdown(f"#### {s.paper} · {s.paper_table}: {s.title} (`{s.name}`, notebook {s.notebook})"))
        if entry.missing:
            display(Markdown(f"**missing**: {entry.frame}"))
            continue
        notes = (["*Not comparable as is*: " + "; ".join(entry.marks)] if entry.marks else []) + (
            [f"Ordering: {entry.ordering}"] if entry.ordering.pairs else [])
        if notes:
            display(Markdown("  \n".join(notes)))
        display(compare.display(entry.frame) if s.summary else entry.frame)


def describe_written(paths: dict) -> str:
    """One line per file :func:`write` wrote: its kind, path and size."""
    return "\n".join(f"{kind}: {path} ({path.stat().st_size:,} bytes)" for kind, path in paths.items())
