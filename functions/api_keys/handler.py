"""API keys function: /v1/api-keys create, list, revoke; /v1/workspaces, the caller's own."""

from engram.bootstrap import bootstrap

bootstrap()  # first: before fastapi, the routes and the models are imported (cold start)

from engram.http import create_app, lambda_api_handler  # noqa: E402
from engram.workspaces.routes import router, workspaces_router  # noqa: E402

app = create_app(router, workspaces_router)
lambda_handler = lambda_api_handler(app)
