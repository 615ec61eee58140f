"""Context function: GET and POST /v1/sessions/{session_id}/context."""

from engram.context.routes import router
from engram.http import create_app, lambda_api_handler

app = create_app(router)
lambda_handler = lambda_api_handler(app)
