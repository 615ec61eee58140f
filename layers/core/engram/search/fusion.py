"""How a search's signals become one ranking: calibrated fusion (issue 21).

Each leg's raw scores (cosine for k-NN, BM25 for keywords) are put on one scale as
z-scores over that leg's `k` candidate slots: (score - mean) / standard deviation. Slots a
leg left empty (it found fewer than `k` memories: nothing else matches) count as 0, BM25's
score for a memory without any query term. A memory a leg did not return gets that leg's
lowest value. So a memory far above the rest of its leg stands out by as much as it is
apart; the min-max scaling this replaces put every leg's best at 1.0 whatever the gap, and
an exact match on the keyword leg tied with the nearest vector.

Recency is z-scored over the candidates too (all equal: no effect). The fused value is
the weighted sum of the three z-scores; the reported score is its logistic, in (0, 1), and
each leg's reported score the logistic of its z-score (recency is reported as the decay).

Session support (hybrid only): a candidate gains a share of the fused value of the best other
candidate of its session, so turns of one conversation that match together rise together.
A question asking for many things ("What activities does Melanie partake in?", "How many
...") gets none: its answers lie in many sessions (`asks_for_many`).

Query analysis (hybrid only): a candidate's own text (title and content, not the neighbours
it is keyword-indexed with) is read for the query's names (capitalised words after the
first: "When did Caroline ..." -> caroline) and its content words (stopwords dropped); the
shares of each it holds, which legs found it, whether it is a question and how many words
it has add to its fused value with weights learned on LoCoMo dev (leave-one-conversation-
out: `bench/fusion_fit.py`). A neighbour's words make a memory a candidate; its own words
decide how high it ranks. Soft word match: each query content word its own text lacks
still counts by how close in meaning the nearest of its words is (the cosine of the two
words' vectors, `search/meanings.py`): "painting" finds "painted", "kids" "children".
Dates: a query that names a day, a month, a range or a year ("in January 2022", "on 9
November, 2022") lifts the memories whose text names a date within it, or that were created
then, falling off to nothing a week away (`search/dates.py`). The semantic leg embeds the
query without its names (`semantic_query`): the keyword leg and the names signal carry them.

Exact identifiers: a query token shaped like an identifier (letters with digits or an
underscore, a file-like dot, capitals throughout or inside a word: ERR-7F3K2, user_id,
invoice.pdf, NASA, getUserId; not plain words or hyphenated English like dairy-free)
is matched literally against each candidate's text, and a candidate holding more of them
ranks above one holding fewer, whatever the rest of its score. Hybrid thus never ranks
an exact identifier below what its keyword leg alone would.

Everything here is pure: the search service applies it over either index adapter's hits,
so the local index and OpenSearch rank alike.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Collection, Iterable, Mapping, Sequence
from datetime import date
from functools import cache
from importlib import resources
from typing import Any

from engram.search.dates import closeness, date_spans
from engram.search.index import Hit

_WORD = re.compile(r"[\w][\w\-./:]*[\w]|\w")
_TRAILING = ".:-/"
_CONTENT_WORD = re.compile(r"(?u)\b\w\w+\b")  # the local index's token pattern
_NAME = re.compile(r"[A-Za-z][\w']*")

# Query analysis weights, on the scale of the default leg weights (semantic + keyword 0.9).
# Fitted by logistic regression on LoCoMo dev and checked leave-one-conversation-out
# (bench/fusion_fit.py; docs/benchmarks.md, "Retrieval").
NAMES_WEIGHT = 1.19  # x the share of the query's names in the memory's own text
WORDS_WEIGHT = 2.49  # x the share of the query's content words in it
FOUND_BY = {"semantic": 0.39, "keyword": 0.42}  # for each leg that returned the memory
QUESTION_WEIGHT = -0.75  # if its content ends with "?": a question states little
LENGTH_WEIGHT = 0.43  # x log(1 + its number of content words): a longer memory says more
SOFT_WORDS_WEIGHT = 3.73  # x the soft word match (Fused.soft_words)
# x how close a date its text names (or its creation day) is to one the query names: set
# on LoCoMo dev beside the fitted weights (bench/fusion_fit.py, DATES_WEIGHTS).
DATES_WEIGHT = 1.0
DATE_REACH_DAYS = 7  # dates this many days apart count 0 (search/dates.py, closeness)


def calibrate(hits: Sequence[Hit], slots: int) -> tuple[dict[str, float], float]:
    """(z-score per memory, the leg's lowest value) over the first `slots` hits, empty
    slots 0. Hits past the slots (a page reaching deeper) get the lowest value, as a
    memory the leg missed: the scale, and so each memory's z-score, is the same whatever
    the number of hits fetched."""
    if not hits:
        return {}, 0.0
    scores = [h.score for h in hits[:slots]]
    pool = scores + [0.0] * max(0, slots - len(scores))
    mean = sum(pool) / len(pool)
    deviation = math.sqrt(sum((s - mean) ** 2 for s in pool) / len(pool))
    if deviation <= 1e-12:
        return {h.memory_id: 0.0 for h in hits}, 0.0
    lowest = (min(pool) - mean) / deviation
    z = {h.memory_id: max(lowest, (h.score - mean) / deviation) for h in hits}
    return z, lowest


def standardise(
    values: Mapping[str, float], over: Collection[str] | None = None
) -> dict[str, float]:
    """Plain z-scores of a signal every candidate has (recency), the mean and deviation
    taken over the keys in `over` (all if None); all equal: 0 each."""
    pool = list(values.values()) if over is None else [values[k] for k in over if k in values]
    if not pool:
        return dict.fromkeys(values, 0.0)
    mean = sum(pool) / len(pool)
    deviation = math.sqrt(sum((v - mean) ** 2 for v in pool) / len(pool))
    if deviation <= 1e-12:
        return dict.fromkeys(values, 0.0)
    return {key: (v - mean) / deviation for key, v in values.items()}


def logistic(value: float) -> float:
    if value >= 0:
        return 1.0 / (1.0 + math.exp(-value))
    e = math.exp(value)
    return e / (1.0 + e)


def identifiers(query: str) -> list[str]:
    """The query's tokens shaped like identifiers, lower-cased, in order, each once."""
    found = []
    for raw in _WORD.findall(query):
        token = raw.rstrip(_TRAILING)
        if _is_identifier(token):
            found.append(token.lower())
    return list(dict.fromkeys(found))


def _is_identifier(token: str) -> bool:
    letters = sum(c.isalpha() for c in token)
    if not letters:
        return False  # a bare number: a year or a count, common in prose
    if any(c.isdigit() for c in token) or "_" in token:
        return True  # ERR-42, 7f3k2, user_id
    if len(token) >= 5 and re.search(r"[a-zA-Z]\.[a-zA-Z]{2}", token):
        return True  # invoice.pdf, api.example
    if letters >= 3 and token.replace("-", "").isupper():
        return True  # NASA, HTTP-GET
    return bool(re.search(r"[a-z][A-Z]", token))  # getUserId, iPhone


def identifier_matches(idents: Sequence[str], text: str) -> int:
    """How many of the identifiers occur in `text` as whole tokens (case-insensitive)."""
    if not idents:
        return 0
    lowered = text.lower()
    return sum(1 for ident in idents if _holds(lowered, ident))


def _holds(text: str, ident: str) -> bool:
    start = text.find(ident)
    while start != -1:
        end = start + len(ident)
        before = text[start - 1] if start else " "
        after = text[end] if end < len(text) else " "
        if not (before.isalnum() or before == "_") and not (after.isalnum() or after == "_"):
            return True
        start = text.find(ident, start + 1)
    return False


@cache
def stopwords() -> frozenset[str]:
    """The keyword analyzer's stopwords (NLTK's English list), read from the OpenSearch
    mapping that both index adapters follow."""
    mapping = json.loads((resources.files("engram.adapters") / "memories-index.json").read_text())
    return frozenset(mapping["settings"]["analysis"]["analyzer"]["engram_english"]["stopwords"])


def content_words(text: str) -> frozenset[str]:
    """Lower-cased words of two or more characters, stopwords dropped (not stemmed)."""
    return frozenset(_CONTENT_WORD.findall(text.lower())) - stopwords()


def names(query: str) -> list[str]:
    """The query's capitalised words after its first (names, places, acronyms), lower-cased,
    a possessive 's dropped, each once."""
    return list(dict.fromkeys(word.lower() for _, word in _name_spans(query)))


def _name_spans(query: str) -> list[tuple[re.Match[str], str]]:
    """Each capitalised word after the first, with the name it stands for ('s dropped)."""
    found = []
    for match in list(_NAME.finditer(query))[1:]:
        word = match.group().removesuffix("'s")
        if len(word) > 1 and word[0].isupper():
            found.append((match, word))
    return found


def _stands_alone(text: str, match: re.Match[str]) -> bool:
    """Whether the word is not part of a longer token (ERR-7F3K2, Foo.pdf, my_Var)."""
    before = text[match.start() - 1 : match.start()] or " "
    after = text[match.end() : match.end() + 2] or " "
    joined = after[0] in "./:" and after[1:].isalnum()  # Prod.yaml, but not "Ada."
    return not (before.isalnum() or before in "_-./") and not (
        after[0].isalnum() or after[0] in "_-" or joined
    )


# A query keeps its names in its vector unless this many content words remain without them:
# where a name is the subject ("Tell me about Postgres", "When did Gina mention Shia
# Labeouf?") the rest is filler, whose vector finds nothing. LoCoMo is unchanged by it
# (0.804 in force, 0.809 held out, bench/fusion_fit.py).
MIN_WORDS_WITHOUT_NAMES = 2


def semantic_query(query: str) -> str:
    """What a hybrid search embeds: the query without its names, unless fewer than
    MIN_WORDS_WITHOUT_NAMES content words would remain. The keyword leg and the names
    signal match names exactly; in the vector a name pulls toward every memory that
    mentions that person, and in a store about a few people that is most of them (LoCoMo:
    +0.009 on the held-out mean)."""
    spans = [match for match, _ in _name_spans(query) if _stands_alone(query, match)]
    if not spans:
        return query
    kept, start = [], 0
    for match in spans:
        kept.append(query[start : match.start()])
        start = match.end()
    kept.append(query[start:])
    stripped = " ".join("".join(kept).split())
    return stripped if len(content_words(stripped)) >= MIN_WORDS_WITHOUT_NAMES else query


class Fused:
    """One search's calibrated legs, ready to score each candidate."""

    def __init__(self, legs: Mapping[str, Sequence[Hit]], slots: int, query: str) -> None:
        """`slots`: how many of each leg's first hits set its scale and count as found
        (the default page's window); hits past them are candidates only."""
        self._legs = {name: calibrate(hits, slots) for name, hits in legs.items()}
        # Only where the keyword leg runs: semantic mode stays a pure vector search.
        self._identifiers = identifiers(query) if "keyword" in legs else []
        self._found = {name: {h.memory_id for h in hits[:slots]} for name, hits in legs.items()}
        self._names = names(query) if self.hybrid else []
        self._words = content_words(query) if self.hybrid else frozenset()
        self._dates = date_spans(query, years=True) if self.hybrid else []
        self.asks_for_many = asks_for_many(query)
        self._closeness: dict[str, dict[str, float]] = {}  # query word -> word -> cosine

    @property
    def hybrid(self) -> bool:
        return len(self._legs) > 1

    def candidates(self) -> list[str]:
        return list(dict.fromkeys(m for z, _ in self._legs.values() for m in z))

    def window(self) -> frozenset[str]:
        """The candidates within some leg's slots: what scales recency and lends session
        support, so a deeper page does not change how the window's memories score."""
        return frozenset(m for found in self._found.values() for m in found)

    def leg(self, name: str, memory_id: str) -> float | None:
        """The memory's z-score on that leg (the leg's lowest if it missed it); None if the
        search did not run that leg."""
        if name not in self._legs:
            return None
        z, lowest = self._legs[name]
        return z.get(memory_id, lowest)

    @property
    def query_words(self) -> frozenset[str]:
        """The query's content words (hybrid only): what the soft word match looks for."""
        return self._words

    def words_to_compare(self, texts: Iterable[str]) -> set[str]:
        """The words whose vectors the soft word match reads: the query's content words and
        those of each text (none outside hybrid or for a query without content words)."""
        if not self._words:
            return set()
        return set(self._words).union(*(content_words(text) for text in texts))

    def use_meanings(self, vectors: Mapping[str, Any]) -> None:
        """Word -> unit vector (numpy) for the soft word match; a word without one counts
        as matching nothing. Each query word's cosines to every word are taken here, in
        one product, so scoring a candidate only looks them up."""
        import numpy as np

        query = sorted(w for w in self._words if w in vectors)
        words = list(vectors)
        if not query:
            self._closeness = {}
            return
        cosines = np.stack([vectors[w] for w in query]) @ np.stack([vectors[w] for w in words]).T
        rows = np.clip(cosines, 0.0, None).tolist()
        self._closeness = {
            q: dict(zip(words, row, strict=True)) for q, row in zip(query, rows, strict=True)
        }

    def soft_words(self, own: frozenset[str]) -> float:
        """Of the query's content words, the share the text lacks, each counted by the best
        cosine (>= 0) between it and the text's own words: 0 when it lacks none, or when no
        word vectors were given."""
        total = 0.0
        for word in self._words - own:
            closeness = self._closeness.get(word)
            if closeness:
                total += max((closeness.get(w, 0.0) for w in own), default=0.0)
        return total / len(self._words) if self._words else 0.0

    def analysis(self, memory_id: str, text: str, created: date | None = None) -> float:
        """Hybrid only (0 otherwise): what the memory's own text (and the day it was
        created) and the legs that found it add to its fused value (query analysis, above)."""
        if not self.hybrid:
            return 0.0
        signals = self.signals(memory_id, text, created)
        return (
            FOUND_BY["semantic"] * signals["found_semantic"]
            + FOUND_BY["keyword"] * signals["found_keyword"]
            + NAMES_WEIGHT * signals["names"]
            + WORDS_WEIGHT * signals["words"]
            + QUESTION_WEIGHT * signals["question"]
            + LENGTH_WEIGHT * signals["length"]
            + SOFT_WORDS_WEIGHT * signals["soft_words"]
            + DATES_WEIGHT * signals["dates"]
        )

    def signals(self, memory_id: str, text: str, created: date | None = None) -> dict[str, float]:
        """Whether each leg found the memory (0 or 1), the shares of the query's names and
        content words its own text holds, whether it is a question (0 or 1),
        log(1 + its number of content words), the soft word match and how close the dates
        it names, and the day it was created, are to those the query asks about."""
        lowered = text.lower()
        held = sum(1 for name in self._names if _holds(lowered, name))
        own = content_words(text)
        words = len(self._words & own) / len(self._words) if self._words else 0.0
        return {
            "found_semantic": float(memory_id in self._found.get("semantic", ())),
            "found_keyword": float(memory_id in self._found.get("keyword", ())),
            "names": held / len(self._names) if self._names else 0.0,
            "words": words,
            "question": float(text.rstrip().endswith("?")),
            "length": math.log1p(len(own)),
            "soft_words": self.soft_words(own),
            "dates": self._dates_closeness(text, created) if self._dates else 0.0,
        }

    def _dates_closeness(self, text: str, created: date | None) -> float:
        named = date_spans(text) + ([(created, created)] if created else [])
        return closeness(self._dates, named, DATE_REACH_DAYS)

    def tier(self, text: str) -> int:
        """How many of the query's identifiers the text holds: ranks before the score."""
        return identifier_matches(self._identifiers, text)


# A hybrid candidate gains this share of the best other candidate of its session (when that
# one scores above the mean): memories of one conversation that match together support each
# other. Chosen by leave-one-conversation-out on LoCoMo dev (docs/benchmarks.md, "Retrieval").
SESSION_SUPPORT = 0.3
# A question asking for many things (`asks_for_many`) gets this share instead: its answers
# lie in many sessions, and the support would fill the page with one session's turns
# (LoCoMo dev, leave-one-conversation-out: docs/benchmarks.md, "Retrieval").
MANY_SESSION_SUPPORT = 0.0

# Words after "what"/"which" that end in s but are no plural noun.
_NOT_PLURALS = frozenset(
    "does is was has this his hers its as us yes ours yours theirs whereas always".split()
)


def asks_for_many(query: str) -> bool:
    """Whether the query asks for a list or a count: "How many ...", "What are some ...",
    or "What"/"Which" with a plural noun among its next three words ("What activities does
    Melanie partake in?", "Which endorsement deals ...", "What do Melanie's kids like?";
    not "What does ...", "What is ...")."""
    words = re.findall(r"[a-z][a-z'-]*", query.lower())
    if words[:2] == ["how", "many"] or words[:3] == ["what", "are", "some"]:
        return True
    if words[:1] not in (["what"], ["which"]):
        return False
    for word in words[1:4]:
        if word in _NOT_PLURALS:
            return False
        if len(word) > 3 and word.endswith("s") and not word.endswith(("ss", "us", "is", "'s")):
            return True
    return False


def session_support(
    values: Mapping[str, float],
    session_of: Mapping[str, str | None],
    share: float,
    supporters: Collection[str] | None = None,
) -> dict[str, float]:
    """Each value plus `share` x the best positive value among the other candidates of its
    session (of those in `supporters`, all if None); memories without a session are left
    as they are."""
    best: dict[str, list[float]] = {}
    for memory_id, value in values.items():
        session = session_of.get(memory_id)
        if session is not None and (supporters is None or memory_id in supporters):
            top = best.setdefault(session, [])
            top.append(value)
            top.sort(reverse=True)
            del top[2:]  # the two best are enough to know "the best other"
    supported = {}
    for memory_id, value in values.items():
        session = session_of.get(memory_id)
        top = best.get(session, []) if session is not None else []
        # the best other: the runner-up if this one is the best (a tie is the same value)
        own = supporters is None or memory_id in supporters
        other = (
            (top[1] if len(top) > 1 else 0.0)
            if top and own and value >= top[0]
            else top[0]
            if top
            else 0.0
        )
        supported[memory_id] = value + share * max(0.0, other)
    return supported
