"""Documents as sites and archives write them (issue 28): Markdown with front matter, news
pages with their chrome, PDF, OpenDocument and Word files, each built here, read into the one
mapping (title, body, date, source, url), and what no reader may let through: markup,
boilerplate, a damaged file taken for a document."""

from __future__ import annotations

import datetime as dt
import io
import sys
import zipfile
from pathlib import Path

import pytest

from searchsvc.engine.results import Filters
from searchsvc.engine.search import SearchEngine
from searchsvc.ingest import office
from searchsvc.ingest.corpus.documents import Document, SkipKind, Skipped
from searchsvc.ingest.corpus.walk import read_corpus
from searchsvc.ingest.dates import DateError, iso_date
from searchsvc.ingest.indexer import reindex
from searchsvc.testing import pdf_bytes, write_files

# -- files made here -----------------------------------------------------------------------------

MARKDOWN = """---
title: "Marathon : un record sous la pluie"
date: 2024-08-03
source: Le Quotidien du Val
url: https://quotidien.example/sport/marathon
tags: [sport, course]
---
# Marathon : un record sous la pluie

Plus de trois mille coureurs ont pris le **départ** du marathon, dit [notre
correspondant](https://quotidien.example/auteurs/lea), malgré la pluie.

![Les coureurs sur le pont du canal](pont.jpg)

## Le vainqueur

Le vainqueur a bouclé la course en `2 h 10 min`, un *record* pour l'épreuve.

```
temps = "2:10:04"
```
"""

NEWS_PAGE = """<!doctype html>
<html lang="fr"><head><meta charset="utf-8">
<title>Sécheresse : les agriculteurs inquiets | Le Quotidien du Val</title>
<meta property="og:site_name" content="Le Quotidien du Val">
<meta property="article:published_time" content="2024-08-03T14:00:00+02:00">
<link rel="canonical" href="https://quotidien.example/region/secheresse">
</head><body>
<div class="cookie-banner"><p>Nous utilisons des cookies pour mesurer l'audience et vous
proposer des publicités adaptées. En poursuivant votre navigation, vous acceptez leur
utilisation.</p><button>Accepter</button></div>
<header><nav><ul><li><a href="/">Accueil</a></li><li><a href="/compte">Mon compte</a></li>
<li><a href="/podcasts">Tous les podcasts</a></li></ul></nav></header>
<main><article><h1>Sécheresse : les agriculteurs inquiets</h1>
<div class="share"><a href="#">Partager sur Facebook</a></div>
<p>La sécheresse qui frappe le département depuis juin inquiète les agriculteurs de la
vallée, qui voient leurs récoltes menacées pour la deuxième année de suite.</p>
<h2>Des restrictions renforcées</h2>
<p>Les restrictions d'eau ont été renforcées par la préfecture pour la troisième fois, et
certains exploitants envisagent déjà de réduire leurs surfaces de maïs l'an prochain.</p>
<div class="paywall"><p>Abonnez-vous pour lire la suite de nos articles : le premier mois
offert, puis 9,99 euros par mois, sans engagement de durée.</p></div>
</article>
<aside><h3>Les plus lus</h3><ol><li><a href="/a1">Enquête sur la disparition du lac de
montagne qui inquiète les habitants</a></li></ol></aside>
<section class="comments"><h3>Réagir à cet article</h3><p>Connectez-vous pour commenter et
rejoindre la discussion avec nos lecteurs.</p></section></main>
<footer><p>© 2024 Le Quotidien du Val — Tous droits réservés. Mentions légales.</p></footer>
</body></html>"""

# Words that only the chrome of NEWS_PAGE holds: none may reach the index.
CHROME_WORDS = ["cookies", "podcasts", "Facebook", "Abonnez", "disparition", "Connectez", "droits"]


PDF = pdf_bytes(
    [
        ["Rapport annuel de la médiathèque", "Les prêts de livres ont augmenté cette année."],
        ["Le fonds de bandes dessinées a doublé grâce à un don."],
    ],
    {"Title": "Rapport de la médiathèque", "CreationDate": "D:20240803140000+02'00'"},
)


