"""Hand-made PDF bytes for the parsing tests (pypdf cannot write text content)."""

from __future__ import annotations


def _escape(text: str) -> str:
    return text.replace("\\", "\\\\").replace("(", "\\(").replace(")", "\\)")


def show(text: str) -> str:
    """The ``Tj`` operator that draws ``text``."""
    return f"({_escape(text)}) Tj"


def make_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """A valid PDF with one page per entry; each string becomes one line of Helvetica text."""
    head = ["BT", "/F1 12 Tf", "14 TL", "72 720 Td"]
    return pages_pdf([[*head, *(f"{show(line)} T*" for line in lines), "ET"] for lines in pages], title)


def content_pdf(ops: list[str]) -> bytes:
    """One page whose content stream is ``ops`` (font /F1 is Helvetica)."""
    return pages_pdf([ops])


def pages_pdf(pages: list[list[str]], title: str | None = None) -> bytes:
    """One page per entry of ``pages``, each that page's content-stream operators."""
    objects: list[bytes] = []
    n_pages = len(pages)
    # 1: catalog, 2: page tree, 3: font, then (page, content) pairs, then optional info.
    kids = " ".join(f"{4 + 2 * i} 0 R" for i in range(n_pages))
    objects.append(b"<< /Type /Catalog /Pages 2 0 R >>")
    objects.append(f"<< /Type /Pages /Kids [{kids}] /Count {n_pages} >>".encode())
    objects.append(b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>")
    for i, ops in enumerate(pages):
        content_id = 5 + 2 * i
        objects.append(
            (
                f"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] "
                f"/Resources << /Font << /F1 3 0 R >> >> /Contents {content_id} 0 R >>"
            ).encode()
        )
        stream = "\n".join(ops).encode("latin-1")
        objects.append(b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream")
    info_ref = ""
    if title is not None:
        objects.append(f"<< /Title ({_escape(title)}) >>".encode("latin-1"))
        info_ref = f" /Info {len(objects)} 0 R"
    out = bytearray(b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n")
    offsets = []
    for number, body in enumerate(objects, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1)
    for offset in offsets:
        out += b"%010d 00000 n \n" % offset
    out += f"trailer\n<< /Size {len(objects) + 1} /Root 1 0 R{info_ref} >>\nstartxref\n{xref}\n%%EOF\n".encode()
    return bytes(out)


def with_flate_stream(pdf: bytes, compressed: bytes) -> bytes:
    """``pdf`` (from ``make_pdf``, one page) with its content stream replaced by a Flate stream."""
    start = pdf.index(b"5 0 obj")
    end = pdf.index(b"endobj", start)
    obj = b"5 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(compressed)
    return pdf[:start] + obj + compressed + b"\nendstream\n" + pdf[end:]
