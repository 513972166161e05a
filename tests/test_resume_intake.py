"""Resume intake on real generated files, and every kind of bad file (issue 3, acceptance 1 and 4)."""

from __future__ import annotations

import io
import zipfile
from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from hireflow.adapters.file_store import FileNotFound, FileTooLarge, LocalFileStore
from hireflow.resume_intake import (
    _HYPHEN_AT_LINE_END,
    _SKILL_PATTERNS,
    PDF_HEADER_WITHIN,
    REASONS,
    RESUME_INVALID,
    IntakeLimits,
    InvalidResume,
    _searchable,
    detect_type,
    extract_skills,
    extract_years_of_experience,
    process_resume,
    read_text,
)
from hireflow.skills import SKILL_BY_ALIAS, SKILLS
from tests.fuzzing import FUZZ_EXAMPLES, fuzz_settings
from tests.resume_samples import (
    DOCX_DAMAGES,
    docx_damaged,
    docx_laid_out_as_word_templates_do,
    docx_resume,
    docx_with_alt_chunk,
    docx_with_many_parts,
    docx_with_run_characters,
    docx_zip_bomb,
    opendocument_text,
    pdf_form_resume,
    pdf_resume,
    pdf_with_page_content,
    pdf_with_pages,
    web_archive,
    word_file_saved_as,
)

ADA_SKILLS = ["python", "sql", "postgresql", "docker", "kubernetes", "bpmn", "camunda"]


def test_a_pdf_resume_yields_its_text_pages_skills_and_years():
    result = process_resume(pdf_resume(pages=2))
    assert result.kind == "pdf"
    assert result.pages == 2
    assert "Senior Backend Engineer" in result.text
    assert result.profile.skills == ADA_SKILLS
    assert result.profile.years_of_experience == 8


def test_a_docx_resume_yields_text_from_paragraphs_and_tables():
    data = docx_resume(table=[["Employer", "Years"], ["Analytical Engines Ltd", "2015 - 2020"]])
    result = process_resume(data)
    assert result.kind == "docx"
    assert result.pages is None
    assert "Analytical Engines Ltd" in result.text
    assert result.profile.skills == ADA_SKILLS


def test_a_docx_laid_out_as_word_templates_do_yields_all_its_text_once():
    result = process_resume(docx_laid_out_as_word_templates_do())
    assert result.text.splitlines() == [
        "Ada Lovelace, Senior Backend Engineer",
        "8 years of experience building Python services.",
        "Tools: Camunda",
        "Skills: SQL, Docker",
        "",
        "References: Kubernetes team leads",
    ]
    assert result.profile.skills == ["python", "sql", "docker", "kubernetes", "camunda"]
    assert result.profile.years_of_experience == 8


# A web page as a resume builder exports it: a heading, a comment, a style and a script
# (no text a reader sees), a table row and a list.
WEB_PAGE = (
    "<html><head><title>CV</title><style>p { margin: 0 }</style></head><body>"
    "<h1>Grace Hopper</h1><!-- generated --><p>Skills: Rust, Kubernetes</p>"
    "<table><tr><td>2014 - 2022</td><td>Platform engineer</td></tr></table>"
    "<script>track('Python')</script><ul><li>Docker</li><li>Terraform</li></ul></body></html>"
)


@pytest.mark.parametrize(
    ("content", "content_type", "name"),
    [
        (web_archive(WEB_PAGE), "message/rfc822", "afchunk.mht"),  # as html-docx-js writes it
        (WEB_PAGE.encode(), "text/html", "chunk.html"),
        (WEB_PAGE.encode(), "application/xhtml+xml", "chunk.xhtml"),
    ],
)
def test_a_docx_that_embeds_a_web_page_yields_the_pages_text(content, content_type, name):
    # Word shows content a .docx embeds as another format (w:altChunk) as part of the
    # document; tools that turn a web page into a .docx write nothing else.
    checked, text = read_text(docx_with_alt_chunk(content, content_type, name))
    assert [line for line in text.splitlines() if line.strip()] == [
        "Curriculum vitae",
        "Grace Hopper",
        "Skills: Rust, Kubernetes",
        "2014 - 2022\tPlatform engineer",
        "Docker",
        "Terraform",
    ]
    assert checked.unread_parts == ()
    result = process_resume(docx_with_alt_chunk(content, content_type, name))
    assert (result.profile.skills, result.profile.years_of_experience) == (
        ["rust", "docker", "kubernetes", "terraform"],
        8,
    )


