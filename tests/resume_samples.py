"""Real sample resumes, generated in the tests: PDF with reportlab, DOCX with python-docx."""

from __future__ import annotations

import io
import quopri
import zipfile
import zlib

import docx
from docx.opc.constants import RELATIONSHIP_TYPE as RT
from docx.opc.packuri import PackURI
from docx.opc.part import Part
from docx.oxml import parse_xml
from docx.oxml.ns import nsdecls
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

ADA_LINES = [
    "Ada Lovelace - Senior Backend Engineer",
    "8 years of experience building Python and PostgreSQL services.",
    "Skills: Python, SQL, Docker, Kubernetes, Camunda (Zeebe), BPMN",
]


def pdf_resume(lines: list[str] = ADA_LINES, pages: int = 1) -> bytes:
    """A real PDF with ``lines`` of text on each of ``pages`` pages."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    for _ in range(pages):
        y = 800
        for line in lines:
            pdf.drawString(72, y, line)
            y -= 18
        pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def pdf_form_resume(fields: dict[str, str], lines: list[str] = ("Curriculum vitae",)) -> bytes:
    """A PDF form template filled in, as a viewer saves it: ``lines`` drawn on the page, and
    each of ``fields`` a text field holding its value (multi-line; a line break as the
    carriage return viewers write)."""
    buffer = io.BytesIO()
    pdf = canvas.Canvas(buffer, pagesize=A4)
    y = 800
    for line in lines:
        pdf.drawString(72, y, line)
        y -= 18
    for name, value in fields.items():
        y -= 70
        pdf.acroForm.textfield(
            name=name,
            value=value.replace("\n", "\r"),
            x=72,
            y=y,
            width=450,
            height=60,
            fieldFlags="multiline",
        )
    pdf.showPage()
    pdf.save()
    return buffer.getvalue()


def docx_resume(lines: list[str] = ADA_LINES, table: list[list[str]] | None = None) -> bytes:
    """A real Word document with ``lines`` as paragraphs and an optional table."""
    document = docx.Document()
    for line in lines:
        document.add_paragraph(line)
    if table:
        grid = document.add_table(rows=len(table), cols=len(table[0]))
        for r, row in enumerate(table):
            for c, value in enumerate(row):
                grid.cell(r, c).text = value
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def docx_laid_out_as_word_templates_do() -> bytes:
    """A Word document whose text sits where Word's resume templates put it: in content
    controls, a text box (written twice, as DrawingML and as VML for older readers), a
    header and a footer; with a tracked deletion, the old place of a tracked move and a
    field's instruction, which are no text a reader sees."""
    w, mc = nsdecls("w"), 'xmlns:mc="http://schemas.openxmlformats.org/markup-compatibility/2006"'
    wps = 'xmlns:wps="http://schemas.microsoft.com/office/word/2010/wordprocessingShape"'
    box = "<w:txbxContent><w:p><w:r><w:t>Skills: SQL, Docker</w:t></w:r></w:p></w:txbxContent>"
    document = docx.Document()
    document.sections[0].header.paragraphs[0].text = "Ada Lovelace, Senior Backend Engineer"
    document.sections[0].footer.paragraphs[0].text = "References: Kubernetes team leads"
    body = document.element.body
    body.insert(
        len(body) - 1,  # before the section properties, which end the body
        parse_xml(
            f"<w:sdt {w}><w:sdtPr/><w:sdtContent><w:p><w:r>"
            "<w:t>8 years of experience building Python services.</w:t>"
            "</w:r></w:p></w:sdtContent></w:sdt>"
        ),
    )
    inline = document.add_paragraph("Tools: ")
    inline._p.append(
        parse_xml(f"<w:sdt {w}><w:sdtContent><w:r><w:t>Camunda</w:t></w:r></w:sdtContent></w:sdt>")
    )
    inline._p.append(parse_xml(f"<w:del {w}><w:r><w:delText>COBOL</w:delText></w:r></w:del>"))
    # A move keeps its text in w:t at both places; Word shows it struck through at the old one.
    inline._p.append(parse_xml(f'<w:moveFromRangeStart {w} w:id="7" w:name="move1"/>'))
    inline._p.append(parse_xml(f"<w:moveFrom {w}><w:r><w:t>, Java</w:t></w:r></w:moveFrom>"))
    inline._p.append(parse_xml(f'<w:moveFromRangeEnd {w} w:id="7"/>'))
    inline._p.append(parse_xml(f"<w:r {w}><w:instrText> HYPERLINK java.example </w:instrText></w:r>"))
    boxed = document.add_paragraph()
    boxed._p.append(
        parse_xml(
            f"<w:r {w}><mc:AlternateContent {mc} {wps}>"
            f'<mc:Choice Requires="wps"><w:drawing><wps:txbx>{box}</wps:txbx></w:drawing></mc:Choice>'
            f'<mc:Fallback><w:pict><v:textbox xmlns:v="urn:schemas-microsoft-com:vml">{box}</v:textbox>'
            "</w:pict></mc:Fallback></mc:AlternateContent></w:r>"
        )
    )
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def docx_with_alt_chunk(
    content: bytes, content_type: str, name: str, before: str = "Curriculum vitae"
) -> bytes:
    """A Word document that embeds ``content`` (of ``content_type``, as the part ``name``)
    with ``w:altChunk`` after a paragraph ``before``: what tools that turn a web page into a
    .docx write (html-docx-js, for one, a web archive named afchunk.mht)."""
    document = docx.Document()
    document.add_paragraph(before)
    chunk = Part(PackURI(f"/word/{name}"), content_type, content, document.part.package)
    rid = document.part.relate_to(chunk, RT.A_F_CHUNK)
    body = document.element.body
    body.insert(len(body) - 1, parse_xml(f'<w:altChunk {nsdecls("w", "r")} r:id="{rid}"/>'))  # before sectPr
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


