"""The combined app the local server runs: every router, with the OpenAPI docs."""

from __future__ import annotations

from typing import TYPE_CHECKING

from engram.bootstrap import bootstrap

if TYPE_CHECKING:
    from fastapi import APIRouter, FastAPI


def routers() -> tuple[APIRouter, ...]:
    """Every router, imported after bootstrap() as in a Lambda function."""
    bootstrap()
    from engram.accounts.routes import router as auth_router
    from engram.agents.routes import router as agents_router
    from engram.context.routes import router as context_router
    from engram.datarights.routes import router as datarights_router
    from engram.dialects.agent_sessions.routes import router as agent_sessions_router
    from engram.dialects.memtrace.routes import router as memtrace_router
    from engram.dialects.neuroloom.routes import router as neuroloom_router
    from engram.dialects.remembr.routes import router as remembr_router
    from engram.health import router as health_router
    from engram.memories.routes import router as memories_router
    from engram.search.routes import router as search_router
    from engram.sessions.message_routes import router as conversation_router
    from engram.sessions.routes import router as sessions_router
    from engram.webhooks.routes import router as webhooks_router
    from engram.workspaces.routes import router as api_keys_router
    from engram.workspaces.routes import workspaces_router

    return (
        health_router,
        auth_router,
        api_keys_router,
        workspaces_router,
        agents_router,
        datarights_router,
        sessions_router,
        conversation_router,
        context_router,
        search_router,
        memories_router,
        webhooks_router,
        agent_sessions_router,
        remembr_router,
        memtrace_router,
        neuroloom_router,
    )


def build_app() -> FastAPI:
    all_routers = routers()
    from engram.http import create_app

    return create_app(*all_routers, docs=True)
