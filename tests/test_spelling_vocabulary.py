"""Issue 24 (start-up): the spelling vocabulary kept as one sorted text per segment and field,
and cached beside the index, gives the words the walk of Whoosh's lexicon gave.

Invariant: a segment's vocabulary holds exactly its lexicon's words, stems left out; asked
for a first letter, a length and a spread, it gives exactly those words that start with
that letter and whose length is within the spread (the only words an edit distance within
the spread can reach).
"""

from __future__ import annotations

import shutil
from contextlib import closing
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from searchsvc.engine.search import SearchEngine
from searchsvc.index import storage
from searchsvc.ingest.indexer import check_index, reindex
from searchsvc.query import spelling
from searchsvc.query.spelling import Vocabulary
from searchsvc.testing import write_files
from searchsvc.text.analysis import STEM_MARK

_words = st.text(alphabet="abcéèœz'-0ß", min_size=1, max_size=12)


@settings(max_examples=200, deadline=None)
@given(st.lists(_words, unique=True, max_size=60), st.sampled_from("abcéœz'"), st.integers(1, 12))
def test_a_vocabulary_gives_the_words_of_a_first_letter_and_length(words, first, length):
    words.sort(key=lambda w: w.encode())  # the lexicon's order
    vocabulary = Vocabulary.build(words)
    assert vocabulary.all_words() == set(words)
    for spread in (0, 1, 2):
        expected = sorted(w for w in words if w[0] == first and abs(len(w) - length) <= spread)
        assert sorted(vocabulary.words(first, length, spread)) == expected
    again = Vocabulary.from_arrays(vocabulary.arrays())
    assert again.all_words() == set(words)
    assert again.words(first, length, 2) == vocabulary.words(first, length, 2)


def lexicon_words(leaf, fieldname: str) -> set[str]:
    """What the old walk kept: every term of the lexicon but the stems."""
    return {t for t in (r.decode("utf-8") for r in leaf.lexicon(fieldname)) if t[0] != STEM_MARK}


@pytest.fixture
def built(fresh_seed_index) -> Path:
    return fresh_seed_index


def cache_files(index_dir: Path) -> list[Path]:
    folder = index_dir / spelling.CACHE_DIR
    return sorted(folder.iterdir()) if folder.is_dir() else []


def test_vocabularies_walked_and_cached_equal_the_lexicon(built):
    with closing(SearchEngine(built)) as engine, engine.searcher() as s:
        leaves = [leaf for leaf, _ in s.reader().leaf_readers()]
        for leaf in leaves:
            for f in ("body", "title"):
                assert spelling._vocabulary(leaf, f).all_words() == lexicon_words(leaf, f)
        assert len(cache_files(built)) == 2 * len(leaves)
        spelling._vocabularies.clear()
        assert spelling.missing(s.reader()) == []  # all read back from their files
        for leaf in leaves:
            for f in ("body", "title"):
                assert spelling._vocabulary(leaf, f).all_words() == lexicon_words(leaf, f)


def suggestions(index_dir: Path) -> list:
    with closing(SearchEngine(index_dir)) as engine:
        return [
            (engine.search(q).suggestion, engine.search(q).approximate)
            for q in ("twiter", "Dorsay", "presdient", "telvision", "Merkle")
        ]


def test_the_cache_lives_outside_the_generation_and_check_stays_clean(built):
    first = suggestions(built)
    assert first[0][0] == "twitter"
    files = cache_files(built)
    assert files and all(p.parent.parent == built for p in files)
    assert check_index(built).problems == []
    assert storage.unlisted_files(storage.current(built)) == []


def test_a_worker_reads_the_cache_instead_of_walking(built, monkeypatch):
    first = suggestions(built)
    spelling._vocabularies.clear()  # a new worker

    def walk(_raw):
        raise AssertionError("the lexicon was walked")

    monkeypatch.setattr(spelling, "_words", walk)
    assert suggestions(built) == first


@pytest.mark.parametrize("damage", ["flip", "truncate", "garbage"])
def test_a_damaged_cache_file_is_built_again(built, damage):
    first = suggestions(built)
    for path in cache_files(built):
        data = bytearray(path.read_bytes())
        if damage == "flip":
            data[len(data) // 3] ^= 0xFF
        elif damage == "truncate":
            del data[len(data) // 2 :]
        else:
            data = bytearray(b"not a vocabulary")
        path.write_bytes(bytes(data))
    spelling._vocabularies.clear()
    assert suggestions(built) == first
    for path in cache_files(built):  # written anew, whole
        assert spelling._read_cache(path) is not None


def test_a_read_only_index_folder_still_suggests(built, monkeypatch):
    def refuse(*_args, **_kwargs):
        raise PermissionError("read-only")

    monkeypatch.setattr(spelling.np, "savez", refuse)
    assert suggestions(built)[0][0] == "twitter"
    assert [p for p in cache_files(built) if not p.name.endswith(".tmp")] == []
    assert [p for p in cache_files(built) if p.name.endswith(".tmp")] == []


def test_vocabularies_of_segments_gone_are_dropped(built, seed_corpus, tmp_path):
    suggestions(built)
    old = {p.name for p in cache_files(built)}
    # Two full rebuilds: new segments, and the first generation pruned (one old one is kept).
    more = write_files(tmp_path / "more", {"x.txt": "Twitter\n\nUn article de plus sur Twitter."})
    corpus = tmp_path / "corpus2"
    shutil.copytree(seed_corpus, corpus)
    shutil.copy(more / "x.txt", corpus / "x.txt")
    reindex(corpus, built, full=True)
    reindex(corpus, built, full=True)
    assert storage.list_generations(built) == ["g000002", "g000003"]
    spelling._vocabularies.clear()
    suggestions(built)
    now = {p.name for p in cache_files(built)}
    assert now and not old & now
    listed = " ".join(
        name
        for generation in storage.list_generations(built)
        for name in storage.read_meta(built / generation)["files"]
    )
    assert all(name.split(".")[0] in listed for name in now)