def web_archive(html: str) -> bytes:
    """``html`` as a web archive (.mht): one quoted-printable HTML page in a multipart/related."""
    page = quopri.encodestring(html.encode("utf-8")).decode("ascii")
    return (
        'MIME-Version: 1.0\nContent-Type: multipart/related; type="text/html"; boundary="--part"\n\n'
        '----part\nContent-Type: text/html; charset="utf-8"\nContent-Transfer-Encoding: quoted-printable\n'
        f"Content-Location: file:///C:/fake/document.html\n\n{page}\n----part--\n"
    ).encode("ascii")


def docx_with_run_characters(pieces: list[str]) -> bytes:
    """A Word document of one paragraph, one run: the text of ``pieces``, with a character
    Word keeps as an element between each two: ``noBreakHyphen`` or ``softHyphen``
    (``["Analyst 2010", "noBreakHyphen", "2014"]``)."""
    document = docx.Document()
    run = document.add_paragraph().add_run()
    for piece in pieces:
        if piece in ("noBreakHyphen", "softHyphen"):
            run._r.append(parse_xml(f"<w:{piece} {nsdecls('w')}/>"))
        else:
            run._r.append(parse_xml(f"<w:t {nsdecls('w')}>{piece}</w:t>"))
    buffer = io.BytesIO()
    document.save(buffer)
    return buffer.getvalue()


WORD_MAIN_CONTENT_TYPES = {
    "docm": "application/vnd.ms-word.document.macroEnabled.main+xml",
    "dotx": "application/vnd.openxmlformats-officedocument.wordprocessingml.template.main+xml",
    "dotm": "application/vnd.ms-word.template.macroEnabledTemplate.main+xml",
}
_TRANSITIONAL_NAMESPACES = {
    b"http://schemas.openxmlformats.org/wordprocessingml/2006/main": (
        b"http://purl.oclc.org/ooxml/wordprocessingml/main"
    ),
    # The relationship types, and the r: namespace of the attributes that name them.
    b"http://schemas.openxmlformats.org/officeDocument/2006/relationships": (
        b"http://purl.oclc.org/ooxml/officeDocument/relationships"
    ),
}