def test_content_a_docx_embeds_in_a_form_not_read_is_named_and_the_rest_read():
    rtf = docx_with_alt_chunk(
        b"{\\rtf1 Kubernetes}", "application/rtf", "chunk.rtf", before="Python engineer"
    )
    checked, text = read_text(rtf)
    assert text.strip() == "Python engineer"
    assert checked.unread_parts == ("embedded application/rtf (/word/chunk.rtf)",)
    # Plain text is read as it is; an empty web page adds nothing and is no failure.
    plain = docx_with_alt_chunk(b"\xef\xbb\xbfSQL, Docker", "text/plain", "chunk.txt")
    assert [line for line in read_text(plain)[1].splitlines() if line] == ["Curriculum vitae", "SQL, Docker"]
    empty = read_text(docx_with_alt_chunk(b"  ", "text/html", "chunk.html"))
    assert (empty[0].unread_parts, empty[1].strip()) == ((), "Curriculum vitae")


def test_a_docx_saved_as_strict_open_xml_yields_the_same_text():
    # Word's "Strict Open XML Document" is a .docx the door takes; python-docx cannot open it.
    strict = process_resume(word_file_saved_as("strict"))
    assert strict.kind == "docx"
    assert strict.text == process_resume(docx_laid_out_as_word_templates_do()).text
    assert strict.profile.skills == ["python", "sql", "docker", "kubernetes", "camunda"]


@pytest.mark.parametrize("prefix", [b"\xef\xbb\xbf", b"\r\n" * 200], ids=["byte-order-mark", "blank-lines"])
def test_a_pdf_whose_header_follows_a_few_stray_bytes_is_read_as_viewers_read_it(prefix):
    # Acrobat and pdf.js look for %PDF- in the first 1024 bytes; a web server's stray
    # output before it does not make the resume unreadable.
    result = process_resume(prefix + pdf_resume())
    assert (result.kind, result.profile.skills) == ("pdf", ADA_SKILLS)


def test_a_pdf_header_past_the_first_kilobyte_is_not_a_pdf():
    expect_invalid(b" " * PDF_HEADER_WITHIN + pdf_resume(), "unsupported_type")


def expect_invalid(data: bytes, reason: str, limits: IntakeLimits | None = None) -> InvalidResume:
    with pytest.raises(InvalidResume) as raised:
        process_resume(data, limits) if limits else process_resume(data)
    assert raised.value.reason == reason
    assert raised.value.error_code == RESUME_INVALID
    return raised.value


@pytest.mark.parametrize(
    "data",
    [b"GIF89a" + b"\0" * 100, b"plain text resume", b"", b"PK\x03\x04not really a zip"],
    ids=["gif", "text", "empty", "fake-zip"],
)
def test_wrong_magic_bytes_are_refused(data):
    with pytest.raises(InvalidResume) as raised:
        process_resume(data)
    assert raised.value.reason in {"unsupported_type", "corrupt"}


@pytest.mark.parametrize(
    ("data", "named"),
    [
        (word_file_saved_as("docm"), "It is a Word document with macros (.docm)."),
        (word_file_saved_as("dotx"), "It is a Word template (.dotx)."),
        (word_file_saved_as("dotm"), "It is a Word template with macros (.dotm)."),
        (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 504, "It is an older Word document (.doc)."),
        (b"{\\rtf1\\ansi Ada Lovelace}", "It is a Rich Text document (.rtf)."),
        (opendocument_text(), "It is an OpenDocument text (.odt)."),
        (b"\xff\xd8\xff\xe0\x00\x10JFIF", "It is an image (JPEG)."),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "It is an image (PNG)."),
    ],
    ids=["docm", "dotx", "dotm", "doc", "rtf", "odt", "jpeg", "png"],
)
def test_a_file_of_a_kind_we_do_not_take_is_refused_by_the_name_of_its_kind(data, named):
    # A candidate told what their file is knows what to save it as instead; macros and
    # templates are never handed on to employers.
    refusal = expect_invalid(data, "unsupported_type")
    assert str(refusal) == f"{REASONS['unsupported_type']} {named}"


def test_a_zip_that_is_not_a_word_document_is_refused():
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    expect_invalid(buffer.getvalue(), "unsupported_type")


