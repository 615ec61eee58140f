"""`/neuroloom/api/v1/...`: Neuroloom's routes over Engram's services."""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Query, Response
from pydantic import ValidationError

from engram.auth import PrincipalDep
from engram.context.models import ContextRequest, ContextResponse
from engram.dialects import MAX_OFFSET, DialectRouter, not_offered, offset_page
from engram.dialects.deps import (
    ContextServiceDep,
    MemoryServiceDep,
    RelatedServiceDep,
    SearchServiceDep,
    SessionServiceDep,
    WorkspaceServiceDep,
)
from engram.dialects.neuroloom.models import (
    NeuroloomMemory,
    NeuroloomMemoryCreate,
    NeuroloomMemoryPage,
    NeuroloomMemoryStore,
    NeuroloomMemoryUpdate,
    NeuroloomSearch,
    NeuroloomSession,
    NeuroloomSessionEnd,
    NeuroloomSessionList,
    NeuroloomSessionStart,
    NeuroloomSessionUpdate,
    NeuroloomWorkspace,
)
from engram.errors import NotFound, ValidationFailed
from engram.memories.models import Memory, MemoryCreate, MemoryType, MemoryUpdate
from engram.memories.repository import MemoryFilters
from engram.paging import Cursor, PageLimit, PathId, page_size
from engram.search.models import SearchRequest, TagFilterIn, Weights
from engram.sessions.models import SessionCreate, SessionEnd, SessionFilters, SessionUpdate
from engram.text import count_tokens
from engram.validation import as_request_error

router = DialectRouter("/neuroloom", "/api/v1", "neuroloom dialect")
Id = PathId
PRODUCT = "Neuroloom"


# ---- workspaces: the caller's own, from its key ----


@router.get("/workspaces/")
def list_workspaces(who: PrincipalDep, workspaces: WorkspaceServiceDep) -> list[NeuroloomWorkspace]:
    return [NeuroloomWorkspace.of(w) for w in workspaces.list_own(who.workspace_id).data]


@router.get("/workspaces/{workspace_id}/")
def get_workspace(
    workspace_id: Id, who: PrincipalDep, workspaces: WorkspaceServiceDep
) -> NeuroloomWorkspace:
    return NeuroloomWorkspace.of(workspaces.own_workspace(who.workspace_id, workspace_id))


def _check_workspace(asked: str | None, own: str) -> None:
    if asked and asked != own:  # another workspace's id is "not found", as on /v1
        raise NotFound(f"Workspace {asked} was not found.")


# ---- memories ----


@router.post("/memories", status_code=201)
def create_memory(
    body: NeuroloomMemoryCreate, who: PrincipalDep, memories: MemoryServiceDep
) -> NeuroloomMemory:
    create = MemoryCreate(
        content=body.content,
        metadata=body.metadata,
        title=body.title,
        memory_type=body.memory_type,
        tags=body.tags,
    )
    return NeuroloomMemory.of(memories.create(who.workspace_id, [create])[0])


@router.post("/memories/store", status_code=201)
def store_memory(
    body: NeuroloomMemoryStore, who: PrincipalDep, memories: MemoryServiceDep
) -> NeuroloomMemory:
    create = MemoryCreate(
        content=body.narrative,
        title=body.title,
        memory_type=body.memory_type,
        importance_score=body.importance_score,
        confidence_score=body.confidence_score,
        concepts=body.concepts,
        tags=body.tags,
        source_files=body.source_files,
        sync_embedding=body.sync_embedding,
    )
    return NeuroloomMemory.of(memories.create(who.workspace_id, [create])[0])


@router.get("/memories")
def page_memories(
    who: PrincipalDep, memories: MemoryServiceDep, limit: PageLimit = None, cursor: Cursor = None
) -> NeuroloomMemoryPage:
    """The memories document's list: cursor pages."""
    page = memories.list(who.workspace_id, MemoryFilters(), page_size(limit), cursor)
    return NeuroloomMemoryPage(
        data=[NeuroloomMemory.of(m) for m in page.data],
        nextCursor=page.next_cursor,
        hasMore=page.has_more,
    )


@router.get("/memories/")
def list_memories(
    who: PrincipalDep,
    memories: MemoryServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 50,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
    memory_type: MemoryType | None = None,
) -> list[NeuroloomMemory]:
    """The MCP server's list (with the slash): a bare list, newest first, offset-paged."""
    filters = MemoryFilters(memory_type=memory_type)
    found, _ = offset_page(
        lambda n, c: memories.list(who.workspace_id, filters, n, c), offset, limit
    )
    return [NeuroloomMemory.of(m) for m in found]


