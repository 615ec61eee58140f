"""GENERATED from _async.py by scripts/unasync.py: do not edit; edit _async.py and run
`python clients/python/scripts/unasync.py`. The synchronous client."""

from __future__ import annotations

import builtins
import os
import random
import time
import uuid
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from email.utils import parsedate_to_datetime
from functools import cache
from typing import Any, Generic, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel, TypeAdapter

from engram_sdk import models as m
from engram_sdk.errors import APIConnectionError, APITimeoutError, error_from_response

T = TypeVar("T")
VERSION = "0.1.0"
DEFAULT_URL = "http://127.0.0.1:8000"
RETRY_STATUSES = frozenset({408, 429, 500, 502, 503, 504})
MAX_BACKOFF = 8.0  # seconds, before jitter
MAX_RETRY_AFTER = 60.0  # a longer Retry-After is the caller's business, not a retry's
MAX_PAGES = 100_000  # a bound on any pagination loop


def _query(params: Mapping[str, Any]) -> dict[str, Any]:
    """Query parameters without the ones not given (booleans as the API spells them)."""
    out: dict[str, Any] = {}
    for key, value in params.items():
        if value is None:
            continue
        out[key] = ("true" if value else "false") if isinstance(value, bool) else value
    return out


def _body(fields: Mapping[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in fields.items() if value is not None}


def retry_after(response: httpx.Response) -> float | None:
    """The server's `Retry-After` in seconds (a number or an HTTP date), capped."""
    value = response.headers.get("retry-after")
    if not value:
        return None
    try:
        seconds = float(value)
    except ValueError:
        try:
            moment = parsedate_to_datetime(value)
        except (TypeError, ValueError):
            return None
        seconds = moment.timestamp() - time.time()
    return min(max(seconds, 0.0), MAX_RETRY_AFTER)


class Paginator(Generic[T]):
    """Iterating yields every item, fetching pages by `next_cursor` as needed."""

    def __init__(self, fetch: Callable[[str | None], m.Page[T]], cursor: str | None = None) -> None:
        self._fetch, self._cursor = fetch, cursor

    def page(self) -> m.Page[T]:
        """Only the first page (from the cursor given to `list`, if any)."""
        return self._fetch(self._cursor)

    def pages(self) -> Iterator[m.Page[T]]:
        cursor = self._cursor
        seen: set[str] = set()
        for _ in range(MAX_PAGES):
            page = self._fetch(cursor)
            yield page
            if not page.has_more or not page.next_cursor or page.next_cursor in seen:
                return
            cursor = page.next_cursor
            seen.add(cursor)

    def __iter__(self) -> Iterator[T]:
        for page in self.pages():
            for item in page.data:
                yield item


class _Transport:
    """Sends requests: credentials, error mapping and retries where a retry is safe."""

    def __init__(
        self,
        base_url: str | None,
        api_key: str | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        sleep: Callable[[float], None] | None,
    ) -> None:
        self.base_url = (base_url or os.environ.get("ENGRAM_URL") or DEFAULT_URL).rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get("ENGRAM_API_KEY")
        self.max_retries, self.backoff = max_retries, backoff
        self._sleep = sleep or time.sleep
        self._http = httpx.Client(
            base_url=self.base_url,
            timeout=timeout,
            headers={"User-Agent": f"engram-sdk/{VERSION}", "Accept": "application/json"},
        )

    def _headers(self, idempotency_key: str | None) -> dict[str, str]:
        headers = {"Authorization": f"Bearer {self.api_key}"} if self.api_key else {}
        if idempotency_key:
            headers["Idempotency-Key"] = idempotency_key
        return headers

    def delay(self, attempt: int, response: httpx.Response | None) -> float:
        """Retry-After when the server gave one, else exponential backoff with jitter."""
        if response is not None and (after := retry_after(response)) is not None:
            return after
        return min(MAX_BACKOFF, self.backoff * 2**attempt) * random.uniform(0.5, 1.0)

    def send(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        keyed: bool = False,
        safe: bool = False,
    ) -> httpx.Response:
        """`keyed`: the route takes an Idempotency-Key (one is made, kept across retries).
        `safe`: a read sent as POST. Only GET/PUT/DELETE, keyed and safe requests retry."""
        key = str(uuid.uuid4()) if keyed else None
        retryable = keyed or safe or method in ("GET", "HEAD", "PUT", "DELETE")
        attempts = 1 + (self.max_retries if retryable else 0)
        for attempt in range(attempts):
            last = attempt == attempts - 1
            try:
                response = self._http.request(
                    method,
                    path,
                    params=_query(params or {}),
                    json=json,
                    headers=self._headers(key),
                )
            except httpx.TimeoutException as exc:
                if last:
                    raise APITimeoutError(f"{method} {path} timed out: {exc}") from exc
                self._sleep(self.delay(attempt, None))
                continue
            except httpx.TransportError as exc:
                if last:
                    raise APIConnectionError(f"{method} {path} failed: {exc}") from exc
                self._sleep(self.delay(attempt, None))
                continue
            if response.status_code in RETRY_STATUSES and not last:
                self._sleep(self.delay(attempt, response))
                continue
            if response.is_error:
                raise error_from_response(response)
            return response
        raise AssertionError("unreachable: the last attempt returns or raises")

    def stream(
        self, path: str, params: Mapping[str, Any], chunk_size: int = 65_536
    ) -> Iterator[bytes]:
        """A GET whose body is streamed; a 303 (a large export) is followed to its presigned
        Location without our credentials."""
        request = self._http.build_request(
            "GET", path, params=_query(params), headers=self._headers(None)
        )
        try:
            response = self._http.send(request, stream=True)
            if response.status_code == 303:
                response.close()
                response = self._http.send(
                    self._http.build_request("GET", response.headers["location"]), stream=True
                )
            try:
                if response.is_error:
                    response.read()
                    raise error_from_response(response)
                for chunk in response.iter_bytes(chunk_size):
                    yield chunk
            finally:
                response.close()
        except httpx.TimeoutException as exc:
            raise APITimeoutError(f"GET {path} timed out: {exc}") from exc
        except httpx.TransportError as exc:
            raise APIConnectionError(f"GET {path} failed: {exc}") from exc

    def close(self) -> None:
        self._http.close()


class _Resource:
    def __init__(self, transport: _Transport) -> None:
        self._t = transport

    def _request(
        self,
        model: Any,
        method: str,
        route: str,
        *,
        path: Mapping[str, str] | None = None,
        params: Mapping[str, Any] | None = None,
        json: Any = None,
        keyed: bool = False,
        safe: bool = False,
    ) -> Any:
        """One API call: `route` is the OpenAPI path template (tests check each exists),
        `model` the answer's type (None for 204)."""
        url = route.format_map({k: _segment(v) for k, v in (path or {}).items()})
        response = self._t.send(method, url, params=params, json=json, keyed=keyed, safe=safe)
        if model is None:
            return None
        return _adapter(model).validate_python(response.json())

    def _paginate(
        self,
        model: type[BaseModel],
        route: str,
        params: Mapping[str, Any],
        path: Mapping[str, str] | None = None,
        cursor: str | None = None,
    ) -> Paginator[Any]:
        def fetch(cursor: str | None) -> m.Page[Any]:
            query = {**params, "cursor": cursor}
            page_type = m.Page[model]  # type: ignore[valid-type]
            return self._request(page_type, "GET", route, path=path, params=query)

        return Paginator(fetch, cursor)


def _segment(value: str) -> str:
    """A path parameter, percent-encoded: an id with a slash must not change the route."""
    return quote(str(value), safe="")


@cache
def _adapter(model: Any) -> TypeAdapter[Any]:
    return TypeAdapter(model)


class Sessions(_Resource):
    """Sessions, their conversation (messages, window, history, checkpoints) and context."""

    def create(
        self,
        *,
        session_id: str | None = None,
        agent_id: str | None = None,
        task_id: str | None = None,
        user_id: str | None = None,
        user_email: str | None = None,
        project_name: str | None = None,
        branch_name: str | None = None,
        metadata: dict[str, Any] | None = None,
        prompt: str | None = None,
        status: str | None = None,
    ) -> m.Session:
        body = _body(
            {
                "session_id": session_id,
                "agent_id": agent_id,
                "task_id": task_id,
                "user_id": user_id,
                "user_email": user_email,
                "project_name": project_name,
                "branch_name": branch_name,
                "metadata": metadata,
                "prompt": prompt,
                "status": status,
            }
        )
        return self._request(m.Session, "POST", "/v1/sessions", json=body, keyed=True)

    def get(self, session_id: str) -> m.Session:
        return self._request(
            m.Session, "GET", "/v1/sessions/{session_id}", path={"session_id": session_id}
        )

    def list(
        self,
        *,
        agent_id: str | None = None,
        task_id: str | None = None,
        user_id: str | None = None,
        status: str | None = None,
        project_name: str | None = None,
        active: bool | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paginator[m.Session]:
        filters = {
            "agent_id": agent_id,
            "task_id": task_id,
            "user_id": user_id,
            "status": status,
            "project_name": project_name,
            "active": active,
            "limit": limit,
        }
        return self._paginate(m.Session, "/v1/sessions", filters, cursor=cursor)

    def update(
        self,
        session_id: str,
        *,
        metadata: dict[str, Any] | None = None,
        summary: str | None = None,
        status: str | None = None,
        task_id: str | None = None,
        project_name: str | None = None,
        branch_name: str | None = None,
    ) -> m.Session:
        body = _body(
            {
                "metadata": metadata,
                "summary": summary,
                "status": status,
                "task_id": task_id,
                "project_name": project_name,
                "branch_name": branch_name,
            }
        )
        return self._request(
            m.Session,
            "PATCH",
            "/v1/sessions/{session_id}",
            path={"session_id": session_id},
            json=body,
        )

    def end(
        self, session_id: str, *, summary: str | None = None, status: str | None = None
    ) -> m.Session:
        """Ends the session; its extraction job is queued (`summary_status` pending)."""
        return self._request(
            m.Session,
            "POST",
            "/v1/sessions/{session_id}/end",
            path={"session_id": session_id},
            json=_body({"summary": summary, "status": status}),
            keyed=True,
        )

    def delete(self, session_id: str) -> None:
        """Deletes the session; its memories are soft-deleted (restorable)."""
        self._request(None, "DELETE", "/v1/sessions/{session_id}", path={"session_id": session_id})

    def add_messages(
        self, session_id: str, messages: Iterable[Mapping[str, Any]]
    ) -> builtins.list[m.StoredMessage]:
        """Stores messages (`{"role", "content", "tags"?, "metadata"?}`) in order."""
        answer = self._request(
            dict[str, builtins.list[m.StoredMessage]],
            "POST",
            "/v1/sessions/{session_id}/messages",
            path={"session_id": session_id},
            json={"messages": [dict(message) for message in messages]},
            keyed=True,
        )
        return answer["messages"]

    def add_message(self, session_id: str, role: str, content: str) -> m.StoredMessage:
        return (self.add_messages(session_id, [{"role": role, "content": content}]))[0]

    def window(self, session_id: str) -> m.Window:
        """The short-term window: the newest messages within its budget, oldest first."""
        return self._request(
            m.Window,
            "GET",
            "/v1/sessions/{session_id}/messages",
            path={"session_id": session_id},
        )

    def history(self, session_id: str, *, limit: int = 20, offset: int = 0) -> m.History:
        """Every message of the session, oldest first (offset-paged)."""
        return self._request(
            m.History,
            "GET",
            "/v1/sessions/{session_id}/history",
            path={"session_id": session_id},
            params={"limit": limit, "offset": offset},
        )

    def checkpoint(self, session_id: str) -> m.Checkpoint:
        """Snapshots the window."""
        return self._request(
            m.Checkpoint,
            "POST",
            "/v1/sessions/{session_id}/checkpoints",
            path={"session_id": session_id},
            keyed=True,
        )

    def checkpoints(self, session_id: str) -> builtins.list[m.Checkpoint]:
        answer = self._request(
            dict[str, builtins.list[m.Checkpoint]],
            "GET",
            "/v1/sessions/{session_id}/checkpoints",
            path={"session_id": session_id},
        )
        return answer["data"]

    def restore(self, session_id: str, checkpoint_id: str) -> m.Restored:
        """Puts the window back as it was at the checkpoint."""
        return self._request(
            m.Restored,
            "POST",
            "/v1/sessions/{session_id}/restore",
            path={"session_id": session_id},
            json={"checkpoint_id": checkpoint_id},
            keyed=True,
        )

    def embedding_status(self, session_id: str) -> m.EmbeddingCounts:
        return self._request(
            m.EmbeddingCounts,
            "GET",
            "/v1/sessions/{session_id}/embedding-status",
            path={"session_id": session_id},
        )

    def context(
        self,
        session_id: str,
        *,
        max_memories: int | None = None,
        max_tokens: int | None = None,
        since: str | None = None,
        until: str | None = None,
        include_types: Sequence[str] | None = None,
        exclude_types: Sequence[str] | None = None,
        order: str | None = None,
        query: str | None = None,
        scope: str | None = None,
        recent_sessions: int | None = None,
    ) -> m.Context:
        """The LLM-ready context block (`.markdown`) for the start of a session."""
        return self._request(
            m.Context,
            "GET",
            "/v1/sessions/{session_id}/context",
            path={"session_id": session_id},
            params={
                "max_memories": max_memories,
                "max_tokens": max_tokens,
                "since": since,
                "until": until,
                "include_types": include_types,
                "exclude_types": exclude_types,
                "order": order,
                "query": query,
                "scope": scope,
                "recent_sessions": recent_sessions,
            },
        )

    def context_post(self, session_id: str, **options: Any) -> m.Context:
        """The same as `context`, the options sent as a JSON body (API.md's POST form)."""
        return self._request(
            m.Context,
            "POST",
            "/v1/sessions/{session_id}/context",
            path={"session_id": session_id},
            json=_body(options),
            safe=True,
        )


class Memories(_Resource):
    """Memories: store, read, update, delete and restore, search, diff, forget."""

    def create(
        self,
        content: str,
        *,
        memory_type: str | None = None,
        role: str | None = None,
        title: str | None = None,
        importance_score: float | None = None,
        session_id: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        event_type: str | None = None,
        dedup_key: str | None = None,
        parent_id: str | None = None,
        confidence_score: float | None = None,
        concepts: Sequence[str] | None = None,
        source_files: Sequence[str] | None = None,
        sync_embedding: bool | None = None,
    ) -> m.Memory:
        """Stores a memory. `dedup_key`: a second write with the same key updates that
        memory; `sync_embedding`: embedded and searchable before the answer."""
        body = _body(
            {
                "content": content,
                "memory_type": memory_type,
                "role": role,
                "title": title,
                "importance_score": importance_score,
                "session_id": session_id,
                "tags": tags,
                "metadata": metadata,
                "user_id": user_id,
                "agent_id": agent_id,
                "event_type": event_type,
                "dedup_key": dedup_key,
                "parent_id": parent_id,
                "confidence_score": confidence_score,
                "concepts": concepts,
                "source_files": source_files,
                "sync_embedding": sync_embedding,
            }
        )
        return self._request(m.Memory, "POST", "/v1/memories", json=body, keyed=True)

    def batch(self, memories: Iterable[Mapping[str, Any]]) -> builtins.list[m.Memory]:
        """Stores up to 100 memories at once, all or none, answered in input order."""
        answer = self._request(
            dict[str, builtins.list[m.Memory]],
            "POST",
            "/v1/memories",
            json={"memories": [dict(memory) for memory in memories]},
            keyed=True,
        )
        return answer["memories"]

    def get(self, memory_id: str) -> m.Memory:
        return self._request(
            m.Memory, "GET", "/v1/memories/{memory_id}", path={"memory_id": memory_id}
        )

    def list(
        self,
        *,
        memory_type: str | None = None,
        session_id: str | None = None,
        tag: str | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        include_deleted: bool | None = None,
        memory_types: Sequence[str] | None = None,
        tags: Sequence[str] | None = None,
        event_type: str | None = None,
        event_types: Sequence[str] | None = None,
        min_importance: float | None = None,
        min_confidence: float | None = None,
        content_contains: str | None = None,
        since: str | None = None,
        until: str | None = None,
        order: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> Paginator[m.Memory]:
        """Newest first (`order="asc"`: oldest). `tags`: every one present; `since` and
        `until` take ISO 8601 or a span before now (`30m`, `2h`, `7d`)."""
        filters = {
            "memory_type": memory_type,
            "session_id": session_id,
            "tag": tag,
            "user_id": user_id,
            "agent_id": agent_id,
            "include_deleted": include_deleted,
            "memory_types": memory_types,
            "tags": tags,
            "event_type": event_type,
            "event_types": event_types,
            "min_importance": min_importance,
            "min_confidence": min_confidence,
            "content_contains": content_contains,
            "since": since,
            "until": until,
            "order": order,
            "limit": limit,
        }
        return self._paginate(m.Memory, "/v1/memories", filters, cursor=cursor)

    def update(
        self,
        memory_id: str,
        *,
        content: str | None = None,
        title: str | None = None,
        tags: Sequence[str] | None = None,
        metadata: dict[str, Any] | None = None,
        importance_score: float | None = None,
        memory_type: str | None = None,
        event_type: str | None = None,
        parent_id: str | None = None,
        confidence_score: float | None = None,
        concepts: Sequence[str] | None = None,
        source_files: Sequence[str] | None = None,
    ) -> m.Memory:
        """A partial update: new `content` is re-embedded; `metadata` is merged."""
        body = _body(
            {
                "content": content,
                "title": title,
                "tags": tags,
                "metadata": metadata,
                "importance_score": importance_score,
                "memory_type": memory_type,
                "event_type": event_type,
                "parent_id": parent_id,
                "confidence_score": confidence_score,
                "concepts": concepts,
                "source_files": source_files,
            }
        )
        return self._request(
            m.Memory, "PATCH", "/v1/memories/{memory_id}", path={"memory_id": memory_id}, json=body
        )

    def delete(self, memory_id: str) -> m.DeletedMemory:
        """A soft delete, restorable until `restorable_until`."""
        return self._request(
            m.DeletedMemory, "DELETE", "/v1/memories/{memory_id}", path={"memory_id": memory_id}
        )

    def hard_delete(self, memory_id: str) -> None:
        """Gone from every store, at once and for good."""
        self._request(
            None, "DELETE", "/v1/memories/{memory_id}/hard", path={"memory_id": memory_id}
        )

    def restore(self, memory_id: str) -> m.Memory:
        return self._request(
            m.Memory,
            "POST",
            "/v1/memories/{memory_id}/restore",
            path={"memory_id": memory_id},
            keyed=True,
        )

    def related(self, memory_id: str, *, limit: int | None = None) -> m.RelatedMemories:
        """The memory with those related to it (same session, shared concepts, nearest
        vectors), best first."""
        return self._request(
            m.RelatedMemories,
            "GET",
            "/v1/memories/{memory_id}/related",
            path={"memory_id": memory_id},
            params={"limit": limit},
        )

    def status(self, memory_id: str) -> m.MemoryStatus:
        """The embedding's state: `pending`, `ready` or `failed`."""
        return self._request(
            m.MemoryStatus,
            "GET",
            "/v1/memories/{memory_id}/status",
            path={"memory_id": memory_id},
        )

    def search(
        self,
        query: str | None = None,
        *,
        search_mode: str | None = None,
        weights: Mapping[str, float] | None = None,
        limit: int | None = None,
        offset: int | None = None,
        session_id: str | None = None,
        memory_types: Sequence[str] | None = None,
        role: str | None = None,
        tags: Sequence[str] | None = None,
        tag_filters: Sequence[Mapping[str, Any]] | None = None,
        filters: Mapping[str, Any] | None = None,
        user_id: str | None = None,
        agent_id: str | None = None,
        from_time: str | None = None,
        to_time: str | None = None,
        min_score: float | None = None,
        min_importance: float | None = None,
        min_confidence: float | None = None,
        event_types: Sequence[str] | None = None,
        content_contains: str | None = None,
        order: str | None = None,
    ) -> m.SearchResponse:
        """Semantic, keyword or hybrid (default) search; with no query, the filters list
        matching memories newest first."""
        body = _body(
            {
                "query": query,
                "search_mode": search_mode,
                "weights": weights,
                "limit": limit,
                "offset": offset,
                "session_id": session_id,
                "memory_types": memory_types,
                "role": role,
                "tags": tags,
                "tag_filters": tag_filters,
                "filters": filters,
                "user_id": user_id,
                "agent_id": agent_id,
                "from_time": from_time,
                "to_time": to_time,
                "min_score": min_score,
                "min_importance": min_importance,
                "min_confidence": min_confidence,
                "event_types": event_types,
                "content_contains": content_contains,
                "order": order,
            }
        )
        return self._request(m.SearchResponse, "POST", "/v1/memories/search", json=body, safe=True)

    def diff(
        self,
        *,
        from_time: str | None = None,
        to_time: str | None = None,
        session_id: str | None = None,
        limit: int | None = None,
    ) -> m.MemoryDiff:
        """What was added, updated and deleted between two times (default: the last day)."""
        params = {
            "from_time": from_time,
            "to_time": to_time,
            "session_id": session_id,
            "limit": limit,
        }
        return self._request(m.MemoryDiff, "GET", "/v1/memories/diff", params=params)

    def forget_session(self, session_id: str) -> m.ForgottenSession:
        """Soft-deletes every memory of a session."""
        return self._request(
            m.ForgottenSession,
            "DELETE",
            "/v1/sessions/{session_id}/memories",
            path={"session_id": session_id},
        )

    def forget_user(self, user_id: str) -> m.ForgottenUser:
        """Soft-deletes a user's memories and sessions (admin scope)."""
        return self._request(
            m.ForgottenUser,
            "DELETE",
            "/v1/users/{user_id}/memories",
            path={"user_id": user_id},
        )

    def restore_user(self, user_id: str) -> m.RestoredUser:
        """Brings back a forgotten user's memories and sessions still restorable (admin)."""
        return self._request(
            m.RestoredUser,
            "POST",
            "/v1/users/{user_id}/restore",
            path={"user_id": user_id},
        )


class Webhooks(_Resource):
    """Webhooks (admin scope). The secret is shown on create and rotate only."""

    def create(
        self, url: str, events: Sequence[str], *, active: bool | None = None
    ) -> m.WebhookWithSecret:
        body = _body({"url": url, "events": events, "active": active})
        return self._request(m.WebhookWithSecret, "POST", "/v1/webhooks", json=body, keyed=True)

    def list(self, *, limit: int | None = None) -> Paginator[m.Webhook]:
        return self._paginate(m.Webhook, "/v1/webhooks", {"limit": limit})

    def get(self, webhook_id: str) -> m.Webhook:
        return self._request(
            m.Webhook, "GET", "/v1/webhooks/{webhook_id}", path={"webhook_id": webhook_id}
        )

    def update(
        self,
        webhook_id: str,
        *,
        url: str | None = None,
        events: Sequence[str] | None = None,
        active: bool | None = None,
    ) -> m.Webhook:
        return self._request(
            m.Webhook,
            "PATCH",
            "/v1/webhooks/{webhook_id}",
            path={"webhook_id": webhook_id},
            json=_body({"url": url, "events": events, "active": active}),
        )

    def delete(self, webhook_id: str) -> None:
        self._request(None, "DELETE", "/v1/webhooks/{webhook_id}", path={"webhook_id": webhook_id})

    def rotate_secret(self, webhook_id: str) -> m.WebhookWithSecret:
        """A new secret; deliveries are signed with both for a grace period."""
        return self._request(
            m.WebhookWithSecret,
            "POST",
            "/v1/webhooks/{webhook_id}/rotate-secret",
            path={"webhook_id": webhook_id},
            keyed=True,
        )

    def deliveries(self, webhook_id: str, *, limit: int | None = None) -> Paginator[m.Delivery]:
        return self._paginate(
            m.Delivery,
            "/v1/webhooks/{webhook_id}/deliveries",
            {"limit": limit},
            path={"webhook_id": webhook_id},
        )

    def test(self, webhook_id: str) -> m.QueuedTest:
        """Queues a `webhook.test` delivery."""
        return self._request(
            m.QueuedTest,
            "POST",
            "/v1/webhooks/{webhook_id}/test",
            path={"webhook_id": webhook_id},
            keyed=True,
        )


class ApiKeys(_Resource):
    """API keys (admin scope). The key itself is shown once, on create."""

    def create(
        self,
        name: str,
        *,
        agent_id: str | None = None,
        scopes: Sequence[str] | None = None,
        expires_at: str | None = None,
    ) -> m.ApiKeyCreated:
        body = _body(
            {"name": name, "agent_id": agent_id, "scopes": scopes, "expires_at": expires_at}
        )
        return self._request(m.ApiKeyCreated, "POST", "/v1/api-keys", json=body, keyed=True)

    def list(self, *, limit: int | None = None) -> Paginator[m.ApiKey]:
        return self._paginate(m.ApiKey, "/v1/api-keys", {"limit": limit})

    def revoke(self, key_id: str) -> None:
        self._request(None, "DELETE", "/v1/api-keys/{key_id}", path={"key_id": key_id})


class Agents(_Resource):
    """The agent registry: named, described, configured agent ids, with their activity."""

    def create(
        self,
        name: str,
        *,
        agent_id: str | None = None,
        description: str | None = None,
        config: dict[str, Any] | None = None,
    ) -> m.Agent:
        body = _body(
            {"name": name, "agent_id": agent_id, "description": description, "config": config}
        )
        return self._request(m.Agent, "POST", "/v1/agents", json=body, keyed=True)

    def list(self, *, limit: int | None = None) -> Paginator[m.Agent]:
        return self._paginate(m.Agent, "/v1/agents", {"limit": limit})

    def get(self, agent_id: str) -> m.Agent:
        return self._request(m.Agent, "GET", "/v1/agents/{agent_id}", path={"agent_id": agent_id})

    def stats(self, agent_id: str) -> m.AgentStats:
        """Its memories (live, last 24 h, by type), sessions and last activity."""
        return self._request(
            m.AgentStats, "GET", "/v1/agents/{agent_id}/stats", path={"agent_id": agent_id}
        )

    def delete(self, agent_id: str) -> None:
        self._request(None, "DELETE", "/v1/agents/{agent_id}", path={"agent_id": agent_id})


class Workspaces(_Resource):
    """The workspace the credentials belong to."""

    def list(self) -> Paginator[m.Workspace]:
        return self._paginate(m.Workspace, "/v1/workspaces", {})

    def get(self, workspace_id: str) -> m.Workspace:
        return self._request(
            m.Workspace,
            "GET",
            "/v1/workspaces/{workspace_id}",
            path={"workspace_id": workspace_id},
        )


class Export(_Resource):
    """The workspace's memories, streamed (admin scope)."""

    def stream(
        self,
        *,
        format: str = "json",
        from_date: str | None = None,
        to_date: str | None = None,
        session_id: str | None = None,
        include_deleted: bool | None = None,
    ) -> Iterator[bytes]:
        """The raw export, chunk by chunk (a JSON array or CSV with a header row)."""
        params = {
            "format": format,
            "from_date": from_date,
            "to_date": to_date,
            "session_id": session_id,
            "include_deleted": include_deleted,
        }
        return self._t.stream("/v1/export", params)

    def memories(self, **filters: Any) -> builtins.list[m.Memory]:
        """The JSON export parsed (for a workspace that fits in memory)."""
        raw = b"".join([chunk for chunk in self.stream(format="json", **filters)])
        return TypeAdapter(builtins.list[m.Memory]).validate_json(raw)


class Auth(_Resource):
    """Accounts: register, log in, refresh and log out (tokens), and who am I."""

    def register(self, email: str, password: str, workspace_name: str) -> m.TokenPair:
        body = {"email": email, "password": password, "workspace_name": workspace_name}
        return self._request(m.TokenPair, "POST", "/v1/auth/register", json=body)

    def login(self, email: str, password: str) -> m.TokenPair:
        body = {"email": email, "password": password}
        return self._request(m.TokenPair, "POST", "/v1/auth/login", json=body)

    def refresh(self, refresh_token: str) -> m.TokenPair:
        """A new access token; the refresh token is rotated (the old one stops working)."""
        body = {"refresh_token": refresh_token}
        return self._request(m.TokenPair, "POST", "/v1/auth/refresh", json=body)

    def logout(self, refresh_token: str) -> None:
        body = {"refresh_token": refresh_token}
        self._request(None, "POST", "/v1/auth/logout", json=body)

    def me(self) -> m.Me:
        return self._request(m.Me, "GET", "/v1/auth/me")


class Engram:
    """The Engram API. `base_url` and `api_key` default to `ENGRAM_URL` and
    `ENGRAM_API_KEY`; GET/PUT/DELETE and idempotency-keyed POSTs are retried up to
    `max_retries` times on connection errors, 429 and 5xx."""

    def __init__(
        self,
        base_url: str | None = None,
        api_key: str | None = None,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        backoff: float = 0.5,
        sleep: Callable[[float], None] | None = None,
    ) -> None:
        self._transport = _Transport(base_url, api_key, timeout, max_retries, backoff, sleep)
        self.sessions = Sessions(self._transport)
        self.memories = Memories(self._transport)
        self.webhooks = Webhooks(self._transport)
        self.api_keys = ApiKeys(self._transport)
        self.export = Export(self._transport)
        self.auth = Auth(self._transport)
        self.agents = Agents(self._transport)
        self.workspaces = Workspaces(self._transport)
        self._root = _Resource(self._transport)

    @property
    def base_url(self) -> str:
        return self._transport.base_url

    def health(self) -> m.Health:
        return self._root._request(m.Health, "GET", "/health")

    def close(self) -> None:
        self._transport.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
