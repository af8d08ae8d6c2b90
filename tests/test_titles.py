"""The title signals computed from a title's analysis kept once (``titles.Title``, shared
positions, a reader's titles by document) give what the plain reading of the title gives."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import settings as hyp_settings
from hypothesis import strategies as st

from searchsvc.engine import titles
from searchsvc.engine.search import SearchEngine
from searchsvc.index.caches import title as stored_title
from searchsvc.query.language import parse
from searchsvc.query.plan import Highlights
from searchsvc.settings import (
    COVERAGE,
    COVERED,
    RERANK_DEPTH,
    TITLE_PHRASE,
    TYPED_COVERAGE,
    WHOLE_TITLE,
)
from searchsvc.testing import build_index
from searchsvc.text.analysis import iter_terms, word_terms

# -- the signals as first written: a look at every term of every word of the title ------------


def plain_sequence(title: str) -> list[tuple]:
    positions: list[tuple] = []
    for terms, alt, _start, _end in iter_terms(title):
        if alt and positions:
            positions[-1] = (*positions[-1], terms)
        else:
            positions.append((terms,))
    return positions


def plain_bonus(title: str, signals: titles.Signals) -> float:
    """The bonus read off the title's terms one by one (the code before issue 24's rework)."""
    if not signals.words:
        return 0.0
    sequence = plain_sequence(title)
    words = [p[1:] if p[0].stop else p for p in sequence]
    words = [p for p in words if p]
    if not words:
        return 0.0
    matches = signals.highlights.matches
    matched = [any(matches(t.exact, t.stems) for t in p) for p in words]
    if not any(matched):
        return 0.0
    found = {p[0].exact for p, hit in zip(words, matched, strict=True) if hit}
    share = len(found) / len(words)

    def in_title(word):
        exact, stems = word
        return any(t.exact == exact or any(s in stems for s in t.stems) for p in words for t in p)

    def at(position, word):
        return any(t.exact == word for t in position)

    has = sum(in_title(word) for word in signals.words) / len(signals.words)
    wording, others = signals.wording, signals.others
    worded = len(wording) > 1
    if worded and others:
        found = sum(any(at(p, w) for p in sequence) for w in others)
        has = (has * len(signals.words) + found) / (len(signals.words) + len(others))
    if share == 1 and has == 1:
        points = WHOLE_TITLE
    else:
        points = COVERAGE * share * share * has if share >= COVERED else 0.0
    n = len(wording)
    holds = worded and any(
        all(at(p, w) for w, p in zip(wording, sequence[i : i + n], strict=True))
        for i in range(len(sequence) - n + 1)
    )
    if holds:
        return points + TITLE_PHRASE + TYPED_COVERAGE * share
    run = longest = 0
    for hit in matched:
        run = run + 1 if hit else 0
        longest = max(longest, run)
    if len(signals.words) > 1 and longest >= len(signals.words):
        points += TITLE_PHRASE
    return points


_BITS = st.sampled_from(
    [
        "Style",
        "style",
        "de",
        "des",
        "caractères",
        "l’Élysée",
        "élections",
        "micro-blogging",
        "aujourd'hui",
        "#AÝ",
        "3,5",
        "Raccourcis",
        "clavier",
        "la",
        "—",
        "(2)",
    ]
)
_TITLE = st.lists(st.one_of(_BITS, st.text(alphabet="abcéèA-'’ .:", max_size=8)), max_size=10).map(
    " ".join
)


@st.composite
def _case(draw) -> tuple[str, titles.Signals]:
    """A title, and signals for a query made of some of its words in a row (or of others),
    marked by exact form, stem or prefix as a plan would mark them (or not marked at all)."""
    title = draw(_TITLE)
    words = title.split()
    start = draw(st.integers(0, len(words)))
    stop = draw(st.integers(start, len(words)))
    typed = " ".join(words[start:stop]) or draw(_TITLE)
    if draw(st.booleans()):
        typed += " " + draw(_TITLE)
    wording = titles.query_wording(parse(typed), typed) if typed.strip() else ()
    terms = [word_terms(w) for w in typed.split() if w.strip("-'’.:—()")]
    plain = [t for t in terms if not t.stop and t.exact]
    query = tuple(dict.fromkeys((t.exact, t.stems) for t in plain))
    exact = {t.exact for t in plain if draw(st.booleans())}
    stems = {s for t in plain for s in t.stems if draw(st.booleans())}
    prefixes = {t.exact[:2] for t in plain if draw(st.integers(0, 4)) == 0}
    return title, titles.Signals(Highlights(exact, stems, prefixes), query, wording)


@hyp_settings(max_examples=400, deadline=None, derandomize=True)
@given(_case())
def test_the_bonus_from_a_titles_analysis_is_the_plain_reading(case):
    title, signals = case
    assert titles.bonus(title, signals) == plain_bonus(title, signals)
    assert titles.title_sequence(title) == tuple(plain_sequence(title))


def test_the_plain_reading_and_the_analysis_agree_on_the_documented_cases():
    writer = tuple(
        (w, (word_terms(w).stem,)) for w in ("raccourcis", "clavier", "libreoffice", "writer")
    )
    signals = titles.Signals(Highlights(exact={w for w, _s in writer}), writer)
    typed = titles.Signals(
        Highlights(exact={"style", "de"}), (("style", word_terms("style").stems),), ("style", "de")
    )
    for title in [
        "Raccourcis clavier dans LibreOffice Writer",
        "Raccourcis clavier de LibreOffice Writer Calc",
        "Utilisation des raccourcis clavier (accessibilité dans LibreOffice Writer)",
        "Style de caractères — Gestion",
        "Caractères de style",
        "Style",
    ]:
        for s in (signals, typed):
            assert titles.bonus(title, s) == plain_bonus(title, s), (title, s)


def test_titles_sharing_positions_survive_the_shared_positions_being_emptied(monkeypatch):
    monkeypatch.setattr(titles, "TITLE_POSITIONS_CACHED", 3)
    monkeypatch.setattr(titles, "_positions", {})
    monkeypatch.setattr(titles, "_titles", titles.LRU(100))
    texts = ["Style de caractères", "Caractères de style — Gestion", "Le style des styles"]
    before = [titles.analysed(t) for t in texts]
    assert len(titles._positions) <= 3
    for t, shape in zip(texts, before, strict=True):
        assert tuple(p.terms for p in shape.positions) == tuple(plain_sequence(t))
        # analysed again from scratch: the same positions' forms
        titles._titles.clear()
        again = titles.analysed(t)
        assert [(p.everything, p.exacts, p.stems, p.first) for p in again.positions] == [
            (p.everything, p.exacts, p.stems, p.first) for p in shape.positions
        ]


# -- a reader's titles by document ----------------------------------------------------------------

CORPUS = {
    f"doc-{i:02d}.txt": f"{title}\n\nDu style, des caractères et un clavier: {title.lower()}.\n"
    for i, title in enumerate(
        [
            "Style",
            "Style de caractères — Gestion",
            "Caractères de style",
            "Raccourcis clavier",
            "Raccourcis clavier de style",
            "Le clavier et le style",
            "Styles et caractères",
            "Clavier",
        ]
    )
}


@pytest.fixture(scope="module")
def engine(tmp_path_factory):
    _corpus, target = build_index(tmp_path_factory.mktemp("titles"), CORPUS)
    eng = SearchEngine(target)
    yield eng
    eng.close()


def _built(typed: str):
    """Signals for a query as a search builds them."""

    def make(engine, s) -> titles.Signals:
        plan = engine._builder(s, False, None).build(parse(typed))
        return titles.Signals(
            plan.highlights, plan.words, titles.query_wording(parse(typed), typed)
        )

    return make


def _prefixed(engine, s) -> titles.Signals:
    """Signals with a prefix marked (a word being typed), besides a plain word."""
    words = (("raccourcis", word_terms("raccourcis").stems),)
    return titles.Signals(Highlights({"raccourcis"}, set(), {"clav"}), words)


@pytest.mark.parametrize("capacity", [1000, 3])
@pytest.mark.parametrize(
    "signals_of",
    [_built("style de"), _built("raccourcis clavier"), _built("caracteres style"), _prefixed],
)
def test_rerank_through_the_readers_titles_is_the_plain_bonus_of_each_stored_title(
    engine, monkeypatch, capacity, signals_of
):
    """Reranked through the per-reader titles (kept, or emptied along the way when a small
    capacity is reached), a page gets the points its stored titles give."""
    monkeypatch.setattr(titles, "TITLE_WORDS_CACHED", capacity)
    with engine.searcher() as s:
        signals = signals_of(engine, s)
        count = s.reader().doc_count_all()
        top = [(float(count - d), d) for d in range(count)]
        for _ in range(2):  # the second time from what the first kept
            got = titles.rerank(s, top, signals)
            expected = [
                (score + plain_bonus(stored_title(s, d), signals), d)
                for score, d in top[:RERANK_DEPTH]
            ]
            expected.sort(key=lambda sd: (-sd[0], sd[1]))
            assert got == expected + top[RERANK_DEPTH:]
        assert got != top  # some titles got points
