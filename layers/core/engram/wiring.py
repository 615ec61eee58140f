"""The composition root: the one place that builds settings, clients, repositories, services
and adapters. Route modules, workers, handlers, the CLI and the local stack ask it for what
they need (`from engram import wiring; wiring.memory_service(scope)`); nothing else
constructs a service.

What is costly to make (settings, boto3 clients, the queues, the search index, the embedder,
the extractor, the workers' jobs) is made once per process and kept; services and
repositories are cheap values made per call, so each request gets the caller's agent scope.
Every import of a service, repository or adapter happens inside the function that builds
it: an API function imports only what its routes use, and never a model runtime.

`reset()` forgets everything kept, so settings and clients follow a changed environment (the
tests, the local stack pointing itself at its emulator)."""

from __future__ import annotations

import sys
import threading
from collections.abc import Callable
from functools import cache, wraps
from typing import TYPE_CHECKING, Any, TypeVar

from engram import aws
from engram.agent_scope import UNBOUND, AgentScope
from engram.clock import Clock, SystemClock
from engram.config import Settings, get_settings

if TYPE_CHECKING:
    from engram.accounts.repository import AccountRepository
    from engram.accounts.service import AccountService
    from engram.agents.service import AgentService
    from engram.context.service import ContextService
    from engram.credentials import Authenticator
    from engram.datarights.service import DataRightsService
    from engram.events import EventFeed
    from engram.extraction.extractor import Extractor
    from engram.extraction.job import SessionExtraction
    from engram.memories.maintenance import Maintenance
    from engram.memories.repository import MemoryRepository
    from engram.memories.service import MemoryService
    from engram.queues import Queues
    from engram.search.embedder import Embedder
    from engram.search.index import SearchIndex
    from engram.search.meanings import WordMeanings
    from engram.search.related import RelatedService
    from engram.search.service import SearchService
    from engram.search.sync import IndexSync
    from engram.sessions.messages import ConversationService
    from engram.sessions.repository import SessionRepository
    from engram.sessions.service import SessionService
    from engram.webhooks.repository import WebhookRepository
    from engram.webhooks.service import WebhookService
    from engram.webhooks.worker import DeliveryWorker
    from engram.workspaces.repository import WorkspaceRepository
    from engram.workspaces.service import WorkspaceService

T = TypeVar("T")
_kept: list[Any] = []  # every cached builder, for reset()


def _once(build: Callable[[], T]) -> Callable[[], T]:
    """`build` runs once per process (until reset()), also when threads ask first at the same
    moment: `cache` alone lets both build (the local stack's API and its embed worker each
    kept a search index of their own, and searches missed every new memory). A lock per
    builder cannot deadlock: builders call each other without cycles."""
    cached = cache(build)
    lock = threading.Lock()

    @wraps(build)
    def get() -> T:
        with lock:
            return cached()

    get.cache_clear = cached.cache_clear  # type: ignore[attr-defined]
    _kept.append(get)
    return get


def reset() -> None:
    """Forgets every kept object, here and in the modules that keep their own (settings,
    boto3 clients, the JWT secret, the idempotency store)."""
    for cached in _kept:
        cached.cache_clear()
    get_settings.cache_clear()
    aws.clear_caches()
    if "engram.accounts.tokens" in sys.modules:
        sys.modules["engram.accounts.tokens"].clear_secret_cache()
    if "engram.idempotency" in sys.modules:
        sys.modules["engram.idempotency"].clear_cache()


# --- settings, clock, clients ---------------------------------------------------------------


def settings() -> Settings:
    return get_settings()


@_once
def clock() -> Clock:
    return SystemClock()


def table() -> Any:
    """The single table, as a boto3 Table resource."""
    return aws.table()


@_once
def queues() -> Queues:
    from engram.queues import SqsQueues

    config = settings()
    urls = {
        "embed": config.embed_queue_url,
        "extract": config.extract_queue_url,
        "deliver": config.deliver_queue_url,
    }
    return SqsQueues(aws.client("sqs"), urls)


# --- adapters (each imported only when first used) ------------------------------------------


@_once
def search_index() -> SearchIndex:
    config = settings()
    if config.search_backend == "opensearch":
        from engram.adapters.opensearch_index import OpenSearchIndex

        return OpenSearchIndex.from_settings(config)
    from engram.adapters.local_index import LocalIndex

    return LocalIndex(path=config.local_index_path)


@_once
def embedder() -> Embedder:
    """The configured embedder. Building it loads no model: that happens on first embed."""
    config = settings()
    if config.embedder == "bedrock":
        from engram.adapters.bedrock_embedder import BedrockEmbedder

        return BedrockEmbedder(
            model_id=config.bedrock_embedding_model_id,
            dimension=config.embedding_dimension,
            concurrency=config.bedrock_embedding_concurrency,
        )
    from engram.adapters.local_embedder import LocalEmbedder

    return LocalEmbedder()


@_once
def extractor() -> Extractor:
    config = settings()
    if config.extractor == "bedrock":
        from engram.adapters.bedrock_extractor import BedrockExtractor

        return BedrockExtractor(
            model_id=config.bedrock_extractor_model_id,
            max_transcript_chars=config.bedrock_extractor_max_chars,
        )
    from engram.adapters.heuristic_extractor import HeuristicExtractor

    return HeuristicExtractor()


