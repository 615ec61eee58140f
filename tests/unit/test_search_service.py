"""Search fusion maths with fakes: no AWS, no model."""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest
from pydantic import ValidationError

from engram.agent_scope import UNBOUND, AgentScope
from engram.clock import FixedClock, iso
from engram.errors import Forbidden
from engram.memories.models import Memory
from engram.search import service as search_service
from engram.search.fusion import (
    DATES_WEIGHT,
    FOUND_BY,
    LENGTH_WEIGHT,
    MANY_SESSION_SUPPORT,
    NAMES_WEIGHT,
    QUESTION_WEIGHT,
    SESSION_SUPPORT,
    SOFT_WORDS_WEIGHT,
    WORDS_WEIGHT,
    Fused,
    asks_for_many,
    calibrate,
    content_words,
    identifier_matches,
    identifiers,
    logistic,
    names,
    semantic_query,
    session_support,
    standardise,
)
from engram.search.index import Hit, SearchFilters
from engram.search.models import DEFAULT_WEIGHTS, SearchRequest, Weights
from engram.search.service import SearchService, mode_weights, recency_score

NOW = datetime(2026, 3, 1, tzinfo=UTC)


class FakeIndex:
    def __init__(self, knn=(), bm25=(), listed=()):
        self.hits = {"knn": list(knn), "bm25": list(bm25), "list": list(listed)}
        self.calls: list[tuple[str, int, SearchFilters]] = []

    def knn(self, workspace_id, vector, filters, k):
        self.calls.append(("knn", k, filters))
        return self.hits["knn"][:k]

    def bm25(self, workspace_id, text, filters, k):
        self.calls.append(("bm25", k, filters))
        return self.hits["bm25"][:k]

    def list(self, workspace_id, filters, limit, offset=0):
        self.calls.append(("list", limit, filters))
        return self.hits["list"][offset : offset + limit]


class FakeEmbedder:
    dimension, name = 3, "fake"

    def __init__(self):
        self.texts: list[str] = []

    def embed(self, texts):
        self.texts.extend(texts)
        return np.ones((len(texts), 3), dtype=np.float32)


class FakeRepo:
    def __init__(self, memories, pending=()):
        self.memories = {m.memory_id: m for m in memories}
        self.pending = list(pending)  # StoredMemory: written, not yet indexed

    def unindexed(self, workspace_id, limit):
        return [s for s in self.pending if s.memory.workspace_id == workspace_id][:limit]

    def get_many(self, workspace_id, ids):
        return {
            i: self.memories[i]
            for i in ids
            if i in self.memories and self.memories[i].workspace_id == workspace_id
        }


def memory(memory_id, age_days=0.0, workspace_id="ws_1"):
    return Memory(
        memory_id=memory_id,
        workspace_id=workspace_id,
        content=f"content {memory_id}",
        created_at=iso(NOW - timedelta(days=age_days)),
    )


def service(index, memories, half_life=30.0, factor=4, embedder=None, scope=UNBOUND, pending=()):
    return SearchService(
        index,
        embedder or FakeEmbedder(),
        FakeRepo(memories, pending),
        FixedClock(NOW),
        half_life_days=half_life,
        candidates_factor=factor,
        scope=scope,
    )


def request(**body):
    return SearchRequest.model_validate({"query": "q", **body})


def by_id(response):
    return {r.memory_id: r for r in response.results}


# calibration ---------------------------------------------------------------------------


def test_calibrate_gives_z_scores_over_the_slots():
    z, lowest = calibrate([Hit("a", 3.0), Hit("b", 1.0), Hit("c", 2.0)], 3)
    assert z == pytest.approx({"a": 1.2247449, "b": -1.2247449, "c": 0.0})
    assert lowest == pytest.approx(-1.2247449)


def test_empty_slots_count_as_zero_so_a_lone_hit_stands_out():
    z, lowest = calibrate([Hit("a", 4.0)], 40)
    assert z["a"] == pytest.approx(39**0.5) and lowest == pytest.approx(-(39**-0.5))


@pytest.mark.parametrize("hits", [[Hit("a", 4.0), Hit("b", 4.0)], [Hit("a", 0.0)]])
def test_calibrate_all_equal_is_zero(hits):
    assert set(calibrate(hits, len(hits))[0].values()) == {0.0}


def test_calibrate_of_nothing_is_empty():
    assert calibrate([], 10) == ({}, 0.0)


def test_standardise_and_logistic():
    assert standardise({"a": 1.0, "b": 1.0}) == {"a": 0.0, "b": 0.0}
    assert standardise({"a": 2.0, "b": 0.0}) == {"a": 1.0, "b": -1.0}
    assert logistic(0) == 0.5 and logistic(-800) == 0.0 and logistic(800) == 1.0


@pytest.mark.parametrize(
    "query, expected",
    [
        ("what failed with ERR-7F3K2?", ["err-7f3k2"]),
        ("open invoice_2024.pdf and report.txt.", ["invoice_2024.pdf", "report.txt"]),
        ("call getUserId for NASA", ["getuserid", "nasa"]),
        ("a dairy-free cake in 2023 for Caroline", []),
    ],
)
def test_identifiers_are_the_identifier_shaped_tokens(query, expected):
    assert identifiers(query) == expected


