"""Reading the explorer's HTML the way a person reads the page: cells by column."""

from __future__ import annotations

from html.parser import HTMLParser


class TableReader(HTMLParser):
    """{account id: {column key: the cell's shown value}} from the accounts table."""

    def __init__(self) -> None:
        super().__init__()
        self.rows: dict[str, dict[str, str]] = {}
        self.order: list[str] = []
        self.headers: list[str] = []
        self._row: str | None = None
        self._col: str | None = None
        self._depth = 0
        self._text: list[str] = []
        self._value_depth: int | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag == "tr" and attributes.get("data-account"):
            self._row = attributes["data-account"]
            self.rows[self._row] = {}
            self.order.append(self._row)
        elif tag == "th" and attributes.get("data-col"):
            self.headers.append(attributes["data-col"] or "")
        elif tag == "td" and self._row and attributes.get("data-col"):
            self._col = attributes["data-col"]
            self._text = []
        elif self._col and "cell-value" in (attributes.get("class") or "").split():
            self._value_depth = 1
            return
        if self._value_depth is not None:
            self._value_depth += 1

    def handle_endtag(self, tag: str) -> None:
        if self._value_depth is not None:
            self._value_depth -= 1
            if self._value_depth == 0:
                self._value_depth = None
                if self._row and self._col:
                    self.rows[self._row][self._col] = "".join(self._text).strip()
        if tag == "td":
            self._col = None
        elif tag == "tr":
            self._row = None

    def handle_data(self, data: str) -> None:
        if self._value_depth is not None:
            self._text.append(data)


def read_table(html: str) -> TableReader:
    reader = TableReader()
    reader.feed(html)
    return reader


HTMX_TABLE = {"HX-Request": "true", "HX-Target": "explorer-table"}