@pytest.mark.parametrize("keep", [0.9, 0.5, 0.1])
def test_a_truncated_pdf_is_refused_as_corrupt(keep):
    data = pdf_resume()
    error = expect_invalid(data[: int(len(data) * keep)], "corrupt")
    assert "cut off" in str(error)


def test_a_pdf_with_garbage_inside_is_refused_as_corrupt():
    data = pdf_resume()
    garbled = data[:20] + bytes(range(256)) * 8 + data[-200:]
    error = expect_invalid(garbled, "corrupt")
    # The candidate reads the message; the parser's own words are for operators only.
    assert str(error) == "The file is damaged and cannot be read."
    assert error.diagnostic.startswith("PdfReadError: ")
    assert "PdfReadError" not in error.variables()["rejection_message"]


def test_a_docx_zip_bomb_is_refused_without_inflating_it_whole():
    bomb = docx_zip_bomb()
    assert len(bomb) < 200_000
    expect_invalid(bomb, "unsafe_archive")


def test_a_docx_with_too_many_parts_is_refused():
    expect_invalid(docx_with_many_parts(600), "unsafe_archive")


@pytest.mark.parametrize("damage", DOCX_DAMAGES)
def test_a_docx_whose_archive_zipfile_cannot_read_is_refused_as_corrupt(damage):
    data = docx_damaged(damage)
    refused = expect_invalid(data, "corrupt")
    assert refused.diagnostic  # zipfile's own words, for the operator
    if damage == "needs-zip-6.5":
        # Found at the webapp's door, where detect_type runs in the request.
        with pytest.raises(InvalidResume):
            detect_type(data)


SEED_RESUMES = {
    "pdf": pdf_resume(pages=2),
    "pdf-form": pdf_form_resume({"skills": "Python, SQL\n2015 - 2020"}),
    "docx": docx_laid_out_as_word_templates_do(),
    "docx-web-archive": docx_with_alt_chunk(web_archive(WEB_PAGE), "message/rfc822", "afchunk.mht"),
}
# An edit: where (taken modulo the length), how many bytes to cut, and what to put there.
EDITS = st.lists(
    st.tuples(st.integers(0, 2**32), st.integers(0, 40), st.binary(max_size=20)), min_size=1, max_size=6
)


def edited(data: bytes, edits: list[tuple[int, int, bytes]]) -> bytes:
    out = bytearray(data)
    for where, cut, put in edits:
        at = where % (len(out) or 1)
        out[at : at + cut] = put
    return bytes(out)


def rezipped_with_part_edited(
    data: bytes, edits: list[tuple[int, int, bytes]], part: str = "word/document.xml"
) -> bytes:
    """The Word file with one part (its document's XML) edited, zipped again: damage zip cannot see."""
    buffer = io.BytesIO()
    with (
        zipfile.ZipFile(io.BytesIO(data)) as source,
        zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as target,
    ):
        for entry in source.infolist():
            content = source.read(entry)
            target.writestr(entry.filename, edited(content, edits) if entry.filename == part else content)
    return buffer.getvalue()


@fuzz_settings(3 * FUZZ_EXAMPLES)
@given(seed=st.sampled_from(["pdf", "pdf-form", "docx", "docx-xml", "docx-web-archive"]), edits=EDITS)
def test_a_damaged_resume_is_read_or_refused_never_failed(seed, edits):
    """Whatever a damaged upload holds, intake reads it or refuses it with a reason: an
    exception of another kind would be a 500 at the door or an incident in the worker."""
    if seed == "docx-xml":
        data = rezipped_with_part_edited(SEED_RESUMES["docx"], edits)
    elif seed == "docx-web-archive":
        data = rezipped_with_part_edited(SEED_RESUMES[seed], edits, "word/afchunk.mht")
    else:
        data = edited(SEED_RESUMES[seed], edits)
    try:
        detect_type(data)
        _, text = read_text(data)
    except InvalidResume as refused:
        assert refused.reason in REASONS
    else:
        assert text.encode("utf-8")