def test_identifier_matches_whole_tokens_only():
    assert identifier_matches(["err-42"], "Saw ERR-42, then ERR-421.") == 1
    assert identifier_matches(["err-42"], "Saw ERR-421 and xERR-42") == 0
    assert identifier_matches(["a.pdf", "b_2"], "b_2 then a.pdf") == 2


# recency -------------------------------------------------------------------------------


@pytest.mark.parametrize("age, expected", [(0, 1.0), (30, 0.5), (60, 0.25), (-5, 1.0)])
def test_recency_halves_every_half_life(age, expected):
    assert recency_score(NOW - timedelta(days=age), NOW, 30) == pytest.approx(expected)


def test_recency_follows_the_configured_half_life():
    svc = service(FakeIndex(knn=[Hit("a", 0.9)]), [memory("a", age_days=7)], half_life=7)
    result = svc.search("ws_1", request(search_mode="semantic"))
    assert result.results[0].scores.recency == pytest.approx(0.5)


# weights -------------------------------------------------------------------------------


def test_hybrid_is_the_logistic_of_the_weighted_z_scores(monkeypatch):
    monkeypatch.setattr(search_service, "CANDIDATE_WINDOW", 2)  # two slots a leg
    index = FakeIndex(knn=[Hit("a", 0.9), Hit("b", 0.5)], bm25=[Hit("b", 8.0), Hit("c", 2.0)])
    svc = service(index, [memory("a"), memory("b", 30), memory("c", 60)], factor=1)
    weights = {"semantic": 0.5, "keyword": 0.3, "recency": 0.2}
    got = by_id(svc.search("ws_1", request(weights=weights, limit=2)))
    # two slots per leg: z = +-1 on each; a leg's miss gets its lowest (-1); recency
    # 1, 0.5, 0.25 standardised over the three candidates; in hybrid, each leg that found a
    # memory adds its FOUND_BY weight, and its length (one content word) LENGTH_WEIGHT x
    # log 2 (the query "q" has no name and no content word)
    recent = standardise({"a": 1.0, "b": 0.5, "c": 0.25})
    length = LENGTH_WEIGHT * math.log(2)
    found_a = FOUND_BY["semantic"] + length
    found_b = FOUND_BY["semantic"] + FOUND_BY["keyword"] + length
    expected_a = 0.5 - 0.3 + 0.2 * recent["a"] + found_a
    expected_b = -0.5 + 0.3 + 0.2 * recent["b"] + found_b
    assert got["a"].score == pytest.approx(logistic(expected_a), abs=1e-6)
    assert got["b"].score == pytest.approx(logistic(expected_b), abs=1e-6)
    assert got["a"].scores.semantic == pytest.approx(logistic(1.0), abs=1e-6)
    assert got["a"].scores.keyword == pytest.approx(logistic(-1.0), abs=1e-6)
    assert got["b"].scores.recency == pytest.approx(0.5)


def test_a_memory_far_above_its_leg_outranks_the_best_of_a_flat_leg():
    # min-max put both legs' best at 1.0; calibrated, the lone exact keyword match wins
    knn = [Hit("near", 0.52), *(Hit(f"v{i}", 0.5 - i * 0.001) for i in range(10))]
    index = FakeIndex(knn=knn, bm25=[Hit("exact", 9.0)])
    memories = [memory("near"), memory("exact", 30), *(memory(f"v{i}") for i in range(10))]
    result = service(index, memories).search("ws_1", request(query="zorblax"))
    assert result.results[0].memory_id == "exact"


def test_identifier_holders_rank_first_in_hybrid_and_keyword_not_semantic():
    index = FakeIndex(
        knn=[Hit("near", 0.9), Hit("holder", 0.1)], bm25=[Hit("near", 5.0), Hit("holder", 1.0)]
    )
    near = memory("near")
    holder = Memory(
        memory_id="holder",
        workspace_id="ws_1",
        content="deploy broke: ERR-7F3K2",
        created_at=iso(NOW),
    )
    svc = service(index, [near, holder])
    for mode in ("hybrid", "keyword"):
        got = svc.search("ws_1", request(query="why ERR-7F3K2", search_mode=mode))
        assert got.results[0].memory_id == "holder", mode
    semantic = svc.search("ws_1", request(query="why ERR-7F3K2", search_mode="semantic"))
    assert semantic.results[0].memory_id == "near"


def test_default_hybrid_weights(monkeypatch):
    monkeypatch.setattr(search_service, "CANDIDATE_WINDOW", 1)  # k = limit: one slot a leg
    assert DEFAULT_WEIGHTS.semantic + DEFAULT_WEIGHTS.keyword + DEFAULT_WEIGHTS.recency == 1.0
    index = FakeIndex(knn=[Hit("a", 0.9)], bm25=[Hit("a", 3.0)])
    result = service(index, [memory("a", 30)], factor=1).search("ws_1", request(limit=1))
    # one slot per leg: every z-score is 0; found by both legs; "q" holds no name or word;
    # "content a" has one content word
    found = FOUND_BY["semantic"] + FOUND_BY["keyword"] + LENGTH_WEIGHT * math.log(2)
    assert result.results[0].score == pytest.approx(logistic(found), abs=1e-6)


