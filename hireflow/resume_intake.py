"""Resume intake: check a file, extract its text, and find skills and years of experience.

Everything wrong with the file itself ends in ``InvalidResume`` with a reason. The
resume-upload process catches it as the BPMN error ``RESUME_INVALID`` and asks the
candidate to re-upload. No malformed file can crash a worker: the parsers run in a child
process with CPU, memory and time limits (``hireflow.parser_sandbox``).
"""

from __future__ import annotations

import email
import email.policy
import io
import re
import unicodedata
import zipfile
from dataclasses import dataclass, field
from datetime import date

import lxml.html
import pypdf
from docx.opc.constants import CONTENT_TYPE as CT
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.package import OpcPackage
from docx.opc.part import Part
from docx.oxml.ns import qn
from lxml import etree

from hireflow.errors import BusinessOutcome
from hireflow.parser_sandbox import ParserLimitExceeded, ParserLimits, run_isolated
from hireflow.skills import SKILLS

RESUME_INVALID = "RESUME_INVALID"  # BPMN error code caught by resume-upload

REASONS = {
    "unsupported_type": "The file is not a PDF or Word (.docx) document.",
    "too_large": "The file is larger than we accept.",
    "too_many_pages": "The document has more pages than we accept.",
    "corrupt": "The file is damaged and cannot be read.",
    "unsafe_archive": "The Word file expands to far more data than a resume holds.",
    "encrypted": "The document is password-protected.",
    "no_text": "No text could be read from the document (is it a scanned image?).",
    "too_complex": "The document takes far more work to read than a resume does.",
    "too_much_text": "The document holds far more text than a resume does.",
}


class InvalidResume(BusinessOutcome):
    """The file cannot be accepted as a resume; ``reason`` is a key of ``REASONS``."""

    error_code = RESUME_INVALID

    def __init__(self, reason: str, detail: str = "", diagnostic: str = ""):
        self.reason = reason
        self.detail = detail
        self.diagnostic = diagnostic
        super().__init__(f"{REASONS[reason]} {detail}".strip())

    def variables(self) -> dict[str, str]:
        """The reason, so the re-upload email can say what was wrong."""
        return {"rejection_reason": self.reason, "rejection_message": str(self)}

    def __reduce__(self):
        # It comes back from the parser's child process by pickle, reason and all.
        return (type(self), (self.reason, self.detail, self.diagnostic))


def parser_failure(exc: BaseException) -> str:
    """The parser's own words for an operator; the candidate is told only that the file is damaged."""
    return f"{type(exc).__name__}: {exc}"[:300]


@dataclass(frozen=True)
class IntakeLimits:
    """What a resume may be. Sized for real CVs with a wide margin."""

    max_bytes: int = 5 * 1024 * 1024
    max_pages: int = 20
    max_docx_entries: int = 500
    max_docx_uncompressed_bytes: int = 40 * 1024 * 1024
    # Twenty full pages are some 100 KB of text; a small file can still draw megabytes of it.
    max_text_bytes: int = 2 * 1024 * 1024
    parser: ParserLimits = ParserLimits()


DEFAULT_LIMITS = IntakeLimits()


@dataclass(frozen=True)
class CheckedFile:
    """A file that passed the checks: its type and, for a PDF, its page count; once its
    text is read, why each PDF page that could not be read was left out, and what else was
    (a PDF's form fields pypdf cannot read, content a Word file embeds in a form not read)."""

    kind: str
    pages: int | None
    unread_pages: tuple[str, ...] = ()
    unread_parts: tuple[str, ...] = ()


@dataclass(frozen=True)
class ResumeProfile:
    """What matching needs from a resume."""

    skills: list[str] = field(default_factory=list)
    years_of_experience: int | None = None


@dataclass(frozen=True)
class IntakeResult:
    """A checked resume: its type, text, page count (PDF) and profile."""

    kind: str
    text: str
    pages: int | None
    profile: ResumeProfile


# --- Type and safety checks --------------------------------------------------------------
# A damaged archive fails in zipfile's own ways and in its decompressors': BadZipFile,
# NotImplementedError (a newer zip version, an unknown compression method), RuntimeError
# (an entry marked encrypted), zlib.error, lzma.LZMAError, EOFError. Each means the file
# cannot be read, so they are caught broadly, as the parsers' failures are further down.
# detect_type runs in the webapp's request, where any other exception would be a 500.


