"""Turn uploaded files into plain text: ``parse_document`` and its helpers."""

from retrieval.parsing.dispatch import parse_document
from retrieval.parsing.filenames import safe_filename
from retrieval.parsing.limits import SUPPORTED_EXTENSIONS, ParseLimits
from retrieval.parsing.text import decode_text

__all__ = ["SUPPORTED_EXTENSIONS", "ParseLimits", "decode_text", "parse_document", "safe_filename"]