@pytest.mark.parametrize("mode, leg", [("semantic", "semantic"), ("keyword", "keyword")])
def test_single_leg_mode_keeps_recency_weight_and_gives_the_leg_the_rest(mode, leg):
    weights = mode_weights(mode, Weights(semantic=0.5, keyword=0.2, recency=0.3))
    assert getattr(weights, leg) == pytest.approx(0.7) and weights.recency == 0.3
    other = "keyword" if leg == "semantic" else "semantic"
    assert getattr(weights, other) == 0.0
    assert mode_weights(mode, None).recency == pytest.approx(0.1)


def test_single_leg_modes_run_only_their_leg():
    index, embedder = FakeIndex(knn=[Hit("a", 1.0)], bm25=[Hit("b", 1.0)]), FakeEmbedder()
    svc = service(index, [memory("a"), memory("b")], embedder=embedder)
    assert [r.memory_id for r in svc.search("ws_1", request(search_mode="keyword")).results] == [
        "b"
    ]
    assert embedder.texts == []  # keyword never embeds
    assert [r.memory_id for r in svc.search("ws_1", request(search_mode="semantic")).results] == [
        "a"
    ]
    assert embedder.texts == ["q"]


def test_the_embedder_may_be_a_factory_called_only_when_needed():
    made = []
    svc = SearchService(
        FakeIndex(knn=[Hit("a", 1.0)]),
        lambda: made.append(1) or FakeEmbedder(),
        FakeRepo([memory("a")]),
        FixedClock(NOW),
        30,
        4,
    )
    svc.search("ws_1", request(search_mode="keyword"))
    assert made == []
    svc.search("ws_1", request(search_mode="semantic"))
    svc.search("ws_1", request(search_mode="semantic"))
    assert made == [1]


@pytest.mark.parametrize(
    "weights",
    [
        {"semantic": 0.6, "keyword": 0.3},
        {"semantic": 0.7, "keyword": 0.3, "recency": 0.1},
        {"semantic": 0.0},
    ],
)
def test_weights_must_sum_to_one(weights):
    with pytest.raises(ValidationError, match=r"sum to 1\.0"):
        request(weights=weights)


def test_weights_within_tolerance_are_fine():
    assert request(weights={"semantic": 0.6, "keyword": 0.3, "recency": 0.1009}).weights


# candidates, re-check, paging ----------------------------------------------------------


def test_each_leg_fetches_factor_times_limit_plus_offset_or_the_default_window():
    index = FakeIndex()
    service(index, [], factor=3).search("ws_1", request(limit=15, offset=2))
    assert sorted((name, k) for name, k, _ in index.calls) == [("bm25", 51), ("knn", 51)]
    index = FakeIndex()
    service(index, [], factor=3).search("ws_1", request(limit=5, offset=2))  # within 10
    assert sorted((name, k) for name, k, _ in index.calls) == [("bm25", 30), ("knn", 30)]


def test_hits_the_table_no_longer_has_are_dropped_and_not_counted():
    index = FakeIndex(knn=[Hit("a", 0.9), Hit("gone", 0.8), Hit("b", 0.1)], bm25=[Hit("gone", 5.0)])
    svc = service(index, [memory("a"), memory("b"), memory("other", workspace_id="ws_2")])
    index.hits["knn"].append(Hit("other", 0.5))
    result = svc.search("ws_1", request())
    assert [r.memory_id for r in result.results] == ["a", "b"] and result.total == 2
    # calibration saw the deleted hit: "a" is as far above the leg as it was
    assert result.results[0].scores.semantic == pytest.approx(0.985826, abs=1e-6)


def test_min_score_then_offset_then_limit_and_total_before_paging():
    hits = [Hit(f"m{i}", 10.0 - i) for i in range(10)]  # m0 best .. m9 worst
    svc = service(FakeIndex(bm25=hits), [memory(f"m{i}") for i in range(10)])
    weights = {"keyword": 1.0}
    everything = svc.search("ws_1", request(search_mode="keyword", weights=weights, limit=100))
    assert [r.memory_id for r in everything.results] == [f"m{i}" for i in range(10)]
    page = svc.search(
        "ws_1", request(search_mode="keyword", weights=weights, limit=2, offset=3, min_score=0.5)
    )
    # scores are the logistic of the z-scores over 40 slots (4 x the default window of 10;
    # 30 empty): m0..m8 are >= 0.5
    assert page.total == 9 and [r.memory_id for r in page.results] == ["m3", "m4"]
    assert all(r.score >= 0.5 for r in page.results)


def test_results_are_best_first_with_ties_broken_by_newest():
    index = FakeIndex(bm25=[Hit("old", 2.0), Hit("new", 2.0)])
    svc = service(index, [memory("old", 10), memory("new", 1)])
    weights = {"keyword": 1.0}
    result = svc.search("ws_1", request(search_mode="keyword", weights=weights))
    assert [r.memory_id for r in result.results] == ["new", "old"]
    assert result.results[0].score == result.results[1].score > 0.9


def test_scores_stay_in_the_unit_range():
    index = FakeIndex(knn=[Hit("a", 1.0), Hit("b", -1.0)], bm25=[Hit("a", 50.0)])
    result = service(index, [memory("a"), memory("b", 400)]).search("ws_1", request())
    for r in result.results:
        assert 0 <= r.score <= 1
        assert all(0 <= v <= 1 for v in r.scores.model_dump().values())
    assert result.query_time_ms >= 0


