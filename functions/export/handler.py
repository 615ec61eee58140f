"""Data rights function: GET /v1/export, DELETE /v1/users/{user_id}/memories and
POST /v1/users/{user_id}/restore."""

from engram.datarights.routes import router
from engram.http import create_app, lambda_api_handler

app = create_app(router)
lambda_handler = lambda_api_handler(app)
