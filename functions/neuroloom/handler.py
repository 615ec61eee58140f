"""Neuroloom dialect function: `/neuroloom/api/v1/...` (engram.dialects)."""

from engram.bootstrap import bootstrap

bootstrap()  # first: before fastapi, the routes and the models are imported (cold start)

from engram.dialects.neuroloom.routes import router  # noqa: E402
from engram.http import create_app, lambda_api_handler  # noqa: E402

app = create_app(router)
lambda_handler = lambda_api_handler(app)
