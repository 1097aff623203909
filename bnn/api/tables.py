"""Rows of values shown as an HTML table in Jupyter and as aligned text in a terminal.

The public API's results (:mod:`bnn.api`) display through :class:`Table`: ``_repr_html_`` is
what Jupyter renders (IPython's rich display protocol), ``__str__`` what ``print`` shows.
"""

from __future__ import annotations

import html
from collections.abc import Mapping, Sequence
from typing import Any


def cell_text(value: Any) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, int):
        return f"{value:,}"
    return str(value)


class Table:
    """``rows`` (dicts with the same keys, in column order) under an optional ``title`` and
    above an optional ``note``."""

    def __init__(self, rows: Sequence[Mapping[str, Any]], title: str = "", note: str = "") -> None:
        self.rows = [dict(row) for row in rows]
        self.title = title
        self.note = note

    @property
    def columns(self) -> list[str]:
        return list(dict.fromkeys(key for row in self.rows for key in row))

    def __str__(self) -> str:
        columns = self.columns
        cells = [[cell_text(row.get(column)) for column in columns] for row in self.rows]
        widths = [max([len(column)] + [len(line[i]) for line in cells]) for i, column in enumerate(columns)]
        lines = [self.title] if self.title else []
        if columns:
            lines.append("  ".join(column.ljust(width) for column, width in zip(columns, widths)).rstrip())
            lines += ["  ".join(cell.ljust(width) for cell, width in zip(line, widths)).rstrip() for line in cells]
        if self.note:
            lines.append(self.note)
        return "\n".join(lines)

    def __repr__(self) -> str:
        return str(self)

    def _repr_html_(self) -> str:
        columns = self.columns
        head = "".join(f"<th style='text-align:left'>{html.escape(column)}</th>" for column in columns)
        body = "".join(
            "<tr>"
            + "".join(f"<td style='text-align:left'>{html.escape(cell_text(row.get(c)))}</td>" for c in columns)
            + "</tr>"
            for row in self.rows
        )
        caption = f"<caption style='text-align:left'><b>{html.escape(self.title)}</b></caption>" if self.title else ""
        note = f"<p>{html.escape(self.note)}</p>" if self.note else ""
        return f"<table>{caption}<thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>{note}"
