"""Engram: a self-hosted memory API for AI agents."""

__version__ = "0.1.0"