# filter-only listing -------------------------------------------------------------------


def test_no_query_lists_newest_first_scored_by_recency():
    index = FakeIndex(listed=[Hit("new", 0), Hit("gone", 0), Hit("old", 0)])
    svc = service(index, [memory("new", 0), memory("old", 30)])
    for body in ({"query": None}, {"query": "  "}, {}):
        result = svc.search("ws_1", SearchRequest.model_validate(body))
        assert [r.memory_id for r in result.results] == ["new", "old"] and result.total == 2
        assert [r.score for r in result.results] == pytest.approx([1.0, 0.5])
        assert result.results[1].scores.model_dump() == pytest.approx(
            {"semantic": 0.0, "keyword": 0.0, "recency": 0.5}
        )
    assert {name for name, _, _ in index.calls} == {"list"}


def test_an_agent_bound_caller_is_narrowed_to_its_agent_in_the_index():
    index = FakeIndex()
    bound = service(index, [], scope=AgentScope("agent_me"))
    bound.search("ws_1", request())
    bound.search("ws_1", request(agent_id="agent_me", search_mode="keyword"))
    assert index.calls and {f.agent_id for _, _, f in index.calls} == {"agent_me"}


def test_an_agent_bound_caller_asking_for_another_agent_is_refused():
    index = FakeIndex()
    with pytest.raises(Forbidden, match="bound to agent 'agent_me'"):
        service(index, [], scope=AgentScope("agent_me")).search("ws_1", request(agent_id="x"))
    assert index.calls == []


def test_request_filters_map_to_the_port():
    body = request(
        session_id="s1",
        memory_types=["fact"],
        role="user",
        tags=["a"],
        tag_filters=[{"key": "k", "op": "exists"}],
        filters={"x": 1},
        from_time="2026-01-01T00:00:00",
        to_time="2026-02-01T00:00:00+01:00",
        topK=7,
    )
    f = body.index_filters()
    assert body.limit == 7 and f.memory_types == ("fact",) and f.metadata == {"x": 1}
    assert f.tag_filters[0].op == "exists" and f.from_time.tzinfo is not None
    assert f.to_time == datetime(2026, 1, 31, 23, tzinfo=UTC)
    assert request(memory_types=[]).index_filters().memory_types is None


# session support -----------------------------------------------------------------------


def test_session_support_adds_a_share_of_the_best_other_of_the_session():
    values = {"a": 2.0, "b": 1.0, "c": -1.0, "d": 3.0, "e": 0.5}
    sessions = {"a": "s1", "b": "s1", "c": "s1", "d": "s2", "e": None}
    got = session_support(values, sessions, 0.5)
    assert got == {"a": 2.5, "b": 2.0, "c": 0.0, "d": 3.0, "e": 0.5}
    assert session_support({"a": 1.0, "b": 1.0}, {"a": "s", "b": "s"}, 0.5) == {"a": 1.5, "b": 1.5}
    # a negative best other gives nothing
    assert session_support({"a": -1.0, "b": -2.0}, {"a": "s", "b": "s"}, 0.5) == {
        "a": -1.0,
        "b": -2.0,
    }


def test_hybrid_lifts_a_candidate_whose_session_matches_too():
    knn = [Hit("lone", 0.60), Hit("paired", 0.59), Hit("mate", 0.58)]
    knn += [Hit(f"v{i}", 0.3 - i * 0.01) for i in range(8)]
    index = FakeIndex(knn=knn, bm25=[Hit("mate", 4.0), Hit("lone", 1.0), Hit("paired", 1.0)])
    memories = [memory(h.memory_id) for h in knn]
    memories = [
        m.model_copy(update={"session_id": "talk"}) if m.memory_id in ("paired", "mate") else m
        for m in memories
    ]
    svc = service(index, memories, factor=1)
    hybrid = [r.memory_id for r in svc.search("ws_1", request(limit=11)).results]
    assert hybrid.index("paired") < hybrid.index("lone")
    semantic = svc.search("ws_1", request(search_mode="semantic", limit=11)).results
    assert [r.memory_id for r in semantic][:2] == ["lone", "paired"]  # one leg: no support


def test_a_question_asking_for_many_things_gets_its_own_session_support():
    knn = [Hit("lone", 0.60), Hit("paired", 0.59), Hit("mate", 0.58)]
    knn += [Hit(f"v{i}", 0.3 - i * 0.01) for i in range(8)]
    index = FakeIndex(knn=knn, bm25=[Hit("mate", 4.0), Hit("lone", 1.0), Hit("paired", 1.0)])
    memories = [
        memory(h.memory_id).model_copy(
            update={"session_id": "talk" if h.memory_id in ("paired", "mate") else None}
        )
        for h in knn
    ]
    svc = service(index, memories, factor=1)
    one = svc.search("ws_1", request(query="What does Melanie do?", limit=11)).results
    many = svc.search("ws_1", request(query="What activities does Melanie do?", limit=11)).results
    assert MANY_SESSION_SUPPORT < SESSION_SUPPORT
    one_ids, many_ids = [r.memory_id for r in one], [r.memory_id for r in many]
    assert one_ids.index("paired") < one_ids.index("lone")
    assert many_ids.index("lone") < many_ids.index("paired")  # its answers span sessions


