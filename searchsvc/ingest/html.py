"""An HTML page as sites publish it: the article's text without the page around it, and the
metadata its head declares.

The page is parsed once with lxml. Its metadata come first: the title from ``og:title``, the
first ``<h1>`` or ``<title>`` (without the site's " | Le Site" suffix), the date from the usual
meta tags or ``<time datetime>``, the url from ``rel=canonical`` or ``og:url``, the source
from ``og:site_name``. Then the page around the article goes: the elements that are chrome by
their tag or ARIA role (nav, header and footer outside the article, aside, forms, dialogs)
and by their class or id (cookie banners, newsletter and subscription boxes, share buttons,
related links, comments). jusText then keeps the paragraphs that read as prose (its French
stop-word list, link density, length, headings near good text): it was chosen by
``bench/html_extraction.py`` over trafilatura and readability-lxml (bench/RESULTS.md,
"Document formats (issue 28)"). A page whose every paragraph jusText finds too short keeps
all the text left after the chrome is removed, rather than nothing.
"""

from __future__ import annotations

import re

import justext
import lxml.etree
import lxml.html
from justext.core import ParagraphMaker, classify_paragraphs, revise_paragraph_classification

from searchsvc.ingest.extracted import Extracted, FormatError

__all__ = ["read_html"]

# Meta tags (property, name or itemprop, lower case) that date a page, most specific first.
DATE_META = (
    "article:published_time",
    "og:article:published_time",
    "datepublished",
    "date",
    "dc.date",
    "dc.date.issued",
    "dcterms.date",
    "dcterms.created",
    "pubdate",
    "publishdate",
)

# Elements that are never the article's text.
_DROPPED_TAGS = (
    "head",
    "script",
    "style",
    "noscript",
    "template",
    "iframe",
    "svg",
    "form",
    "button",
    "select",
    "textarea",
    "object",
    "embed",
    "dialog",
)
# Elements that are chrome by tag, wherever they are, and those only outside the article
# (an article's own <header> holds its headline and standfirst).
_CHROME_TAGS = ("nav", "aside")
_OUTER_CHROME_TAGS = ("header", "footer")
_CHROME_ROLES = frozenset(
    "navigation banner contentinfo complementary dialog alertdialog search menu menubar".split()
)
# Words of a class or id that name chrome ("cookie-banner", "share_buttons", "bloc-abonnement").
_CHROME_WORDS_RE = re.compile(
    r"cookies?|consent|gdpr|rgpd|newsletters?|paywall|abonnements?|abonnez|subscribe|"
    r"subscription|share|sharing|partage|social|related|lire-aussi|alire|comments?|"
    r"commentaires?|breadcrumbs?|ariane|sidebar|promo|advert|advertisement|pub|publicite|"
    r"popup|modal|outbrain|taboola"
)
_WORD_SPLIT_RE = re.compile(r"[\s_-]+")
# The separators sites put between a page's title and their name.
_SUFFIX_RE = re.compile(r"\s+[|–—·•:-]\s+")
# A chrome element is not removed when it holds more than this share of the page's text:
# a class naming the whole page ("page-with-sidebar") must not take the article with it.
_MAX_CHROME_SHARE = 0.5

_STOPLIST = frozenset(justext.get_stoplist("French"))


def read_html(text: str) -> Extracted:
    """The fields of an HTML page: its article's paragraphs as the body (headings as their
    own passages), and the title, date, url and source its markup declares."""
    # lxml refuses a str that declares its own encoding; the text is already decoded.
    text = re.sub(r"^\s*<\?xml[^>]*>", "", text, count=1)
    if not text.strip():
        return Extracted(body="")
    try:
        tree = lxml.html.document_fromstring(text)
    except (lxml.etree.ParserError, ValueError) as exc:
        if "empty" in str(exc).lower():  # nothing but comments or a bare doctype
            return Extracted(body="")
        raise FormatError(f"not readable as HTML ({exc})") from None
    meta = _meta(tree)
    site = meta.get("og:site_name") or meta.get("application-name")
    h1 = _heading(tree)
    title = (
        _strip_site(meta.get("og:title") or "", site, always=False)
        or h1
        or _strip_site(_text_of(tree.find(".//title")), site, always=True)
    )
    date = next((meta[name] for name in DATE_META if meta.get(name)), None)
    if date is None:
        time_el = _first(tree, ".//article//time[@datetime]", ".//time[@datetime]")
        date = None if time_el is None else time_el.get("datetime")
    url = _canonical(tree) or meta.get("og:url")
    paragraphs = _article(tree)
    if paragraphs and title and _same(paragraphs[0], title):
        del paragraphs[0]  # the headline, which is the title
    return Extracted(
        body="\n\n".join(paragraphs),
        title=title or None,
        date=date,
        source=site or None,
        url=url or None,
    )


