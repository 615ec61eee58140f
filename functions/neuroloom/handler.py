"""Neuroloom dialect function: `/neuroloom/api/v1/...` (engram.dialects)."""

from engram.dialects.neuroloom.routes import router
from engram.http import create_app, lambda_api_handler

app = create_app(router)
lambda_handler = lambda_api_handler(app)
