"""HTML hygiene for shown and sent messages: sanitise HTML, derive text, build HTML from text.

Map of this module:

* :func:`sanitize_html` -- inbound HTML mail is hostile.  It goes through ``nh3`` (the Rust
  ``ammonia`` sanitiser) with an allow-list tuned for mail: layout tables, inline ``style``
  restricted to harmless CSS properties (no ``url()``-carrying properties such as ``background``
  or ``background-image``, no ``position``), links forced to ``target=_blank`` with
  ``rel="noopener noreferrer nofollow"``, URL schemes limited to http, https, mailto, cid and tel.
  Every URL must moreover be absolute (:func:`_url_filter`): nh3 keeps relative URLs, and
  ``//host``, ``\\host``, `` https://…`` or ``/chats/10/pane`` in a mail would otherwise load
  from an outside server or make the operator's browser call the panel itself. Images may be
  ``cid:``, ``data:image/…`` or absolute ``http(s)``; links absolute ``http(s)``, ``mailto:``,
  ``tel:`` or a ``#fragment``; anything else is removed.
  Remote images are then neutralised: ``<img src="https://...">`` becomes
  ``<img src="" data-remote-src="https://...">`` so nothing loads (no tracking pixels) until the
  operator allows it with :func:`allow_remote_images`.  ``cid:`` images are left alone; the
  caller resolves them to the stored inline attachments.
* :func:`html_to_text` -- a small :mod:`html.parser` based converter used for HTML-only mail:
  block elements become line breaks, ``script``/``style``/``head`` are dropped, entities are
  unescaped and ``<blockquote>`` content is prefixed with ``"> "`` so the quote splitter can fold
  it like plain-text quoting.
* :func:`text_to_html` -- escape operator text for the HTML alternative of outbound mail.
"""

from __future__ import annotations

import html as html_lib
import re
from html.parser import HTMLParser

import nh3

__all__ = ["allow_remote_images", "html_to_text", "sanitize_html", "text_to_html"]

_TAGS: frozenset[str] = frozenset(
    {
        "a", "abbr", "b", "big", "blockquote", "br", "caption", "center", "code", "col",
        "colgroup", "dd", "del", "div", "dl", "dt", "em", "font", "h1", "h2", "h3", "h4", "h5",
        "h6", "hr", "i", "img", "ins", "kbd", "li", "ol", "p", "pre", "q", "s", "samp", "small",
        "span", "strike", "strong", "sub", "sup", "table", "tbody", "td", "tfoot", "th", "thead",
        "tr", "tt", "u", "ul",
    }
)  # fmt: skip

_CLEAN_CONTENT_TAGS: frozenset[str] = frozenset(
    {"script", "style", "title", "template", "noscript", "xml", "iframe", "object", "svg", "math"}
)

_CELL_ATTRS = {"colspan", "rowspan", "align", "valign", "width", "height", "bgcolor"}
_ATTRIBUTES: dict[str, set[str]] = {
    "*": {"style", "dir", "lang", "title"},
    "a": {"href", "name"},
    "img": {"src", "alt", "width", "height", "border", "align"},
    "font": {"color", "face", "size"},
    "table": {"align", "width", "height", "bgcolor", "border", "cellpadding", "cellspacing"},
    "td": _CELL_ATTRS,
    "th": _CELL_ATTRS,
    "tr": {"align", "valign", "bgcolor", "height"},
    "thead": {"align", "valign"},
    "tbody": {"align", "valign"},
    "tfoot": {"align", "valign"},
    "col": {"span", "width", "align", "valign"},
    "colgroup": {"span", "width", "align", "valign"},
    "div": {"align"},
    "p": {"align"},
    "h1": {"align"},
    "h2": {"align"},
    "h3": {"align"},
    "h4": {"align"},
    "h5": {"align"},
    "h6": {"align"},
    "hr": {"width", "size", "align", "noshade"},
    "ol": {"start", "type"},
    "ul": {"type"},
    "blockquote": {"type", "cite"},
}