@pytest.mark.parametrize(
    "query",
    [
        "How many times has Melanie gone to the beach?",
        "What are some changes Caroline has faced?",
        "What activities does Melanie partake in?",
        "Which endorsement deals has John been offered?",
        "What kinds of books does Caroline read?",
        "What do Melanie's kids like?",
        "what LGBTQ+ events has Caroline attended",
    ],
)
def test_questions_that_ask_for_many_things(query):
    assert asks_for_many(query)


@pytest.mark.parametrize(
    "query",
    [
        "What does Melanie do to destress?",
        "What is Caroline's identity?",
        "What was the charity about?",
        "When did Jon open his studios?",
        "Where has Melanie camped?",
        "Which class did Nate take?",
        "activities of Melanie",
        "",
    ],
)
def test_questions_that_do_not(query):
    assert not asks_for_many(query)


def test_a_factory_built_once_is_built_once_when_threads_ask_together():
    import threading

    from engram.wiring import _once as built_once

    built, release = [], threading.Event()

    @built_once
    def make() -> object:
        release.wait(5)  # a slow build: the other threads ask meanwhile
        built.append(object())
        return built[-1]

    got = []
    threads = [threading.Thread(target=lambda: got.append(make())) for _ in range(4)]
    for thread in threads:
        thread.start()
    release.set()
    for thread in threads:
        thread.join(5)
    assert len(built) == 1 and got == built * 4
    make.cache_clear()
    assert make() is not built[0]


# read-your-writes: memories not yet indexed ------------------------------------------------


def stored(memory_id, content, tags=()):
    from engram.memories.repository import StoredMemory

    m = Memory(
        memory_id=memory_id,
        workspace_id="ws_1",
        content=content,
        tags=list(tags),
        created_at=iso(NOW),
    )
    return StoredMemory(m, "hash", None, None, None, index_stamp=f"{iso(NOW)}#{memory_id}")


def test_a_pending_memory_holding_every_query_term_ties_the_best_index_hit():
    fresh = stored("new", "Ada drinks green tea")
    svc = service(
        FakeIndex(bm25=[Hit("old", 8.0), Hit("older", 2.0)]),
        [memory("old"), memory("older"), fresh.memory],
        pending=[fresh],
    )
    got = by_id(svc.search("ws_1", request(query="green tea", search_mode="keyword")))
    assert got["new"].scores.keyword == got["old"].scores.keyword
    assert got["older"].scores.keyword < got["old"].scores.keyword


def test_the_index_copy_of_a_pending_memory_is_replaced_by_what_it_is_now():
    """The index still holds the old tags; the memory no longer passes the filter."""
    changed = stored("m", "Ada drinks coffee", tags=["kind:coffee"])
    svc = service(FakeIndex(bm25=[Hit("m", 5.0)]), [changed.memory], pending=[changed])
    old_tag = request(query="coffee", search_mode="keyword", tags=["kind:tea"])
    assert svc.search("ws_1", old_tag).results == []
    new_tag = request(query="coffee", search_mode="keyword", tags=["kind:coffee"])
    assert [r.memory_id for r in svc.search("ws_1", new_tag).results] == ["m"]


def test_pending_memories_are_embedded_for_semantic_search_with_the_query_vector():
    fresh = stored("new", "Ada drinks green tea")
    embedder = FakeEmbedder()
    svc = service(FakeIndex(), [fresh.memory], embedder=embedder, pending=[fresh])
    got = svc.search("ws_1", request(query="what does Ada drink", search_mode="semantic"))
    assert [r.memory_id for r in got.results] == ["new"]
    assert embedder.texts == ["what does Ada drink", "Ada drinks green tea"]  # query once


# query analysis ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("When did Caroline go to the LGBTQ support group?", ["caroline", "lgbtq"]),
        ("What is Melanie's favourite book?", ["melanie"]),
        ("Caroline said what?", []),  # the first word: any question may start capitalised
        ("did Jon and Gina meet Jon?", ["jon", "gina"]),
        ("what did I say", []),
    ],
)
def test_names_are_the_capitalised_words_after_the_first(query, expected):
    assert names(query) == expected


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("What does Melanie paint to destress?", "What does paint to destress?"),
        ("What is Melanie's favourite book?", "What is favourite book?"),
        # where the name is the subject, the rest is filler: the query stays whole
        ("Tell me about Postgres", "Tell me about Postgres"),
        ("When did Gina mention Shia Labeouf?", "When did Gina mention Shia Labeouf?"),
        ("What does Melanie do to destress?", "What does Melanie do to destress?"),
        ("How do Jon and Gina both like to destress?", "How do and both like to destress?"),
        ("Caroline said what about adoption?", "Caroline said what about adoption?"),
        ("what did I say about the deploy", "what did I say about the deploy"),
        ("Where is Ada Lovelace?", "Where is Ada Lovelace?"),  # only stopwords would remain
        ("what broke with ERR-7F3K2 in Prod.yaml?", "what broke with ERR-7F3K2 in Prod.yaml?"),
    ],
)
def test_the_semantic_query_is_the_query_without_its_names(query, expected):
    assert semantic_query(query) == expected