@router.post("/memories/search", responses={501: {"description": "A filter not offered."}})
def search_memories(
    body: NeuroloomSearch,
    who: PrincipalDep,
    svc: SearchServiceDep,
    memories: MemoryServiceDep,
) -> dict[str, Any]:
    _check_workspace(body.workspace_id, who.workspace_id)
    for name, what in _NOT_FILTERED:
        if getattr(body, name):
            raise not_offered(PRODUCT, what)
    request = _engram_search(body)
    answer = svc.search(who.workspace_id, request)
    found = [(hit, memories.get(who.workspace_id, hit.memory_id)) for hit in answer.results]
    results = [_result(hit.score, memory, body.compact) for hit, memory in found]
    if body.max_tokens:
        results = _within(results, body.max_tokens)
    reply: dict[str, Any] = {
        "count": len(results),
        "total": answer.total,
        "query": body.query,
        "filters": body.model_dump(
            include={"memory_types", "tags", "files", "tag_prefixes", "filters"},
            exclude_none=True,
        ),
        "results": results,
        "query_time_ms": answer.query_time_ms,
    }
    if body.include_aggregations and not body.compact:
        reply["aggregations"] = _aggregations([m for _, m in found][: len(results)])
    return reply


_NOT_FILTERED = (("files", "search by source file (memory_by_file)"),)


def _engram_search(body: NeuroloomSearch) -> SearchRequest:
    mode, weights = "hybrid", None
    if not body.use_semantic or body.search_profile == "exact":
        mode = "keyword"
    elif body.search_profile == "recency":
        weights = Weights(semantic=0.3, keyword=0.3, recency=0.4)
    try:
        return SearchRequest(
            query=body.query,
            search_mode=mode,
            weights=weights,
            limit=body.limit,
            offset=body.offset,
            memory_types=body.memory_types,
            tags=body.tags,
            tag_filters=_prefix_filters(body.tag_prefixes or []),
            filters=body.filters,
            min_score=body.min_score,
            min_importance=body.min_importance,
            min_confidence=body.min_confidence,
        )
    except ValidationError as exc:
        raise as_request_error(exc, "body") from exc


def _prefix_filters(prefixes: list[str]) -> list[TagFilterIn]:
    """`lang:` is any `lang:*` tag; `lang:py` any tag starting `lang:py`. Engram's tag
    filters all hold at once, so only one prefix can be asked."""
    if len(prefixes) > 1:
        raise ValidationFailed("tag_prefixes: Engram matches one tag prefix at a time.")
    filters = []
    for prefix in prefixes:
        key, colon, value = prefix.partition(":")
        if not colon or not key:
            raise ValidationFailed(f"tag_prefixes: '{prefix}' must be 'key:' or 'key:value'.")
        op = "prefix" if value else "exists"
        filters.append(TagFilterIn(key=key, op=op, value=value or None))
    return filters


def _result(score: float, memory: Memory, compact: bool) -> dict[str, Any]:
    item: dict[str, Any] = {
        "id": memory.memory_id,
        "memory_id": memory.memory_id,
        "score": score,
        "content": memory.content,
        "metadata": memory.metadata,
    }
    if compact:
        return item | {
            "title": memory.title,
            "memory_type": memory.memory_type,
            "snippet": memory.content,
            "tags": memory.tags,
            "source_files": memory.source_files,
            "rerank_score": None,  # Engram does not rerank with a cross-encoder
        }
    return item | {"memory": NeuroloomMemory.of(memory).model_dump()}


def _within(results: list[dict[str, Any]], max_tokens: int) -> list[dict[str, Any]]:
    kept: list[dict[str, Any]] = []
    used = 0
    for item in results:
        used += count_tokens(item["content"])
        if used > max_tokens and kept:
            break
        kept.append(item)
    return kept


def _aggregations(found: list[Memory]) -> dict[str, dict[str, int]]:
    types: dict[str, int] = {}
    tags: dict[str, int] = {}
    for memory in found:
        types[memory.memory_type] = types.get(memory.memory_type, 0) + 1
        for tag in memory.tags:
            tags[tag] = tags.get(tag, 0) + 1
    return {"memory_types": types, "tags": tags}


@router.get("/memories/{memory_id}")
def get_memory(memory_id: Id, who: PrincipalDep, memories: MemoryServiceDep) -> NeuroloomMemory:
    return NeuroloomMemory.of(memories.get(who.workspace_id, memory_id))


@router.get("/memories/{memory_id}/related")
def related_memories(
    memory_id: Id,
    who: PrincipalDep,
    svc: RelatedServiceDep,
    limit: Annotated[int, Query(ge=1, le=50)] = 10,
) -> list[dict[str, Any]]:
    """Same session, shared concepts, nearest neighbours: compact search results, best first."""
    found = svc.related(who.workspace_id, memory_id, limit)
    return [
        _result(r.score, r.memory, compact=True) | {"reasons": r.reasons} for r in found.related
    ]


@router.patch("/memories/{memory_id}")
def update_memory(
    memory_id: Id, body: NeuroloomMemoryUpdate, who: PrincipalDep, memories: MemoryServiceDep
) -> NeuroloomMemory:
    """Partial: only the fields given change; new text is embedded again."""
    if body.content is not None and body.narrative is not None and body.content != body.narrative:
        raise ValidationFailed("Give the text as content or narrative, not two different ones.")
    changes = body.model_dump(exclude_unset=True, exclude={"narrative"})
    if body.narrative is not None:
        changes["content"] = body.narrative
    return NeuroloomMemory.of(memories.update(who.workspace_id, memory_id, MemoryUpdate(**changes)))


