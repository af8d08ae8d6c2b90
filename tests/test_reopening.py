"""A served index follows new generations keeping the readers of the segments they share
(:mod:`searchsvc.index.whoosh_internals.reopening`): while documents are pushed, a batch a
second adds a segment, and reading every other one afresh cost each worker's next search tens
of milliseconds.

What a kept reader answers must be what a fresh one answers, whatever the batches deleted or
replaced, with the postings and titles kept by segment for the process (a term's postings
kept from an older generation are scored with the new average lengths); a segment that
gained a deletion is read afresh; and a kept reader still reads the files it had not opened
yet once its first generation's folder is gone.
"""

from __future__ import annotations

import contextlib
import json
import random

from searchsvc.engine.search import SearchEngine
from searchsvc.index import caches, storage
from searchsvc.index.whoosh_internals.segment_keys import reader_serial
from searchsvc.ingest import journal, writer
from searchsvc.query import spelling
from searchsvc.testing import build_index

_VOCABULARY = "orage pluie soleil vent neige marée récolte vendange élection théâtre".split()


def _text(rnd: random.Random, words: int) -> str:
    return " ".join(rnd.choice(_VOCABULARY) for _ in range(words))


def _answers(engine: SearchEngine, query: str, **kwargs) -> tuple:
    found = engine.search(query, per_page=50, **kwargs)
    hits = [(h.id, round(h.score, 9), h.snippet, h.date, h.source) for h in found.hits]
    return found.total, hits, found.facets, found.years


def _leaves(engine: SearchEngine) -> dict[str, object]:
    """Segment id -> the segment reader the engine's searcher reads it with."""
    with engine.searcher() as s:
        return {leaf.segment().segment_id(): leaf for leaf, _offset in s.reader().leaf_readers()}


def _documents(rnd: random.Random, count: int) -> dict[str, str]:
    files = {}
    for n in range(count):
        doc = {
            "id": f"doc{n}",
            "title": _text(rnd, 2),
            "body": _text(rnd, 12),
            "date": f"20{n % 20:02d}-0{1 + n % 9}-01",
            "source": f"s{n % 3}",
        }
        files[f"doc{n:02d}.jsonl"] = json.dumps(doc) + "\n"
    return files


@contextlib.contextmanager
def _pushing(tmp_path, rnd: random.Random, documents: int):
    """A full build of ``documents`` random documents, an engine that follows its generations,
    and ``push(changes)``: the changes journalled and applied as one batch (merges off)."""
    _corpus, index = build_index(tmp_path, _documents(rnd, documents))
    kept = SearchEngine(index)
    j = journal.Journal(index)
    w = writer.JournalWriter(index, merge=False)

    def push(changes: list) -> None:
        j.submit(changes)
        w.apply_once()

    with contextlib.closing(w), contextlib.closing(j), contextlib.closing(kept):
        yield index, kept, push


def test_a_kept_reader_answers_as_a_fresh_one_after_every_batch(tmp_path):
    """Batches add documents, replace pushed ones (a deletion in an older segment) and
    delete some: after each, the engine that follows the generations answers every query,
    by relevance and by date, exactly as an engine opened afresh; unchanged segments keep
    their reader, a segment that gained a deletion gets a new one."""
    rnd = random.Random(25)
    queries = [*_VOCABULARY, "orage pluie", '"vent neige"', "vend*", "orage OR soleil"]
    reused = renewed = 0
    with _pushing(tmp_path, rnd, 20) as (index, kept, push):
        before = _leaves(kept)
        for b in range(8):
            changes = [
                journal.Change(
                    journal.PUT,
                    f"push-{b}-{k}",
                    {"title": _text(rnd, 2), "body": _text(rnd, 10), "date": f"2024-0{1 + k}"},
                )
                for k in range(4)
            ]
            if b:  # replace one of the last batch's, delete another
                changes.append(
                    journal.Change(journal.PUT, f"push-{b - 1}-1", {"body": _text(rnd, 8)})
                )
                changes.append(journal.Change(journal.DELETE, f"push-{b - 1}-2"))
            push(changes)
            fresh = SearchEngine(index)
            with contextlib.closing(fresh):
                for q in queries:
                    for sort in ("relevance", "date"):
                        answered = _answers(kept, q, sort=sort)
                        caches.forget_all()  # nothing kept from an older generation
                        assert answered == _answers(fresh, q, sort=sort), q
            after = _leaves(kept)
            for segment_id, leaf in after.items():
                if segment_id not in before:
                    continue
                if before[segment_id].segment().deleted_count() == leaf.segment().deleted_count():
                    assert leaf is before[segment_id]  # unchanged: kept
                    reused += 1
                else:
                    assert leaf is not before[segment_id]  # a new deletion: read afresh
                    renewed += 1
            before = after
    assert reused >= 8 and renewed >= 6