def _meta(tree: lxml.html.HtmlElement) -> dict[str, str]:
    """The page's meta tags by their property, name or itemprop (lower case), first wins."""
    found: dict[str, str] = {}
    for el in tree.iter("meta"):
        content = el.get("content")
        if content is None or not content.strip():
            continue
        for attr in ("property", "name", "itemprop"):
            key = (el.get(attr) or "").strip().lower()
            if key:
                found.setdefault(key, " ".join(content.split()))
    return found


def _first(tree: lxml.html.HtmlElement, *paths: str) -> lxml.html.HtmlElement | None:
    for path in paths:
        el = tree.find(path)
        if el is not None:
            return el
    return None


def _text_of(el: lxml.html.HtmlElement | None) -> str:
    return "" if el is None else " ".join(el.text_content().split())


def _heading(tree: lxml.html.HtmlElement) -> str:
    """The article's first <h1>, else the page's."""
    return _text_of(_first(tree, ".//article//h1", ".//main//h1", ".//h1"))


def _strip_site(title: str, site: str | None, *, always: bool) -> str:
    """A title without the site's name after a separator ("Marathon | Le Site" → "Marathon").
    The name is the site's declared one; failing that (``always``), a last part after " | "
    is taken for it, as <title> elements are written."""
    title = " ".join(title.split())
    parts = _SUFFIX_RE.split(title)
    if len(parts) < 2:
        return title
    if site and _same(parts[-1], site):
        return title[: title.rfind(parts[-1])].rstrip(" |–—·•:-")
    if always and " | " in title:
        return title[: title.rfind(" | ")].strip()
    return title


def _same(a: str, b: str) -> bool:
    return " ".join(a.split()).casefold() == " ".join(b.split()).casefold()


def _canonical(tree: lxml.html.HtmlElement) -> str | None:
    for el in tree.iter("link"):
        rel = (el.get("rel") or "").lower().split()
        if "canonical" in rel and (el.get("href") or "").strip():
            return el.get("href").strip()
    return None


def _article(tree: lxml.html.HtmlElement) -> list[str]:
    """The article's paragraphs: the page without its chrome, then jusText's good
    paragraphs (all that is left when it finds none)."""
    lxml.etree.strip_elements(tree, lxml.etree.Comment, lxml.etree.PI, with_tail=False)
    lxml.etree.strip_elements(tree, *_DROPPED_TAGS, with_tail=False)
    _drop_chrome(tree)
    paragraphs = ParagraphMaker.make_paragraphs(tree)
    classify_paragraphs(paragraphs, _STOPLIST)
    revise_paragraph_classification(paragraphs)
    good = [p.text for p in paragraphs if p.class_type == "good" and p.text.strip()]
    if good:
        return good
    return [p.text for p in paragraphs if p.text.strip()]


def _drop_chrome(tree: lxml.html.HtmlElement) -> None:
    """Remove the elements that are chrome by tag, role, class or id (their tail text kept)."""
    total = len(" ".join(tree.text_content().split())) or 1
    doomed = []
    for el in tree.iter(lxml.etree.Element):
        tag = el.tag if isinstance(el.tag, str) else ""
        if tag in ("html", "body", "main", "article", "h1"):
            continue
        if (
            tag in _CHROME_TAGS
            or (tag in _OUTER_CHROME_TAGS and not _inside_article(el))
            or (el.get("role") or "").strip().lower() in _CHROME_ROLES
            or _chrome_named(el.get("class"))
            or _chrome_named(el.get("id"))
        ):
            doomed.append(el)
    for el in doomed:
        if el.getparent() is None or _removed(el):
            continue
        if len(" ".join(el.text_content().split())) > total * _MAX_CHROME_SHARE:
            continue
        el.drop_tree()


def _removed(el: lxml.html.HtmlElement) -> bool:
    """Whether an ancestor of ``el`` was already taken out of the page."""
    while el.getparent() is not None:
        el = el.getparent()
    return el.tag != "html"


def _inside_article(el: lxml.html.HtmlElement) -> bool:
    return any(a.tag in ("article", "main") for a in el.iterancestors())


def _chrome_named(value: str | None) -> bool:
    if not value:
        return False
    return any(_CHROME_WORDS_RE.fullmatch(w) for w in _WORD_SPLIT_RE.split(value.lower()) if w)