def test_a_truncated_docx_is_refused_as_corrupt():
    data = docx_resume()
    expect_invalid(data[: len(data) // 2], "corrupt")


def test_an_oversized_file_is_refused_before_parsing():
    expect_invalid(pdf_resume(), "too_large", IntakeLimits(max_bytes=100))


def test_a_pdf_over_the_page_limit_is_refused():
    expect_invalid(pdf_resume(pages=3), "too_many_pages", IntakeLimits(max_pages=2))


def test_a_pdf_page_that_cannot_be_read_is_left_out_and_the_others_read():
    good = b"BT /F1 12 Tf 72 720 Td (Python engineer, 8 years) Tj ET"
    broken = b"BT /F1 12 Tf 72 720 Td (Kubernetes Tj ET"  # a string that never ends
    result = process_resume(pdf_with_pages([broken, good]))
    assert (result.pages, result.text) == (2, "Python engineer, 8 years")
    assert (result.profile.skills, result.profile.years_of_experience) == (["python"], 8)
    # With no page to read, the file is corrupt, and the operator is told why.
    refused = expect_invalid(pdf_with_pages([broken]), "corrupt")
    assert refused.diagnostic == "page 1: PdfStreamError: Stream has ended unexpectedly"


def test_a_resume_filled_in_on_a_pdf_form_yields_the_text_typed_into_its_fields():
    # A form template's page holds only its labels; what the candidate typed is in the
    # fields, which a viewer draws but a page's text does not hold.
    data = pdf_form_resume(
        {
            "name": "Grace Hopper",
            "skills": "Rust, Docker\nKubernetes",
            "experience": "2014 - 2022 Platform engineer\n2022 - 2024 Staff engineer",
        }
    )
    result = process_resume(data)
    assert [line for line in result.text.splitlines() if line] == [
        "Curriculum vitae",
        "Grace Hopper",
        "Rust, Docker",
        "Kubernetes",
        "2014 - 2022 Platform engineer",
        "2022 - 2024 Staff engineer",
    ]
    assert (result.profile.skills, result.profile.years_of_experience) == (
        ["rust", "docker", "kubernetes"],
        10,
    )
    # A value the page shows too (a form flattened with its fields kept) is taken once; a
    # field left empty adds nothing.
    shown = process_resume(pdf_form_resume({"name": "Grace Hopper", "phone": ""}, ["Grace Hopper"]))
    assert shown.text.strip() == "Grace Hopper"
    # A form with nothing on its page but the fields is a resume too.
    assert process_resume(pdf_form_resume({"skills": "Python"}, [])).profile.skills == ["python"]


def test_a_pdf_whose_form_fields_cannot_be_read_is_read_from_its_pages():
    good = b"BT /F1 12 Tf 72 720 Td (Python engineer, 8 years) Tj ET"
    # A field whose parent's name is a number: pypdf fails building the field's full name.
    broken_form = b"<< /Fields [ << /FT /Tx /T (a) /Parent << /T 3 >> /V (Kubernetes) >> ] >>"
    checked, text = read_text(pdf_with_pages([good], acro_form=broken_form))
    assert text == "Python engineer, 8 years"
    [unread] = checked.unread_parts
    assert unread.startswith("form fields: TypeError: unsupported operand")


def test_a_pdf_without_text_is_refused():
    expect_invalid(pdf_resume(lines=[]), "no_text")


def test_a_pdf_whose_font_maps_letters_to_half_surrogate_pairs_is_read_as_utf8_text():
    # pypdf keeps what a ToUnicode map names, halves of a UTF-16 pair too; the text is
    # stored as UTF-8, which has no way to write them.
    data = pdf_with_page_content(
        b"BT /F1 12 Tf 72 720 Td (Python engineer, 5 years. AB) Tj ET",
        to_unicode={"41": "D800", "42": "DC00"},
    )
    result = process_resume(data)
    assert result.text.startswith("Python engineer, 5 years. \ufffd\ufffd")
    assert result.text.encode("utf-8")
    assert result.profile.skills == ["python"]


def test_a_pdf_with_more_text_than_a_resume_holds_is_refused():
    data = pdf_resume(pages=2)
    text_bytes = len(process_resume(data).text.encode("utf-8"))
    assert process_resume(data, IntakeLimits(max_text_bytes=text_bytes)).pages == 2
    refused = expect_invalid(data, "too_much_text", IntakeLimits(max_text_bytes=text_bytes - 1))
    assert f"It holds {text_bytes} bytes of text" in str(refused)


def test_skills_match_whole_words_and_aliases_only():
    assert extract_skills("Golang, k8s and Postgres; some JS") == [
        "javascript",
        "go",
        "postgresql",
        "kubernetes",
    ]
    assert extract_skills("Javanese pythonista") == []
    assert extract_skills("C++ and C# and .NET") == ["c++", "c#"]


def test_a_skill_of_several_words_is_found_across_a_wrapped_line():
    # A PDF's text breaks lines where the page did; justified text spaces words wider.
    text = "Machine\nlearning, Amazon Web\nServices and project  management"
    assert extract_skills(text) == ["aws", "machine learning", "project management"]
    assert extract_skills("machinelearning, project-management") == []


@pytest.mark.parametrize(
    ("text", "skills"),
    [
        ("\ufb02ask services, Air\ufb02ow", ["flask", "airflow"]),  # ligatures: fl as one letter
        ("\uff30\uff59\uff54\uff48\uff4f\uff4e, \uff33\uff31\uff2c", ["python", "sql"]),  # full width
        ("Post\u00adgreSQL, Kuber\u00adnetes", ["postgresql", "kubernetes"]),  # soft hyphens
        ("Py\u200bthon and Ter\u2060raform", ["python", "terraform"]),  # zero width
        # Hyphenated at the end of a line, as Word and LaTeX break justified text.
        (
            "Post\u00ad\ngreSQL and Kuber-\n  netes, Python-\nDjango",
            ["python", "postgresql", "django", "kubernetes"],
        ),
    ],
    ids=["ligatures", "full-width", "soft-hyphens", "zero-width", "hyphenated-lines"],
)
def test_skills_are_found_however_the_letters_are_encoded(text, skills):
    assert extract_skills(text) == skills


def test_skills_are_found_by_the_tools_names_not_by_words_that_mean_something_else():
    text = (
        "Sarah Jenkins, Cypress CA. I excel at Python, React Native and Spring Boot; Express.js "
        "and MongoDB on Microsoft Azure; CI/CD with GitHub Actions, Apache Cassandra, UX/UI; "
        "a swift learner, at the helm of a spring release; tableau de bord; Ruby is my sister."
    )
    assert extract_skills(text) == [
        "python",
        "react",
        "react native",
        "express.js",
        "spring boot",
        "mongodb",
        "cassandra",
        "azure",
        "github actions",
        "ci/cd",
        "ux design",
    ]


def test_each_way_of_writing_a_skill_names_one_skill():
    owners: dict[str, set[str]] = {}
    for skill, aliases in SKILLS.items():
        for alias in (skill, *aliases):
            owners.setdefault(alias.casefold(), set()).add(skill)
    assert {alias: skills for alias, skills in owners.items() if len(skills) > 1} == {}
    assert all(SKILL_BY_ALIAS[skill] == skill for skill in SKILLS)  # a skill's name is one way


# Text made of the ways skills are written, in any case, run together or apart, some with
# a letter re.I takes for i, s or k put in (the Turkish I's, the long s, the Kelvin sign):
# what the substring search before each pattern must not lose.
SPELLING = st.tuples(
    st.sampled_from(sorted(SKILL_BY_ALIAS)), st.sampled_from(["", "i\u0131", "i\u0130", "s\u017f", "k\u212a"])
).map(lambda spelled: spelled[0].replace(*spelled[1]) if spelled[1] else spelled[0])
SKILL_TEXT = st.lists(
    st.one_of(SPELLING, st.sampled_from([" ", "\n", "-\n", ", ", "/", ".", ""])), max_size=12
).map("".join)


@fuzz_settings(5 * FUZZ_EXAMPLES)
@given(text=SKILL_TEXT, upper=st.booleans())
def test_skills_found_are_those_every_pattern_finds(text, upper):
    text = text.upper() if upper else text
    searchable = _searchable(text)
    joined = _HYPHEN_AT_LINE_END.sub("", searchable)
    by_every_pattern = [
        skill
        for skill, pattern in _SKILL_PATTERNS.items()
        if pattern.search(searchable) or pattern.search(joined)
    ]
    assert extract_skills(text) == by_every_pattern


def test_a_docx_reads_the_hyphens_word_keeps_as_elements():
    # A non-breaking hyphen (Ctrl+Shift+-) keeps a year range on one line; an optional
    # hyphen marks where a word may break. Neither is a w:t.
    data = docx_with_run_characters(
        ["Analyst 2010", "noBreakHyphen", "2018 with Kuber", "softHyphen", "netes"]
    )
    result = process_resume(data)
    assert result.text == "Analyst 2010\u20112018 with Kuber\u00adnetes\n"
    assert (result.profile.skills, result.profile.years_of_experience) == (["kubernetes"], 8)


def test_a_pdf_that_draws_ligatures_yields_the_skills_spelled_with_them():
    # A font's ToUnicode map gives a ligature glyph as one character (LaTeX's fonts do):
    # pypdf reads "\ufb02ask", which is "flask" to the reader, as the page shows it.
    data = pdf_with_page_content(
        b"BT /F1 12 Tf 72 700 Td (\001ask and Air\001ow, 6 years) Tj ET", to_unicode={"01": "FB02"}
    )
    result = process_resume(data)
    assert "\ufb02ask" in result.text
    assert (result.profile.skills, result.profile.years_of_experience) == (["flask", "airflow"], 6)


@pytest.mark.parametrize(
    ("text", "years"),
    [
        ("\uff18 years with Python", 8),
        # Hyphens and dashes other than "-", "\u2013" and "\u2014": a hyphen, a minus sign.
        ("Analyst 2010\u20102014, Engineer 2016 \u2212 2020", 8),
        ("Over 12+ years in recruiting, 3 years managing", 12),
        ("7 + yrs of Python", 7),
        ("8 Jahre Berufserfahrung", 8),
        ("5 ans d\u2019exp\u00e9rience", 5),
        ("10 a\u00f1os de experiencia", 10),
        # One pass over the spaces, not one per way to split them: the old pattern's time on
        # the first grew as the square of the spaces (17 s for 64,000).
        ("5" + " " * 1_000_000 + "x", None),
        ("5" + " " * 1_000_000 + "years", 5),
        ("2010 - 2014 at A; 2013 to 2016 at B", 6),
        ("2019 - present", 7),
        # Months written with the years, as most resumes date their jobs.
        ("Jan 2015 \u2013 Mar 2020", 5),
        ("Sept. 2012 - Dec. 2014, January 2016 to March 2019", 5),
        ("01/2010 - 03/2014 and 04.2016 \u2013 09.2020", 8),
        ("2015-01 \u2013 2020-03", 5),
        ("Mar 2020 \u2013 Present", 6),
        # A job still held, as resumes in English write it beyond "present", and in German,
        # French and Spanish.
        ("Jan 2019 - Till Date", 7),
        ("2020 to date; 2010 - 2012", 8),
        ("2018 \u2013 ongoing", 8),
        ("M\u00e4rz 2019 bis heute", 7),
        ("2020 \u2013 aujourd\u2019hui, 2012 \u00e0 2014", 8),
        ("2019 - actualidad", 7),
        ("Born 1990 - date of birth", None),  # "date" is a job's end only after "to" or "till"
        # "to" and "a" join years as words only, not as a word's first letters.
        ("Best paper 2015 awarded 2019; 2016 tomorrow 2020", None),
        ("2015 - " + "Mar" + " " * 1_000_000 + "x", None),  # one pass over the spaces
        ("no dates at all", None),
        ("Born 1990", None),
    ],
)
def test_years_of_experience(text, years):
    assert extract_years_of_experience(text, today=date(2026, 11, 22)) == years


def test_the_file_store_keeps_bytes_by_content_address_once(tmp_path):
    store = LocalFileStore(tmp_path / "files")
    data = pdf_resume()
    ref = store.put(io.BytesIO(data), max_bytes=len(data))
    assert ref.startswith("sha256:")
    assert store.put(io.BytesIO(data), max_bytes=len(data)) == ref
    assert store.read(ref) == data
    assert len([p for p in (tmp_path / "files").rglob("*") if p.is_file()]) == 1


def test_the_file_store_refuses_oversized_streams_and_leaves_nothing(tmp_path):
    store = LocalFileStore(tmp_path / "files")
    with pytest.raises(FileTooLarge):
        store.put(io.BytesIO(b"x" * 1000), max_bytes=999)
    assert not [p for p in (tmp_path / "files").rglob("*") if p.is_file()]


@pytest.mark.parametrize("ref", ["../../etc/passwd", "sha256:../../x", "sha256:" + "g" * 64, "md5:abc"])
def test_the_file_store_refuses_references_that_are_not_its_own(tmp_path, ref):
    with pytest.raises(FileNotFound):
        LocalFileStore(tmp_path / "files").read(ref)
