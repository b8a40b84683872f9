"""``errors/index.html`` of a search: label-issue candidates, confusions, the best trial's errors, training
dynamics; the tables as CSV/Parquet beside it. Built from DataFrames and image files only."""

from __future__ import annotations

import html
import os
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

from trw_ray.io import write_text_atomic
from trw_ray.reports.html import STYLE

PAGE_STYLE = STYLE + """
table { font-size: 0.8em; } img.grid { max-width: 100%; border: 1px solid #ddd; image-rendering: pixelated; }
.note { color: #a33; }
"""


def table_html(frame: pd.DataFrame | None, max_rows: int = 30) -> str:
    if frame is None or frame.empty:
        return "<p>none</p>"
    return frame.head(max_rows).to_html(index=False, float_format=lambda v: f"{v:.4g}", escape=True, border=0,
                                        na_rep="")


def build_errors_index(output_dir: str | os.PathLike, title: str, sections: Sequence[dict],
                       notes: Sequence[str] = ()) -> Path:
    """Writes ``output_dir/index.html``. Each section: ``title``, ``text``, optional ``table`` (DataFrame),
    ``images`` (file names in ``output_dir``) and ``files`` (names of the tables written beside the page)."""
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
             f"<style>{PAGE_STYLE}</style></head><body><h1>{html.escape(title)}</h1>"]
    for note in notes:
        parts.append(f"<p class='note'>{html.escape(note)}</p>")
    for section in sections:
        parts.append(f"<h2>{html.escape(section['title'])}</h2><p>{html.escape(section.get('text', ''))}</p>")
        for image in section.get("images", ()):
            parts.append(f"<p><img class='grid' src='{html.escape(image)}' alt='{html.escape(section['title'])}'></p>")
        if "table" in section:
            parts.append(table_html(section["table"], section.get("max_rows", 30)))
        if section.get("files"):
            links = ", ".join(f"<a href='{html.escape(name)}'>{html.escape(name)}</a>" for name in section["files"])
            parts.append(f"<p>Tables: {links}</p>")
    parts.append("</body></html>")
    return write_text_atomic(Path(output_dir) / "index.html", "\n".join(parts))
