"""HTML to readable text: visible prose only, block structure kept as paragraphs.

Dropping what a browser would not show is a prompt-injection defence: text hidden with
``display:none``, zero font size or white-on-white would otherwise reach the generator as if
the page said it.
"""

from __future__ import annotations

import codecs
import re

from bs4 import BeautifulSoup
from bs4.builder._lxml import LXMLTreeBuilder
from bs4.element import NavigableString, Tag

from retrieval.budget import Ticker, WorkBudget
from retrieval.errors import DocumentTooLargeError
from retrieval.parsing.colors import first_color, is_invisible_color, parse_color
from retrieval.parsing.limits import ParseLimits
from retrieval.parsing.text import clean_text, decode_with_hint, finish, strip_bom
from retrieval.types import ParsedDocument

# Never readable prose.
_DROP = frozenset(
    {
        "script", "style", "noscript", "template", "nav", "header", "footer", "aside", "form",
        "svg", "iframe", "head", "object", "embed", "canvas", "button", "select", "textarea",
        "input", "math", "audio", "video", "map",
    }
)  # fmt: skip
# Class names that mean "hidden" in the common CSS frameworks.
_HIDDEN_CLASSES = frozenset({"hidden", "d-none", "sr-only", "visually-hidden", "invisible"})
_PARAGRAPH, _LINE = 2, 1
_PARAGRAPH_TAGS = (
    "address article blockquote body caption center details dialog div dl fieldset figcaption figure "
    "h1 h2 h3 h4 h5 h6 hgroup hr html legend main menu ol p pre section table ul"
)
_BLOCKS = {
    **dict.fromkeys(_PARAGRAPH_TAGS.split(" "), _PARAGRAPH),
    **dict.fromkeys(("li", "dt", "dd", "tr", "summary"), _LINE),
}
_CELLS = frozenset({"td", "th"})
_INLINE_SPACE = re.compile(r"[ \t\n\r\f]+")
_META_CHARSET = re.compile(rb"""<meta[^>]{0,512}?charset\s*=\s*["']?\s*([A-Za-z0-9._:-]{1,40})""", re.I)
_ZERO_SIZE = re.compile(r"^-?(0+\.?0*|\.0+)(px|pt|em|rem|%|vh|vw|ex|ch)?$")
_FAR_OFF = re.compile(r"^-\d{4,}(\.\d*)?(px|pt|em|rem)?$")


def _declared_charset(data: bytes) -> str | None:
    match = _META_CHARSET.search(data[:4096])
    if match is None:
        return None
    try:
        name = codecs.lookup(match.group(1).decode("ascii")).name
    except (LookupError, UnicodeDecodeError):
        return None
    if name.startswith(("utf-16", "utf-32")):
        return None  # the bytes were read as ASCII to find this, so it cannot be right (HTML spec)
    if name in {"latin-1", "iso8859-1", "ascii"}:
        return "cp1252"  # browsers treat these labels as windows-1252
    return name


def decode_html(data: bytes) -> str:
    """BOM, then ``<meta charset>``, then strict UTF-8, then charset-normalizer."""
    _, bom = strip_bom(data)
    return decode_with_hint(data, None if bom else _declared_charset(data))


def _style(tag: Tag) -> dict[str, str]:
    raw = tag.get("style")
    if not isinstance(raw, str):
        return {}
    out: dict[str, str] = {}
    for decl in raw.split(";"):
        name, sep, value = decl.partition(":")
        if sep:
            value = value.lower().replace("!important", "").strip()
            out[name.strip().lower()] = value
    return out


def _hidden_by_style(style: dict[str, str]) -> bool:
    if style.get("display") == "none" or style.get("visibility") in {"hidden", "collapse"}:
        return True
    if _ZERO_SIZE.match(style.get("font-size", "1")):
        return True
    opacity = style.get("opacity", "1")
    try:
        alpha = float(opacity[:-1]) / 100 if opacity.endswith("%") else float(opacity)
    except ValueError:
        alpha = 1.0
    if alpha <= 0.05:
        return True
    clipped = style.get("overflow") == "hidden" and any(
        _ZERO_SIZE.match(style.get(prop, "auto")) for prop in ("width", "height", "max-width", "max-height")
    )
    off_screen = any(_FAR_OFF.match(style.get(prop, "0")) for prop in ("left", "top", "text-indent"))
    return clipped or off_screen or "scale(0)" in style.get("transform", "")


def _hidden(tag: Tag, style: dict[str, str]) -> bool:
    if tag.has_attr("hidden") or str(tag.get("aria-hidden", "")).strip().lower() == "true":
        return True
    classes = tag.get("class")
    if isinstance(classes, list) and _HIDDEN_CLASSES.intersection(classes):
        return True
    return _hidden_by_style(style)


