"""HTML building blocks: embedded figures, sortable tables, the jinja2 templates.

Everything a page shows is inside it: figures are PNG data URIs, the sorting script is
inlined from ``templates/sortable.js``; the pages need no network and no server.
"""

from __future__ import annotations

import base64
import io
import math
import struct
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import jinja2

__all__ = ["Cell", "Column", "Embedded", "Table", "embed_figure", "embed_png", "render"]

DPI = 100


@dataclass(frozen=True)
class Embedded:
    """A PNG inside the page: data URI, pixel size, alt text and caption."""

    uri: str
    width: int
    height: int
    alt: str
    caption: str = ""


def _png_size(data: bytes) -> tuple[int, int]:
    if data[:8] != b"\x89PNG\r\n\x1a\n":
        raise ValueError("not a PNG file")
    return struct.unpack(">II", data[16:24])


def embed_png(data: bytes | Path, alt: str, caption: str = "") -> Embedded:
    """A PNG (bytes or a file) as an :class:`Embedded` figure."""
    if isinstance(data, Path):
        data = data.read_bytes()
    width, height = _png_size(data)
    uri = "data:image/png;base64," + base64.b64encode(data).decode("ascii")
    return Embedded(uri, width, height, alt, caption)


def embed_figure(fig, alt: str, caption: str = "", *, dpi: int = DPI) -> Embedded:
    """A matplotlib Figure rendered to PNG and embedded."""
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=dpi)
    return embed_png(buf.getvalue(), alt, caption)


@dataclass(frozen=True)
class Column:
    """A table column: its header and a one-line meaning (tooltip and legend)."""

    name: str
    description: str = ""


@dataclass(frozen=True)
class Cell:
    """A table cell: text shown, optional link, sort key and numeric alignment."""

    text: str
    href: str | None = None
    sort: str | None = None
    num: bool = False


def cell(value, *, href: str | None = None, digits: int = 4) -> Cell:
    """A cell for ``value``: numbers right-aligned (floats to ``digits`` significant
    digits, sorted by their full value), NaN and None shown as ``-``."""
    if value is None or value == "":
        return Cell("-", href, sort="")
    if isinstance(value, bool):
        return Cell(str(value), href)
    if isinstance(value, int):
        return Cell(f"{value:,}", href, sort=str(value), num=True)
    if isinstance(value, float):
        if not math.isfinite(value):
            return Cell("-", href, sort="")
        return Cell(f"{value:.{digits}g}", href, sort=repr(value), num=True)
    text = str(value)
    try:
        number = float(text)
    except ValueError:
        return Cell(text, href)
    if text.lower() in ("nan", "inf", "-inf"):
        return Cell("-", href, sort="")
    if text.lstrip("-").isdigit():
        return cell(int(text), href=href, digits=digits)
    return cell(number, href=href, digits=digits)


@dataclass
class Table:
    """A sortable table: ``id`` (unique on its page), columns and rows of cells."""

    id: str
    columns: list[Column]
    rows: list[list[Cell]] = field(default_factory=list)

    @classmethod
    def of(
        cls,
        id: str,
        columns: Sequence[tuple[str, str] | Column],
        rows: Iterable[Sequence],
        *,
        links: dict[int, Sequence[str | None]] | None = None,
    ) -> Table:
        """Build from plain values; ``links`` maps a column index to one href per row."""
        cols = [c if isinstance(c, Column) else Column(*c) for c in columns]
        body = []
        for r, row in enumerate(rows):
            if len(row) != len(cols):
                raise ValueError(
                    f"table {id}: row {r} has {len(row)} cells for {len(cols)} columns"
                )
            body.append(
                [cell(v, href=(links or {}).get(i, [None] * (r + 1))[r]) for i, v in enumerate(row)]
            )
        return cls(id, cols, body)


_ENV = jinja2.Environment(
    loader=jinja2.PackageLoader("genomics.report", "templates"),
    autoescape=jinja2.select_autoescape(["html", "j2"], default_for_string=True),
    undefined=jinja2.StrictUndefined,
    trim_blocks=True,
    lstrip_blocks=True,
)


def render(template: str, **context) -> str:
    """Render ``templates/<template>`` with ``context``."""
    return _ENV.get_template(template).render(**context)
