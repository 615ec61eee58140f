"""The OpenSearch SearchIndex adapter (Amazon OpenSearch Service, Serverless, or any
plain OpenSearch endpoint).

Every query body is built by the small pure functions below so tests can assert them as
data; `base_filter` is the one place the workspace is applied, and every query embeds it.

Scores: the mapping uses the lucene engine with `cosinesimil`, whose hit score is
(1 + cos) / 2; `cosine_from_score` maps it back, so k-NN hits carry the raw cosine in
[-1, 1] exactly like the local index. Keyword hits carry OpenSearch's BM25 `_score`.

Serverless (`aoss`) vector collections take neither custom document ids nor `refresh`, so
there documents get generated ids and are found by `memory_id` to replace or delete them;
hits are de-duplicated by memory_id in case an old copy is still visible.
"""

from __future__ import annotations

import builtins  # annotations after the `list` method name the type as builtins.list
import json
from collections.abc import Iterator, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

from engram.search.breaker import CircuitBreaker
from engram.search.index import (
    Hit,
    IndexDocument,
    IndexUnavailable,
    SearchFilters,
    metadata_text,
    tag_keys,
)

# In the package, so the deployed layer carries it: the stack's setup function creates the
# index from it (functions/setup), as `engram admin create-index` does from a checkout.
MAPPING_PATH = Path(__file__).resolve().parent / "memories-index.json"
KEYWORD_FIELDS = ("search_text", "title", "content")
PAGE_SIZE = 500


# --- pure builders ---


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


@cache
def _mapping_template(path: str) -> str:
    return Path(path).read_text(encoding="utf-8")


def index_body(dimension: int, path: Path | str = MAPPING_PATH) -> dict[str, Any]:
    """The index settings and mappings from infra/, with the vector dimension filled in."""
    body = json.loads(_mapping_template(str(path)))
    body["mappings"]["properties"]["embedding"]["dimension"] = int(dimension)
    return body


def doc_id(workspace_id: str, memory_id: str) -> str:
    """Ids are workspace-qualified so one tenant's upsert can never replace another's."""
    return f"{workspace_id}:{memory_id}"


def doc_source(doc: IndexDocument, vector: bool = True) -> dict[str, Any]:
    source = {
        "memory_id": doc.memory_id,
        "workspace_id": doc.workspace_id,
        "content": doc.content,
        "title": doc.title,
        "search_text": doc.search_text,
        "embedding": vector_json(doc.embedding) if vector else None,
        "memory_type": doc.memory_type,
        "session_id": doc.session_id,
        "role": doc.role,
        "tags": list(doc.tags),
        "tag_keys": list(tag_keys(doc.tags)),
        "metadata": dict(doc.metadata),
        "user_id": doc.user_id,
        "agent_id": doc.agent_id,
        "source": doc.source,
        "importance_score": float(doc.importance_score),
        "created_at": _iso(doc.created_at),
    }
    return {key: value for key, value in source.items() if value is not None}


def vector_json(vector: Sequence[float]) -> list[float]:
    return [float(x) for x in vector]


def vector_text(vector: Sequence[float]) -> str:
    """A vector as JSON with 7 significant digits (what float32 holds): a third of the time
    json.dumps takes on the float32 values, and half the bytes for the cluster to parse
    (a bulk request of vectors is mostly that)."""
    values = vector.tolist() if hasattr(vector, "tolist") else list(vector)
    return "[" + ",".join(["%.7g"] * len(values)) % tuple(values) + "]"


def index_lines(index: str, docs: Sequence[IndexDocument]) -> str:
    """The NDJSON body of a bulk request that indexes `docs` under their ids."""
    lines = []
    for doc in docs:
        action = {"index": {"_index": index, "_id": doc_id(doc.workspace_id, doc.memory_id)}}
        head = json.dumps(doc_source(doc, vector=False), separators=(",", ":"))
        lines.append(json.dumps(action, separators=(",", ":")))
        lines.append(f'{head[:-1]},"embedding":{vector_text(doc.embedding)}}}')
    return "\n".join(lines) + "\n"


def _term(field: str, value: Any) -> dict[str, Any]:
    return {"term": {field: value}}


def _tag_clause(key: str, op: str, value: str | None) -> tuple[str, dict[str, Any]]:
    """(bool section, clause) for one tag filter."""
    if op == "eq":
        return "filter", _term("tags", f"{key}:{value}")
    if op == "neq":
        return "must_not", _term("tags", f"{key}:{value}")
    if op == "exists":
        return "filter", _term("tag_keys", key)
    if op == "prefix":
        return "filter", {"prefix": {"tags": f"{key}:{value}"}}
    raise ValueError(f"unknown tag filter op {op!r}")


