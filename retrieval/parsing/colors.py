"""Just enough CSS colour parsing to spot text drawn in its own background colour."""

from __future__ import annotations

import re

RGBA = tuple[float, ...]  # (r, g, b, alpha): 0-255 channels, alpha 0-1

_NAMED: dict[str, tuple[int, int, int]] = {
    "white": (255, 255, 255), "black": (0, 0, 0), "red": (255, 0, 0), "green": (0, 128, 0),
    "blue": (0, 0, 255), "yellow": (255, 255, 0), "gray": (128, 128, 128), "grey": (128, 128, 128),
    "silver": (192, 192, 192), "navy": (0, 0, 128), "maroon": (128, 0, 0), "purple": (128, 0, 128),
    "orange": (255, 165, 0), "snow": (255, 250, 250), "ivory": (255, 255, 240),
    "whitesmoke": (245, 245, 245), "ghostwhite": (248, 248, 255), "azure": (240, 255, 255),
    "mintcream": (245, 255, 250), "floralwhite": (255, 250, 240), "seashell": (255, 245, 238),
    "linen": (250, 240, 230), "honeydew": (240, 255, 240), "aliceblue": (240, 248, 255),
    "lavenderblush": (255, 240, 245), "oldlace": (253, 245, 230), "beige": (245, 245, 220),
    "lightyellow": (255, 255, 224), "cornsilk": (255, 248, 220),
}  # fmt: skip
_HEX = re.compile(r"#([0-9a-f]{3,4}|[0-9a-f]{6}|[0-9a-f]{8})\b")
_FUNC = re.compile(r"rgba?\(\s*([^)]*)\)")
_WORD = re.compile(r"[a-z]+")
# Channels this close count as the same colour (#f0f0f0 on white is unreadable).
_TOLERANCE = 16


def _channel(token: str) -> float:
    token = token.strip()
    return float(token[:-1]) * 2.55 if token.endswith("%") else float(token)


def _alpha(token: str) -> float:
    token = token.strip()
    return float(token[:-1]) / 100 if token.endswith("%") else float(token)


def parse_color(value: str) -> RGBA | None:
    """A CSS colour value (hex, rgb()/rgba(), a common name, ``transparent``); None if unknown."""
    value = value.strip().lower()
    if value == "transparent":
        return (0.0, 0.0, 0.0, 0.0)
    if value in _NAMED:
        return (*map(float, _NAMED[value]), 1.0)
    match = _HEX.fullmatch(value)
    if match:
        digits = match.group(1)
        if len(digits) <= 4:
            digits = "".join(d * 2 for d in digits)
        channels = [int(digits[i : i + 2], 16) for i in range(0, len(digits), 2)]
        alpha = channels[3] / 255 if len(channels) == 4 else 1.0
        return (float(channels[0]), float(channels[1]), float(channels[2]), alpha)
    match = _FUNC.fullmatch(value)
    if match:
        parts = re.split(r"[\s,/]+", match.group(1).strip())
        try:
            rgb = [_channel(p) for p in parts[:3]]
            alpha = _alpha(parts[3]) if len(parts) > 3 else 1.0
        except ValueError:
            return None
        if len(rgb) == 3:
            return (rgb[0], rgb[1], rgb[2], alpha)
    return None


def first_color(value: str) -> RGBA | None:
    """The first colour named in a shorthand such as ``background: url(x.png) #fff no-repeat``."""
    value = value.lower()
    for pattern in (_HEX, _FUNC):
        match = pattern.search(value)
        if match:
            return parse_color(match.group(0))
    for word in _WORD.findall(value):
        color = parse_color(word)
        if color is not None:
            return color
    return None


def is_invisible_color(color: RGBA, background: RGBA) -> bool:
    """True when text in ``color`` cannot be seen on ``background`` (or is fully transparent)."""
    if color[3] <= 0.05:
        return True
    return all(abs(a - b) <= _TOLERANCE for a, b in zip(color[:3], background[:3], strict=True))