def make_docx(title: str | None = "Compte rendu du conseil", created=None) -> bytes:
    import docx

    document = docx.Document()
    if title is not None:
        document.core_properties.title = title
    document.core_properties.created = created or dt.datetime(2024, 8, 3, 14, 0)
    document.add_heading("Compte rendu du conseil", level=1)
    document.add_paragraph("Le conseil municipal a adopté le budget de la ville mardi soir.")
    table = document.add_table(rows=1, cols=2)
    table.rows[0].cells[0].text = "Budget"
    table.rows[0].cells[1].text = "douze millions"
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


def make_odt() -> bytes:
    from odf import dc, meta, text
    from odf.opendocument import OpenDocumentText

    document = OpenDocumentText()
    document.meta.addElement(dc.Title(text="Horaires de la bibliothèque"))
    document.meta.addElement(meta.CreationDate(text="2024-08-03T09:30:00"))
    document.text.addElement(text.H(outlinelevel=1, text="Nouveaux horaires"))
    paragraph = text.P(text="La bibliothèque ouvre le dimanche")
    paragraph.addElement(text.S(c=3))
    paragraph.addText("après-midi dès septembre.")
    document.text.addElement(paragraph)
    out = io.BytesIO()
    document.write(out)
    return out.getvalue()


def read(root: Path) -> tuple[dict[str, Document], list[Skipped]]:
    skipped: list[Skipped] = []
    docs = {d.id: d for d in read_corpus(root, on_skip=skipped.append)}
    return docs, skipped


# -- the mapping, field by field -------------------------------------------------------------


def test_markdown_front_matter_and_plain_text_body(tmp_path):
    docs, skipped = read(write_files(tmp_path, {"sport/marathon.md": MARKDOWN}))
    doc = docs["sport/marathon"]
    assert skipped == []
    assert doc.title == "Marathon : un record sous la pluie"
    assert doc.date == "2024-08-03"
    assert doc.source == "Le Quotidien du Val"
    assert doc.url == "https://quotidien.example/sport/marathon"
    assert doc.body.split("\n\n") == [
        "Plus de trois mille coureurs ont pris le départ du marathon, dit notre\n"
        "correspondant, malgré la pluie.",
        "Les coureurs sur le pont du canal",  # the image's alt text
        "Le vainqueur",  # a heading: a passage of its own
        "Le vainqueur a bouclé la course en 2 h 10 min, un record pour l'épreuve.",
        'temps = "2:10:04"',  # code kept
    ]
    for markup in ("**", "](", "![", "`", "# ", "---", "tags"):
        assert markup not in doc.body


def test_markdown_french_titles_stay_text_and_drafts_are_left_out(tmp_path):
    files = {
        "non.md": "---\ntitle: Non\ndraft: false\n---\nLe référendum a dit non.",
        "brouillon.md": "---\ntitle: Pas prêt\ndraft: true\n---\nTexte à relire.",
        "oui.md": "---\ntitle: Oui\ndraft: yes\n---\nTexte.",
    }
    docs, skipped = read(write_files(tmp_path, files))
    assert docs["non"].title == "Non"  # YAML 1.1 would have read False
    assert sorted(docs) == ["non"]
    assert sorted(s.path for s in skipped) == ["brouillon.md", "oui.md"]
    assert all(s.kind is SkipKind.REFUSED and "draft" in s.reason for s in skipped)


def test_html_page_metadata_and_article_without_chrome(tmp_path):
    docs, skipped = read(write_files(tmp_path, {"region/secheresse.html": NEWS_PAGE}))
    doc = docs["region/secheresse"]
    assert skipped == []
    assert doc.title == "Sécheresse : les agriculteurs inquiets"
    assert doc.date == "2024-08-03"
    assert doc.source == "Le Quotidien du Val"
    assert doc.url == "https://quotidien.example/region/secheresse"
    paragraphs = doc.body.split("\n\n")
    assert paragraphs[1] == "Des restrictions renforcées"  # the subheading, its own passage
    assert len(paragraphs) == 3
    for word in CHROME_WORDS:
        assert word.casefold() not in doc.body.casefold(), word


