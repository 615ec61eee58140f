"""Sessions function: the /v1/sessions routes (sessions and their conversation)."""

from engram.http import create_app, lambda_api_handler
from engram.sessions.message_routes import router as conversation_router
from engram.sessions.routes import router

app = create_app(router, conversation_router)
lambda_handler = lambda_api_handler(app)
