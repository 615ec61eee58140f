"""Data rights function: GET /v1/export and DELETE /v1/users/{user_id}/memories."""

from engram.datarights.routes import router
from engram.http import create_app, lambda_api_handler

app = create_app(router)
lambda_handler = lambda_api_handler(app)
