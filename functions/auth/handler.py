"""Auth function: /v1/auth register, login, refresh, logout, me."""

from engram.accounts.routes import router
from engram.http import create_app, lambda_api_handler

app = create_app(router)
lambda_handler = lambda_api_handler(app)
