"""Health function: GET /health."""

from engram.health import router
from engram.http import create_app, lambda_api_handler

app = create_app(router)
lambda_handler = lambda_api_handler(app)