# --- repositories ---------------------------------------------------------------------------


def memory_repository() -> MemoryRepository:
    from engram.memories.repository import MemoryRepository

    return MemoryRepository(table())


def session_repository() -> SessionRepository:
    from engram.sessions.repository import SessionRepository

    return SessionRepository(table())


def workspace_repository() -> WorkspaceRepository:
    from engram.workspaces.repository import WorkspaceRepository

    return WorkspaceRepository(table())


def account_repository() -> AccountRepository:
    from engram.accounts.repository import AccountRepository

    return AccountRepository(table())


def webhook_repository() -> WebhookRepository:
    from engram.webhooks.repository import WebhookRepository

    return WebhookRepository(table())


# --- events ---------------------------------------------------------------------------------


def events() -> EventFeed:
    """The change feed; the workspace's webhooks subscribe to what it publishes."""
    from engram.events import EventFeed
    from engram.webhooks.fanout import WebhookFanOut

    return EventFeed(table(), clock(), subscribers=[WebhookFanOut(webhook_repository(), queues)])


# --- services -------------------------------------------------------------------------------


def authenticator() -> Authenticator:
    from engram.credentials import Authenticator

    return Authenticator(workspace_repository(), account_repository(), clock())


def workspace_service() -> WorkspaceService:
    from engram.workspaces.service import WorkspaceService

    return WorkspaceService(workspace_repository(), clock())


def account_service() -> AccountService:
    from engram.accounts.service import AccountService

    return AccountService(account_repository(), workspace_repository(), clock())


def memory_service(scope: AgentScope = UNBOUND) -> MemoryService:
    from engram.memories.service import MemoryService

    return MemoryService(
        memory_repository(),
        queues(),
        events(),
        clock(),
        sessions=session_repository(),
        scope=scope,
        sync_now=_sync_now,
    )


def _sync_now(jobs: list[tuple[str, str]]) -> object:
    """`sync_embedding`: the embed worker's own sync, in this process."""
    return index_sync().sync_many(jobs)


def conversation_service(scope: AgentScope = UNBOUND) -> ConversationService:
    from engram.sessions.messages import ConversationService

    return ConversationService(
        session_repository(),
        memory_service(scope),
        memory_repository(),
        events(),
        clock(),
        scope=scope,
    )


def session_service(scope: AgentScope = UNBOUND) -> SessionService:
    from engram.sessions.service import SessionService

    return SessionService(
        session_repository(),
        queues(),
        events(),
        clock(),
        conversation=conversation_service(scope),
        scope=scope,
    )


def search_service(scope: AgentScope = UNBOUND) -> SearchService:
    from engram.search.service import SearchService

    # The embedder goes in as its factory: keyword searches never load a model.
    return SearchService(
        search_index(),
        embedder,
        memory_repository(),
        clock(),
        scope=scope,
        meanings=word_meanings(),
    )


@_once
def word_meanings() -> WordMeanings:
    """Word vectors for the soft word match, kept for the process's searches."""
    from engram.search.meanings import WordMeanings

    return WordMeanings()


def related_service(scope: AgentScope = UNBOUND) -> RelatedService:
    from engram.search.related import RelatedService

    return RelatedService(memory_repository(), search_index(), scope)


def agent_service(scope: AgentScope = UNBOUND) -> AgentService:
    from engram.agents.repository import AgentRepository
    from engram.agents.service import AgentService

    return AgentService(
        AgentRepository(table()), memory_repository(), session_repository(), clock(), scope
    )


def context_service(scope: AgentScope = UNBOUND) -> ContextService:
    from engram.context.service import ContextService
    from engram.text import count_tokens

    return ContextService(
        session_repository(),
        memory_repository(),
        workspace_repository(),
        search_service(scope),
        count_tokens,
        clock(),
        scope=scope,
    )


def data_rights_service() -> DataRightsService:
    from engram.datarights.service import DataRightsService
    from engram.datarights.store import ExportStore

    bucket = settings().export_bucket
    store = ExportStore(aws.client("s3"), bucket) if bucket else None
    return DataRightsService(
        memory_service(), memory_repository(), session_repository(), clock(), store
    )


def webhook_service() -> WebhookService:
    from engram.webhooks.service import WebhookService

    return WebhookService(webhook_repository(), events(), clock(), settings())


# --- workers and maintenance ----------------------------------------------------------------


@_once
def index_sync() -> IndexSync:
    """The embed worker's job (kept: it holds the embedder and the index)."""
    from engram.search.sync import IndexSync

    return IndexSync(memory_repository(), search_index(), embedder(), events(), clock())


@_once
def session_extraction() -> SessionExtraction:
    """The extract worker's job."""
    from engram.extraction.job import SessionExtraction

    return SessionExtraction(
        session_repository(),
        memory_service(),
        memory_repository(),
        workspace_repository(),
        extractor(),
        embedder(),
        search_index(),
        events(),
        clock(),
    )


def delivery_worker() -> DeliveryWorker:
    from engram.webhooks.worker import DeliveryWorker

    return DeliveryWorker(webhook_repository(), clock(), settings())


def maintenance() -> Maintenance:
    from engram.memories.maintenance import Maintenance

    return Maintenance(
        memory_repository(), memory_service().enqueue_sync, clock(), session_repository()
    )