def test_hybrid_embeds_the_query_without_its_names_single_leg_semantic_as_given():
    embedder = FakeEmbedder()
    svc = service(FakeIndex(knn=[Hit("a", 1.0)]), [memory("a")], embedder=embedder)
    svc.search("ws_1", request(query="What does Melanie paint to destress?"))
    svc.search("ws_1", request(query="What does Melanie paint to unwind?", search_mode="semantic"))
    # hybrid also embeds each word its soft word match compares, one call, once per service:
    # the query's content words first, then the candidate's ("content a": content)
    words = ["destress", "melanie", "paint", "content"]
    semantic = "What does Melanie paint to unwind?"
    assert embedder.texts == ["What does paint to destress?", *words, semantic]


def test_content_words_drop_stopwords_and_one_letter_words():
    assert content_words("What did she say about the Dairy-free cake? A lot") == {
        "say",
        "dairy",
        "free",
        "cake",
        "lot",
    }


def test_analysis_adds_the_legs_that_found_it_the_shares_of_names_and_words_and_the_form():
    legs = {"semantic": [Hit("a", 0.9), Hit("b", 0.5)], "keyword": [Hit("b", 3.0)]}
    fused = Fused(legs, 2, "Where did Caroline buy the running shoes?")
    # names: caroline; content words: caroline, buy, running, shoes (not stemmed)
    a = fused.signals("a", "Melanie: I bought running shoes")
    assert a == {
        "found_semantic": 1.0,
        "found_keyword": 0.0,
        "names": 0.0,
        "words": 0.5,  # running, shoes
        "question": 0.0,
        "length": pytest.approx(math.log(1 + 4)),  # melanie, bought, running, shoes
        "soft_words": 0.0,  # no word vectors given
        "dates": 0.0,  # the query names no date
    }
    b = fused.signals("b", "Caroline: did you buy them? ")
    assert b == {
        "found_semantic": 1.0,
        "found_keyword": 1.0,
        "names": 1.0,
        "words": 0.5,  # caroline, buy
        "question": 1.0,
        "length": pytest.approx(math.log(1 + 2)),
        "soft_words": 0.0,
        "dates": 0.0,
    }
    assert fused.analysis("b", "Caroline: did you buy them? ") == pytest.approx(
        FOUND_BY["semantic"]
        + FOUND_BY["keyword"]
        + NAMES_WEIGHT
        + WORDS_WEIGHT * 0.5
        + QUESTION_WEIGHT
        + LENGTH_WEIGHT * math.log(3)
    )
    assert Fused({"keyword": legs["keyword"]}, 2, "Caroline").analysis("b", "Caroline") == 0.0


def test_the_date_signal_reads_the_dates_a_text_names_and_the_day_it_was_created():
    fused = Fused({"semantic": [Hit("a", 0.9)], "keyword": []}, 2, "What shipped in March 2026?")
    assert fused.signals("a", "2026-03-04: shipped")["dates"] == 1.0
    assert fused.signals("a", "2026-04-04: shipped")["dates"] == pytest.approx(3 / 7)  # 4 days on
    assert fused.signals("a", "2026-04-10: shipped")["dates"] == 0.0  # past the reach
    assert fused.signals("a", "shipped")["dates"] == 0.0
    assert fused.signals("a", "shipped", NOW.date())["dates"] == 1.0  # created on 1 March
    assert fused.analysis("a", "2026-03-04: shipped") - fused.analysis(
        "a", "2026-05-04: shipped"
    ) == pytest.approx(DATES_WEIGHT)
    undated = Fused({"semantic": [Hit("a", 0.9)], "keyword": []}, 2, "What shipped?")
    assert undated.signals("a", "2026-03-04: shipped", NOW.date())["dates"] == 0.0


def test_hybrid_ranks_the_memory_of_the_day_the_query_names_first():
    index = FakeIndex(knn=[Hit("june", 0.5), Hit("january", 0.5)], bm25=[])
    january, june = memory("january", 1), memory("june")
    january.content, june.content = "2022-01-23: finished the screenplay", "2022-06-23: finished"
    got = service(index, [january, june]).search(
        "ws_1", request(query="What did Joanna finish on 23 January, 2022?")
    )
    assert DATES_WEIGHT > 0
    assert [r.memory_id for r in got.results] == ["january", "june"]
    # and a memory's creation day counts as a date it names: the older one, created that day
    older, newer = memory("older", 10), memory("newer")
    index = FakeIndex(knn=[Hit("newer", 0.5), Hit("older", 0.5)], bm25=[])
    asked = (NOW - timedelta(days=10)).strftime("%d %B, %Y")
    got = service(index, [older, newer]).search("ws_1", request(query=f"What was on {asked}?"))
    assert [r.memory_id for r in got.results] == ["older", "newer"]


def unit_vectors(**heads):
    """word -> unit vector from a short head (the rest zeros), 4 dimensions."""
    out = {}
    for word, head in heads.items():
        v = np.zeros(4, dtype=np.float32)
        v[: len(head)] = head
        out[word] = v / np.linalg.norm(v)
    return out


