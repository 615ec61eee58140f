"""The deliver worker's logic: one attempt per received message. Retries ride on SQS: a
failed attempt sets the message's visibility timeout to the backoff delay and reports the
record failed; the 8th failure marks the delivery failed and lets the message dead-letter."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

from engram import aws, wiring
from engram.clock import Clock, iso, parse_iso
from engram.config import Settings, get_settings
from engram.event_types import TEST_EVENT
from engram.observability import count, log_keys, logger
from engram.webhooks.delivery import Attempt, backoff_seconds, post
from engram.webhooks.guard import Resolver, UnsafeUrl, check_url
from engram.webhooks.models import MAX_ATTEMPTS, DeliveryJob, WebhookRecord
from engram.webhooks.repository import WebhookRepository
from engram.webhooks.signing import signature_header


class RetryLater(Exception):
    """Reported as a batch item failure: SQS redelivers after the backoff delay."""


class DeliveryFailed(Exception):
    """The last attempt failed: reported failed so the message dead-letters."""


@dataclass(frozen=True)
class Outcome:
    kind: Literal["done", "retry", "dead"]
    delay: int = 0


DONE = Outcome("done")


def body_of(event: dict[str, Any]) -> bytes:
    return json.dumps(event, separators=(",", ":"), sort_keys=True).encode()


def signing_secrets(webhook: WebhookRecord, now_iso: str) -> list[str]:
    """The current secret, plus the previous one during the rotation's grace period."""
    found = [webhook.secret]
    expires = webhook.previous_secret_expires_at
    if webhook.previous_secret and expires and parse_iso(expires) > parse_iso(now_iso):
        found.append(webhook.previous_secret)
    return found