def filter_clauses(filters: SearchFilters) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(filter, must_not) clauses for everything except the workspace."""
    must: list[dict[str, Any]] = [
        _term(field, value)
        for field in ("session_id", "role", "user_id", "agent_id")
        if (value := getattr(filters, field)) is not None
    ]
    must_not: list[dict[str, Any]] = []
    if filters.memory_types is not None:
        must.append({"terms": {"memory_type": list(filters.memory_types)}})
    must.extend(_term("tags", tag) for tag in filters.tags)
    for tag_filter in filters.tag_filters:
        section, clause = _tag_clause(tag_filter.key, tag_filter.op, tag_filter.value)
        (must if section == "filter" else must_not).append(clause)
    for key, value in filters.metadata.items():
        must.append(_term(f"metadata.{key}", metadata_text(value)))
    if filters.from_time is not None or filters.to_time is not None:
        bounds = {"gte": filters.from_time, "lte": filters.to_time}
        must.append(
            {"range": {"created_at": {k: _iso(v) for k, v in bounds.items() if v is not None}}}
        )
    return must, must_not


def base_filter(workspace_id: str, filters: SearchFilters) -> dict[str, Any]:
    """THE workspace scope: every query body below embeds this bool filter."""
    if not workspace_id:
        raise ValueError("a workspace id is required")
    must, must_not = filter_clauses(filters)
    clause: dict[str, Any] = {"filter": [_term("workspace_id", workspace_id), *must]}
    if must_not:
        clause["must_not"] = must_not
    return {"bool": clause}


def knn_body(
    workspace_id: str, vector: Sequence[float], filters: SearchFilters, k: int
) -> dict[str, Any]:
    """Efficient filtering: the filter sits inside the knn clause, so k hits survive it."""
    knn = {
        "vector": [float(x) for x in vector],
        "k": k,
        "filter": base_filter(workspace_id, filters),
    }
    return {"size": k, "_source": ["memory_id"], "query": {"knn": {"embedding": knn}}}


def bm25_body(workspace_id: str, text: str, filters: SearchFilters, k: int) -> dict[str, Any]:
    match = {"multi_match": {"query": text, "fields": list(KEYWORD_FIELDS)}}
    query = {"bool": {"must": [match], "filter": [base_filter(workspace_id, filters)]}}
    return {"size": k, "_source": ["memory_id"], "query": query}


def list_body(workspace_id: str, filters: SearchFilters, limit: int, offset: int) -> dict[str, Any]:
    query = {"bool": {"must": [{"match_all": {}}], "filter": [base_filter(workspace_id, filters)]}}
    sort = [{"created_at": {"order": "desc"}}, {"memory_id": {"order": "asc"}}]
    return {"from": offset, "size": limit, "_source": ["memory_id"], "query": query, "sort": sort}


def count_body(workspace_id: str) -> dict[str, Any]:
    return {"query": base_filter(workspace_id, SearchFilters())}


def ids_page_body(
    workspace_id: str, memory_ids: Sequence[str] | None, size: int, after: list[Any] | None
) -> dict[str, Any]:
    """A page of document ids in a workspace (optionally only these memory ids)."""
    scope = base_filter(workspace_id, SearchFilters())
    if memory_ids is not None:
        scope["bool"]["filter"].append({"terms": {"memory_id": list(memory_ids)}})
    body: dict[str, Any] = {
        "size": size,
        "_source": ["memory_id"],
        "query": scope,
        "sort": [{"memory_id": {"order": "asc"}}],
    }
    if after is not None:
        body["search_after"] = after
    return body


def cosine_from_score(score: float) -> float:
    """lucene cosinesimil reports (1 + cos) / 2; undo it."""
    return 2.0 * float(score) - 1.0


def hits_from_response(response: Mapping[str, Any], kind: str) -> list[Hit]:
    """Hits in response order, one per memory_id; kind is knn, bm25 or list."""
    seen: set[str] = set()
    hits: list[Hit] = []
    for raw in response["hits"]["hits"]:
        memory_id = raw["_source"]["memory_id"]
        if memory_id in seen:
            continue
        seen.add(memory_id)
        score = raw.get("_score") or 0.0
        value = (
            cosine_from_score(score) if kind == "knn" else float(score) if kind == "bm25" else 0.0
        )
        hits.append(Hit(memory_id, value))
    return hits


def is_aws_endpoint(endpoint: str) -> bool:
    host = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    return host.endswith(".amazonaws.com")


def aws_service(endpoint: str, configured: str) -> str:
    host = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}").hostname or ""
    return "aoss" if host.endswith(".aoss.amazonaws.com") else configured


# --- client ---


def make_client(
    endpoint: str, *, region: str, service: str, sigv4: bool | None = None, timeout: float = 10.0
) -> Any:
    """SigV4-signed for AWS endpoints (or when asked), unauthenticated otherwise."""
    from opensearchpy import OpenSearch, RequestsHttpConnection

    url = endpoint if "://" in endpoint else f"https://{endpoint}"
    # A timeout is not retried: a frozen cluster costs one timeout, not three (searches
    # pass their own shorter one, see OpenSearchIndex._read).
    kwargs: dict[str, Any] = {
        "hosts": [url],
        "timeout": timeout,
        "max_retries": 1,
        "retry_on_timeout": False,
    }
    if sigv4 if sigv4 is not None else is_aws_endpoint(url):
        import boto3
        from opensearchpy import AWSV4SignerAuth

        credentials = boto3.Session(region_name=region).get_credentials()
        kwargs.update(
            http_auth=AWSV4SignerAuth(credentials, region, service),
            connection_class=RequestsHttpConnection,
            use_ssl=url.startswith("https"),
            verify_certs=True,
            pool_maxsize=20,
        )
    return OpenSearch(**kwargs)


def _client_error(error: Any) -> bool:
    """A 4xx other than 404/429: our request was wrong, not the cluster unavailable."""
    status = getattr(error, "status_code", None)
    return isinstance(status, int) and 400 <= status < 500 and status != 429


# --- the adapter ---


class OpenSearchIndex:
    def __init__(
        self,
        client: Any,
        index: str,
        *,
        serverless: bool = False,
        refresh: bool | str = False,
        mapping_path: Path | str = MAPPING_PATH,
        search_timeout: float = 2.0,
        breaker: CircuitBreaker | None = None,
    ) -> None:
        self._client = client
        self._index = index
        self._serverless = serverless
        self._refresh = False if serverless else refresh  # aoss rejects refresh
        self._mapping_path = mapping_path
        self._ensured: int | None = None  # the dimension already checked in this process
        self._search_timeout = search_timeout
        self._breaker = breaker or CircuitBreaker()

    @classmethod
    def from_settings(cls, settings: Any) -> OpenSearchIndex:
        if not settings.opensearch_endpoint:
            raise ValueError("search_backend is opensearch but OPENSEARCH_ENDPOINT is empty")
        service = aws_service(settings.opensearch_endpoint, settings.opensearch_service)
        client = make_client(
            settings.opensearch_endpoint,
            region=settings.aws_region,
            service=service,
            timeout=settings.opensearch_timeout_seconds,
        )
        return cls(
            client,
            settings.opensearch_index,
            serverless=service == "aoss",
            search_timeout=settings.search_timeout_seconds,
        )

    # -- port --

    def ensure_index(self, dimension: int) -> None:
        """Creates the index from the packaged mapping when it is missing: checked before
        every write (one HEAD), because a write into a missing index would make OpenSearch
        create one with default field types, where tag filters find nothing. The create is
        conditional (a concurrent creator wins, and that is fine); an index of another
        dimension is refused, checked once per process. On AWS only the stack's setup role
        may create the index: there such a write fails, and its record is retried with
        backoff until the index is back."""
        from opensearchpy.exceptions import RequestError

        if self._client.indices.exists(index=self._index):
            if self._ensured != dimension:
                self._check_dimension(dimension)
                self._ensured = dimension
            return
        try:
            self._client.indices.create(
                index=self._index, body=index_body(dimension, self._mapping_path)
            )
        except RequestError as error:  # another process created it first
            if error.error != "resource_already_exists_exception":
                raise
            self._check_dimension(dimension)
        self._ensured = dimension

    def upsert(self, docs: Sequence[IndexDocument]) -> None:
        if not docs:
            return
        if self._serverless:
            return self._upsert_without_ids(docs)
        self._bulk_index(docs)

    def delete(self, workspace_id: str, memory_ids: Sequence[str]) -> None:
        if not memory_ids:
            return
        if self._serverless:
            ids = [i for page in self._id_pages(workspace_id, memory_ids) for i in page]
        else:
            ids = [doc_id(workspace_id, m) for m in memory_ids]
        self._delete_ids(ids)

    def knn(
        self, workspace_id: str, vector: Sequence[float], filters: SearchFilters, k: int
    ) -> list[Hit]:
        if k <= 0:
            return []
        return self._search(knn_body(workspace_id, vector, filters, k), "knn")

    def bm25(self, workspace_id: str, text: str, filters: SearchFilters, k: int) -> list[Hit]:
        if k <= 0 or not text.strip():
            return []
        return self._search(bm25_body(workspace_id, text, filters, k), "bm25")

    def list(
        self, workspace_id: str, filters: SearchFilters, limit: int, offset: int = 0
    ) -> list[Hit]:
        if limit <= 0:
            return []
        return self._search(list_body(workspace_id, filters, limit, offset), "list")

    def count(self, workspace_id: str) -> int:
        response = self._read(
            lambda timeout: self._client.count(
                index=self._index, body=count_body(workspace_id), request_timeout=timeout
            )
        )
        return int(response["count"]) if response else 0

    def clear_workspace(self, workspace_id: str) -> None:
        for page in self._id_pages(workspace_id, None):
            self._delete_ids(page)

    # -- helpers --

    def _search(self, body: dict[str, Any], kind: str) -> builtins.list[Hit]:
        response = self._read(
            lambda timeout: self._client.search(
                index=self._index, body=body, request_timeout=timeout
            )
        )
        return hits_from_response(response, kind) if response else []

    def _read(self, call: Any) -> Any:
        """One read within the search timeout, behind the circuit breaker: a failing or
        frozen cluster costs a search at most the timeout, and once the breaker is open
        nothing (IndexUnavailable: 503 with Retry-After). A missing index answers None
        (nothing is indexed; maintenance rebuilds it)."""
        from opensearchpy.exceptions import ConnectionError as Unreachable
        from opensearchpy.exceptions import NotFoundError, TransportError

        wait = self._breaker.wait()
        if wait:
            raise IndexUnavailable(wait)
        try:
            response = call(self._search_timeout)
        except NotFoundError as error:
            if error.error != "index_not_found_exception":
                raise IndexUnavailable(self._breaker.failed()) from error
            self._breaker.succeeded()
            return None
        except (Unreachable, TransportError) as error:
            if isinstance(error, TransportError) and _client_error(error):
                raise
            raise IndexUnavailable(self._breaker.failed()) from error
        self._breaker.succeeded()
        return response

    def _bulk(
        self, actions: builtins.list[dict[str, Any]], ignore_status: tuple[int, ...] = ()
    ) -> None:
        from opensearchpy import helpers

        kwargs: dict[str, Any] = {"refresh": self._refresh} if self._refresh else {}
        helpers.bulk(self._client, actions, ignore_status=ignore_status, **kwargs)

    def _bulk_index(self, docs: Sequence[IndexDocument]) -> None:
        """One bulk request (NDJSON built here, vectors formatted fast); any item's
        failure raises, so the workers retry the batch."""
        kwargs: dict[str, Any] = {"refresh": self._refresh} if self._refresh else {}
        response = self._client.bulk(body=index_lines(self._index, docs), **kwargs)
        if response.get("errors"):
            failed = [i["index"] for i in response["items"] if i["index"].get("error")]
            raise RuntimeError(
                f"OpenSearch refused {len(failed)} of {len(docs)} documents: {failed[0]['error']}"
            )

    def _delete_ids(self, ids: Sequence[str]) -> None:
        if ids:
            actions = [{"_op_type": "delete", "_index": self._index, "_id": i} for i in ids]
            self._bulk(actions, ignore_status=(404,))

    def _id_pages(
        self, workspace_id: str, memory_ids: Sequence[str] | None
    ) -> Iterator[builtins.list[str]]:
        """Document ids in a workspace, page by page (search_after; bounded by the count)."""
        after: list[Any] | None = None
        pages = self.count(workspace_id) // PAGE_SIZE + 2
        for _ in range(pages):
            body = ids_page_body(workspace_id, memory_ids, PAGE_SIZE, after)
            hits = self._client.search(index=self._index, body=body)["hits"]["hits"]
            if not hits:
                return
            yield [h["_id"] for h in hits]
            after = hits[-1]["sort"]

    def _upsert_without_ids(self, docs: Sequence[IndexDocument]) -> None:
        """Serverless: index the new copies, then drop the old ones (no custom ids there)."""
        old: list[str] = []
        for workspace_id in {d.workspace_id for d in docs}:
            memory_ids = [d.memory_id for d in docs if d.workspace_id == workspace_id]
            old += [i for page in self._id_pages(workspace_id, memory_ids) for i in page]
        self._bulk(
            [{"_op_type": "index", "_index": self._index, "_source": doc_source(d)} for d in docs]
        )
        self._delete_ids(old)

    def _check_dimension(self, dimension: int) -> None:
        mappings = self._client.indices.get_mapping(index=self._index)
        for entry in mappings.values():
            found = entry["mappings"]["properties"].get("embedding", {}).get("dimension")
            if found is not None and int(found) != int(dimension):
                raise DimensionMismatch(self._index, int(found), int(dimension))


class DimensionMismatch(ValueError):
    """The index holds vectors of another size than the embedder makes."""

    def __init__(self, index: str, found: int, wanted: int) -> None:
        super().__init__(
            f"index {index} holds {found}-dimensional vectors, the embedder makes {wanted}"
        )
        self.index, self.found, self.wanted = index, found, wanted