@router.delete("/memories/{memory_id}", status_code=204)
def delete_memory(memory_id: Id, who: PrincipalDep, memories: MemoryServiceDep) -> Response:
    memories.soft_delete(who.workspace_id, memory_id)
    return Response(status_code=204)


def _not_tracked(what: str):
    def route(memory_id: Id, who: PrincipalDep, memories: MemoryServiceDep) -> None:
        memories.get(who.workspace_id, memory_id)  # an unknown memory is still a 404
        raise not_offered(PRODUCT, what)

    return route


for _path, _what in (
    ("access", "access tracking"),
    ("retrieval", "retrieval tracking"),
    ("feedback", "usefulness feedback (memory_rate)"),
):
    router.add_api_route(
        f"/memories/{{memory_id}}/{_path}",
        _not_tracked(_what),
        methods=["POST"],
        status_code=501,
        name=f"neuroloom_{_path}",
        summary=f"Not offered: {_what}",
    )


@router.post("/memories/explore", status_code=501)
def explore_memories(who: PrincipalDep) -> None:
    raise not_offered(PRODUCT, "graph exploration (memory_explore)")


@router.get("/code-graph/symbols/search", status_code=501)
def search_symbols(
    who: PrincipalDep,
    q: Annotated[str | None, Query(max_length=2000)] = None,
    limit: Annotated[int | None, Query(ge=1, le=1000)] = None,
    file_pattern: Annotated[str | None, Query(max_length=2000)] = None,
    symbol_type: Annotated[str | None, Query(max_length=64)] = None,
) -> None:
    """Declares what `code_search` sends, so its answer is the 501 and not a 422."""
    raise not_offered(PRODUCT, "code graph")


def _area_not_offered(what: str) -> Callable[..., None]:
    def route(path: str, who: PrincipalDep) -> None:
        raise not_offered(PRODUCT, what)

    return route


for _area, _what in (
    ("documents", "document ingestion"),
    ("sdlc", "SDLC knowledge seeding"),
    ("code-graph", "code graph"),
):
    for _method in ("GET", "POST"):  # one operation each: operation ids stay unique
        router.add_api_route(
            f"/{_area}/{{path:path}}",
            _area_not_offered(_what),
            methods=[_method],
            status_code=501,
            name=f"neuroloom_{_area}_{_method.lower()}",
            summary=f"Not offered: {_what}",
        )


# ---- sessions ----


@router.post("/sessions/start", status_code=201)
def start_session(
    body: NeuroloomSessionStart, who: PrincipalDep, svc: SessionServiceDep
) -> NeuroloomSession:
    create = SessionCreate(**body.model_dump())
    return NeuroloomSession.of(svc.create(who.workspace_id, create))


@router.get("/sessions/")
def list_sessions(
    who: PrincipalDep,
    svc: SessionServiceDep,
    limit: Annotated[int, Query(ge=1, le=100)] = 20,
    offset: Annotated[int, Query(ge=0, le=MAX_OFFSET)] = 0,
) -> NeuroloomSessionList:
    total: list[int | None] = [None]

    def fetch(size: int, cursor: str | None):
        page = svc.list(who.workspace_id, SessionFilters(), size, cursor)
        total[0] = page.count
        return page

    sessions, _ = offset_page(fetch, offset, limit)
    return NeuroloomSessionList(
        count=total[0] or 0, results=[NeuroloomSession.of(s) for s in sessions]
    )


@router.get("/sessions/{session_id}")
def get_session(session_id: Id, who: PrincipalDep, svc: SessionServiceDep) -> NeuroloomSession:
    return NeuroloomSession.of(svc.get(who.workspace_id, session_id))


@router.patch("/sessions/{session_id}")
def update_session(
    session_id: Id, body: NeuroloomSessionUpdate, who: PrincipalDep, svc: SessionServiceDep
) -> NeuroloomSession:
    changes = SessionUpdate(**body.model_dump(exclude_unset=True))
    return NeuroloomSession.of(svc.update(who.workspace_id, session_id, changes))


@router.post("/sessions/{session_id}/end")
def end_session(
    session_id: Id,
    who: PrincipalDep,
    svc: SessionServiceDep,
    body: NeuroloomSessionEnd | None = None,
) -> NeuroloomSession:
    end = SessionEnd(summary=(body or NeuroloomSessionEnd()).summary)
    return NeuroloomSession.of(svc.end(who.workspace_id, session_id, end))


@router.get("/sessions/{session_id}/context")
def session_context(
    session_id: Id,
    who: PrincipalDep,
    svc: ContextServiceDep,
    max_memories: Annotated[int, Query(ge=1, le=100)] = 15,
) -> ContextResponse:
    return svc.build(who.workspace_id, session_id, ContextRequest(max_memories=max_memories))