@pytest.mark.parametrize(
    ("head", "title", "date", "url"),
    [
        (
            '<meta property="og:title" content="Le titre social"><title>X | Site</title>'
            '<meta name="date" content="3 août 2024"><meta property="og:url" '
            'content="https://site.example/a">',
            "Le titre social",
            "2024-08-03",
            "https://site.example/a",
        ),
        ("<title>Le titre seul | Le Site</title>", "Le titre seul", None, None),
        (
            '<title>Un titre – Le Site</title><meta property="og:site_name" content="Le Site">'
            '<link rel="canonical" href="javascript:alert(1)">',
            "Un titre",
            None,
            None,
        ),
    ],
)
def test_html_title_date_and_url_sources(tmp_path, head, title, date, url):
    body = "<p>" + "Le conseil municipal a voté le budget de la ville pour l'année. " * 3 + "</p>"
    page = f"<html><head>{head}</head><body>{body}</body></html>"
    docs, skipped = read(write_files(tmp_path, {"p.html": page}))
    assert (docs["p"].title, docs["p"].date, docs["p"].url) == (title, date, url)
    assert [s.reason.split(" (")[0] for s in skipped] == (
        ["url dropped"] if "javascript" in head else []
    )


def test_html_time_element_dates_a_page_without_meta(tmp_path):
    page = (
        "<html><body><article><h1>Titre</h1><time datetime='2024-08-03'>samedi</time>"
        "<p>Un texte assez long pour être le corps de cet article de presse régionale.</p>"
        "</article></body></html>"
    )
    docs, _ = read(write_files(tmp_path, {"t.html": page}))
    assert docs["t"].date == "2024-08-03"


def test_pdf_text_per_page_title_and_date(tmp_path):
    docs, skipped = read(write_files(tmp_path, {"rapport.pdf": PDF}))
    doc = docs["rapport"]
    assert skipped == []
    assert doc.title == "Rapport de la médiathèque"
    assert doc.date == "2024-08-03"
    assert (doc.source, doc.url) == (None, None)
    first, second = doc.body.split("\n\n")
    assert "Les prêts de livres ont augmenté" in first
    assert second == "Le fonds de bandes dessinées a doublé grâce à un don."


def test_docx_paragraphs_table_title_and_date(tmp_path):
    docs, skipped = read(write_files(tmp_path, {"conseil.docx": make_docx()}))
    doc = docs["conseil"]
    assert skipped == []
    assert doc.title == "Compte rendu du conseil"
    assert doc.date == "2024-08-03"
    assert doc.body == (
        "Le conseil municipal a adopté le budget de la ville mardi soir.\n\nBudget douze millions"
    )


def test_odt_paragraphs_title_and_date(tmp_path):
    docs, skipped = read(write_files(tmp_path, {"horaires.odt": make_odt()}))
    doc = docs["horaires"]
    assert skipped == []
    assert doc.title == "Horaires de la bibliothèque"
    assert doc.date == "2024-08-03"
    assert doc.body == (
        "Nouveaux horaires\n\nLa bibliothèque ouvre le dimanche   après-midi dès septembre."
    )


def test_office_file_without_title_takes_its_first_sentence(tmp_path):
    docs, _ = read(write_files(tmp_path, {"sans.docx": make_docx(title=None)}))
    assert docs["sans"].title == "Compte rendu du conseil"


# -- dates ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "value",
    [
        "2024-08-03",
        "2024-08-03T14:00:00+02:00",
        "2024-08-03T23:30:00-05:00",  # the date as written, not moved to UTC
        "3 août 2024",
        "3 Août 2024",
        "samedi 3 aout 2024",
        "03/08/2024",
        "D:20240803140000+02'00'",
        "Sat, 03 Aug 2024 14:00:00 +0200",
        dt.date(2024, 8, 3),
        dt.datetime(2024, 8, 3, 14, 0, tzinfo=dt.UTC),
    ],
)
def test_dates_in_every_form_are_iso_dates(value):
    assert iso_date(value) == "2024-08-03"


