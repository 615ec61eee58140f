"""Settings: the only place that reads the environment. Read once, cached."""

from __future__ import annotations

from functools import cache
from typing import Literal

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Every knob Engram reads. Each field is an environment variable of the same name
    in upper case; the README's settings table documents them all (a test checks)."""

    model_config = SettingsConfigDict(frozen=True, extra="ignore")

    stage: str = Field("dev", description="Deployment stage name, used in resource names and logs.")
    aws_region: str = Field("us-east-1", description="AWS region of the table, queues and models.")
    aws_endpoint_url: str | None = Field(
        None, description="Endpoint of an AWS emulator (the local stack sets it); unset on AWS."
    )
    table_name: str = Field("engram", description="The DynamoDB single table.")
    embed_queue_url: str | None = Field(None, description="SQS queue the embed worker reads.")
    extract_queue_url: str | None = Field(None, description="SQS queue the extract worker reads.")
    deliver_queue_url: str | None = Field(None, description="SQS queue the webhook worker reads.")
    opensearch_endpoint: str = Field(
        "", description="OpenSearch endpoint URL; empty selects the embedded local index."
    )
    search_backend: Literal["local", "opensearch"] = Field(
        "local", description="Search index adapter: the embedded index or OpenSearch."
    )
    embedder: Literal["local", "bedrock"] = Field(
        "local", description="Embedder adapter: the offline MiniLM model or Amazon Bedrock."
    )
    opensearch_index: str = Field(
        "engram-memories", description="OpenSearch index (or alias) name."
    )
    opensearch_service: Literal["es", "aoss"] = Field(
        "es", description="SigV4 service name: es (OpenSearch Service) or aoss (Serverless)."
    )
    search_timeout_seconds: float = Field(
        2.0,
        gt=0,
        le=30,
        description="How long a search waits for OpenSearch before answering 503 with "
        "Retry-After (after 3 failures in a row searches fail at once for 10 s).",
    )
    opensearch_timeout_seconds: float = Field(
        10.0,
        gt=0,
        le=60,
        description="How long the workers' index writes wait for OpenSearch (not retried on "
        "timeout; the record is retried with backoff instead).",
    )
    local_index_path: str | None = Field(
        None, description="File the embedded local index persists to; unset keeps it in memory."
    )
    bedrock_embedding_model_id: str = Field(
        "amazon.titan-embed-text-v2:0", description="Bedrock embedding model id."
    )
    bedrock_embedding_concurrency: int = Field(
        8,
        ge=1,
        le=10,
        description="Titan embedding calls a worker has in flight at once (Titan "
        "takes one text per call; 10 is botocore's connection pool).",
    )
    embedding_dimension: int = Field(
        1024, ge=8, description="Vector size asked of Bedrock (the local model is always 384)."
    )
    extractor: Literal["heuristic", "bedrock"] = Field(
        "heuristic",
        description="Session extractor adapter: the offline rule-based one or an "
        "LLM on Amazon Bedrock.",
    )
    bedrock_extractor_model_id: str = Field(
        "anthropic.claude-3-5-haiku-20241022-v1:0",
        description="Bedrock model (or inference "
        "profile) id the Bedrock extractor calls through the Converse API.",
    )
    bedrock_extractor_max_chars: int = Field(
        60_000,
        ge=1000,
        description="Transcript characters sent to the Bedrock extractor; "
        "longer sessions send their newest messages.",
    )
    soft_delete_days: int = Field(
        30,
        ge=1,
        description="Days a soft-deleted memory (or a forgotten user's session) can be restored before it is purged.",
    )
    embed_max_attempts: int = Field(
        25,
        ge=1,
        description="Embed attempts before a memory is marked failed (the embed queue's "
        "maxReceiveCount).",
    )
    pending_reembed_minutes: int = Field(
        15, ge=1, description="Age after which maintenance re-queues a memory still pending."
    )
    recency_half_life_days: float = Field(
        30.0, gt=0, description="Half-life of the recency score in search."
    )
    search_candidates_factor: int = Field(
        4,
        ge=1,
        description="Candidates per search leg, as a multiple of limit+offset (at least of 10).",
    )
    window_max_messages: int = Field(
        50, ge=1, le=1000, description="Most messages in a session's short-term window."
    )
    window_max_tokens: int = Field(
        4000, ge=16, description="Token budget of a session's short-term window."
    )
    dedup_similarity: float = Field(
        0.9,
        ge=0.5,
        le=1.0,
        description="Cosine similarity above which an extracted memory "
        "updates an existing one of the same type instead of adding a copy.",
    )
    extract_max_attempts: int = Field(
        3,
        ge=1,
        description="Extraction attempts before a session's summary is marked failed "
        "(the extract queue's maxReceiveCount).",
    )
    event_retention_days: int = Field(
        7, ge=1, description="Days an event stays in the table's change feed (TTL)."
    )
    max_body_bytes: int = Field(1_048_576, ge=1024, description="Largest request body accepted.")
    max_metadata_bytes: int = Field(8192, ge=256, description="Largest metadata object, as JSON.")
    max_content_bytes: int = Field(32_768, ge=256, description="Largest memory/message content.")
    max_tags: int = Field(50, ge=1, description="Most tags on one memory.")
    max_tag_chars: int = Field(128, ge=1, description="Longest tag.")
    max_batch_items: int = Field(100, ge=1, description="Most items in one batch request.")
    default_page_size: int = Field(20, ge=1, le=100, description="List page size when no limit.")
    dev_workspace_name: str = Field(
        "dev", description="Name of the workspace the local stack creates at start."
    )
    jwt_secret_name: str = Field(
        "engram/jwt", description="Secrets Manager secret (name or ARN) that signs access tokens."
    )
    jwt_secret_max_age: int = Field(
        300, ge=0, description="Seconds the JWT secret is cached in a warm function."
    )
    access_token_ttl_seconds: int = Field(
        900, ge=60, le=86_400, description="Lifetime of an access token (JWT)."
    )
    refresh_token_ttl_days: int = Field(
        30, ge=1, le=365, description="Lifetime of a refresh token; each refresh rotates it."
    )
    idempotency_table_name: str = Field(
        "engram-idempotency", description="DynamoDB table of Idempotency-Key records."
    )
    idempotency_ttl_seconds: int = Field(
        86_400, ge=60, description="How long a response is replayed for the same Idempotency-Key."
    )
    export_bucket: str = Field(
        "", description="S3 bucket for exports too large to answer inline; empty streams them."
    )
    export_inline_max_bytes: int = Field(
        5_000_000, ge=1024, description="Largest export answered inline (Lambda answers <= 6 MB)."
    )
    export_url_ttl_seconds: int = Field(
        900, ge=60, le=604_800, description="Lifetime of the presigned URL of a large export."
    )
    webhook_allow_private: bool = Field(
        False,
        description="Allow http and private/loopback webhook URLs (local development and "
        "tests only).",
    )
    webhook_connect_timeout_seconds: float = Field(
        3.0, gt=0, le=30, description="Connect timeout of a webhook delivery."
    )
    webhook_read_timeout_seconds: float = Field(
        5.0, gt=0, le=30, description="Read timeout of a webhook delivery (time to the response)."
    )
    webhook_retry_base_seconds: int = Field(
        60,
        ge=0,
        le=3600,
        description="First retry delay of a failed delivery; doubles per attempt.",
    )
    webhook_retry_max_seconds: int = Field(
        3600, ge=0, le=43200, description="Longest retry delay of a failed delivery."
    )
    webhook_disable_after_failures: int = Field(
        50,
        ge=1,
        description="Consecutive failed delivery attempts after which a webhook is switched off.",
    )
    webhook_secret_grace_hours: int = Field(
        24,
        ge=0,
        description="Hours after a secret rotation during which deliveries are also "
        "signed with the old secret.",
    )
    webhook_delivery_retention_days: int = Field(
        30, ge=1, description="Days a delivery record is kept (TTL)."
    )
    webhook_max_per_workspace: int = Field(
        20, ge=1, description="Most webhooks one workspace may have."
    )


@cache
def get_settings() -> Settings:
    return Settings()
