"""Search function: POST /v1/memories/search."""

from engram.http import create_app, lambda_api_handler
from engram.search.routes import router

app = create_app(router)
lambda_handler = lambda_api_handler(app)
