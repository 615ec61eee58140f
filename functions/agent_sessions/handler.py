"""Agent-sessions dialect function: `/agent-sessions/api/sessions...` (engram.dialects)."""

from engram.dialects.agent_sessions.routes import router
from engram.http import create_app, lambda_api_handler

app = create_app(router)
lambda_handler = lambda_api_handler(app)
