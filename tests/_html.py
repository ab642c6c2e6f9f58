"""A small HTML inspector shared by the report tests (stdlib only)."""

from __future__ import annotations

from html.parser import HTMLParser


class Page(HTMLParser):
    """Tags with their attributes, text, and the tags inside each ``<figure>`` of a page."""

    def __init__(self, html: str) -> None:
        super().__init__(convert_charrefs=True)
        self.tags: list[tuple[str, dict[str, str | None]]] = []
        self.text: list[str] = []
        self.figures: dict[str, list[str]] = {}
        self._figure: str | None = None
        self.feed(html)
        self.close()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = dict(attrs)
        self.tags.append((tag, a))
        if tag == "figure":
            self._figure = a.get("id") or ""
            self.figures[self._figure] = []
        elif self._figure is not None:
            self.figures[self._figure].append(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag == "figure":
            self._figure = None

    def handle_data(self, data: str) -> None:
        self.text.append(data)

    @property
    def all_text(self) -> str:
        """The page's text with whitespace runs collapsed."""
        return " ".join("".join(self.text).split())

    @property
    def tag_names(self) -> list[str]:
        """Every start tag's name, in order."""
        return [t for t, _ in self.tags]

    @property
    def attr_names(self) -> list[str]:
        """Every attribute name of every start tag."""
        return [k for _, a in self.tags for k in a]

    @property
    def ids(self) -> list[str]:
        """Every ``id`` attribute value, in order."""
        return [a["id"] or "" for _, a in self.tags if "id" in a]
