"""The OpenSearch adapter's pure parts: mapping, query bodies, documents, scores, auth."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest

from engram.adapters import opensearch_index as osi
from engram.search.index import IndexDocument, SearchFilters, TagFilter

WS = "ws-1"
EVERY_FILTER = SearchFilters(
    session_id="s",
    memory_types=("semantic", "episodic"),
    role="user",
    tags=("vip", "customer:ada"),
    tag_filters=(
        TagFilter("kind", "eq", "pref"),
        TagFilter("kind", "neq", "fact"),
        TagFilter("team", "exists"),
        TagFilter("customer", "prefix", "ad"),
    ),
    metadata={"category": "preferences", "priority": 2, "flag": True, "ratio": 2.0},
    user_id="u",
    agent_id="g",
    from_time=datetime(2025, 1, 1, tzinfo=UTC),
    to_time=datetime(2025, 1, 2, 3, 4, 5, 6000, tzinfo=UTC),
)
FILTER_SETS = [
    SearchFilters(),
    EVERY_FILTER,
    SearchFilters(tag_filters=(TagFilter("k", "neq", "v"),)),
]


def _bodies(filters: SearchFilters) -> dict[str, dict[str, Any]]:
    return {
        "knn": osi.knn_body(WS, [0.1] * 4, filters, 5),
        "bm25": osi.bm25_body(WS, "coffee", filters, 5),
        "list": osi.list_body(WS, filters, 10, 20),
    }


def _scope_of(kind: str, body: dict[str, Any]) -> dict[str, Any]:
    if kind == "knn":
        return body["query"]["knn"]["embedding"]["filter"]
    return body["query"]["bool"]["filter"][0]


# --- mapping ---


def test_mapping_has_the_dimension_filled_in_and_the_template_untouched() -> None:
    body = osi.index_body(384)
    embedding = body["mappings"]["properties"]["embedding"]
    assert embedding["dimension"] == 384
    assert osi.index_body(1024)["mappings"]["properties"]["embedding"]["dimension"] == 1024
    template = json.loads(osi.MAPPING_PATH.read_text())
    assert template["mappings"]["properties"]["embedding"]["dimension"] is None


def test_the_mappings_analyzer_drops_the_local_indexs_stopwords() -> None:
    """One stopword list on both adapters: OpenSearch's english analyzer (possessives,
    Porter) with the local index's list instead of Lucene's 33 words."""
    from engram.adapters import local_index

    analyzer = osi.index_body(8)["settings"]["analysis"]["analyzer"]["engram_english"]
    assert analyzer["type"] == "english"
    assert set(analyzer["stopwords"]) == local_index._STOPWORDS
    assert len(analyzer["stopwords"]) == len(set(analyzer["stopwords"])) == 179


def test_mapping_field_types() -> None:
    body = osi.index_body(8)
    props = body["mappings"]["properties"]
    assert body["settings"]["index"]["knn"] is True
    method = props["embedding"]["method"]
    assert props["embedding"]["type"] == "knn_vector"
    assert (method["name"], method["space_type"]) == ("hnsw", "cosinesimil")
    assert method["engine"] in {"lucene", "faiss"}
    for text in ("content", "title", "search_text"):
        assert props[text] == {"type": "text", "analyzer": "engram_english"}
    for keyword in (
        "memory_id",
        "workspace_id",
        "session_id",
        "memory_type",
        "role",
        "tags",
        "tag_keys",
        "user_id",
        "agent_id",
        "source",
    ):
        assert props[keyword] == {"type": "keyword"}, keyword
    assert props["created_at"]["type"] == "date"
    assert props["importance_score"]["type"] == "float"
    assert props["metadata"]["type"] == "flat_object"


def test_every_document_field_is_mapped() -> None:
    doc = IndexDocument(
        "m",
        WS,
        "c",
        [0.0],
        title="t",
        session_id="s",
        role="r",
        tags=("a:b",),
        metadata={"x": 1},
        user_id="u",
        agent_id="g",
        search_text="st",
    )
    props = osi.index_body(1)["mappings"]["properties"]
    assert set(osi.doc_source(doc)) <= set(props)


# --- the workspace scope ---


@pytest.mark.parametrize("filters", FILTER_SETS)
@pytest.mark.parametrize("kind", ["knn", "bm25", "list"])
def test_every_query_is_scoped_to_the_workspace(kind: str, filters: SearchFilters) -> None:
    scope = _scope_of(kind, _bodies(filters)[kind])
    assert scope["bool"]["filter"][0] == {"term": {"workspace_id": WS}}
    assert {"term": {"workspace_id": WS}} not in scope["bool"].get("must_not", [])


def test_count_and_id_pages_are_scoped_too() -> None:
    assert osi.count_body(WS)["query"]["bool"]["filter"] == [{"term": {"workspace_id": WS}}]
    page = osi.ids_page_body(WS, ["a", "b"], 100, ["a"])
    assert page["query"]["bool"]["filter"] == [
        {"term": {"workspace_id": WS}},
        {"terms": {"memory_id": ["a", "b"]}},
    ]
    assert page["search_after"] == ["a"] and page["size"] == 100
    assert "search_after" not in osi.ids_page_body(WS, None, 10, None)


def test_an_empty_workspace_is_refused() -> None:
    with pytest.raises(ValueError):
        osi.base_filter("", SearchFilters())


# --- filters ---


def test_each_filter_becomes_its_clause() -> None:
    scope = osi.base_filter(WS, EVERY_FILTER)["bool"]
    assert scope["filter"] == [
        {"term": {"workspace_id": WS}},
        {"term": {"session_id": "s"}},
        {"term": {"role": "user"}},
        {"term": {"user_id": "u"}},
        {"term": {"agent_id": "g"}},
        {"terms": {"memory_type": ["semantic", "episodic"]}},
        {"term": {"tags": "vip"}},
        {"term": {"tags": "customer:ada"}},
        {"term": {"tags": "kind:pref"}},
        {"term": {"tag_keys": "team"}},
        {"prefix": {"tags": "customer:ad"}},
        {"term": {"metadata.category": "preferences"}},
        {"term": {"metadata.priority": "2"}},
        {"term": {"metadata.flag": "true"}},
        {"term": {"metadata.ratio": "2"}},
        {
            "range": {
                "created_at": {
                    "gte": "2025-01-01T00:00:00.000000Z",
                    "lte": "2025-01-02T03:04:05.006000Z",
                }
            }
        },
    ]
    assert scope["must_not"] == [{"term": {"tags": "kind:fact"}}]


def test_no_filters_means_only_the_workspace() -> None:
    assert osi.base_filter(WS, SearchFilters()) == {
        "bool": {"filter": [{"term": {"workspace_id": WS}}]}
    }


def test_half_open_time_range() -> None:
    scope = osi.base_filter(WS, SearchFilters(to_time=datetime(2025, 1, 1, tzinfo=UTC)))
    assert scope["bool"]["filter"][1] == {
        "range": {"created_at": {"lte": "2025-01-01T00:00:00.000000Z"}}
    }


def test_unknown_tag_op_is_refused() -> None:
    with pytest.raises(ValueError):
        TagFilter("k", "like", "v")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        TagFilter("k", "eq")


# --- query bodies ---


def test_knn_body() -> None:
    body = osi.knn_body(WS, [1, 2, 3], SearchFilters(role="user"), 12)
    assert body["size"] == 12 and body["_source"] == ["memory_id"]
    assert body["query"] == {
        "knn": {
            "embedding": {
                "vector": [1.0, 2.0, 3.0],
                "k": 12,
                "filter": {
                    "bool": {"filter": [{"term": {"workspace_id": WS}}, {"term": {"role": "user"}}]}
                },
            }
        }
    }


def test_bm25_body() -> None:
    body = osi.bm25_body(WS, "oat milk", SearchFilters(), 7)
    assert body["size"] == 7
    assert body["query"]["bool"]["must"] == [
        {"multi_match": {"query": "oat milk", "fields": ["search_text", "title", "content"]}}
    ]


def test_list_body_sorts_newest_first_and_pages() -> None:
    body = osi.list_body(WS, SearchFilters(), 10, 30)
    assert (body["from"], body["size"]) == (30, 10)
    assert body["query"]["bool"]["must"] == [{"match_all": {}}]
    assert body["sort"] == [{"created_at": {"order": "desc"}}, {"memory_id": {"order": "asc"}}]


# --- documents and responses ---


def test_doc_source() -> None:
    doc = IndexDocument(
        "m1",
        WS,
        "hello",
        (1, 0.5),
        tags=("customer:ada", "vip", "customer:bob", "kind:x"),
        metadata={"a": 1},
        created_at=datetime(2025, 5, 6, 7, 8, 9, 123456, tzinfo=UTC),
    )
    source = osi.doc_source(doc)
    assert source["embedding"] == [1.0, 0.5]
    assert source["tag_keys"] == ["customer", "kind"]
    assert source["created_at"] == "2025-05-06T07:08:09.123456Z"
    assert "title" not in source and "session_id" not in source  # None fields are left out
    assert osi.doc_id(WS, "m1") == "ws-1:m1"


def test_scores_come_back_as_cosine() -> None:
    assert osi.cosine_from_score(1.0) == 1.0
    assert osi.cosine_from_score(0.5) == 0.0
    assert osi.cosine_from_score(0.0) == -1.0


def test_hits_from_response_dedupes_and_scales() -> None:
    response = {
        "hits": {
            "hits": [
                {"_id": "1", "_score": 0.9, "_source": {"memory_id": "a"}},
                {"_id": "2", "_score": 0.8, "_source": {"memory_id": "a"}},
                {"_id": "3", "_score": 0.6, "_source": {"memory_id": "b"}},
                {"_id": "4", "_score": None, "_source": {"memory_id": "c"}},
            ]
        }
    }
    knn = osi.hits_from_response(response, "knn")
    assert [(h.memory_id, round(h.score, 6)) for h in knn] == [("a", 0.8), ("b", 0.2), ("c", -1.0)]
    assert [h.score for h in osi.hits_from_response(response, "bm25")] == [0.9, 0.6, 0.0]
    assert [h.score for h in osi.hits_from_response(response, "list")] == [0.0, 0.0, 0.0]


# --- auth and endpoints ---


@pytest.mark.parametrize(
    ("endpoint", "aws", "service"),
    [
        ("https://search-x.us-east-1.es.amazonaws.com", True, "es"),
        ("abc123.us-east-1.aoss.amazonaws.com", True, "aoss"),
        ("http://127.0.0.1:9200", False, "es"),
        ("http://localhost:9200", False, "es"),
    ],
)
def test_endpoint_kind(endpoint: str, aws: bool, service: str) -> None:
    assert osi.is_aws_endpoint(endpoint) is aws
    assert osi.aws_service(endpoint, "es") == service


def test_aws_endpoints_are_signed_with_sigv4() -> None:
    import requests
    from opensearchpy import AWSV4SignerAuth

    client = osi.make_client(
        "https://abc.us-east-1.aoss.amazonaws.com", region="us-east-1", service="aoss"
    )
    auth = client.transport.get_connection().session.auth
    assert isinstance(auth, AWSV4SignerAuth)
    signed = auth(
        requests.Request("GET", "https://abc.us-east-1.aoss.amazonaws.com/idx/_count").prepare()
    )
    assert "AWS4-HMAC-SHA256" in signed.headers["Authorization"]
    assert "/us-east-1/aoss/aws4_request" in signed.headers["Authorization"]


def test_plain_endpoints_are_not_signed() -> None:
    client = osi.make_client("http://127.0.0.1:9200", region="us-east-1", service="es")
    connection = client.transport.get_connection()
    assert getattr(connection, "session", None) is None or connection.session.auth is None
    assert "authorization" not in {k.lower() for k in connection.headers}


# --- the adapter's writes, on a recording client ---


class FakeClient:
    def __init__(self) -> None:
        from opensearchpy.serializer import JSONSerializer

        self.transport = SimpleNamespace(serializer=JSONSerializer())
        self.bulk_calls: list[tuple[str, dict[str, Any]]] = []
        self.searches: list[dict[str, Any]] = []

    def bulk(self, body: Any, **params: Any) -> dict[str, Any]:
        self.bulk_calls.append((body, params))
        return {"errors": False, "items": []}

    def search(self, index: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        self.searches.append(body)
        hits = (
            []
            if "search_after" in body
            else [{"_id": "gen-1", "sort": ["m"], "_source": {"memory_id": "m"}}]
        )
        return {"hits": {"hits": hits}}

    def count(self, index: str, body: dict[str, Any], **params: Any) -> dict[str, Any]:
        return {"count": 1}


def _doc(memory_id: str = "m") -> IndexDocument:
    return IndexDocument(memory_id, WS, "text", [1.0, 0.0])


def test_upsert_uses_workspace_qualified_ids_and_refresh() -> None:
    client = FakeClient()
    osi.OpenSearchIndex(client, "idx", refresh="wait_for").upsert([_doc()])
    [(body, params)] = client.bulk_calls
    assert '"_id":"ws-1:m"' in body.replace(" ", "")
    assert params.get("refresh") == "wait_for"


def test_serverless_upsert_sends_no_ids_or_refresh_and_drops_old_copies() -> None:
    client = FakeClient()
    osi.OpenSearchIndex(client, "idx", serverless=True, refresh="wait_for").upsert([_doc()])
    (index_body, index_params), (delete_body, _) = client.bulk_calls
    assert '"_id"' not in index_body.split("\n")[0] and "refresh" not in index_params
    assert '"delete"' in delete_body and "gen-1" in delete_body
    assert client.searches[0]["query"]["bool"]["filter"][0] == {"term": {"workspace_id": WS}}
