"""Memories function: the /v1/memories routes (search has its own function)."""

from engram.http import create_app, lambda_api_handler
from engram.memories.routes import router

app = create_app(router)
lambda_handler = lambda_api_handler(app)