@pytest.mark.parametrize(
    ("value", "why"),
    [
        ("2023-02-29", "no such day"),
        ("hier", "not a date in a known form"),
        ("3 brumaire 2024", "no French month"),
        ("0224-08-03", "year out of range"),
        (True, "not a date"),
    ],
)
def test_what_is_not_a_date_is_refused_with_a_reason(value, why):
    with pytest.raises(DateError, match=why):
        iso_date(value)


@pytest.mark.parametrize(
    ("name", "content"),
    [
        ("a.md", "---\ndate: 2023-02-29\n---\nTexte du document."),
        ("a.html", "<meta name='date' content='demain'><p>Texte du document.</p>"),
    ],
)
def test_a_bad_date_is_dropped_and_told_the_document_indexed(tmp_path, name, content):
    docs, skipped = read(write_files(tmp_path, {name: content}))
    assert docs["a"].date is None and docs["a"].body == "Texte du document."
    [report] = skipped
    assert report.kind is SkipKind.DROPPED and report.dropped == "date"
    assert report.reason.startswith("date dropped (")
    assert report.summary_words == ("date dropped", "dates dropped")


# -- damaged files, scans, missing libraries, limits -------------------------------------------


@pytest.mark.parametrize(
    ("name", "content", "reason"),
    [
        ("a.md", "---\ntitle: [non fermé\n---\nTexte.", "front matter is not valid YAML"),
        ("a.html", b"<html>\x00\x01\x02\x00 binaire" * 20, "not valid text"),
        ("a.pdf", PDF[: len(PDF) // 3], "damaged PDF"),
        ("a.pdf", b"%PDF-1.4\nrien de plus", "damaged PDF"),
        ("a.docx", b"PK\x03\x04 pas un zip", "damaged Word file"),
        ("a.docx", make_docx()[:2000], "damaged Word file"),
        ("a.odt", b"pas un zip du tout", "damaged OpenDocument file"),
        ("a.odt", make_odt()[:600], "damaged OpenDocument file"),
    ],
)
def test_a_damaged_file_of_each_kind_is_one_skipped_file(tmp_path, name, content, reason):
    docs, skipped = read(write_files(tmp_path, {name: content, "ok.txt": "Un texte sain."}))
    assert sorted(docs) == ["ok"]
    [report] = skipped
    assert report.path == name and report.kind is SkipKind.FAULT
    assert report.reason.startswith(reason), report.reason
    assert "\n" not in report.reason


def test_a_scanned_pdf_is_reported_not_indexed_empty(tmp_path):
    docs, skipped = read(write_files(tmp_path, {"scan.pdf": pdf_bytes([[], []])}))
    assert docs == {}
    assert [(s.path, s.kind) for s in skipped] == [("scan.pdf", SkipKind.FAULT)]
    assert "no text in the PDF" in skipped[0].reason and "OCR" in skipped[0].reason


@pytest.mark.parametrize(("name", "module"), [("a.pdf", "pypdf"), ("a.docx", "docx")])
def test_a_missing_library_is_one_line_naming_the_extra(tmp_path, monkeypatch, name, module):
    content = PDF if name.endswith(".pdf") else make_docx()
    monkeypatch.setitem(sys.modules, module, None)  # import now fails
    docs, skipped = read(write_files(tmp_path, {name: content}))
    assert docs == {}
    [report] = skipped
    assert report.kind is SkipKind.FAULT
    assert "not installed: pip install 'searchsvc[office]'" in report.reason


def test_a_pdf_over_the_page_limit_is_partly_read_and_told(tmp_path, monkeypatch):
    monkeypatch.setattr(office, "OFFICE_MAX_PAGES", 2)
    pdf = pdf_bytes([[f"Page numéro {n} du long rapport."] for n in range(1, 6)])
    docs, skipped = read(write_files(tmp_path, {"long.pdf": pdf}))
    assert docs["long"].body.split("\n\n") == [
        "Page numéro 1 du long rapport.",
        "Page numéro 2 du long rapport.",
    ]
    [report] = skipped
    assert report.kind is SkipKind.DROPPED and report.dropped == "text"
    assert report.reason == "partly read: first 2 pages of 5 read"
    assert report.summary_words[0] == "file partly read"


def test_text_and_time_limits_stop_a_file(tmp_path, monkeypatch):
    monkeypatch.setattr(office, "OFFICE_MAX_TEXT_CHARS", 40)
    docs, skipped = read(write_files(tmp_path, {"r.pdf": PDF}))
    assert len(docs["r"].body) <= 40
    assert [s.reason for s in skipped] == [
        "partly read: text over 40 characters, the rest left out (1 pages of 2 read)"
    ]
    monkeypatch.setattr(office, "OFFICE_MAX_TEXT_CHARS", 10_000)
    monkeypatch.setattr(office, "OFFICE_MAX_SECONDS", -1.0)  # spent before the first page
    docs, skipped = read(write_files(tmp_path / "b", {"r.pdf": PDF}))
    assert docs == {} and "no text read from the PDF" in skipped[0].reason


def test_a_zip_bomb_is_refused_before_it_is_unzipped(tmp_path, monkeypatch):
    monkeypatch.setattr(office, "OFFICE_MAX_UNZIPPED_BYTES", 100_000)
    bomb = io.BytesIO()
    with zipfile.ZipFile(bomb, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("mimetype", "application/vnd.oasis.opendocument.text")
        archive.writestr("content.xml", b" " * 1_000_000)
    docs, skipped = read(write_files(tmp_path, {"bombe.odt": bomb.getvalue()}))
    assert docs == {} and "unzips to 1,000,039 bytes" in skipped[0].reason


# -- the whole path: an index of every kind ------------------------------------------------------


@pytest.fixture(scope="module")
def formats_engine(tmp_path_factory):
    root = tmp_path_factory.mktemp("formats")
    corpus = write_files(
        root / "corpus",
        {
            "sport/marathon.md": MARKDOWN,
            "region/secheresse.html": NEWS_PAGE,
            "archives/rapport.pdf": PDF,
            "archives/conseil.docx": make_docx(),
            "archives/horaires.odt": make_odt(),
        },
    )
    report = reindex(corpus, root / "index", full=True)
    assert report.added == 5 and report.skipped == [] and report.dropped == []
    engine = SearchEngine(root / "index")
    yield engine
    engine.close()


@pytest.mark.parametrize(
    ("word", "doc_id"),
    [
        ("coureurs", "sport/marathon"),
        ("sécheresse", "region/secheresse"),
        ("médiathèque", "archives/rapport"),
        ("budget", "archives/conseil"),
        ("bibliothèque", "archives/horaires"),
    ],
)
def test_every_document_is_found_by_a_date_filter(formats_engine, word, doc_id):
    hits = formats_engine.search(word, filters=Filters(date_from="2024", date_to="2024-08")).hits
    assert [(h.id, h.date) for h in hits] == [(doc_id, "2024-08-03")]
    assert formats_engine.search(word, filters=Filters(date_from="2025")).total == 0


def test_source_and_url_reach_the_hits(formats_engine):
    marathon = formats_engine.search("marathon", filters=Filters(date_from="2024")).hits
    assert [(h.id, h.source, h.url) for h in marathon] == [
        ("sport/marathon", "Le Quotidien du Val", "https://quotidien.example/sport/marathon")
    ]


@pytest.mark.parametrize("word", CHROME_WORDS)
def test_no_boilerplate_word_is_found(formats_engine, word):
    assert formats_engine.search(word).total == 0


def test_snippets_hold_no_markup(formats_engine):
    for query in ("départ", "correspondant", "vainqueur", "coureurs", "temps"):
        for hit in formats_engine.search(query).hits:
            text = hit.snippet.replace("<mark>", "").replace("</mark>", "")
            for markup in ("**", "](", "![", "`"):
                assert markup not in text, (query, hit.snippet)
