"""POST /v1/memories/search through the combined app, moto and the pump."""

import itertools

import pytest

from engram import wiring

CORPUS = {
    "email": {
        "content": "The customer prefers email over phone calls.",
        "memory_type": "preference",
        "tags": ["customer:ada", "vip"],
        "metadata": {"category": "preferences", "tier": 2},
        "session_id": "sess_a",
        "role": "user",
        "user_id": "user_ada",
    },
    "deploy": {
        "content": "Deploys go out every Tuesday after the standup meeting.",
        "memory_type": "fact",
        "tags": ["team:infra"],
        "session_id": "sess_b",
        "role": "assistant",
        "agent_id": "agent_ops",
        "metadata": {"category": "process"},
    },
    "ocaml": {
        "content": "Ada thinks zygomorphic folds in OCaml are elegant.",
        "memory_type": "entity",
        "tags": ["customer:ada", "kind:trivia"],
        "session_id": "sess_a",
        "role": "user",
        "user_id": "user_ada",
        "metadata": {"category": "trivia"},
    },
    "report": {
        "content": "The quarterly report must reach finance before the fifth.",
        "memory_type": "decision",
        "tags": ["kind:deadline", "team:finance"],
        "session_id": "sess_b",
        "role": "assistant",
        "metadata": {"category": "process"},
    },
}