def _colors(
    tag: Tag, style: dict[str, str], color: tuple[float, ...] | None, background: tuple[float, ...]
) -> tuple[tuple[float, ...] | None, tuple[float, ...]]:
    """The text colour and background in effect inside ``tag`` (None: colour never set inline)."""
    own_color = parse_color(style["color"]) if "color" in style else None
    if own_color is None and tag.name == "font":
        attr = tag.get("color")
        own_color = parse_color(attr) if isinstance(attr, str) else None
    bg_value = style.get("background-color") or style.get("background")
    own_bg = first_color(bg_value) if bg_value else None
    if own_bg is None:
        attr = tag.get("bgcolor")
        own_bg = parse_color(attr) if isinstance(attr, str) else None
    if own_bg is not None and own_bg[3] < 0.5:
        own_bg = None  # transparent: the parent's background shows through
    return (own_color or color), (own_bg or background)


class _BoundedBuilder(LXMLTreeBuilder):
    """BeautifulSoup's lxml builder that stops a page with too many elements, or past the budget, while it
    is being built: a deeply nested page costs far more time and memory as a tree than as bytes."""

    def __init__(self, limits: ParseLimits, budget: WorkBudget) -> None:
        super().__init__()
        self._max = limits.max_html_elements
        self._count = 0
        self._ticker = Ticker(budget)

    def start(self, *args: object, **kwargs: object) -> None:
        self._count += 1
        if self._count > self._max:
            raise DocumentTooLargeError(f"The HTML page has more than {self._max} elements.")
        self._ticker.tick()
        super().start(*args, **kwargs)  # type: ignore[arg-type]


def _walk(root: Tag, budget: WorkBudget) -> list[str | int]:
    """Visible strings and break markers (ints: 1 line, 2 paragraph, 0 cell) in document order."""
    out: list[str | int] = []
    ticker = Ticker(budget)
    white = (255.0, 255.0, 255.0, 1.0)
    # Iterative on purpose: a hostile page can nest tags far deeper than Python's recursion limit.
    stack: list[tuple[object, tuple[float, ...] | None, tuple[float, ...], bool]] = [(root, None, white, False)]
    while stack:
        node, color, background, pre = stack.pop()
        ticker.tick()
        if isinstance(node, int):
            out.append(node)
            continue
        if isinstance(node, NavigableString):
            if type(node) is not NavigableString:  # comments, doctype, CDATA, script/style strings
                continue
            if color is not None and is_invisible_color(color, background):
                continue
            out.append(str(node) if pre else _INLINE_SPACE.sub(" ", str(node)))
            continue
        if not isinstance(node, Tag):
            continue
        name = (node.name or "").lower()
        if name in _DROP:
            continue
        style = _style(node)
        if _hidden(node, style):
            continue
        if name == "br":
            out.append("\n")
            continue
        color, background = _colors(node, style, color, background)
        pre = pre or name in {"pre", "textarea", "listing"}
        level = _BLOCKS.get(name)
        if name in _CELLS:
            level = 0
        if level is not None:
            out.append(level)
            if level:
                stack.append((level, color, background, pre))
        stack.extend((child, color, background, pre) for child in reversed(node.contents))
    return out


def _assemble(pieces: list[str | int]) -> str:
    parts: list[str] = []
    pending = -1  # strongest break seen since the last text: -1 none, 0 cell, 1 line, 2 paragraph
    line_start = True
    for piece in pieces:
        if isinstance(piece, int):
            pending = max(pending, piece)
            continue
        text = piece
        if line_start or pending >= 0 or (parts and parts[-1].endswith((" ", "\n"))):
            text = text.lstrip(" ")
        if not text:
            continue
        if parts and pending >= 0 and not (pending == 0 and line_start):
            parts[-1] = parts[-1].rstrip(" ")
            parts.append(("\t", "\n", "\n\n")[pending])
        pending = -1
        parts.append(text)
        line_start = text.endswith("\n")
    joined = "".join(parts)
    joined = re.sub(r"[ \t]+\n", "\n", joined)
    joined = re.sub(r"\n{3,}", "\n\n", joined)
    return joined.strip("\n ")


def parse_html(data: bytes, limits: ParseLimits, budget: WorkBudget) -> ParsedDocument:
    """An HTML page: visible text, one paragraph per block, title in ``metadata["title"]``."""
    markup = clean_text(decode_html(data))
    budget.check()
    soup = BeautifulSoup(markup, builder=_BoundedBuilder(limits, budget))
    title_tag = soup.find("title")
    title = _INLINE_SPACE.sub(" ", title_tag.get_text()).strip() if isinstance(title_tag, Tag) else ""
    text = clean_text(_assemble(_walk(soup, budget)))
    metadata = {"title": title} if title else {}
    return finish(text, limits, "HTML", **metadata)