def test_a_kept_reader_opens_its_files_from_the_live_generation(tmp_path):
    """A reader kept from a generation since deleted (garbage collection keeps one old one)
    opens the files it had not opened yet (the date column, the stored fields) from the
    generation it now serves, which holds them too."""
    rnd = random.Random(3)
    with _pushing(tmp_path, rnd, 12) as (index, kept, push):
        first = storage.current_name(index)
        assert kept.search("zzzz").total == 0  # opens the first generation, reads no column
        built = set(_leaves(kept))
        for b in range(3):
            push([journal.Change(journal.PUT, f"push-{b}", {"body": _text(rnd, 6)})])
            assert kept.search("zzzz").total == 0  # a new searcher, reading no column
        assert built <= set(_leaves(kept))  # the build's segment kept all along
        storage.collect_garbage(index, keep_old=0)
        assert not (index / first).exists()
        fresh = SearchEngine(index)
        with contextlib.closing(fresh):
            for q in _VOCABULARY:
                assert _answers(kept, q, sort="date") == _answers(fresh, q, sort="date")


def test_a_segment_read_afresh_reads_its_own_files(tmp_path):
    """A segment that gained a deletion is read by a new reader, the old one closed: what
    the old reader kept (a term's postings, whose positions a phrase reads later from the
    reader's open file) is not what the new one reads, or the phrase would read a closed
    file."""
    rnd = random.Random(5)
    phrase = '"vent neige"'
    with _pushing(tmp_path, rnd, 6) as (index, kept, push):
        body = "vent neige orage vent neige pluie"
        push([journal.Change(journal.PUT, f"p{k}", {"body": body}) for k in range(4)])
        for word in ("vent", "neige"):  # the batch's segment's postings read, not positions
            assert kept.search(word).total >= 4
        before = _leaves(kept)
        push([journal.Change(journal.PUT, "p0", {"body": "soleil"})])
        after = _leaves(kept)
        renewed = [s for s in before if s in after and after[s] is not before[s]]
        assert renewed and all(before[s].is_closed for s in renewed)
        gone = {reader_serial(before[s]) for s in renewed}  # what they kept went with them
        assert caches.segment_postings.drop_where(lambda key: key[0] in gone) == 0
        fresh = SearchEngine(index)
        with contextlib.closing(fresh):
            assert _answers(kept, phrase) == _answers(fresh, phrase)


def test_a_vocabulary_build_under_way_is_its_own_readers(tmp_path):
    """The start-up thread's vocabulary build of a segment, half done when the segment gains
    a deletion (read afresh, its old reader closed), is not the one a misspelt word's search
    finishes with the new reader: that search found the build of the closed reader, and
    failed (a 500 in a kill trial of pushes)."""
    rnd = random.Random(9)
    with _pushing(tmp_path, rnd, 6) as (_index, kept, push):
        push([journal.Change(journal.PUT, f"p{k}", {"body": "tempête"}) for k in range(3)])
        with kept.searcher() as s:
            leaf = max((r for r, _o in s.reader().leaf_readers()), key=lambda r: -r.doc_count())
            build = spelling.build_steps(leaf, "body", step=1)
            next(build)  # begun, not finished, as the start-up thread leaves it
        push([journal.Change(journal.DELETE, "p0")])
        assert kept.search("tempete").total == 2
        assert leaf.is_closed
        assert kept.search("tempate").suggestion == "tempête"
        build.close()