def _store(client, auth, body):
    response = client.post("/v1/memories", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def corpus(client, auth, pump):
    """name → memory id, all embedded and indexed."""
    ids = {name: _store(client, auth, body)["memory_id"] for name, body in CORPUS.items()}
    pump.drain_once()
    return ids


def _search(client, auth, status=200, **body):
    response = client.post("/v1/memories/search", json=body, headers=auth)
    assert response.status_code == status, response.text
    return response.json()


def _ids(result):
    return [r["memory_id"] for r in result["results"]]


def _names(result, corpus):
    by_id = {v: k for k, v in corpus.items()}
    return [by_id[i] for i in _ids(result)]


def test_semantic_finds_a_paraphrase(client, auth, corpus):
    result = _search(
        client, auth, query="How does the client like to be contacted?", search_mode="semantic"
    )
    assert _names(result, corpus)[0] == "email"
    top = result["results"][0]
    assert top["scores"]["keyword"] == 0 and top["scores"]["semantic"] > 0.9
    assert top["content"] == CORPUS["email"]["content"] and top["tags"] == ["customer:ada", "vip"]
    assert result["query_time_ms"] >= 0 and result["total"] == 4


def test_keyword_finds_exact_rare_words(client, auth, corpus):
    result = _search(client, auth, query="zygomorphic", search_mode="keyword")
    assert _names(result, corpus) == ["ocaml"] and result["total"] == 1
    assert result["results"][0]["scores"]["keyword"] > 0.99  # the only hit of 40 slots


def test_hybrid_ranks_sensibly_with_scores_in_unit_range(client, auth, corpus):
    result = _search(client, auth, query="when do deploys happen?")
    assert _names(result, corpus)[0] == "deploy"
    scores = [r["score"] for r in result["results"]]
    assert scores == sorted(scores, reverse=True)
    for r in result["results"]:
        assert 0 <= r["score"] <= 1 and all(0 <= v <= 1 for v in r["scores"].values())
    keys = set(result["results"][0])
    assert {
        "memory_id",
        "content",
        "memory_type",
        "role",
        "score",
        "scores",
        "created_at",
        "tags",
        "metadata",
        "session_id",
        "title",
        "importance_score",
    } <= keys


def test_function_words_do_not_outrank_meaning(client, auth, corpus, pump):
    """The README's example: a memory sharing only "we" with the query ranked above the one
    it asks for (its lone keyword hit scored 1.0 after min-max). "we", "how" and "should"
    are stopwords now, so only meaning and "Ada" count."""
    ship = _store(client, auth, {"content": "We decided to ship on Fridays."})["memory_id"]
    pump.drain_once()
    query = "how should we contact Ada?"
    ranked = _ids(_search(client, auth, query=query, search_mode="hybrid"))
    assert ranked.index(corpus["email"]) < ranked.index(ship)
    keyword = _ids(_search(client, auth, query=query, search_mode="keyword"))
    assert keyword == [corpus["ocaml"]]  # the one memory that names Ada


FILTER_CASES = [
    ({"session_id": "sess_a"}, {"email", "ocaml"}),
    ({"memory_types": ["fact", "decision"]}, {"deploy", "report"}),
    ({"role": "assistant"}, {"deploy", "report"}),
    ({"tags": ["customer:ada", "vip"]}, {"email"}),
    ({"tag_filters": [{"key": "kind", "value": "trivia", "op": "eq"}]}, {"ocaml"}),
    (
        {"tag_filters": [{"key": "team", "value": "infra", "op": "neq"}]},
        {"email", "ocaml", "report"},
    ),
    ({"tag_filters": [{"key": "kind", "op": "exists"}]}, {"ocaml", "report"}),
    ({"tag_filters": [{"key": "team", "value": "fin", "op": "prefix"}]}, {"report"}),
    ({"filters": {"category": "process"}}, {"deploy", "report"}),
    ({"filters": {"category": "preferences", "tier": 2}}, {"email"}),
    ({"filters": {"category": "process", "tier": 2}}, set()),
    ({"user_id": "user_ada"}, {"email", "ocaml"}),
    ({"agent_id": "agent_ops"}, {"deploy"}),
    ({"from_time": "2000-01-01T00:00:00Z", "to_time": "2001-01-01T00:00:00Z"}, set()),
    ({"from_time": "2000-01-01T00:00:00Z"}, {"email", "deploy", "ocaml", "report"}),
]


def test_every_filter_in_every_mode(client, auth, corpus):
    """One corpus for all cases: setting one up costs seconds."""
    for (filters, expected), mode in itertools.product(
        FILTER_CASES, ("semantic", "keyword", "hybrid", None)
    ):
        body = {"query": "customer email deploys report zygomorphic", "limit": 100, **filters}
        if mode is None:
            body.pop("query")  # filter-only listing
        else:
            body["search_mode"] = mode
        result = _search(client, auth, **body)
        assert set(_names(result, corpus)) == expected, (filters, mode)
        assert result["total"] == len(expected), (filters, mode)


def test_weights_steer_hybrid_and_must_sum_to_one(client, auth, corpus):
    keyword_only = _search(
        client, auth, query="zygomorphic", weights={"semantic": 0, "keyword": 1, "recency": 0}
    )
    assert _names(keyword_only, corpus)[0] == "ocaml"
    assert keyword_only["results"][0]["score"] > 0.99
    body = _search(
        client, auth, 422, query="x", weights={"semantic": 0.5, "keyword": 0.3, "recency": 0.1}
    )
    assert "sum to 1.0" in body["detail"] and body["code"] == "validation_error"
    _search(client, auth, query="x", weights={"semantic": 0.6, "keyword": 0.3, "recency": 0.1005})


def test_limit_topk_alias_offset_and_min_score(client, auth, corpus):
    full = _search(client, auth, query="customer email deploys report", limit=4)
    everything = _ids(full)
    assert (
        _ids(_search(client, auth, query="customer email deploys report", topK=2)) == everything[:2]
    )
    page = _search(client, auth, query="customer email deploys report", limit=2, offset=1)
    assert _ids(page) == everything[1:3] and page["total"] == 4
    # a min_score between the second and the third result's keeps the first two
    threshold = (full["results"][1]["score"] + full["results"][2]["score"]) / 2
    strict = _search(client, auth, query="customer email deploys report", min_score=threshold)
    assert _ids(strict) == everything[:2] and strict["total"] == 2


def test_filter_only_listing_is_newest_first(client, auth, corpus):
    result = _search(client, auth, limit=10)
    assert _ids(result) == list(reversed(corpus.values()))  # stored in order
    assert all(
        r["scores"]["semantic"] == 0 and r["scores"]["keyword"] == 0 for r in result["results"]
    )
    assert all(r["score"] == r["scores"]["recency"] > 0.99 for r in result["results"])
    assert _ids(_search(client, auth, query="   ")) == _ids(result)


def test_a_deleted_memory_never_appears_even_before_the_index_catches_up(
    client, auth, corpus, workspace, pump
):
    gone, hard = corpus["ocaml"], corpus["email"]
    assert client.delete(f"/v1/memories/{gone}", headers=auth).status_code == 200
    assert client.delete(f"/v1/memories/{hard}/hard", headers=auth).status_code == 204
    assert wiring.search_index().count(workspace[0].workspace_id) == 4  # the index lags
    for mode in ("semantic", "keyword", "hybrid"):
        result = _search(client, auth, query="zygomorphic Ada email", search_mode=mode)
        assert gone not in _ids(result) and hard not in _ids(result)
    assert {gone, hard}.isdisjoint(_ids(_search(client, auth)))
    assert client.post(f"/v1/memories/{gone}/restore", headers=auth).status_code == 200
    pump.drain_once()
    assert _ids(_search(client, auth, query="zygomorphic", search_mode="keyword")) == [gone]


def test_another_workspace_never_sees_them(client, auth, other_auth, corpus):
    for mode in ("semantic", "keyword", "hybrid"):
        assert _search(client, other_auth, query="zygomorphic email", search_mode=mode) == {
            "results": [],
            "total": 0,
            "query_time_ms": pytest.approx(0, abs=1e4),
        }
    assert _search(client, other_auth)["results"] == []


@pytest.mark.parametrize(
    "body, phrase",
    [
        ({"query": "x", "search_mode": "fuzzy"}, "search_mode"),
        ({"query": "x", "limit": 0}, "limit"),
        ({"query": "x", "limit": 101}, "limit"),
        ({"query": "x", "topK": 101}, "topK"),
        ({"query": "x", "limit": 5, "topK": 6}, "not both"),
        ({"query": "x", "offset": -1}, "offset"),
        ({"query": "x", "tag_filters": [{"key": "k", "value": "v", "op": "like"}]}, "op"),
        ({"query": "x", "tag_filters": [{"key": "k", "op": "eq"}]}, "needs a value"),
        ({"query": "x", "from_time": "yesterday"}, "from_time"),
        ({"query": "x", "from_time": 0.5}, "from_time"),
        ({"query": "x", "limit": "5"}, "limit"),
        ({"query": "x", "min_score": True}, "min_score"),
        ({"query": "x", "weights": {"semantic": "1", "keyword": 0}}, "weights.semantic"),
        ({"query": "x", "weights": {"semantic": 1.2}}, "weights.semantic"),
        ({"query": "x", "weights": {"semantic": 0.5, "bm25": 0.5}}, "Unknown field"),
        ({"query": "x", "min_score": 2}, "min_score"),
        ({"query": "x", "memory_types": ["Gossip!"]}, "memory_types"),
        ({"query": "x", "session_id": "bad id!"}, "session_id"),
        ({"query": "x", "colour": "red"}, "Unknown field 'colour'"),
    ],
)
def test_bad_input_is_422_with_a_sentence(client, auth, body, phrase):
    response = _search(client, auth, 422, **body)
    assert phrase in response["detail"] and response["detail"].endswith(".")
    assert response["code"] == "validation_error" and response["errors"]


def test_search_needs_credentials_and_is_a_read(client, corpus, make_workspace):
    assert client.post("/v1/memories/search", json={"query": "x"}).status_code == 401


def test_seed_filters_narrow_search_and_listing(client, auth, pump):
    def store(content, **body):
        return _store(client, auth, {"content": content, **body})["memory_id"]

    low = store("Deploys go out on Friday.", importance_score=0.2, event_type="deploy")
    high = store(
        "Deploys need a green build.",
        importance_score=0.9,
        confidence_score=0.9,
        event_type="deploy",
    )
    err = store(
        "The deploy failed with a timeout.",
        importance_score=0.7,
        event_type="error",
        confidence_score=0.3,
    )
    pump.drain_once()
    ranked = _search(client, auth, query="deploy", min_importance=0.5)
    assert set(_ids(ranked)) == {high, err}
    assert _ids(_search(client, auth, query="deploy", min_confidence=0.5)) == [high]
    assert _ids(_search(client, auth, query="deploy", event_types=["error"])) == [err]
    assert _ids(_search(client, auth, query="deploy", content_contains="GREEN")) == [high]
    listed = _search(client, auth, event_types=["deploy"], order="asc")
    assert _ids(listed) == [low, high]
    assert _ids(_search(client, auth, event_types=["deploy"])) == [high, low]
    assert _ids(_search(client, auth, min_importance=0.5, content_contains="deploy")) == [
        err,
        high,
    ]
    bad = _search(client, auth, 422, query="x", min_confidence=2)
    assert "min_confidence" in bad["detail"]