# Only properties that cannot fetch anything (no url()) and cannot escape the message box.
_STYLE_PROPERTIES: frozenset[str] = frozenset(
    {
        "color", "background-color", "font", "font-family", "font-size", "font-style",
        "font-weight", "font-variant", "text-align", "text-decoration", "text-indent",
        "text-transform", "letter-spacing", "word-spacing", "white-space", "word-break",
        "word-wrap", "overflow-wrap", "direction", "margin", "margin-top", "margin-right",
        "margin-bottom", "margin-left", "padding", "padding-top", "padding-right",
        "padding-bottom", "padding-left", "border", "border-top", "border-right",
        "border-bottom", "border-left", "border-color", "border-style", "border-width",
        "border-top-color", "border-right-color", "border-bottom-color", "border-left-color",
        "border-top-style", "border-right-style", "border-bottom-style", "border-left-style",
        "border-top-width", "border-right-width", "border-bottom-width", "border-left-width",
        "border-collapse", "border-spacing", "border-radius", "width", "height", "min-width",
        "max-width", "min-height", "max-height", "line-height", "vertical-align", "display",
        "list-style-type", "table-layout",
    }
)  # fmt: skip

_URL_SCHEMES: frozenset[str] = frozenset({"http", "https", "mailto", "cid", "tel", "data"})
_URL_ATTRIBUTES = frozenset({"src", "href", "cite"})
_ABSOLUTE_WEB = re.compile(r"https?://[a-z0-9\[]", re.IGNORECASE)
_DATA_IMAGE = re.compile(r"data:image/(png|jpeg|gif|webp|bmp);base64,[a-z0-9+/=]*$", re.IGNORECASE)


def _url_filter(tag: str, attribute: str, value: str) -> str | None:
    """Keep a URL attribute only in one of the absolute forms allowed for it."""
    if attribute not in _URL_ATTRIBUTES:
        return value
    # Whitespace, control characters and backslashes are how relative and protocol-relative
    # URLs are disguised (browsers strip or normalise them): a URL carrying any is refused.
    if any(ch.isspace() or ord(ch) < 32 or ch == "\\" for ch in value):
        return None
    lowered = value.lower()
    if tag == "img" and attribute == "src":
        if lowered.startswith("cid:") or _DATA_IMAGE.match(value) or _ABSOLUTE_WEB.match(value):
            return value
        return None
    if attribute == "href":
        if _ABSOLUTE_WEB.match(value) or lowered.startswith(("mailto:", "tel:")):
            return value
        return value if value.startswith("#") else None
    return value if _ABSOLUTE_WEB.match(value) else None


_CLEANER = nh3.Cleaner(
    tags=set(_TAGS),
    clean_content_tags=set(_CLEAN_CONTENT_TAGS),
    attributes=_ATTRIBUTES,
    link_rel="noopener noreferrer nofollow",
    set_tag_attribute_values={"a": {"target": "_blank"}},
    url_schemes=set(_URL_SCHEMES),
    filter_style_properties=set(_STYLE_PROPERTIES),
    strip_comments=True,
    attribute_filter=_url_filter,
)

_IMG_TAG_RE = re.compile(r"<img\b[^>]*>", re.IGNORECASE)
_REMOTE_SRC_RE = re.compile(r'\ssrc="(https?://[^"]*)"', re.IGNORECASE)
_NEUTRALISED_RE = re.compile(r'\ssrc=""\sdata-remote-src="(https?://[^"]*)"', re.IGNORECASE)


def _neutralise_img(match: re.Match[str]) -> str:
    return _REMOTE_SRC_RE.sub(lambda m: f' src="" data-remote-src="{m.group(1)}"', match.group(0))


def sanitize_html(html: str) -> str:
    """Return ``html`` made safe to embed in the panel, with remote images neutralised."""
    cleaned = _CLEANER.clean(html)
    return _IMG_TAG_RE.sub(_neutralise_img, cleaned)


def _restore_img(match: re.Match[str]) -> str:
    return _NEUTRALISED_RE.sub(lambda m: f' src="{m.group(1)}"', match.group(0))


def allow_remote_images(html: str) -> str:
    """Undo the remote-image neutralisation of :func:`sanitize_html` output.

    Only ``http``/``https`` sources written by :func:`sanitize_html` itself are restored; the
    input is expected to be sanitiser output (nh3 drops any ``data-remote-src`` the sender put
    in, so a hostile value can never reach this function through the parser).
    """
    return _IMG_TAG_RE.sub(_restore_img, html)


