"""Tests for searchsvc.ingest.corpus: corpus files into documents, bad files reported."""

from __future__ import annotations

import codecs
import gc
import gzip
import json
import os
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.ingest.corpus import files as corpus_files
from searchsvc.ingest.corpus.documents import Document, SkipKind, Skipped
from searchsvc.ingest.corpus.files import parse_file
from searchsvc.ingest.corpus.text import (
    decode_bytes,
    first_sentence,
    parse_html,
    parse_markdown,
    parse_text,
)
from searchsvc.ingest.corpus.walk import corpus_bytes, read_corpus

REAL_CORPUS = Path(__file__).resolve().parents[1] / "corpus"


def collect(root: Path, **kwargs) -> tuple[list[Document], list[Skipped]]:
    """Read a corpus folder into (documents, skipped reports)."""
    skipped: list[Skipped] = []
    docs = list(read_corpus(root, on_skip=skipped.append, **kwargs))
    return docs, skipped


def write(path: Path, content: str | bytes) -> Path:
    """Write a file (creating parent folders), text as UTF-8."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(content, str):
        content = content.encode("utf-8")
    path.write_bytes(content)
    return path


def jsonl(*objects: object) -> str:
    """Serialise objects as JSON Lines."""
    return "".join(json.dumps(o, ensure_ascii=False) + "\n" for o in objects)


@pytest.fixture(scope="module")
def real_docs() -> dict[str, Document]:
    docs, skipped = collect(REAL_CORPUS)
    assert skipped == []
    return {doc.id[:3]: doc for doc in docs}


# --- the five real scraped articles -----------------------------------------------------------


@pytest.mark.parametrize(
    ("prefix", "title"),
    [
        ("000", "Twitter prend son temps pour ouvrir un bureau à Paris"),
        ("001", "Twitter va ouvrir des bureaux à Paris au printemps 2013."),
        ("002", "A San Francisco, Bertrand Delanoë courtise Twitter"),
        ("003", "Six ans après, les entreprises ont adopté Twitter"),
        ("004", "Twitter reste un service connu mais peu utilisé en France"),
    ],
)
def test_real_corpus_title_is_headline_or_first_sentence(
    real_docs: dict[str, Document], prefix: str, title: str
) -> None:
    assert real_docs[prefix].title == title


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
@pytest.mark.parametrize(
    "boilerplate",
    [
        "Partager sur les réseaux sociaux",
        "Articles liés",
        "Leave a Reply",
        "Related",
        "Quitter la version mobile",
        "Masquer la biographie",
        "Lire aussi :",
        "Required fields are marked *",
    ],
)
def test_real_corpus_body_has_no_trailing_boilerplate(
    real_docs: dict[str, Document], prefix: str, boilerplate: str
) -> None:
    body = real_docs[prefix].body
    assert boilerplate not in body[-300:]
    assert body.endswith((".", "!", "?", "»"))


@pytest.mark.parametrize("prefix", ["000", "001", "002", "003", "004"])
def test_real_corpus_body_has_no_leading_rubric(
    real_docs: dict[str, Document], prefix: str
) -> None:
    doc = real_docs[prefix]
    assert not doc.body.startswith(("Marketing", "Cloud", "Subscribe"))
    assert "\n\n\n" not in doc.body
    assert doc.path == doc.id + ".txt"
    assert (doc.url, doc.date, doc.source) == (None, None, None)


@pytest.mark.parametrize(
    ("prefix", "start"),
    [
        ("000", "En rencontrant des candidats"),
        ("001", "Twitter va ouvrir des bureaux à Paris au printemps 2013. L'information"),
        ("002", "Bertrand Delanoë, en déplacement"),
        ("004", "Si Twitter est un site connu"),
    ],
)
def test_real_corpus_body_starts_after_headline(
    real_docs: dict[str, Document], prefix: str, start: str
) -> None:
    assert real_docs[prefix].body.startswith(start)


def test_read_corpus_order_is_sorted_and_deterministic() -> None:
    first = [doc.id for doc in read_corpus(REAL_CORPUS)]
    assert first == sorted(first)
    assert first == [doc.id for doc in read_corpus(str(REAL_CORPUS))]


# --- walking the folder ------------------------------------------------------------------------


def test_read_corpus_ids_come_from_nested_relative_paths(tmp_path: Path) -> None:
    write(tmp_path / "b.txt", "Titre B\n\nCorps B.")
    write(tmp_path / "sub" / "deep" / "a.txt", "Titre A\n\nCorps A.")
    write(tmp_path / "sub" / "c.md", "# Titre C\n\nCorps C.")
    docs, skipped = collect(tmp_path)
    assert [(d.id, d.path) for d in docs] == [
        ("b", "b.txt"),
        ("sub/c", "sub/c.md"),
        ("sub/deep/a", "sub/deep/a.txt"),
    ]
    assert skipped == []


def test_read_corpus_ignores_hidden_and_other_extensions(tmp_path: Path) -> None:
    write(tmp_path / ".hidden.txt", "Caché\n\nTexte.")
    write(tmp_path / ".git" / "notes.txt", "Caché\n\nTexte.")
    write(tmp_path / "image.png", b"\x89PNG\r\n\x1a\n\x00\x00")
    write(tmp_path / "data.json", "{}")
    write(tmp_path / "ok.TXT", "Visible\n\nTexte.")
    docs, skipped = collect(tmp_path)
    assert [d.id for d in docs] == ["ok"]
    # Issue 23: hidden entries are told (a folder once), though not counted as failures.
    assert skipped == [
        Skipped(".git", "hidden folder", kind=SkipKind.HIDDEN),
        Skipped(".hidden.txt", "hidden file", kind=SkipKind.HIDDEN),
    ]


@pytest.mark.parametrize(
    ("make", "error"),
    [
        (lambda p: p / "missing", FileNotFoundError),
        (lambda p: write(p / "file.rtf", "x"), ValueError),
    ],
)
def test_read_corpus_bad_root_raises_immediately(tmp_path: Path, make, error) -> None:
    with pytest.raises(error, match="corpus"):
        read_corpus(make(tmp_path))  # raises at call time, not on first iteration


# Issue 13: a corpus may be one file (a JSON Lines export, say).
def test_read_corpus_of_one_file(tmp_path: Path) -> None:
    write(tmp_path / "un.txt", "Titre\n\nCorps.")
    lines = [json.dumps({"id": f"j{i}", "title": "T", "body": "Corps"}) for i in range(3)]
    path = tmp_path / "lot.jsonl.gz"
    with gzip.open(path, "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
    assert [d.id for d in read_corpus(path)] == ["j0", "j1", "j2"]
    assert [(d.id, d.path) for d in read_corpus(tmp_path / "un.txt")] == [("un", "un.txt")]


def test_read_corpus_reports_every_byte_it_reads(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Titre\n\nCorps.")
    write(tmp_path / "vide.txt", "")
    lines = [json.dumps({"id": f"j{i}", "body": "mot " * 50}) for i in range(2000)]
    with gzip.open(tmp_path / "b.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    (tmp_path / "c.jsonl").write_text("\n".join(lines[:600]).replace('"j', '"k'))
    reads: list[int] = []
    docs = list(read_corpus(tmp_path, on_read=reads.append))
    assert len(docs) == 2601
    assert sum(reads) == corpus_bytes(tmp_path)
    assert len(reads) > 4 and all(n > 0 for n in reads)  # JSON Lines files bit by bit


def test_read_corpus_follows_symlinked_files_and_dirs(tmp_path: Path) -> None:
    outside = tmp_path / "outside"
    write(outside / "x.txt", "Titre X\n\nCorps X.")
    root = tmp_path / "root"
    root.mkdir()
    (root / "linkdir").symlink_to(outside, target_is_directory=True)
    (root / "link.txt").symlink_to(outside / "x.txt")
    # Issue 23: links out of the corpus are followed only when asked to.
    docs, skipped = collect(root, follow_outside_links=True)
    assert [d.id for d in docs] == ["link", "linkdir/x"]
    assert skipped == []


def test_read_corpus_symlink_loop_terminates_and_is_reported(tmp_path: Path) -> None:
    write(tmp_path / "a" / "doc.txt", "Titre\n\nCorps.")
    (tmp_path / "a" / "loop").symlink_to(tmp_path, target_is_directory=True)
    (tmp_path / "self.txt").symlink_to(tmp_path / "self.txt")
    docs, skipped = collect(tmp_path)
    assert [d.id for d in docs] == ["a/doc"]
    assert Skipped("a/loop", "symlink loop") in skipped
    assert Skipped("self.txt", "symlink loop") in skipped


def test_read_corpus_same_dir_linked_twice_is_read_once(tmp_path: Path) -> None:
    write(tmp_path / "a" / "doc.txt", "Titre\n\nCorps.")
    (tmp_path / "b").symlink_to(tmp_path / "a", target_is_directory=True)
    docs, skipped = collect(tmp_path)
    assert [d.id for d in docs] == ["a/doc"]
    assert [s.path for s in skipped] == ["b"]


def test_read_corpus_broken_symlink_is_reported(tmp_path: Path) -> None:
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    write(tmp_path / "ok.txt", "Titre\n\nCorps.")
    docs, skipped = collect(tmp_path)
    assert [d.id for d in docs] == ["ok"]
    assert skipped == [Skipped("gone.txt", "broken symlink")]


def test_read_corpus_fifo_is_not_opened(tmp_path: Path) -> None:
    os.mkfifo(tmp_path / "pipe.txt")
    docs, skipped = collect(tmp_path)
    assert docs == []
    assert skipped == [Skipped("pipe.txt", "not a regular file")]


def test_read_corpus_without_on_skip_does_not_crash(tmp_path: Path) -> None:
    write(tmp_path / "empty.txt", "")
    write(tmp_path / "bad.jsonl", "not json\n")
    (tmp_path / "gone.txt").symlink_to(tmp_path / "nowhere.txt")
    write(tmp_path / "ok.txt", "Titre\n\nCorps.")
    assert [d.id for d in read_corpus(tmp_path)] == ["ok"]


# --- bad files -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("content", "reason"),
    [
        (b"", "empty file"),
        (b"  \n\t\r\n  \n", "empty file"),
        (b"Titre\n\x00\x01\x02binaire", "not valid text (binary data)"),
        (bytes(range(1, 32)) * 20 + b"abc", "not valid text (binary data)"),
        (b"\xff\xfe" + b"\x00\xd8", "undecodable"),
    ],
)
def test_read_corpus_bad_file_is_skipped(tmp_path: Path, content: bytes, reason: str) -> None:
    write(tmp_path / "bad.txt", content)
    write(tmp_path / "good.txt", "Titre\n\nCorps.")
    docs, skipped = collect(tmp_path)
    assert [d.id for d in docs] == ["good"]
    assert [(s.path, s.line) for s in skipped] == [("bad.txt", None)]
    assert skipped[0].reason.startswith(reason)


def test_read_corpus_too_large_file_is_skipped(tmp_path: Path) -> None:
    write(tmp_path / "big.txt", "Titre\n\n" + "mot " * 100)
    write(tmp_path / "small.txt", "Titre\n\nCorps.")
    docs, skipped = collect(tmp_path, max_file_bytes=100)
    assert [d.id for d in docs] == ["small"]
    assert skipped == [Skipped("big.txt", "file too large (407 bytes > limit 100)")]


def test_read_corpus_too_large_file_is_never_opened(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "big.txt", "x" * 1000)

    def no_open(*args, **kwargs):
        raise AssertionError("a too-large file must not be opened")

    monkeypatch.setattr(corpus_files, "open", no_open, raising=False)
    docs, skipped = collect(tmp_path, max_file_bytes=10)
    assert docs == []
    assert skipped == [Skipped("big.txt", "file too large (1000 bytes > limit 10)")]


def test_read_corpus_permission_error_is_reported(tmp_path: Path, monkeypatch) -> None:
    write(tmp_path / "locked.txt", "Titre\n\nCorps.")
    write(tmp_path / "locked.jsonl", jsonl({"id": "j", "body": "b"}))

    def denied(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(corpus_files, "open", denied, raising=False)
    docs, skipped = collect(tmp_path)
    assert docs == []
    assert skipped == [
        Skipped("locked.jsonl", "permission denied"),
        Skipped("locked.txt", "permission denied"),
    ]


@pytest.mark.skipif(os.geteuid() == 0, reason="root can read files whatever their mode")
def test_read_corpus_chmod_000_is_reported(tmp_path: Path) -> None:
    locked = write(tmp_path / "locked.txt", "Titre\n\nCorps.")
    locked.chmod(0)
    try:
        docs, skipped = collect(tmp_path)
    finally:
        locked.chmod(0o644)
    assert docs == []
    assert skipped == [Skipped("locked.txt", "permission denied")]


def test_read_corpus_duplicate_ids_keep_first(tmp_path: Path) -> None:
    write(tmp_path / "a.md", "# Premier\n\nCorps.")
    write(tmp_path / "a.txt", "Second\n\nCorps.")
    docs, skipped = collect(tmp_path)
    assert [(d.id, d.title) for d in docs] == [("a", "Premier")]
    assert skipped == [Skipped("a.txt", "duplicate id 'a' (first seen in a.md)")]


# --- decoding and normalisation ------------------------------------------------------------


def test_read_corpus_cp1252_bytes_decode_to_accents(tmp_path: Path) -> None:
    text = "Le café de Noël à Paris\n\nÇa coûte 5 € – c’est « très » cher…"
    write(tmp_path / "cp.txt", text.encode("cp1252"))
    (doc,), _ = collect(tmp_path)
    assert doc.title == "Le café de Noël à Paris"
    assert doc.body == "Ça coûte 5 € – c’est « très » cher…"


@pytest.mark.parametrize(
    ("raw", "text"),
    [
        ("\ufeffTitre é".encode(), "Titre é"),
        ("Titre é".encode("utf-16"), "Titre é"),
        (b"caf\xe9 \x80", "café €"),
        (b"\xe9\x81", "é\x81"),  # cp1252 leaves 0x81 undefined: latin-1 fallback
    ],
)
def test_decode_bytes_handles_bom_cp1252_and_latin1(raw: bytes, text: str) -> None:
    assert decode_bytes(raw) == text


def test_read_corpus_bom_is_stripped(tmp_path: Path) -> None:
    write(tmp_path / "bom.txt", "\ufeffTitre avec BOM\n\nCorps.".encode())
    (doc,), _ = collect(tmp_path)
    assert doc.title == "Titre avec BOM"


def test_read_corpus_normalises_newlines_nfc_and_blank_runs(tmp_path: Path) -> None:
    write(tmp_path / "n.txt", "Titre\r\n\r\nCafe\u0301 un.  \r\n\r\n\r\n\r\nDeux.\rTrois.\n")
    (doc,), _ = collect(tmp_path)
    assert doc.body == "Café un.\n\nDeux.\nTrois."


# --- title heuristics --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "body"),
    [
        ("Un titre court\n\nLe corps.", "Un titre court", "Le corps."),
        ("Subscribe\n\nUn titre\n\nCloud\n\nLe corps.", "Un titre", "Le corps."),
        ("Cloud\n\nUn vrai titre ici\n\nLe corps.", "Un vrai titre ici", "Le corps."),
        (
            "Deux mots\n\nLe premier paragraphe. Suite.",
            "Deux mots",
            "Le premier paragraphe. Suite.",
        ),
        ("Une phrase finie.\n\nLa suite.", "Une phrase finie.", None),
        ("Phrase une. Phrase deux\n\nFin.", "Phrase une.", None),
        ("Pourquoi Twitter ?\n\nParce que.", "Pourquoi Twitter ?", "Parce que."),
        ("Un texte coupé à la\nligne suivante. Fin.", "Un texte coupé à la ligne suivante.", None),
        ("Titre seul", "Titre seul", "Titre seul"),
        ("Titre\n\nCorps.\n\nLire aussi :\n\nPartager\n\nTweet", "Titre", "Corps."),
    ],
)
def test_parse_text_picks_headline_or_first_sentence(text: str, title: str, body) -> None:
    got_title, got_body = parse_text(text)
    assert got_title == title
    assert got_body == (body if body is not None else text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("Bonjour le monde. Deuxième phrase.", "Bonjour le monde."),
        ("M. Dupont est venu. Puis parti.", "M. Dupont est venu."),
        ("Yahoo ! Comment ?", "Yahoo !"),
        ("Il a dit « oui. » Ensuite.", "Il a dit « oui. »"),
        ("Sans ponctuation finale", "Sans ponctuation finale"),
        ("Premier paragraphe\n\nSecond. Paragraphe.", "Premier paragraphe"),
    ],
)
def test_first_sentence_cuts_at_sentence_end(text: str, expected: str) -> None:
    assert first_sentence(text) == expected


def test_first_sentence_long_is_cut_on_word_boundary() -> None:
    title = first_sentence("mot " * 100)
    assert len(title) <= 200
    assert title.endswith("mot…")


# --- Markdown ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "title", "body"),
    [
        (
            "# Le titre\n\nDu texte.\n\n## Section\n\nPlus.",
            "Le titre",
            "Du texte.\n\nSection\n\nPlus.",
        ),
        ("Intro.\n\n# Titre #\n\nTexte.", "Titre", "Intro.\n\nTexte."),
        ("Titre Setext\n=====\n\nTexte.", "Titre Setext", "Texte."),
        ("---\ntitle: Méta\n---\nTexte.", "Méta", "Texte."),
        (
            "```\n# pas un titre\n```\n\n# Vrai titre\n\nx",
            "Vrai titre",
            "# pas un titre\n\nx",  # code kept, its fence is markup
        ),
        ("Pas de titre ici\n\nTexte.", "Pas de titre ici", "Texte."),
    ],
)
def test_parse_markdown_title_from_first_h1(text: str, title: str, body: str) -> None:
    assert parse_markdown(text) == (title, body)


# --- HTML --------------------------------------------------------------------------------------

PAGE = """<!DOCTYPE html>
<html><head><title>Le  titre &amp; la page</title>
<style>body { color: red }</style><script>var x = "<p>caché</p>";</script></head>
<body><!-- commentaire --><h1>Grand titre</h1>
<p>Premier   paragraphe avec <b>gras</b> et &eacute;l&#233;ment&nbsp;!</p>
<noscript>Activez JS</noscript><template><p>modèle</p></template>
<ul><li>Un</li><li>Deux</li></ul><p>Ligne<br>coupée</p></body></html>"""


def test_parse_html_title_body_and_hidden_parts() -> None:
    title, body = parse_html(PAGE)
    assert title == "Grand titre"  # the <h1> before the <title> (issue 28)
    assert body == "Premier paragraphe avec gras et élément !\n\nUn\n\nDeux\n\nLigne coupée"


@pytest.mark.parametrize(
    ("html", "title"),
    [
        ("<h1>Depuis le h1</h1><p>Texte.</p>", "Depuis le h1"),
        ("<p>Première phrase. Seconde.</p>", "Première phrase."),
        ("<html><title>Non fermé<p>x", "Non fermé<p>x"),  # as browsers read it
    ],
)
def test_parse_html_title_fallbacks(html: str, title: str) -> None:
    assert parse_html(html)[0] == title


@pytest.mark.parametrize(
    "html",
    ["<p>a<b>b</p></i><div", "<<>><!--", "</html><p>&bogus; &#xZZ;</p>", "<![CDATA[x", "<!x"],
)
def test_parse_html_malformed_does_not_raise(html: str) -> None:
    title, body = parse_html(html)
    assert isinstance(title, str)
    assert isinstance(body, str)


def test_read_corpus_reads_html_and_skips_pages_without_text(tmp_path: Path) -> None:
    write(tmp_path / "page.html", PAGE)
    write(tmp_path / "vide.htm", "<html><script>x()</script></html>")
    docs, skipped = collect(tmp_path)
    assert [(d.id, d.title) for d in docs] == [("page", "Grand titre")]
    assert skipped == [Skipped("vide.htm", "no text content")]


# --- JSON Lines --------------------------------------------------------------------------------


def test_read_corpus_jsonl_good_and_bad_lines(tmp_path: Path) -> None:
    lines = [
        json.dumps({"id": "a", "title": "Titre A", "body": "Corps A.", "url": "http://x", "k": 1}),
        "",
        "{not json",
        json.dumps(["a", "list"]),
        json.dumps({"id": "b", "title": "Titre B"}),
        json.dumps({"title": "Sans id", "body": "x"}),
        json.dumps({"id": "c", "title": 3, "body": "x"}),
        json.dumps({"id": "d", "body": ["x"]}),
        json.dumps({"id": 7, "body": "Pas de titre. Suite.", "date": "2012-09-28", "source": "s"}),
        json.dumps({"id": "a", "title": "Doublon", "body": "x"}),
    ]
    write(tmp_path / "docs.jsonl", "\n".join(lines) + "\n")
    docs, skipped = collect(tmp_path)
    assert docs == [
        Document("a", "Titre A", "Corps A.", "docs.jsonl", url="http://x"),
        Document(
            "7", "Pas de titre.", "Pas de titre. Suite.", "docs.jsonl", None, "2012-09-28", "s"
        ),
    ]
    assert skipped == [
        Skipped(
            "docs.jsonl",
            "invalid JSON at column 2: expecting property name enclosed in double quotes",
            3,
        ),
        Skipped("docs.jsonl", "not a JSON object (list)", 4),
        Skipped("docs.jsonl", "missing field 'body'", 5),
        Skipped("docs.jsonl", "missing field 'id'", 6),
        Skipped("docs.jsonl", "field 'title' is not a string", 7),
        Skipped("docs.jsonl", "field 'body' is not a string", 8),
        Skipped("docs.jsonl", "duplicate id 'a' (first seen in docs.jsonl, line 1)", 10),
    ]


def test_read_corpus_jsonl_gz_is_streamed(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "docs.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(jsonl(*({"id": f"d{i}", "title": f"T{i}", "body": "Été."} for i in range(50))))
    docs, skipped = collect(tmp_path)
    assert [d.id for d in docs] == [f"d{i}" for i in range(50)]
    assert docs[0].path == "docs.jsonl.gz"
    assert docs[0].body == "Été."
    assert skipped == []


def test_read_corpus_jsonl_overlong_line_is_skipped_with_line_number(tmp_path: Path) -> None:
    big = {"id": "big", "body": "x" * 500}
    write(tmp_path / "d.jsonl", jsonl({"id": "a", "body": "a"}, big, {"id": "c", "body": "c"}))
    docs, skipped = collect(tmp_path, max_file_bytes=100)
    assert [d.id for d in docs] == ["a", "c"]
    length = len(json.dumps(big))
    assert skipped == [Skipped("d.jsonl", f"line too large ({length} bytes > limit 100)", 2)]


def test_read_corpus_jsonl_duplicate_of_file_id(tmp_path: Path) -> None:
    write(tmp_path / "a.txt", "Titre\n\nCorps.")
    write(tmp_path / "b.jsonl", jsonl({"id": "a", "body": "autre"}))
    docs, skipped = collect(tmp_path)
    assert [d.path for d in docs] == ["a.txt"]
    assert skipped == [Skipped("b.jsonl", "duplicate id 'a' (first seen in a.txt)", 1)]


@pytest.mark.parametrize(
    ("name", "content", "reason", "line"),
    [
        ("empty.jsonl", b"\n\n", "empty file", None),
        ("nul.jsonl", b'{"id": "x"}\x00\n', "not valid text (binary data)", 1),
        ("fake.jsonl.gz", b"not gzip at all", "corrupt gzip data", 1),
        ("cut.jsonl.gz", gzip.compress(b'{"id": "a", "body": "b"}\n' * 20)[:-12], "corrupt", 2),
    ],
)
def test_read_corpus_bad_jsonl_file_is_reported(
    tmp_path: Path, name: str, content: bytes, reason: str, line: int | None
) -> None:
    write(tmp_path / name, content)
    docs, skipped = collect(tmp_path)
    assert len(skipped) == 1
    assert skipped[0].path == name
    assert skipped[0].reason.startswith(reason)
    if name.startswith("cut"):
        assert [d.id for d in docs] == ["a"]  # first doc read before the damage, rest duplicates
        assert skipped[0].line is not None
    else:
        assert docs == []
        assert skipped[0].line == line


def test_read_corpus_jsonl_bom_and_cp1252_lines_are_decoded(tmp_path: Path) -> None:
    raw = codecs.BOM_UTF8 + jsonl({"id": "a", "body": "Été"}).encode()
    raw += jsonl({"id": "b", "body": "Noël à Paris"}).encode("cp1252")
    write(tmp_path / "d.jsonl", raw)
    docs, skipped = collect(tmp_path)
    assert [(d.id, d.body) for d in docs] == [("a", "Été"), ("b", "Noël à Paris")]
    assert skipped == []


def test_read_corpus_abandoned_midway_closes_files(tmp_path: Path) -> None:
    with gzip.open(tmp_path / "docs.jsonl.gz", "wt", encoding="utf-8") as fh:
        fh.write(jsonl({"id": "a", "body": "x"}, {"id": "b", "body": "y"}))
    iterator = read_corpus(tmp_path)
    assert next(iterator).id == "a"
    del iterator
    gc.collect()  # a leaked file would raise ResourceWarning (an error under our pytest settings)


# --- misc API --------------------------------------------------------------------------------


def test_content_hash_depends_on_content_not_location() -> None:
    doc = Document("a", "Titre", "Corps", "a.txt")
    assert doc.content_hash == Document("b", "Titre", "Corps", "b.md").content_hash
    assert len(doc.content_hash) >= 32
    int(doc.content_hash, 16)
    changed = [
        Document("a", "Titre", "Corps!", "a.txt"),
        Document("a", "Titre!", "Corps", "a.txt"),
        Document("a", "Titre", "Corps", "a.txt", url="u"),
        Document("a", "Titre", "Corps", "a.txt", date="d"),
        Document("a", "Titre", "Corps", "a.txt", source="s"),
        Document("a", "TitreC", "orps", "a.txt"),
    ]
    assert len({doc.content_hash, *(d.content_hash for d in changed)}) == len(changed) + 1


def test_parse_file_reads_one_file_relative_to_root(tmp_path: Path) -> None:
    path = write(tmp_path / "sous" / "x.md", "# Titre\n\nCorps.")
    assert list(parse_file(path, tmp_path)) == [Document("sous/x", "Titre", "Corps.", "sous/x.md")]


@settings(max_examples=60, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8"), max_size=300))
def test_parsers_never_raise_on_arbitrary_text(text: str) -> None:
    for parse in (parse_text, parse_markdown, parse_html):
        title, body = parse(text)
        assert isinstance(title, str)
        assert isinstance(body, str)
    assert len(parse_text(text)[0]) <= 200


def test_read_corpus_jsonl_control_character_reason_is_whole(tmp_path: Path) -> None:
    # Issue 11: the parser's "Invalid control character at" was cut before the position.
    (tmp_path / "docs.jsonl").write_text('{"id": "a", "body": "un\tdeux"}\n', encoding="utf-8")
    skipped: list[Skipped] = []
    assert list(read_corpus(tmp_path, on_skip=skipped.append)) == []
    assert skipped == [
        Skipped(
            "docs.jsonl",
            "invalid JSON at column 24: invalid control character (a tab or line break "
            "inside a string must be written \\t or \\n)",
            1,
        )
    ]