# Viewers take a PDF whose header comes after a few stray bytes (a byte-order mark, a
# line a web server wrote first): Acrobat and pdf.js look for it in the first 1024 bytes.
PDF_HEADER_WITHIN = 1024

# What a file we do not take is, when its first bytes say so: the refusal names it, so
# the candidate knows what to save it as instead.
_KNOWN_OTHER_TYPES = (
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "It is an older Word document (.doc)."),
    (b"{\\rtf", "It is a Rich Text document (.rtf)."),
    (b"\x89PNG\r\n\x1a\n", "It is an image (PNG)."),
    (b"\xff\xd8\xff", "It is an image (JPEG)."),
    (b"GIF8", "It is an image (GIF)."),
    (b"II*\x00", "It is an image (TIFF)."),
    (b"MM\x00*", "It is an image (TIFF)."),
)
# An OpenDocument file is a zip whose first entry, "mimetype", is stored uncompressed.
_OPENDOCUMENT_TEXT = b"mimetypeapplication/vnd.oasis.opendocument.text"


def _named_other_type(data: bytes) -> str:
    for magic, named in _KNOWN_OTHER_TYPES:
        if data.startswith(magic):
            return named
    if data[30:].startswith(_OPENDOCUMENT_TEXT):
        return "It is an OpenDocument text (.odt)."
    return ""


def detect_type(data: bytes) -> str:
    """``pdf`` or ``docx`` by magic bytes and structure; never by file name or declared type."""
    if data.startswith(b"PK\x03\x04"):
        try:
            with zipfile.ZipFile(io.BytesIO(data)) as archive:
                names = set(archive.namelist())
        except MemoryError:
            raise
        except Exception as exc:  # noqa: BLE001 - see the note above
            raise InvalidResume("corrupt", diagnostic=parser_failure(exc)) from exc
        if {"[Content_Types].xml", "word/document.xml"} <= names:
            return "docx"
    elif b"%PDF-" in data[:PDF_HEADER_WITHIN]:
        return "pdf"
    raise InvalidResume("unsupported_type", _named_other_type(data))


