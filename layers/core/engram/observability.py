"""Powertools logger, tracer and metrics, configured by POWERTOOLS_* environment variables."""

from __future__ import annotations

from aws_lambda_powertools import Logger, Metrics, Tracer

logger = Logger(service="engram")
tracer = Tracer(service="engram")
metrics = Metrics(namespace="Engram", service="engram")
