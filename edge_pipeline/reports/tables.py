"""A table as headers and rows of cell strings, rendered the same way by every Markdown section."""

from __future__ import annotations


def markdown_table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return (["| " + " | ".join(headers) + " |", "|" + "---|" * len(headers)]
            + ["| " + " | ".join(row) + " |" for row in rows])