def check_docx_archive(data: bytes, limits: IntakeLimits) -> None:
    """Refuse zip bombs: count entries and really decompress, bounded, instead of trusting headers."""
    try:
        with zipfile.ZipFile(io.BytesIO(data)) as archive:
            entries = archive.infolist()
            if len(entries) > limits.max_docx_entries:
                raise InvalidResume("unsafe_archive", f"It holds {len(entries)} parts.")
            budget = limits.max_docx_uncompressed_bytes
            for entry in entries:
                with archive.open(entry) as part:
                    while chunk := part.read(64 * 1024):
                        budget -= len(chunk)
                        if budget < 0:
                            raise InvalidResume(
                                "unsafe_archive",
                                f"It expands past {limits.max_docx_uncompressed_bytes // (1024 * 1024)} MB.",
                            )
    except (InvalidResume, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - see the note above
        raise InvalidResume("corrupt", diagnostic=parser_failure(exc)) from exc


# --- Text extraction ---------------------------------------------------------------------
# Parsers meet hostile input here and raise many exception types on it; any of them means
# "this file cannot be read", so they are caught broadly and turned into InvalidResume.
# MemoryError is the exception: it means the file hit the parser's memory limit, which
# the sandbox reports as such (``hireflow.parser_sandbox``).


# pypdf's own safety limits (decompressed stream sizes and the like) refuse the file.
PDF_OVER_PYPDF_LIMITS = "It holds far more compressed content than a resume does."


def _open_pdf(data: bytes, limits: IntakeLimits) -> pypdf.PdfReader:
    # A complete PDF ends with %%EOF; without it the upload was cut off. pypdf would
    # rebuild what it can, but half a resume is not a resume.
    if b"%%EOF" not in data[-2048:]:
        raise InvalidResume("corrupt", "The PDF is incomplete (was the upload cut off?).")
    try:
        reader = pypdf.PdfReader(io.BytesIO(data), strict=False)
        if reader.is_encrypted and not reader.decrypt(""):
            raise InvalidResume("encrypted")
        pages = len(reader.pages)
    except (InvalidResume, MemoryError):
        raise
    except pypdf.errors.LimitReachedError as exc:
        raise InvalidResume("too_complex", PDF_OVER_PYPDF_LIMITS, parser_failure(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - see the note above
        raise InvalidResume("corrupt", diagnostic=parser_failure(exc)) from exc
    if pages > limits.max_pages:
        raise InvalidResume("too_many_pages", f"It has {pages} pages; the limit is {limits.max_pages}.")
    return reader


def _pdf_text(reader: pypdf.PdfReader) -> tuple[str, list[str], list[str]]:
    """The text of every page that can be read and of the form's fields, why each other page
    could not be read, and why the form fields could not (nothing when they could).

    A page whose content pypdf cannot read (a damaged stream, a font it trips over) is
    left out, as a viewer shows the rest of the document: the other pages still make a
    profile. Only when no page can be read is the file corrupt.
    """
    texts, failures = [], []
    for number in range(len(reader.pages)):
        try:
            texts.append(reader.pages[number].extract_text() or "")
        except MemoryError:
            raise
        except pypdf.errors.LimitReachedError as exc:
            raise InvalidResume("too_complex", PDF_OVER_PYPDF_LIMITS, parser_failure(exc)) from exc
        except Exception as exc:  # noqa: BLE001 - see the note above
            failures.append(f"page {number + 1}: {parser_failure(exc)}")
    if not texts:
        raise InvalidResume("corrupt", diagnostic="; ".join(failures)[:300])
    page_text = "\n".join(texts)
    form_text, form_failure = _pdf_form_text(reader, page_text)
    return (
        "\n".join([page_text, *form_text]),
        failures,
        [f"form fields: {form_failure}"] if form_failure else [],
    )


# A multi-line form field keeps its lines apart with a carriage return, as PDF text strings do.
_ONE_LINE_BREAK = re.compile(r"\r\n?")


def _pdf_form_text(reader: pypdf.PdfReader, page_text: str) -> tuple[list[str], str]:
    """What was typed into the PDF's text fields, each value once, and why the fields could
    not be read (empty when they could).

    A resume filled in on a PDF form template keeps its text in the form's fields: a viewer
    draws it from there, and the pages' own content has none of it. A value the pages show
    too (a form flattened with its fields kept) is not taken twice.
    """
    try:
        fields = reader.get_form_text_fields()
    except MemoryError:
        raise
    except pypdf.errors.LimitReachedError as exc:
        raise InvalidResume("too_complex", PDF_OVER_PYPDF_LIMITS, parser_failure(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - see the note above; the pages' text still counts
        return [], parser_failure(exc)
    values = [_ONE_LINE_BREAK.sub("\n", value).strip() for value in fields.values() if isinstance(value, str)]
    return [value for value in dict.fromkeys(values) if value and value not in page_text], ""


_W_P, _W_R, _W_T, _W_TAB, _W_ALT_CHUNK = (qn(f"w:{tag}") for tag in ("p", "r", "t", "tab", "altChunk"))
_W_LINE_BREAKS = {qn("w:br"), qn("w:cr")}
# Characters Word keeps as elements of a run rather than as text: a non-breaking hyphen
# (Ctrl+Shift+-, as in "2015-2020" kept on one line) and an optional one.
_W_RUN_CHARACTERS = {qn("w:noBreakHyphen"): "\u2011", qn("w:softHyphen"): "\u00ad"}
# Text no reader sees: Word writes a text box twice, in DrawingML and again in VML for
# older readers; and a tracked move keeps its text at its old place too (a deletion's
# text is w:delText, never read).
_MC_FALLBACK = "{http://schemas.openxmlformats.org/markup-compatibility/2006}Fallback"
_UNSEEN = {_MC_FALLBACK, qn("w:moveFrom")}
# Word's "Strict Open XML Document" is a .docx too: the same elements in other namespaces.
_STRICT_W = "{http://purl.oclc.org/ooxml/wordprocessingml/main}"
_AS_TRANSITIONAL = {
    f"{_STRICT_W}{tag}": qn(f"w:{tag}")
    for tag in ("p", "r", "t", "tab", "br", "cr", "noBreakHyphen", "softHyphen", "moveFrom", "altChunk")
}
_STRICT_RT = "http://purl.oclc.org/ooxml/officeDocument/relationships/"
# The relationship id an element names its part by (r:id), transitional or strict.
_RELATIONSHIP_ID = (qn("r:id"), "{http://purl.oclc.org/ooxml/officeDocument/relationships}id")
_MAIN_DOCUMENT = {RT.OFFICE_DOCUMENT, f"{_STRICT_RT}officeDocument"}
_HEADER = {RT.HEADER, f"{_STRICT_RT}header"}
_FOOTER = {RT.FOOTER, f"{_STRICT_RT}footer"}
# Word files that are not a document to take, though their main part reads the same: one
# with macros would be handed on to employers as it is, and a template opens as a new,
# unnamed document rather than as the resume.
_OTHER_WORD_FILES = {
    "application/vnd.ms-word.document.macroEnabled.main+xml": "It is a Word document with macros (.docm).",
    "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml": (
        "It is a Word template (.dotx)."
    ),
    "application/vnd.ms-word.template.macroEnabledTemplate.main+xml": (
        "It is a Word template with macros (.dotm)."
    ),
}


def _word_text(element, out: list[str], part: Part, unread: list[str]) -> None:
    """Append the text under ``element`` (of ``part``) in reading order, a line per paragraph.

    Every paragraph counts: those in tables, in content controls (Word's resume templates
    hold most of their text in them) and in text boxes. python-docx's ``paragraphs`` and
    ``Paragraph.text`` leave those out. Its parser refuses XML deeper than 256 levels, so
    this recursion stays as shallow. Content the document embeds as another format
    (``w:altChunk``) is read where it stands, or named in ``unread``.
    """
    parent = _AS_TRANSITIONAL.get(element.tag, element.tag)
    for child in element:
        tag = _AS_TRANSITIONAL.get(child.tag, child.tag)
        if tag in _UNSEEN:
            continue
        if tag == _W_T:
            out.append(child.text or "")
        elif parent == _W_R and tag == _W_TAB:
            out.append("\t")
        elif parent == _W_R and tag in _W_LINE_BREAKS:
            out.append("\n")
        elif parent == _W_R and tag in _W_RUN_CHARACTERS:
            out.append(_W_RUN_CHARACTERS[tag])
        elif tag == _W_ALT_CHUNK:
            out.append(_alt_chunk_text(child, part, unread))
        else:
            _word_text(child, out, part, unread)
        if tag == _W_P:
            out.append("\n")


def _alt_chunk_text(alt_chunk, part: Part, unread: list[str]) -> str:
    """The text of content a Word document embeds as another format (``w:altChunk``): what
    tools that turn a web page into a .docx write, HTML or a web archive (.mht) most often.
    Word shows it as part of the document. RTF and a nested Word file are not read, and are
    named in ``unread``."""
    rid = next((alt_chunk.get(name) for name in _RELATIONSHIP_ID if alt_chunk.get(name)), None)
    rel = part.rels.get(rid) if rid else None
    if rel is None or rel.is_external:
        return ""
    embedded = rel.target_part
    kind = embedded.content_type.split(";")[0].strip().lower()
    try:
        if kind in _HTML_TYPES:
            return _html_text(embedded.blob)
        if kind == "message/rfc822":
            return _web_archive_text(embedded.blob)
        if kind == "text/plain":
            return embedded.blob.decode("utf-8-sig", errors="replace") + "\n"
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the note above; the rest of the document still counts
        unread.append(f"embedded {kind} ({embedded.partname}): {parser_failure(exc)}")
        return ""
    unread.append(f"embedded {kind} ({embedded.partname})")
    return ""


_HTML_TYPES = {"text/html", "application/xhtml+xml"}
# HTML elements that begin a line of their own (a table's cells are kept on their row's).
_HTML_LINES = ("p", "div", "br", "li", "tr", "h1", "h2", "h3", "h4", "h5", "h6", "dt", "dd", "table")
_HTML_CELLS = ("td", "th")


def _html_text(html: bytes, encoding: str | None = None) -> str:
    """The text an HTML document shows, a line per paragraph, heading, list item or row."""
    if not html.strip():
        return ""
    parser = lxml.html.HTMLParser(encoding=encoding) if encoding else None
    root = lxml.html.document_fromstring(html, parser=parser)
    # Scripts, styles and comments are not text a reader sees; their tails are.
    etree.strip_elements(root, "script", "style", "head", etree.Comment, with_tail=False)
    for element in root.iter(*_HTML_LINES):
        element.tail = "\n" + (element.tail or "")
    for cell in root.iter(*_HTML_CELLS):
        if cell.getnext() is not None:  # a tab between a row's cells, as a Word table's read
            cell.tail = "\t" + (cell.tail or "")
    return "".join(root.itertext()) + "\n"


def _web_archive_text(archive: bytes) -> str:
    """The text of a web archive (.mht, MIME ``multipart/related``): its HTML page's."""
    message = email.message_from_bytes(archive, policy=email.policy.compat32)
    for piece in message.walk():
        if piece.get_content_type() in _HTML_TYPES:
            return _html_text(piece.get_payload(decode=True) or b"", piece.get_content_charset())
    return ""


def _related(part, reltypes: set[str]) -> list:
    """The parts ``part`` (a part or the package) names by one of ``reltypes``, in order."""
    return [rel.target_part for rel in part.rels.values() if not rel.is_external and rel.reltype in reltypes]


def _open_docx(data: bytes) -> Part:
    """The main document part of a Word document, transitional (as Word saves by default)
    or strict; a Word file of another kind is refused by name.

    python-docx's ``Document`` opens only the transitional kind, so the package is opened
    one level lower and its parts are walked here.
    """
    try:
        documents = _related(OpcPackage.open(io.BytesIO(data)), _MAIN_DOCUMENT)
        if not documents:
            raise ValueError("the package names no main document")
        document = documents[0]
        if document.content_type in _OTHER_WORD_FILES:
            raise InvalidResume("unsupported_type", _OTHER_WORD_FILES[document.content_type])
        if document.content_type != CT.WML_DOCUMENT_MAIN:
            raise ValueError(f"the main document's content type is {document.content_type!r}")
    except (InvalidResume, MemoryError):
        raise
    except Exception as exc:  # noqa: BLE001 - see the note above
        raise InvalidResume("corrupt", diagnostic=parser_failure(exc)) from exc
    return document


def _docx_text(document: Part) -> tuple[str, list[str]]:
    """The text of the headers, the body and the footers of a Word document, and what it
    embeds that was not read (see ``_alt_chunk_text``)."""
    try:
        out: list[str] = []
        unread: list[str] = []
        for part in (*_related(document, _HEADER), document, *_related(document, _FOOTER)):
            _word_text(part.element, out, part, unread)
    except MemoryError:
        raise
    except Exception as exc:  # noqa: BLE001 - see the note above
        raise InvalidResume("corrupt", diagnostic=parser_failure(exc)) from exc
    return "".join(out), unread


# --- Profile -----------------------------------------------------------------------------


def _alias_pattern(alias: str) -> str:
    """An alias as a whole word or phrase; a phrase's words may be split by any white space,
    as a line wrapped in a PDF splits "machine learning"."""
    words = r"\s+".join(re.escape(word) for word in alias.split(" "))
    return rf"(?<![\w+#.]){words}(?![\w+#])"


_SKILL_PATTERNS = {
    skill: re.compile("|".join(_alias_pattern(alias) for alias in aliases), re.I)
    for skill, aliases in SKILLS.items()
}
# The first word of each way a skill is written, case-folded: a skill none of whose words
# is in the text is not looked for with its pattern. A plain substring search is far
# cheaper than a pattern with look-arounds, and most of a hundred skills are in no resume.
_SKILL_FIRST_WORDS = {
    skill: tuple({alias.split(" ")[0].casefold() for alias in aliases}) for skill, aliases in SKILLS.items()
}


# Letters a pattern's i, s and k match with re.I that case folding keeps apart (the Turkish
# dotted and dotless I, the long s, the Kelvin sign): the substring search takes them too.
_AS_PATTERNS_FOLD = str.maketrans({"\u0130": "i", "\u0131": "i", "\u017f": "s", "\u212a": "k"})


def _skills_in(text: str, skills) -> set[str]:
    """Those of ``skills`` that ``text`` mentions."""
    folded = text.translate(_AS_PATTERNS_FOLD).casefold()
    return {
        skill
        for skill in skills
        if any(word in folded for word in _SKILL_FIRST_WORDS[skill]) and _SKILL_PATTERNS[skill].search(text)
    }


# Each space before "years" has one way to match. `\s*\+?\s*` had as many as there are
# spaces: a text of "5" and 64,000 spaces took 17 s to read, and time grew as their square.
# The word in English, German ("8 Jahre"), French ("5 ans") and Spanish ("10 años").
_YEARS_STATED = re.compile(r"\b(\d{1,2})\s*(?:\+\s*)?(?:years?|yrs?|jahren?|ans|años)\b", re.I)
# A span of work as resumes write it: "2015 - 2020", "Jan 2015 - Mar 2020",
# "01/2015 - 03/2020", "2015-01 - 2020-03", "Sept. 2016 to present". The start's month, if
# written before its year, is simply not part of the match; the end's month is (a word,
# or a number before "/" or "."), as is a month after the start's year. Between the two:
# any hyphen or dash (NFKC reads a non-breaking hyphen as U+2010 and leaves the others as
# they are), "to" or "until", or their German, French and Spanish words (whole words: not
# the "a" of "2015 awarded 2019"). A job still held ends with one of _ONGOING, or is
# written "to date" (_YEAR_TO_DATE). Years count whole, as before months were read.
_ONGOING = (
    r"present|current|now|today|ongoing"
    r"|heute|jetzt|aktuell|dato"
    r"|présent|aujourd['\u2019]hui|actuel|actuellement"
    r"|presente|actualidad|actual|hoy"
)
_YEAR_RANGE = re.compile(
    r"\b((?:19|20)\d{2})(?:[-/.]\d{1,2}\b)?"
    r"\s*(?:[-\u2010-\u2015\u2212]|(?:to|until|bis|à|a)\b)\s*"
    rf"(?:[^\W\d_]{{3,10}}\.?\s+|\d{{1,2}}[/.]\s*)?((?:19|20)\d{{2}}|{_ONGOING})\b",
    re.I,
)
# "2019 to date", "Jan 2019 - Till Date", as many resumes (India's most of all) write a job
# still held. Only after "to", "till" or "until": "1990 - Date of birth" is no job.
_YEAR_TO_DATE = re.compile(
    r"\b((?:19|20)\d{2})(?:[-/.]\d{1,2}\b)?\s*(?:[-\u2010-\u2015\u2212]\s*)?(?:till|to|until)\s+date\b",
    re.I,
)
MAX_PLAUSIBLE_YEARS = 50


# Characters that split a word without showing: zero-width spaces and joiners, a word
# joiner, a stray byte-order mark.
_INVISIBLE = dict.fromkeys(map(ord, "\u200b\u200c\u200d\u2060\ufeff"))
# A soft hyphen marks where a word may break, so it and the line break after it (where
# Word hyphenated the line) stand inside one word: "Post\u00ad\ngreSQL".
_SOFT_HYPHEN = re.compile("\u00ad\\s*")
# A hyphen that ends a line may have split a word ("Kuber-\nnetes") or joined two
# ("Python-\nDjango"); both readings are searched.
_HYPHEN_AT_LINE_END = re.compile(r"(?<=\w)-[ \t]*\r?\n\s*(?=\w)")


def _searchable(text: str) -> str:
    """``text`` as the patterns read it: compatibility forms as plain letters (NFKC: the
    ligature "ﬂ" a PDF font maps a glyph to as "fl", full-width "Ｐｙｔｈｏｎ" as "Python"),
    and without the invisible characters that split a word."""
    text = unicodedata.normalize("NFKC", text).translate(_INVISIBLE)
    return _SOFT_HYPHEN.sub("", text)


def extract_skills(text: str) -> list[str]:
    """Canonical names of the skills the text mentions, in vocabulary order."""
    text = _searchable(text)
    found = _skills_in(text, SKILLS)
    joined = _HYPHEN_AT_LINE_END.sub("", text)
    if joined != text:
        found |= _skills_in(joined, [skill for skill in SKILLS if skill not in found])
    return [skill for skill in SKILLS if skill in found]


def extract_years_of_experience(text: str, today: date | None = None) -> int | None:
    """Years stated outright ("7 years"), else the span covered by year ranges, overlaps merged."""
    text = _searchable(text)
    stated = [int(n) for n in _YEARS_STATED.findall(text) if 0 < int(n) <= MAX_PLAUSIBLE_YEARS]
    if stated:
        return max(stated)
    this_year = (today or date.today()).year
    spans = []
    ranges = _YEAR_RANGE.findall(text) + [(start, "date") for start in _YEAR_TO_DATE.findall(text)]
    for start, end in ranges:
        end_year = this_year if not end.isdigit() else int(end)
        if int(start) <= end_year <= this_year:
            spans.append((int(start), end_year))
    if not spans:
        return None
    covered: set[int] = set()
    for start, end in spans:
        covered.update(range(start, max(end, start + 1)))
    return min(len(covered), MAX_PLAUSIBLE_YEARS)


def _checked(data: bytes, limits: IntakeLimits) -> tuple[str, pypdf.PdfReader | Part]:
    """The file's type, and its opened reader (PDF) or main document part (Word), after
    every check passed."""
    if len(data) > limits.max_bytes:
        raise InvalidResume("too_large", f"It has {len(data)} bytes; the limit is {limits.max_bytes}.")
    kind = detect_type(data)
    if kind == "pdf":
        return kind, _open_pdf(data, limits)
    check_docx_archive(data, limits)
    return kind, _open_docx(data)


def _pages(opened: pypdf.PdfReader | Part) -> int | None:
    return len(opened.pages) if isinstance(opened, pypdf.PdfReader) else None


def check_file(data: bytes, limits: IntakeLimits = DEFAULT_LIMITS) -> CheckedFile:
    """Check type (for a Word file, the kind of Word file), size, archive safety,
    completeness and pages, without reading the text."""
    return _isolated(_check_file_here, data, limits)


def read_text(data: bytes, limits: IntakeLimits = DEFAULT_LIMITS) -> tuple[CheckedFile, str]:
    """Check the file, then extract its text: at most ``limits.max_text_bytes`` of it as UTF-8,
    and always writable as UTF-8. Raises InvalidResume for a bad or textless file, or one
    with more text than that."""
    return _isolated(_read_text_here, data, limits)


def _isolated(func, data: bytes, limits: IntakeLimits):
    """``func(data, limits)`` in the parser's child process; a file that exceeds its limits is invalid."""
    if len(data) > limits.max_bytes:  # refused before it is copied to the child
        raise InvalidResume("too_large", f"It has {len(data)} bytes; the limit is {limits.max_bytes}.")
    try:
        return run_isolated(func, (data, limits), limits.parser)
    except ParserLimitExceeded as exc:
        detail = str(exc)
        raise InvalidResume("too_complex", f"{detail[:1].upper()}{detail[1:]}.") from exc


def _check_file_here(data: bytes, limits: IntakeLimits) -> CheckedFile:
    kind, opened = _checked(data, limits)
    return CheckedFile(kind=kind, pages=_pages(opened))


# A PDF's ToUnicode map may name half of a UTF-16 pair, which pypdf keeps as a lone
# surrogate; such a text cannot be written as UTF-8.
_LONE_SURROGATE = re.compile("[\ud800-\udfff]")


def _read_text_here(data: bytes, limits: IntakeLimits) -> tuple[CheckedFile, str]:
    kind, opened = _checked(data, limits)
    if kind == "pdf":
        text, unread, unread_parts = _pdf_text(opened)
    else:
        (text, unread_parts), unread = _docx_text(opened), []
    text = _LONE_SURROGATE.sub("\ufffd", text)  # U+FFFD, as for any character that cannot be read
    if not text.strip():
        raise InvalidResume("no_text")
    size = len(text.encode("utf-8"))
    if size > limits.max_text_bytes:
        raise InvalidResume(
            "too_much_text", f"It holds {size} bytes of text; the limit is {limits.max_text_bytes}."
        )
    checked = CheckedFile(
        kind=kind, pages=_pages(opened), unread_pages=tuple(unread), unread_parts=tuple(unread_parts)
    )
    return checked, text


def process_resume(data: bytes, limits: IntakeLimits = DEFAULT_LIMITS) -> IntakeResult:
    """Check ``data`` and extract text and profile. Raises InvalidResume for a bad file."""
    checked, text = read_text(data, limits)
    profile = ResumeProfile(
        skills=extract_skills(text), years_of_experience=extract_years_of_experience(text)
    )
    return IntakeResult(kind=checked.kind, text=text, pages=checked.pages, profile=profile)