# --------------------------------------------------------------------------- html -> text

_BLOCK_TAGS: frozenset[str] = frozenset(
    {
        "address", "article", "aside", "blockquote", "center", "dd", "div", "dl", "dt",
        "fieldset", "figcaption", "figure", "footer", "form", "h1", "h2", "h3", "h4", "h5", "h6",
        "header", "hr", "li", "main", "nav", "ol", "p", "pre", "section", "table", "tbody",
        "tfoot", "thead", "tr", "ul",
    }
)  # fmt: skip
_SKIP_TAGS: frozenset[str] = frozenset(
    {"script", "style", "head", "title", "template", "noscript", "xml", "svg", "math"}
)
_WS_RE = re.compile(r"[ \t\r\n\f\u00a0]+")
_MANY_BLANKS_RE = re.compile(r"\n{3,}")


class _TextExtractor(HTMLParser):
    """Collect readable lines from HTML; blockquote depth becomes a ``"> "`` prefix."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.lines: list[str] = []
        self._parts: list[str] = []
        self._skip = 0
        self._pre = 0
        self._quote = 0
        self._line_quote = 0

    def _break(self) -> None:
        text = "".join(self._parts)
        if self._pre == 0:
            text = text.strip()
        self._parts = []
        prefix = "> " * self._line_quote
        self.lines.append(f"{prefix}{text}".rstrip() if prefix else text)
        self._line_quote = self._quote

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in _SKIP_TAGS:
            self._skip += 1
        elif tag == "br":
            self._break()
        elif tag in _BLOCK_TAGS:
            if self._parts:
                self._break()
            if tag == "blockquote":
                self._quote += 1
                self._line_quote = self._quote
            elif tag == "pre":
                self._pre += 1
            elif tag == "li":
                self._parts.append("- ")
        elif tag in ("td", "th") and self._parts:
            self._parts.append(" ")

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "br" or tag in _BLOCK_TAGS:
            self._break()

    def handle_endtag(self, tag: str) -> None:
        if tag in _SKIP_TAGS:
            self._skip = max(0, self._skip - 1)
        elif tag in _BLOCK_TAGS:
            if self._parts:
                self._break()
            if tag == "blockquote":
                self._quote = max(0, self._quote - 1)
                self._line_quote = self._quote
            elif tag == "pre":
                self._pre = max(0, self._pre - 1)

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        if self._pre:
            chunks = data.split("\n")
            for chunk in chunks[:-1]:
                self._parts.append(chunk)
                self._break()
            self._parts.append(chunks[-1])
            return
        text = _WS_RE.sub(" ", data)
        if not self._parts:
            text = text.lstrip()
        if text:
            self._parts.append(text)

    def result(self) -> str:
        if self._parts:
            self._break()
        text = "\n".join(self.lines)
        return _MANY_BLANKS_RE.sub("\n\n", text).strip("\n")


def html_to_text(html: str) -> str:
    """Readable plain text from (untrusted) HTML; never raises."""
    parser = _TextExtractor()
    try:
        parser.feed(html)
        parser.close()
    except Exception:  # html.parser is lenient, but never let a bad document escape
        pass
    return parser.result()


# --------------------------------------------------------------------------- text -> html

_URL_RE = re.compile(r"\bhttps?://[^\s<>\"']+[^\s<>\"'.,;:!?)\]]")
_PARA_SPLIT_RE = re.compile(r"\n[ \t]*\n+")


def _linkify(escaped: str) -> str:
    def repl(m: re.Match[str]) -> str:
        url = m.group(0)
        return f'<a href="{url}" target="_blank" rel="noopener noreferrer nofollow">{url}</a>'

    return _URL_RE.sub(repl, escaped)


def text_to_html(text: str) -> str:
    """Operator plain text to simple HTML: escaped, paragraphs, ``<br>``, linked URLs."""
    normalised = text.replace("\r\n", "\n").replace("\r", "\n").strip("\n")
    if not normalised.strip():
        return ""
    paragraphs = []
    for block in _PARA_SPLIT_RE.split(normalised):
        escaped = _linkify(html_lib.escape(block, quote=True))
        paragraphs.append("<p>" + escaped.replace("\n", "<br>\n") + "</p>")
    return "\n".join(paragraphs)