def _rezipped(data: bytes, edit) -> bytes:
    """``data``, a zip archive, with each entry's bytes replaced by ``edit(name, bytes)``."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as out,
    ):
        for entry in source.infolist():
            out.writestr(entry.filename, edit(entry.filename, source.read(entry)))
    return buffer.getvalue()


def word_file_saved_as(kind: str) -> bytes:
    """``docx_laid_out_as_word_templates_do()`` as Word saves it with another "Save as type":
    ``strict`` (Strict Open XML Document: the same parts and elements in ISO 29500 strict's
    namespaces, marked ``w:conformance="strict"``), or a ``WORD_MAIN_CONTENT_TYPES`` key
    (macro-enabled document, template, macro-enabled template: the main part's content type)."""

    def edit(name: str, body: bytes) -> bytes:
        if kind == "strict" and name.endswith((".xml", ".rels")):
            for transitional, strict in _TRANSITIONAL_NAMESPACES.items():
                body = body.replace(transitional, strict)
            return body.replace(b"<w:document ", b'<w:document w:conformance="strict" ', 1)
        if kind != "strict" and name == "[Content_Types].xml":
            main = b"application/vnd.openxmlformats-officedocument.wordprocessingml.document.main+xml"
            assert main in body
            return body.replace(main, WORD_MAIN_CONTENT_TYPES[kind].encode())
        return body

    return _rezipped(docx_laid_out_as_word_templates_do(), edit)


def opendocument_text() -> bytes:
    """An OpenDocument text's package as LibreOffice starts it: an uncompressed ``mimetype``
    entry first, then the content."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", "<office:document-content/>", zipfile.ZIP_DEFLATED)
    return buffer.getvalue()


DOCX_DAMAGES = ("needs-zip-6.5", "unknown-compression", "marked-encrypted", "broken-deflate")


def docx_damaged(damage: str) -> bytes:
    """A real Word document with one of ``DOCX_DAMAGES`` done to its zip archive: every part
    needing zip version 6.5 to extract, or its document part compressed by method 99, marked
    encrypted, or holding a deflate stream no inflater reads."""
    data = bytearray(docx_resume())
    if damage == "broken-deflate":
        with zipfile.ZipFile(io.BytesIO(bytes(data))) as archive:
            local_header = archive.getinfo("word/document.xml").header_offset
        # The local header is 30 bytes, then the name and the extra field, then the data.
        name_length = int.from_bytes(data[local_header + 26 : local_header + 28], "little")
        extra_length = int.from_bytes(data[local_header + 28 : local_header + 30], "little")
        # A final block of the reserved type 3: "invalid block type".
        data[local_header + 30 + name_length + extra_length] = 0xFF
        return bytes(data)
    # Central directory entries: version needed at +6, flags at +8, method at +10.
    at = 0
    while (at := data.find(b"PK\x01\x02", at)) != -1:
        name_length = int.from_bytes(data[at + 28 : at + 30], "little")
        name = bytes(data[at + 46 : at + 46 + name_length])
        if damage == "needs-zip-6.5":
            data[at + 6] = 65
        elif damage == "unknown-compression" and name == b"word/document.xml":
            data[at + 10] = 99
        elif damage == "marked-encrypted" and name == b"word/document.xml":
            data[at + 8] |= 0x01
        at += 4
    return bytes(data)


def docx_zip_bomb(expanded_bytes: int = 60 * 1024 * 1024) -> bytes:
    """A DOCX-shaped archive whose document part inflates to ``expanded_bytes`` of zeros."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", compression=zipfile.ZIP_DEFLATED, compresslevel=9) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        with archive.open("word/document.xml", "w") as part:
            block = b"\0" * (1024 * 1024)
            for _ in range(expanded_bytes // len(block)):
                part.write(block)
    return buffer.getvalue()


def docx_with_many_parts(parts: int) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("word/document.xml", "<w:document/>")
        for i in range(parts):
            archive.writestr(f"word/media/part{i}.bin", b"x")
    return buffer.getvalue()


def pdf_with_page_content(content: bytes, to_unicode: dict[str, str] | None = None) -> bytes:
    """A valid one-page PDF whose page draws ``content`` (a compressed content stream).

    ``b"BT (x) Tj ET\\n" * 100_000`` makes an 11 KB file that costs a parser seconds of
    CPU time and a hundred megabytes: the shape of a hostile upload.
    ``to_unicode`` gives the font a ToUnicode map, one-byte codes to UTF-16BE, both in hex
    (``{"41": "D800"}``: the letter A reads as half of a surrogate pair).
    """
    return pdf_with_pages([content], to_unicode)


def pdf_with_pages(
    contents: list[bytes], to_unicode: dict[str, str] | None = None, acro_form: bytes = b""
) -> bytes:
    """A PDF with a page for each of ``contents``, drawn with font F1 (Helvetica); see
    ``pdf_with_page_content``. ``acro_form`` is the catalog's /AcroForm, as written."""
    font = b"<< /Type /Font /Subtype /Type1 /BaseFont /Helvetica >>"
    if to_unicode is not None:
        font = font.replace(b" >>", b" /ToUnicode 4 0 R >>")
    pairs = "".join(f"<{code}> <{utf16}>\n" for code, utf16 in (to_unicode or {}).items())
    cmap = (
        "/CIDInit /ProcSet findresource begin 12 dict begin begincmap\n"
        "1 begincodespacerange <00> <FF> endcodespacerange\n"
        f"{len(to_unicode or {})} beginbfchar\n{pairs}endbfchar\n"
        "endcmap CMapName currentdict /CMap defineresource pop end end\n"
    ).encode()
    # 1 catalog, 2 page tree, 3 font, 4 its ToUnicode map; then each page and its content.
    pages = [5 + 2 * at for at in range(len(contents))]
    bodies = [
        b"<< /Type /Catalog /Pages 2 0 R %s>>" % (b"/AcroForm " + acro_form + b" " if acro_form else b""),
        b"<< /Type /Pages /Kids [%s] /Count %d >>"
        % (b" ".join(b"%d 0 R" % page for page in pages), len(pages)),
        font,
        b"<< /Length %d >>\nstream\n" % len(cmap) + cmap + b"\nendstream",
    ]
    for page, content in zip(pages, contents, strict=True):
        compressed = zlib.compress(content, 9)
        bodies.append(
            b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents %d 0 R "
            b"/Resources << /Font << /F1 3 0 R >> >> >>" % (page + 1)
        )
        bodies.append(
            b"<< /Length %d /Filter /FlateDecode >>\nstream\n" % len(compressed) + compressed + b"\nendstream"
        )
    out = bytearray(b"%PDF-1.7\n")
    offsets = []
    for number, body in enumerate(bodies, start=1):
        offsets.append(len(out))
        out += b"%d 0 obj\n" % number + body + b"\nendobj\n"
    xref = len(out)
    out += b"xref\n0 %d\n0000000000 65535 f \n" % (len(bodies) + 1)
    out += b"".join(b"%010d 00000 n \n" % offset for offset in offsets)
    out += b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n" % (len(bodies) + 1, xref)
    return bytes(out)


def pdf_drawing_megabytes_of_text() -> bytes:
    """An 11 KB one-page PDF whose compressed page draws 2.4 MB of text: more than any resume."""
    line = b"(" + b"Python engineer with 5 years of SQL, Kubernetes and data pipelines. " * 12 + b") Tj T*\n"
    return pdf_with_page_content(b"BT /F1 1 Tf 1 TL 72 720 Td\n" + line * 3_000 + b"ET\n")