class DeliveryWorker:
    def __init__(
        self,
        repo: WebhookRepository,
        clock: Clock,
        settings: Settings,
        send: Callable[..., Attempt] = post,
        resolve: Resolver | None = None,
    ) -> None:
        self._repo = repo
        self._clock = clock
        self._settings = settings
        self._send = send
        self._resolve = resolve

    def deliver(self, job: DeliveryJob, attempt: int) -> Outcome:
        with log_keys(delivery_id=job.delivery_id, webhook_id=job.webhook_id, attempt=attempt):
            return self._deliver(job, attempt)

    def _deliver(self, job: DeliveryJob, attempt: int) -> Outcome:
        webhook = self._repo.find(job.workspace_id, job.webhook_id)
        reason = self._skip_reason(job, webhook)
        if reason:
            self._mark(job, status="failed", error=reason, next_attempt_at=None)
            count("WebhookDeliveryDropped")
            return DONE
        delivery = self._repo.get_delivery(job.workspace_id, job.webhook_id, job.delivery_id)
        if delivery and delivery.status in ("succeeded", "failed"):
            # a redelivered message: the work is already settled
            count("WebhookDuplicateSkipped")
            return DONE
        assert webhook is not None
        result = self._attempt(webhook, job)
        if result.ok:
            return self._succeeded(job, attempt, result)
        return self._failed(webhook, job, attempt, result)

    @staticmethod
    def _skip_reason(job: DeliveryJob, webhook: WebhookRecord | None) -> str | None:
        if webhook is None or webhook.deleted_at:
            return "The webhook was deleted."
        if not webhook.active and job.event.get("type") != TEST_EVENT:
            return f"The webhook is switched off: {webhook.disabled_reason or 'inactive'}"
        return None

    def _attempt(self, webhook: WebhookRecord, job: DeliveryJob) -> Attempt:
        try:
            target = check_url(webhook.url, self._settings.webhook_allow_private, self._resolve)
        except UnsafeUrl as exc:
            return Attempt(None, 0, str(exc))
        now = self._clock.now()
        body = body_of(job.event)
        headers = {
            "Engram-Event": str(job.event.get("type", "")),
            "Engram-Delivery": job.delivery_id,
            "Engram-Signature": signature_header(
                signing_secrets(webhook, iso(now)), int(now.timestamp()), body
            ),
        }
        return self._send(
            target,
            body,
            headers,
            self._settings.webhook_connect_timeout_seconds,
            self._settings.webhook_read_timeout_seconds,
        )

    def _succeeded(self, job: DeliveryJob, attempt: int, result: Attempt) -> Outcome:
        now = iso(self._clock.now())
        self._repo.record_success(job.workspace_id, job.webhook_id, now, result.status_code or 0)
        self._mark(
            job,
            status="succeeded",
            attempt=attempt,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=None,
            last_attempt_at=now,
            next_attempt_at=None,
        )
        count("WebhookDelivered")
        return DONE

    def _failed(
        self, webhook: WebhookRecord, job: DeliveryJob, attempt: int, result: Attempt
    ) -> Outcome:
        now = self._clock.now()
        after = self._repo.record_failure(
            job.workspace_id,
            job.webhook_id,
            iso(now),
            result.status_code,
            result.error or "Failed.",
        )
        outcome = self._next_step(attempt)
        if self._disable_if_over(after, iso(now), result) and outcome.kind == "retry":
            outcome = DONE  # switched off: stop retrying, keep the record as failed
        final = outcome.kind != "retry"
        next_at = None if final else iso(now + timedelta(seconds=outcome.delay))
        self._mark(
            job,
            status="failed" if final else "retrying",
            attempt=attempt,
            status_code=result.status_code,
            duration_ms=result.duration_ms,
            error=result.error,
            last_attempt_at=iso(now),
            next_attempt_at=next_at,
        )
        count("WebhookAttemptFailed")
        logger.info(
            "webhook delivery failed",
            extra={"error": result.error, "status_code": result.status_code},
        )
        return outcome

    def _next_step(self, attempt: int) -> Outcome:
        if attempt >= MAX_ATTEMPTS:
            return Outcome("dead")
        return Outcome(
            "retry",
            backoff_seconds(
                attempt,
                self._settings.webhook_retry_base_seconds,
                self._settings.webhook_retry_max_seconds,
            ),
        )

    def _disable_if_over(self, webhook: WebhookRecord | None, now: str, result: Attempt) -> bool:
        """True when the webhook is (now) off, so this delivery stops retrying."""
        limit = self._settings.webhook_disable_after_failures
        if webhook is None or webhook.failure_count < limit:
            return False
        reason = (
            f"Switched off after {webhook.failure_count} consecutive failed deliveries; "
            f"last error: {result.error}"
        )
        if self._repo.disable(webhook.workspace_id, webhook.webhook_id, reason, now):
            logger.warning("webhook disabled", extra={"reason": reason})
            count("WebhookDisabled")
        return True

    def _mark(self, job: DeliveryJob, **changes: Any) -> None:
        self._repo.update_delivery(job.workspace_id, job.webhook_id, job.delivery_id, changes)


# --- the Lambda side: SQS records in, outcomes as batch item failures -----------------


def handle_record(record: Any, worker: DeliveryWorker | None = None) -> None:
    """Powertools record handler: raising marks this record (only) failed."""
    job = DeliveryJob.model_validate_json(record.body)
    attempt = int(record.raw_event.get("attributes", {}).get("ApproximateReceiveCount", "1"))
    outcome = (worker or wiring.delivery_worker()).deliver(job, attempt)
    if outcome.kind == "retry":
        _delay(record, outcome.delay)
        raise RetryLater(f"attempt {attempt} failed; next in {outcome.delay}s")
    if outcome.kind == "dead":
        _delay(record, 0)  # visible at once, so the next receive moves it to the DLQ
        raise DeliveryFailed(f"attempt {attempt} of {MAX_ATTEMPTS} failed; dead-lettering")


def _delay(record: Any, seconds: int) -> None:
    """The backoff: hide the message for `seconds` (not the queue's default timeout)."""
    url = get_settings().deliver_queue_url or record.queue_url
    try:
        aws.client("sqs").change_message_visibility(
            QueueUrl=url, ReceiptHandle=record.receipt_handle, VisibilityTimeout=seconds
        )
    except Exception:  # noqa: BLE001
        logger.exception("could not set the retry delay; the queue's default applies")
