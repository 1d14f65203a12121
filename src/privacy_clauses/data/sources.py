"""Reading a policy file into text: byte decoding (declared charset, then detection) and PDF.

Offsets of clauses index the text returned here: the decoded characters of a text, Markdown or
HTML file (whatever its encoding on disk), or the text pypdf extracts from a PDF (pages joined
by a blank line). ``data validate`` reads sources through the same function, so it checks the
same text.
"""

from __future__ import annotations

import codecs
import gzip
import re
from dataclasses import dataclass
from pathlib import Path

from .errors import PrivacyClausesError

HTML_SUFFIXES = (".html", ".htm")
PDF_SUFFIX = ".pdf"
_DECLARED = re.compile(rb"""<meta[^>]+charset\s*=\s*["']?\s*([A-Za-z0-9_.:-]+)""", re.I)
_BOMS = ((codecs.BOM_UTF8, "utf-8-sig"), (codecs.BOM_UTF16_LE, "utf-16"), (codecs.BOM_UTF16_BE, "utf-16"))
# As browsers do (WHATWG Encoding): a page labelled latin-1 or ascii is read as windows-1252.
_BROWSER_ALIASES = {"iso8859-1": "cp1252", "ascii": "cp1252"}  # names as codecs.lookup gives them


class SourceError(PrivacyClausesError):
    """A policy file that cannot be read as text; the message names the file."""


@dataclass(frozen=True)
class PolicyText:
    """A policy's text, the segmenter format for it, and the encoding it was read with."""

    text: str
    fmt: str  # "html" | "markdown" | "text"
    encoding: str


def declared_charset(data: bytes) -> str | None:
    """The charset an HTML page declares in a ``<meta>`` tag of its first 4 KB, if Python knows it."""
    match = _DECLARED.search(data[:4096])
    if not match:
        return None
    name = match.group(1).decode("ascii", "ignore").lower()
    try:
        name = codecs.lookup(name).name
    except LookupError:
        return None
    return _BROWSER_ALIASES.get(name, name)


def decode(data: bytes, name: str, is_html: bool = False) -> tuple[str, str]:
    """Decode bytes: a BOM, then (HTML) the declared charset, then UTF-8, then charset-normalizer.

    Returns ``(text, encoding)``; raises ``SourceError`` for binary data.
    """
    for bom, encoding in _BOMS:
        if data.startswith(bom):
            return data.decode(encoding), encoding
    if b"\x00" in data[:8192]:
        raise SourceError(f"{name}: binary file, not a text policy")
    candidates = [declared_charset(data)] if is_html else []
    for encoding in [*candidates, "utf-8"]:
        if encoding:
            try:
                return data.decode(encoding), encoding
            except (UnicodeDecodeError, LookupError):
                continue
    from charset_normalizer import from_bytes

    best = from_bytes(data).best()
    if best is None:
        raise SourceError(f"{name}: not text in any encoding charset-normalizer recognises")
    return str(best), best.encoding


def read_bytes(path: str | Path) -> bytes:
    """A file's bytes, gunzipped when it ends in ``.gz``."""
    path = Path(path)
    try:
        data = path.read_bytes()
        return gzip.decompress(data) if path.suffix.lower() == ".gz" else data
    except (OSError, EOFError, gzip.BadGzipFile) as error:
        raise SourceError(f"{path}: cannot read ({getattr(error, 'strerror', None) or error})") from error


def pdf_text(path: str | Path) -> str:
    """The text of a PDF, page by page (pages joined by a blank line), through pypdf."""
    from pypdf import PdfReader
    from pypdf.errors import PyPdfError

    try:
        reader = PdfReader(str(path))
        if reader.is_encrypted:
            raise SourceError(f"{path}: encrypted PDF")
        pages = [page.extract_text() or "" for page in reader.pages]
    except (PyPdfError, OSError, ValueError, KeyError) as error:
        raise SourceError(f"{path}: not a readable PDF ({error})") from error
    text = "\n\n".join(page.strip() for page in pages)
    if not text.strip():
        raise SourceError(f"{path}: the PDF has no text layer (a scan? run OCR first)")
    return text


def format_of(path: str | Path) -> str:
    """The segmenter format for a file name: html for .html/.htm, text for .pdf, else markdown."""
    suffix = Path(path).suffix.lower()
    return "html" if suffix in HTML_SUFFIXES else "text" if suffix == PDF_SUFFIX else "markdown"


def read_policy(path: str | Path) -> PolicyText:
    """Read a policy file (.txt, .md, .html/.htm in any encoding, .pdf) as text."""
    path = Path(path)
    fmt = format_of(path)
    if fmt == "text":
        return PolicyText(pdf_text(path), fmt, "pdf")
    data = read_bytes(path)
    if not data.strip():
        raise SourceError(f"{path}: empty file")
    text, encoding = decode(data, str(path), is_html=fmt == "html")
    return PolicyText(text, fmt, encoding)
