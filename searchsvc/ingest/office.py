"""Archive formats: PDF (pypdf), Word ``.docx`` (python-docx) and OpenDocument ``.odt`` (its
zip and XML, read with lxml), each into its text and the title and date of its properties.

pypdf and python-docx are the ``office`` extra (``pip install 'searchsvc[office]'``): a file
that needs one that is missing is reported with one line naming the extra. These formats are
compressed and a hostile file can be made to cost far more than its size, so every file is
read within the bounds of settings.py (pages, characters, seconds, unzipped bytes); what is
left out is said in :attr:`Extracted.cut`. A damaged file raises FormatError with the reason,
and so does a PDF whose pages hold no text (a scan), which is not indexed empty.
"""

from __future__ import annotations

import io
import logging
import re
import time
import zipfile
from collections.abc import Iterator

import lxml.etree

from searchsvc.ingest.extracted import Extracted, FormatError, MissingLibraryError
from searchsvc.settings import (
    OFFICE_MAX_PAGES,
    OFFICE_MAX_SECONDS,
    OFFICE_MAX_TEXT_CHARS,
    OFFICE_MAX_UNZIPPED_BYTES,
)

__all__ = ["read_docx", "read_odt", "read_pdf"]

EXTRA = "office"

# A title that only names the file it was made from ("Microsoft Word - rapport.docx",
# "scan0001.pdf") is no title: the corpus takes the first sentence instead.
_FILE_TITLE_RE = re.compile(
    r"(?:microsoft (?:word|powerpoint|excel) - .*|.*\.(?:docx?|odt|pdf|rtf|txt|pptx?|xlsx?))",
    re.IGNORECASE,
)

_ODT_MIMETYPE = b"application/vnd.oasis.opendocument.text"
_NS = {
    "office": "urn:oasis:names:tc:opendocument:xmlns:office:1.0",
    "text": "urn:oasis:names:tc:opendocument:xmlns:text:1.0",
    "dc": "http://purl.org/dc/elements/1.1/",
    "meta": "urn:oasis:names:tc:opendocument:xmlns:meta:1.0",
}
_T = "{%s}" % _NS["text"]  # noqa: UP031 - a Clark-notation prefix
# No entities, no DTD, no network: an XML part is data, never instructions to fetch or expand.
_XML = lxml.etree.XMLParser(
    resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
)


def _need(module: str, package: str, what: str):
    """Import an optional library, or MissingLibraryError naming the extra that brings it."""
    try:
        return __import__(module)
    except ImportError:
        raise MissingLibraryError(
            f"reading {what} needs {package}, which is not installed: "
            f"pip install 'searchsvc[{EXTRA}]'"
        ) from None


class _Budget:
    """The text and time one file may take: ``add`` keeps text until either runs out, and
    says so once in ``cut``."""

    def __init__(self) -> None:
        self.deadline = time.monotonic() + OFFICE_MAX_SECONDS
        self.chars = 0
        self.parts: list[str] = []
        self.cut: list[str] = []

    def spent(self) -> bool:
        if self.cut:
            return True
        if time.monotonic() > self.deadline:
            self.cut.append(f"read for {OFFICE_MAX_SECONDS:g} s, the rest left out")
            return True
        return False

    def add(self, text: str) -> bool:
        """Keep ``text``; False when no more may be kept."""
        if self.spent():
            return False
        room = OFFICE_MAX_TEXT_CHARS - self.chars
        if len(text) > room:
            self.parts.append(text[:room])
            self.chars = OFFICE_MAX_TEXT_CHARS
            self.cut.append(f"text over {OFFICE_MAX_TEXT_CHARS:,} characters, the rest left out")
            return False
        self.parts.append(text)
        self.chars += len(text)
        return True


def _title(value: object) -> str | None:
    if not isinstance(value, str):
        return None
    value = " ".join(value.split())
    return None if not value or _FILE_TITLE_RE.fullmatch(value) else value


# -- PDF ---------------------------------------------------------------------------------------


def read_pdf(raw: bytes) -> Extracted:
    """A PDF's text, a page a passage, with the title and creation date of its metadata."""
    pypdf = _need("pypdf", "pypdf", "PDF files")
    # pypdf tells of every repair it makes to a damaged file through logging; the corpus
    # reports what matters (a file it could not read) itself.
    logging.getLogger("pypdf").setLevel(logging.ERROR)
    budget = _Budget()
    try:
        reader = pypdf.PdfReader(io.BytesIO(raw))
        if reader.is_encrypted and not reader.decrypt(""):
            raise FormatError("encrypted PDF (it needs a password)")
        pages = reader.pages
        count = len(pages)
        info = reader.metadata or {}
        title = _title(info.get("/Title"))
        date = info.get("/CreationDate") or info.get("/ModDate")
        read = 0
        for number in range(min(count, OFFICE_MAX_PAGES)):
            if budget.spent():
                break
            text = pages[number].extract_text() or ""
            read += 1
            if text.strip() and not budget.add(text):
                break
    except FormatError:
        raise
    except Exception as exc:  # pypdf raises many kinds on a damaged file
        raise FormatError(f"damaged PDF ({_why(exc)})") from None
    if count == 0:
        raise FormatError("PDF without pages")
    if not budget.parts:
        if budget.cut:
            raise FormatError(f"no text read from the PDF ({budget.cut[0]})")
        pages = f"its {count} pages hold" if count > 1 else "its page holds"
        raise FormatError(
            f"no text in the PDF: {pages} no text that can be read (a scan, images only? "
            "run OCR on it to index it)"
        )
    if count > OFFICE_MAX_PAGES and not budget.cut:
        budget.cut.append(f"first {OFFICE_MAX_PAGES:,} pages of {count:,} read")
    elif budget.cut and read < count:
        budget.cut[0] += f" ({read:,} pages of {count:,} read)"
    return Extracted(
        body="\n\n".join(budget.parts),
        title=title,
        date=str(date) if date else None,
        cut=budget.cut,
    )


