"""A minimal PDF writer (one page, Helvetica, optional text colour or raw operators): enough for pypdf."""

from __future__ import annotations


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def text_pdf(lines: list[tuple[str, tuple[float, float, float]]], font_size: float = 11) -> bytes:
    """One A4 page holding ``lines``, each ``(text, (r, g, b))`` in 0..1 colour (1, 1, 1 is white on white)."""
    ops = ["BT", f"/F1 {font_size:g} Tf", f"{font_size * 1.4:g} TL", "50 790 Td"]
    for text, (r, g, b) in lines:
        ops.append(f"{r:g} {g:g} {b:g} rg")
        ops.append(f"{show(text)} T*")
    ops.append("ET")
    return content_pdf(ops)


def show(text: str) -> str:
    """The ``Tj`` operator that draws ``text``."""
    return f"({_escape(text)}) Tj"


def content_pdf(ops: list[str]) -> bytes:
    """One A4 page whose content stream is ``ops`` (font /F1 is Helvetica)."""
    stream = "\n".join(ops).encode("latin-1")
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 595 842] /Contents 4 0 R "
        b"/Resources << /Font << /F1 5 0 R >> >> >>",
        b"<< /Length " + str(len(stream)).encode() + b" >>\nstream\n" + stream + b"\nendstream",
        b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica /Encoding /WinAnsiEncoding >>",
    ]
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for i, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += f"{i} 0 obj\n".encode() + body + b"\nendobj\n"
    xref = len(out)
    out += f"xref\n0 {len(objects) + 1}\n0000000000 65535 f \n".encode()
    for off in offsets:
        out += f"{off:010d} 00000 n \n".encode()
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)
