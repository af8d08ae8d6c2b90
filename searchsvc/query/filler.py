"""Which words of a query carry its meaning, and which are filler.

People type questions: « comment afficher le chemin absolu d'un fichier sous linux ». Stop
words are already left out by the analysis; what is left still holds words that say how the
question is asked (« comment », « pourquoi », « faire »…) or that most documents of this
index use (« utiliser » in a technical manual). Such words are filler: a document need not
hold them to come first, and they count for nothing in how much of the query a partial match
covers. They are told by a short list of question words, and from the corpus itself: a word
in more than ``FILLER_SHARE`` of the documents.
"""

from __future__ import annotations

from whoosh.reading import IndexReader

from searchsvc.index.caches import frequency
from searchsvc.settings import FILLER_MIN_DOCS, FILLER_SHARE
from searchsvc.text.analysis import STEM_MARK, QueryToken, fold

# How a question is asked, whatever it is about (folded forms; the stop words, « quel »,
# « que », « qui »…, never reach the query builder). Prepositions of place and time the
# analysis keeps (« sous linux », « entre deux dates ») say little of what is looked for;
# « sans » is left out: it turns the meaning around.
QUESTION_WORDS = frozenset(
    fold(w)
    for w in """
    comment pourquoi quoi quand combien lequel laquelle lesquels lesquelles
    faire fait faut falloir peut peux pouvoir puis dois doit devoir possible moyen façon
    manière sous entre depuis vers chez via selon
    """.split()
)


def is_filler(reader: IndexReader, token: QueryToken, stems: list[str]) -> bool:
    """Tell whether a query word (its token and the stems it stands for) is filler: a
    question word, or, on an index of ``FILLER_MIN_DOCS`` documents or more, a word the
    bodies of more than ``FILLER_SHARE`` of them hold (in one of its forms)."""
    if token.kind != "word":
        return False
    if token.exact in QUESTION_WORDS:
        return True
    total = reader.doc_count()
    if total < FILLER_MIN_DOCS:
        return False
    terms = [token.exact, *(STEM_MARK + s for s in stems)]
    found = max(frequency(reader, "body", t) for t in terms)
    return found > FILLER_SHARE * total
