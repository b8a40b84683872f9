"""Every HTML page trw_ray writes, rendered from the Jinja2 templates beside this module.

One layout (``templates/layout.html``: head, style, title) and one set of macros (``templates/macros.html``: tables,
figures, links) serve the run, search, error, architecture and comparison pages. Autoescaping is on: a value from a
trial (a configuration, a genotype, an error message, an experiment's name) is always shown as text. A page is
static: relative links, no script, no server.
"""

from __future__ import annotations

import math
import os
from collections.abc import Iterable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import jinja2

from trw_ray.io import write_text_atomic

TEMPLATES = Path(__file__).parent / "templates"


def number(value: Any, digits: int = 6) -> str:
    """A table cell: floats to ``digits`` significant digits, nothing for None or NaN, other values as text."""
    if value is None:
        return ""
    if isinstance(value, float):
        return "" if math.isnan(value) else f"{value:.{digits}g}"
    if hasattr(value, "item") and not isinstance(value, (str, bytes)):  # a numpy scalar
        return number(value.item(), digits)
    return str(value)


def href(path: Any) -> str:
    """A link to ``path`` (a relative path or a URI), percent-encoded for an ``href`` or ``src``."""
    text = os.fspath(path) if isinstance(path, os.PathLike) else str(path)
    return text if "://" in text else quote(text.replace(os.sep, "/"))


def table(frame, max_rows: int | None = None, index: bool = False) -> dict[str, list]:
    """``{'columns': [...], 'rows': [[...], ...]}`` of a DataFrame (its first ``max_rows`` rows; its index as the first
    columns when ``index``) or of a list of dicts, for the ``table`` macro."""
    if frame is None:
        return {"columns": [], "rows": []}
    if isinstance(frame, list):
        columns = list(dict.fromkeys(key for row in frame for key in row))
        rows = frame[:max_rows] if max_rows is not None else frame
        return {"columns": columns, "rows": [[row.get(column) for column in columns] for row in rows]}
    if max_rows is not None:
        frame = frame.head(max_rows)
    if index:
        frame = frame.reset_index()
    return {"columns": [str(column) for column in frame.columns], "rows": frame.astype(object).values.tolist()}


ENVIRONMENT = jinja2.Environment(loader=jinja2.FileSystemLoader(TEMPLATES), autoescape=True, trim_blocks=True,
                                 lstrip_blocks=True, keep_trailing_newline=True)
ENVIRONMENT.filters.update(number=number, href=href)
ENVIRONMENT.globals.update(zip=zip)


def render(template: str, **context: Any) -> str:
    """The page ``template`` (a file of ``templates/``) rendered with ``context``."""
    return ENVIRONMENT.get_template(template).render(**context)


def write_page(path: str | os.PathLike, template: str, **context: Any) -> Path:
    """Renders ``template`` into ``path`` (atomically: a reader never sees half a page); returns the path."""
    return write_text_atomic(Path(path), render(template, **context))


def figures(names: Iterable[tuple[str, str]]) -> list[dict[str, str]]:
    """``[(file, caption), ...]`` as the ``figure`` macro's items."""
    return [{"src": name, "caption": caption} for name, caption in names]