def test_soft_words_count_each_missing_query_word_by_its_closest_word_in_the_text():
    fused = Fused({"semantic": [Hit("a", 0.9)], "keyword": []}, 2, "Did Caroline buy shoes?")
    # query content words: caroline, buy, shoes
    assert fused.words_to_compare(["Melanie: I bought shoes"]) == {
        "caroline",
        "buy",
        "shoes",
        "melanie",
        "bought",
    }
    fused.use_meanings(
        unit_vectors(
            caroline=(0, 0, 1),  # orthogonal to every word of the text: adds nothing
            buy=(1, 0),
            bought=(0.8, 0.6),  # cosine 0.8 with buy
            shoes=(0, 1),
            melanie=(-0.6, -0.8),  # cosine -0.6 with buy: counts as 0
        )
    )
    own = content_words("Melanie: I bought shoes")
    # missing: buy (best: bought, 0.8), caroline (0); shoes is there, the exact share counts it
    assert fused.soft_words(own) == pytest.approx(0.8 / 3)
    assert fused.signals("a", "Melanie: I bought shoes")["soft_words"] == pytest.approx(0.8 / 3)
    assert fused.soft_words(content_words("Caroline will buy shoes")) == 0.0  # none missing
    assert fused.soft_words(content_words("zebra")) == 0.0  # no vector: matches nothing
    base = fused.analysis("a", "Melanie: I bought shoes") - SOFT_WORDS_WEIGHT * 0.8 / 3
    fused.use_meanings({})
    assert fused.analysis("a", "Melanie: I bought shoes") == pytest.approx(base)


def test_soft_words_need_a_hybrid_search_and_query_content_words():
    only_keyword = Fused({"keyword": [Hit("a", 1.0)]}, 2, "Did Caroline buy shoes?")
    assert only_keyword.words_to_compare(["shoes"]) == set()
    no_words = Fused({"semantic": [], "keyword": []}, 2, "what is it?")
    assert no_words.words_to_compare(["shoes"]) == set()


class KeyedEmbedder:
    """Vectors by text (a 4-dimension head); every other text its own axis past those, so
    unrelated texts are orthogonal."""

    dimension = 64

    def __init__(self, name="keyed", **heads):
        self.name, self.calls = name, []
        self.vectors = {t: np.pad(v, (0, 60)) for t, v in unit_vectors(**heads).items()}

    def embed(self, texts):
        self.calls.append(list(texts))
        for text in texts:
            if text not in self.vectors:
                self.vectors[text] = np.eye(64, dtype=np.float32)[4 + len(self.vectors)]
        return np.stack([self.vectors[t] for t in texts])


def test_hybrid_ranks_a_memory_saying_it_in_other_words_above_one_that_does_not():
    # alike on both legs and in every exact signal; only "bought" is close to "buy"
    index = FakeIndex(knn=[Hit("other", 0.5), Hit("said", 0.5)], bm25=[])
    said, other = memory("said", 1), memory("other")
    said.content, other.content = "Caroline: bought shoes", "Caroline: washed shoes"
    embedder = KeyedEmbedder(buy=(1, 0), bought=(0.9, 0.1), washed=(0, 1))
    got = service(index, [said, other], embedder=embedder).search(
        "ws_1", request(query="Did Caroline buy shoes?")
    )
    assert SOFT_WORDS_WEIGHT > 0
    assert [r.memory_id for r in got.results] == ["said", "other"]


def test_hybrid_without_word_vectors_when_the_embedder_fails_on_them():
    from engram.search.embedder import EmbeddingError

    class QueryOnly(KeyedEmbedder):
        def embed(self, texts):
            if len(texts) > 1:
                raise EmbeddingError("Bedrock throttled the request.", retryable=True)
            return super().embed(texts)

    index = FakeIndex(knn=[Hit("a", 0.5)], bm25=[])
    got = service(index, [memory("a")], embedder=QueryOnly()).search(
        "ws_1", request(query="Did Caroline buy shoes?")
    )
    assert [r.memory_id for r in got.results] == ["a"]  # ranked, without the soft match


def test_word_vectors_are_embedded_once_and_the_least_recently_used_go_first():
    from engram.search.meanings import WordMeanings

    meanings = WordMeanings(capacity=3)
    embedder = KeyedEmbedder(buy=(1, 0), bought=(0, 1))
    first = meanings.of(embedder, {"buy", "bought"})
    assert embedder.calls == [["bought", "buy"]]
    assert first["buy"] == pytest.approx(np.eye(64)[0])
    assert meanings.of(embedder, ["buy"])["buy"] == pytest.approx(first["buy"])
    assert embedder.calls == [["bought", "buy"]]  # kept
    meanings.of(embedder, ["shoes", "socks"])  # four words for three places: bought goes
    assert embedder.calls[-1] == ["shoes", "socks"]
    meanings.of(embedder, ["buy", "bought"])
    assert embedder.calls[-1] == ["bought"]
    other = KeyedEmbedder(name="another-model", buy=(0, 1))
    assert meanings.of(other, ["buy"])["buy"] == pytest.approx(np.eye(64)[1])


def test_a_search_embeds_at_most_a_bound_of_new_words_through_the_port_query_words_first():
    from engram.search.meanings import PORT_BOUND, WordMeanings

    meanings, embedder = WordMeanings(), KeyedEmbedder()
    others = [f"word{i:02d}" for i in range(40)]
    got = meanings.of(embedder, ["zebra", *others], first={"zebra"})
    assert embedder.calls == [["zebra", *others[: PORT_BOUND - 1]]]
    assert set(got) == {"zebra", *others[: PORT_BOUND - 1]}  # the rest: no vector yet
    again = meanings.of(embedder, ["zebra", *others], first={"zebra"})
    assert embedder.calls[-1] == others[PORT_BOUND - 1 :]  # a later search adds them
    assert set(again) == {"zebra", *others}


