"""A corpus file's text made plain (decoded, normalised) and split into a title and a body,
site chrome left out."""

from __future__ import annotations

import codecs
import re
import unicodedata
from collections.abc import Iterator

from searchsvc.ingest.extracted import Extracted, FormatError
from searchsvc.ingest.html import read_html
from searchsvc.ingest.markdown import read_markdown
from searchsvc.settings import TITLE_MAX_CHARS

# Whole-line patterns (case-insensitive) of site chrome found at the start of scraped articles.
LEADING_BOILERPLATE = [
    r"subscribe",
    r"s[’']abonner",
    r"abonnez-vous",
    r"menu",
    r"accueil",
    r"publicit[ée]",
    r"advertisement",
    r"se connecter",
    r"connexion",
    r"rechercher",
    r"search",
    r"skip to (main )?content",
    r"aller au contenu( principal)?",
    r"partager",
    r"share",
    r"tweet",
]

# Whole-line patterns (case-insensitive) of site chrome found at the end of scraped articles.
TRAILING_BOILERPLATE = [
    r"(à )?lire aussi\s*:?",
    r"voir aussi\s*:?",
    r"sur le même sujet\s*:?",
    r"lire la biographie de l.auteur.*",
    r"masquer la biographie de l.auteur.*",
    r"partager( sur .*| cet article.*| l.article.*)?\s*:?",
    r"share( this( article)?)?\s*:?",
    r"articles? (liés?|similaires|connexes)\s*:?",
    r"leave a (reply|comment)",
    r"laisser un commentaire",
    r"your email address will not be published\..*",
    r"votre adresse (e-?mail|de messagerie) ne sera pas publiée.*",
    r"related( posts| articles)?\s*:?",
    r"quitter la version mobile",
    r"subscribe",
    r"s[’']abonner.*",
    r"abonnez-vous.*",
    r"newsletter",
    r"tweet",
    r"imprimer",
    r"e-?mail",
    r"facebook",
    r"linkedin",
    r"commentaires?( \(\d+\))?\s*:?",
    r"\d+ commentaires?",
    r"retour en haut( de la page)?",
    r"haut de page",
    r"publicité",
    r"advertisement",
]

_LEADING_RE = re.compile("|".join(f"(?:{p})" for p in LEADING_BOILERPLATE), re.IGNORECASE)
_TRAILING_RE = re.compile("|".join(f"(?:{p})" for p in TRAILING_BOILERPLATE), re.IGNORECASE)

# A rubric line: one or two words, no sentence punctuation ("Marketing", "Réseaux sociaux").
_RUBRIC_RE = re.compile(r"[^\W\d_][\w&'’-]*(?:[ \u00a0][\w&'’-]+)?")
_RUBRIC_MAX_CHARS = 40

# Sentence end: terminal punctuation, optional closing quotes/brackets, then whitespace.
_SENTENCE_END_RE = re.compile(r"(?:[.!?…]+)[\u00a0\u202f ]*[»”\"’)\]]?(?=\s)")
_ABBREVIATIONS = frozenset(
    "m mm mme mmes mlle dr pr me st ste cf ex p pp vol no fig réf env av apr etc".split()
)
_WORD_BEFORE_RE = re.compile(r"([\w°-]+)$")
_NEXT_CHAR_RE = re.compile(r"\s*(\S)")

_CONTROL_RE = re.compile(r"[\x00-\x08\x0b\x0e-\x1f\x7f-\x9f]")
_SURROGATE_RE = re.compile(r"[\udc80-\udcff]")
LONE_SURROGATE_RE = re.compile(r"[\ud800-\udfff]")
_BLANK_RUNS_RE = re.compile(r"\n{3,}")
_OTHER_NEWLINES = ("\x0b", "\x0c", "\x85", "\u2028", "\u2029")
SPACES_RE = re.compile(r"\s+")
_BINARY_CONTROL_RATIO = 0.05


def decode_bytes(raw: bytes) -> str:
    """Decode file bytes as UTF-8 (BOM stripped), else cp1252/latin-1, as scraped French text is."""
    if raw.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return raw.decode("utf-16")  # may raise UnicodeDecodeError: caller reports it
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        pass
    # cp1252 leaves 0x81, 0x8D, 0x8F, 0x90 and 0x9D undefined; map those as latin-1 does.
    text = raw.decode("cp1252", errors="surrogateescape")
    return _SURROGATE_RE.sub(lambda m: chr(ord(m.group()) - 0xDC00), text)


