"""API keys function: /v1/api-keys create, list, revoke."""

from engram.http import create_app, lambda_api_handler
from engram.workspaces.routes import router

app = create_app(router)
lambda_handler = lambda_api_handler(app)
