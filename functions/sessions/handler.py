"""Sessions function: the /v1/sessions routes (sessions and their conversation)."""

from engram.bootstrap import bootstrap

bootstrap()  # first: before fastapi, the routes and the models are imported (cold start)

from engram.http import create_app, lambda_api_handler  # noqa: E402
from engram.sessions.message_routes import router as conversation_router  # noqa: E402
from engram.sessions.routes import router  # noqa: E402

app = create_app(router, conversation_router)
lambda_handler = lambda_api_handler(app)