def normalize_text(text: str) -> str:
    """Normalise newlines, NFC, control characters and blank-line runs so all sources look alike."""
    # str methods with cheap membership tests: this runs on every JSONL body (tens of MB).
    if "\r" in text:
        text = text.replace("\r\n", "\n").replace("\r", "\n")
    for separator in _OTHER_NEWLINES:
        if separator in text:
            text = text.replace(separator, "\n")
    if LONE_SURROGATE_RE.search(text):  # from JSON escapes: no encoding can store them
        text = LONE_SURROGATE_RE.sub("\ufffd", text)
    text = unicodedata.normalize("NFC", text)
    if _CONTROL_RE.search(text):
        text = _CONTROL_RE.sub("", text)
    text = "\n".join(line.rstrip() for line in text.split("\n"))
    if "\n\n\n" in text:
        text = _BLANK_RUNS_RE.sub("\n\n", text)
    return text.strip("\n")


def escape_surrogates(name: str) -> str:
    """Name text without loss where it holds lone surrogates, which cannot be stored.

    Python decodes each byte of a file name that is not UTF-8 as a lone surrogate; it
    becomes ``%XX`` (``bad\\xff.txt`` → ``bad%FF.txt``), and a lone surrogate that stands for
    no byte (``"\\ud800"`` in JSON) becomes ``%uD800``. Ids and paths made this way can be
    stored, printed and linked, and two names give the same text only if one literally holds
    the escape.
    """
    if not LONE_SURROGATE_RE.search(name):
        return name
    return LONE_SURROGATE_RE.sub(_escaped, name)


def _escaped(match: re.Match) -> str:
    code = ord(match.group())
    return f"%{code - 0xDC00:02X}" if 0xDC80 <= code <= 0xDCFF else f"%u{code:04X}"


def looks_binary(text: str) -> bool:
    """Whether decoded text has so many control characters it cannot be prose."""
    if not text:
        return False
    return len(_CONTROL_RE.findall(text)) / len(text) > _BINARY_CONTROL_RATIO


