"""Turn a client-supplied file name into a harmless basename."""

from __future__ import annotations

import re
import unicodedata

FALLBACK_NAME = "document"
MAX_NAME_BYTES = 255

# Characters Windows forbids in names, besides the path separators handled first.
_FORBIDDEN = re.compile(r'[<>:"|?*]')
_SPACES = re.compile(r"\s+")
_EXTENSION = re.compile(r"\.[A-Za-z0-9]{1,16}$")
_WINDOWS_RESERVED = frozenset(
    {"CON", "PRN", "AUX", "NUL"} | {f"COM{i}" for i in range(1, 10)} | {f"LPT{i}" for i in range(1, 10)}
)


def _drop_invisible(name: str) -> str:
    # Cc: control characters (NUL included). Cf: format characters such as U+202E, which
    # can make "evil\u202efdp.exe" display as "evilexe.pdf". Cs: lone surrogates.
    return "".join(ch for ch in name if unicodedata.category(ch) not in {"Cc", "Cf", "Cs"})


def _truncate_utf8(text: str, max_bytes: int) -> str:
    return text.encode("utf-8")[:max_bytes].decode("utf-8", errors="ignore")


def safe_filename(name: str) -> str:
    """The last path component of ``name``, without control characters, at most 255 UTF-8 bytes.

    Never empty, ``.`` or ``..`` (falls back to ``document``), and keeps a short alphanumeric
    extension even when the rest had to go: ``"../../.pdf"`` becomes ``"document.pdf"``.
    """
    name = unicodedata.normalize("NFC", str(name))
    name = _drop_invisible(_SPACES.sub(" ", name)).replace("\\", "/")
    name = name.rsplit("/", 1)[-1]
    name = _SPACES.sub(" ", _FORBIDDEN.sub("_", name)).strip()

    match = _EXTENSION.search(name)
    extension = match.group(0) if match else ""
    root = name[: len(name) - len(extension)]
    root = root.strip(" .")
    if root.upper() in _WINDOWS_RESERVED:
        root = f"_{root}"
    root = _truncate_utf8(root, MAX_NAME_BYTES - len(extension)).rstrip(" .")
    if not root:
        root = FALLBACK_NAME
    return root + extension
