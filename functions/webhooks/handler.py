"""Webhooks function: the /v1/webhooks routes."""

from engram.http import create_app, lambda_api_handler
from engram.webhooks.routes import router

app = create_app(router)
lambda_handler = lambda_api_handler(app)