def test_word_vectors_come_from_the_embedders_lookup_where_it_has_one():
    from engram.search.meanings import WordMeanings

    class WithLookup(KeyedEmbedder):
        def word_vectors(self, words):
            self.calls.append(("lookup", list(words)))
            return np.stack([np.eye(64, dtype=np.float32)[2] for _ in words])

    embedder = WithLookup()
    got = WordMeanings().of(embedder, ["kids", "buy"])
    assert embedder.calls == [("lookup", ["buy", "kids"])]  # the model is not run
    assert got["kids"] == pytest.approx(np.eye(64)[2])
    many = [f"word{i:02d}" for i in range(100)]
    assert len(WordMeanings().of(embedder, many)) == 100  # a lookup is not bounded


def test_hybrid_ranks_the_memory_whose_own_text_answers_above_its_neighbour():
    # both hold the query's words in what they are keyword-indexed with (the neighbour
    # through its context) and score alike on both legs; the one saying it itself wins
    index = FakeIndex(
        knn=[Hit("neighbour", 0.5), Hit("speaker", 0.5)],
        bm25=[Hit("neighbour", 4.0), Hit("speaker", 4.0)],
    )
    speaker = memory("speaker", 1)
    speaker.content = "Caroline: I researched adoption agencies"
    neighbour = memory("neighbour")
    neighbour.content = "Melanie: That is great!"
    got = service(index, [speaker, neighbour], embedder=KeyedEmbedder()).search(
        "ws_1", request(query="What did Caroline research about adoption?")
    )
    assert [r.memory_id for r in got.results] == ["speaker", "neighbour"]
    keyword = service(index, [speaker, neighbour]).search(
        "ws_1", request(query="What did Caroline research about adoption?", search_mode="keyword")
    )
    assert keyword.results[0].memory_id == "neighbour"  # single-leg modes stay pure: newest


def test_a_smaller_page_is_a_slice_of_the_default_one():
    # The legs are scaled over their k slots: a pool that followed `limit` would reorder
    # the results, so every page within the default window ranks the same candidates.
    knn = [Hit(f"m{i}", 0.9 - i * 0.05) for i in range(8)]
    bm25 = [Hit("m7", 3.0), Hit("m6", 2.9)]  # a short leg: its empty slots weigh with k
    memories = [memory(f"m{i}", i) for i in range(8)]
    svc = service(FakeIndex(knn=knn, bm25=bm25), memories)
    ten = [r.memory_id for r in svc.search("ws_1", request(limit=10)).results]
    assert [r.memory_id for r in svc.search("ws_1", request(limit=2)).results] == ten[:2]
    page = svc.search("ws_1", request(limit=3, offset=2)).results
    assert [r.memory_id for r in page] == ten[2:5]


def test_a_deeper_page_keeps_the_first_pages_order():
    # limit=20 fetches 80 hits a leg, limit=10 40: each leg is scaled over its first 40
    # either way, so the first ten are the same and offset=10 continues them. (Scaled over
    # 80, the keyword leg's flat tail spread less and k1 rose into the first ten.)
    knn = [Hit(f"s{i}", 0.9 - 0.004 * i) for i in range(100)]
    bm25 = [Hit("k0", 12.0), Hit("k1", 2.5)] + [Hit(f"k{i}", 1.0) for i in range(2, 60)]
    memories = [memory(f"s{i}") for i in range(100)] + [memory(f"k{i}") for i in range(60)]
    svc = service(FakeIndex(knn=knn, bm25=bm25), memories)
    ten = [r.memory_id for r in svc.search("ws_1", request(limit=10)).results]
    twenty = [r.memory_id for r in svc.search("ws_1", request(limit=20)).results]
    assert "k1" not in ten
    assert twenty[:10] == ten
    page_two = svc.search("ws_1", request(limit=10, offset=10)).results
    assert [r.memory_id for r in page_two] == twenty[10:]


def test_hits_past_the_slots_score_as_the_legs_lowest():
    hits = [Hit("a", 3.0), Hit("b", 1.0), Hit("deep", 0.5)]
    z, lowest = calibrate(hits, 2)
    assert z["a"] == pytest.approx(1.0) and z["b"] == pytest.approx(-1.0)
    assert z["deep"] == lowest == pytest.approx(-1.0)
    fused = Fused({"semantic": hits, "keyword": []}, 2, "q")
    assert fused.window() == {"a", "b"}
    assert fused.signals("deep", "x")["found_semantic"] == 0.0


def test_recency_and_session_support_come_from_the_window():
    assert standardise({"a": 2.0, "b": 0.0, "deep": 5.0}, over={"a", "b"}) == {
        "a": 1.0,
        "b": -1.0,
        "deep": 4.0,
    }
    values = {"a": 1.0, "b": 0.5, "deep": 3.0}
    sessions = dict.fromkeys(values, "s")
    assert session_support(values, sessions, 0.5, supporters={"a", "b"}) == {
        "a": 1.25,  # not lifted by the deeper candidate
        "b": 1.0,
        "deep": 3.5,  # supported by the window's best
    }