def _shorten(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """Cut text to at most ``limit`` characters on a word boundary, marking the cut with '…'."""
    text = SPACES_RE.sub(" ", text).strip()
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    space = cut.rfind(" ")
    if space > limit // 2:
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + "…"


def _sentence_breaks(text: str) -> Iterator[int]:
    """Offsets just after each sentence end in ``text`` (abbreviations and initials excluded)."""
    for m in _SENTENCE_END_RE.finditer(text):
        nxt = _NEXT_CHAR_RE.match(text, m.end())
        if nxt and nxt.group(1).islower():
            continue  # "p. ex. une", "etc. et": not a sentence start
        if text[m.start()] == ".":
            word = _WORD_BEFORE_RE.search(text, max(0, m.start() - 40), m.start())
            if word and (
                word.group(1).lower() in _ABBREVIATIONS
                or (len(word.group(1)) == 1 and word.group(1).isupper())
            ):
                continue
        yield m.end()


def first_sentence(text: str, limit: int = TITLE_MAX_CHARS) -> str:
    """First sentence of the first paragraph (cut to ``limit`` chars), used as a fallback title."""
    paragraph = text.strip().split("\n\n", 1)[0]
    paragraph = SPACES_RE.sub(" ", paragraph).strip()
    end = next(_sentence_breaks(paragraph), len(paragraph))
    return _shorten(paragraph[:end], limit)


def _is_boilerplate(line: str, pattern: re.Pattern[str]) -> bool:
    """Whether a whole (stripped) line matches a boilerplate pattern."""
    return pattern.fullmatch(SPACES_RE.sub(" ", line).strip()) is not None


def _is_rubric(line: str) -> bool:
    """Whether a line is a one- or two-word section label such as "Marketing" or "Cloud"."""
    line = line.strip()
    return len(line) <= _RUBRIC_MAX_CHARS and _RUBRIC_RE.fullmatch(line) is not None


def _is_headline(line: str, next_line: str | None) -> bool:
    """Whether a line reads as a headline: short, one sentence, no final period, not wrapped."""
    line = line.strip()
    if not line or len(line) > TITLE_MAX_CHARS or line.endswith((".", "…", ",", ";", ":")):
        return False
    if next(_sentence_breaks(line), None) is not None:
        return False
    # A hard-wrapped paragraph continues on the next line with a lowercase word.
    return not (next_line and next_line.strip()[:1].islower())


def strip_trailing_boilerplate(text: str) -> str:
    """Drop site chrome ("Lire aussi :", "Leave a Reply", …) from the end of an article body."""
    lines = text.split("\n")
    while lines and (not lines[-1].strip() or _is_boilerplate(lines[-1], _TRAILING_RE)):
        lines.pop()
    return "\n".join(lines)


def _join_body(lines: list[str]) -> str:
    """Join body lines back into text with collapsed blank lines."""
    return normalize_text("\n".join(lines))


def parse_text(text: str) -> tuple[str, str]:
    """Split a scraped article into (title, body), skipping site chrome and rubric labels."""
    text = normalize_text(text)
    lines = text.split("\n")
    n = len(lines)

    def next_content(i: int) -> int:
        while i < n and not lines[i].strip():
            i += 1
        return i

    def headline_at(k: int) -> bool:
        return k < n and _is_headline(lines[k], lines[k + 1] if k + 1 < n else None)

    # Leading chrome ("Subscribe"), then rubric labels that sit right above a real headline
    # (a short line above a paragraph is more likely a short headline than a rubric).
    i = next_content(0)
    while i < n and _is_boilerplate(lines[i], _LEADING_RE):
        i = next_content(i + 1)
    k = i
    while k < n and _is_rubric(lines[k]):
        k = next_content(k + 1)
        if headline_at(k) and not _is_rubric(lines[k]):
            i = k
            break
    if i >= n:  # nothing but chrome: keep the text as it is rather than lose the file
        return first_sentence(text), text

    if not headline_at(i):
        body = strip_trailing_boilerplate(_join_body(lines[i:]))
        return first_sentence(body), body

    title = SPACES_RE.sub(" ", lines[i]).strip()
    j = next_content(i + 1)
    rubrics = 0
    while (
        j < n and rubrics < 2 and (_is_rubric(lines[j]) or _is_boilerplate(lines[j], _LEADING_RE))
    ):
        j = next_content(j + 1)
        rubrics += 1
    body = strip_trailing_boilerplate(_join_body(lines[j:]))
    return title, body or title


def parse_markdown(text: str) -> tuple[str, str]:
    """Split Markdown into (title, body): the body rendered to plain text (see
    :mod:`searchsvc.ingest.markdown`), the title from the front matter or the first level-1
    heading, else as :func:`parse_text` finds one. A file it cannot read gives ("", "")."""
    try:
        found = read_markdown(normalize_text(text))
    except FormatError:
        return "", ""
    return title_and_body(found, "markdown")


def parse_html(html: str) -> tuple[str, str]:
    """Split an HTML page into (title, its article's text) (see :mod:`searchsvc.ingest.html`);
    never raises on malformed markup (a page it cannot read gives ("", ""))."""
    try:
        found = read_html(html)
    except FormatError:
        return "", ""
    return title_and_body(found, "html")


def title_and_body(found: Extracted, kind: str) -> tuple[str, str]:
    """A reader's title and body made into the corpus's: text normalised, chrome lines cut
    from the end of a page, the title cut to TITLE_MAX_CHARS, or found in the text when the
    file names none (a Markdown file's first line may be its headline, as a text's)."""
    if kind == "text":
        return parse_text(found.body)
    body = normalize_text(found.body)
    if kind in ("markdown", "html"):
        body = strip_trailing_boilerplate(body)
    title = SPACES_RE.sub(" ", normalize_text(found.title or "")).strip()
    if title:
        first, _, rest = body.partition("\n\n")
        if SPACES_RE.sub(" ", first).strip().casefold() == title.casefold():
            body = rest  # the title written again as the first paragraph (a heading)
        return _shorten(title), body or _shorten(title)
    if kind == "markdown":
        return parse_text(body)
    return first_sentence(body), body