def _why(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 120 else text[:119] + "…"


# -- zipped XML formats --------------------------------------------------------------------------


def _open_zip(raw: bytes, what: str) -> zipfile.ZipFile:
    """The zip of an office file, its unzipped sizes checked first; FormatError if it is no
    zip or would unzip beyond OFFICE_MAX_UNZIPPED_BYTES."""
    try:
        archive = zipfile.ZipFile(io.BytesIO(raw))
        total = sum(info.file_size for info in archive.infolist())
    except (zipfile.BadZipFile, zipfile.LargeZipFile, ValueError, OSError) as exc:
        raise FormatError(f"damaged {what} (not a zip archive: {_why(exc)})") from None
    if total > OFFICE_MAX_UNZIPPED_BYTES:
        raise FormatError(
            f"{what} unzips to {total:,} bytes (limit {OFFICE_MAX_UNZIPPED_BYTES:,}): not read"
        )
    return archive


def read_odt(raw: bytes) -> Extracted:
    """An OpenDocument text's paragraphs and headings, with the title and creation date of
    its metadata (``meta.xml``)."""
    archive = _open_zip(raw, "OpenDocument file")
    budget = _Budget()
    try:
        with archive:
            names = set(archive.namelist())
            if "mimetype" in names and archive.read("mimetype").strip() != _ODT_MIMETYPE:
                kind = archive.read("mimetype")[:80].decode("ascii", "replace")
                raise FormatError(f"not an OpenDocument text ({kind})")
            if "content.xml" not in names:
                raise FormatError("damaged OpenDocument file (no content.xml)")
            content = lxml.etree.fromstring(archive.read("content.xml"), _XML)
            meta = (
                lxml.etree.fromstring(archive.read("meta.xml"), _XML)
                if "meta.xml" in names
                else None
            )
    except FormatError:
        raise
    except (lxml.etree.XMLSyntaxError, zipfile.BadZipFile, KeyError, OSError, ValueError) as exc:
        raise FormatError(f"damaged OpenDocument file ({_why(exc)})") from None
    body = content.find("office:body/office:text", _NS)
    if body is not None:
        for block in _odt_blocks(body):
            if block.strip() and not budget.add(block):
                break
    title = date = None
    if meta is not None:
        title = _title(meta.findtext(".//dc:title", namespaces=_NS))
        date = meta.findtext(".//meta:creation-date", namespaces=_NS) or meta.findtext(
            ".//dc:date", namespaces=_NS
        )
    return Extracted(body="\n\n".join(budget.parts), title=title, date=date, cut=budget.cut)


def _odt_blocks(body: lxml.etree._Element) -> Iterator[str]:
    """The text of each paragraph and heading of an OpenDocument body, in order (those in
    lists and tables too; a note's text stays in the paragraph it annotates)."""
    for el in body.iter(f"{_T}p", f"{_T}h"):
        if any(a.tag in (f"{_T}p", f"{_T}h") for a in el.iterancestors()):
            continue  # a note's paragraph: read with the one holding it
        yield "".join(_odt_text(el)).strip()


def _odt_text(el: lxml.etree._Element) -> Iterator[str]:
    """The characters of a paragraph: its spans, spaces (``text:s``), tabs and line breaks."""
    if el.text:
        yield el.text
    for child in el:
        tag = child.tag
        if tag == f"{_T}s":
            yield " " * _spaces(child.get(f"{_T}c"))
        elif tag == f"{_T}tab":
            yield "\t"
        elif tag == f"{_T}line-break":
            yield "\n"
        elif tag != f"{_T}note-citation" and isinstance(tag, str):
            yield from _odt_text(child)
        if child.tail:
            yield child.tail


def _spaces(count: str | None) -> int:
    """The spaces a ``text:s`` stands for, at most 100 (a hostile count is not a bomb)."""
    try:
        return max(1, min(int(count or 1), 100))
    except ValueError:
        return 1


def read_docx(raw: bytes) -> Extracted:
    """A Word document's paragraphs and table rows, in order, with the title and creation
    date of its core properties."""
    docx = _need("docx", "python-docx", "Word (.docx) files")
    _open_zip(raw, "Word file").close()  # sizes checked before python-docx unzips it
    budget = _Budget()
    try:
        document = docx.Document(io.BytesIO(raw))
        props = document.core_properties
        title = _title(props.title)
        date = props.created or props.modified
        for block in _docx_blocks(document):
            if block.strip() and not budget.add(block):
                break
    except Exception as exc:  # python-docx raises many kinds on a damaged file
        raise FormatError(f"damaged Word file ({_why(exc)})") from None
    return Extracted(body="\n\n".join(budget.parts), title=title, date=date, cut=budget.cut)


def _docx_blocks(document) -> Iterator[str]:
    """Each paragraph's text, and each table row's cells on one line, in document order."""
    for item in document.iter_inner_content():
        if hasattr(item, "rows"):
            for row in item.rows:
                cells = []
                for cell in row.cells:
                    text = " ".join(cell.text.split())
                    if text and (not cells or cells[-1] != text):  # merged cells repeat
                        cells.append(text)
                yield " ".join(cells)
        else:
            yield item.text
