"""Engram: a self-hosted memory API for AI agents.

Importing engram (or any module of it) changes no other library: the start-up speed-ups
for FastAPI and pydantic are applied only by `engram.bootstrap.bootstrap()`, which the
Lambda handlers and the local app factory call first."""

__version__ = "0.1.0"
