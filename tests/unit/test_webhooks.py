"""Webhooks without AWS: signing and verify, the SSRF guard (resolver faked), the retry
schedule, event matching, and the delivery worker's decisions with an in-memory repository."""

from __future__ import annotations

import json
import socket
from datetime import UTC, datetime

import pytest

from engram.clock import FixedClock
from engram.config import Settings
from engram.webhooks import SignatureError, signature_header, verify
from engram.webhooks.delivery import Attempt, backoff_seconds
from engram.webhooks.fanout import targets
from engram.webhooks.guard import UnsafeUrl, check_url
from engram.webhooks.models import (
    MAX_ATTEMPTS,
    Delivery,
    DeliveryJob,
    WebhookCreate,
    WebhookRecord,
    WebhookUpdate,
)
from engram.webhooks.worker import DeliveryWorker, body_of, signing_secrets

SECRET = "whsec_test"
NOW = 1_800_000_000


# ---- signing and verify ----


def _signed(body: bytes, secrets=(SECRET,), t: int = NOW) -> dict[str, str]:
    return {"Engram-Signature": signature_header(list(secrets), t, body)}


def test_signature_is_hmac_sha256_of_timestamp_dot_body():
    import hashlib
    import hmac

    body = b'{"id":"evt_1"}'
    expected = hmac.new(SECRET.encode(), f"{NOW}.".encode() + body, hashlib.sha256).hexdigest()
    assert _signed(body)["Engram-Signature"] == f"t={NOW},v1={expected}"


def test_verify_returns_the_payload_and_reads_headers_in_any_case():
    body = json.dumps({"id": "evt_1", "type": "memory.stored"}).encode()
    headers = {"engram-signature": _signed(body)["Engram-Signature"]}
    assert verify(SECRET, headers, body, now=NOW + 10)["id"] == "evt_1"
    assert verify(SECRET, headers, body.decode(), now=NOW)["type"] == "memory.stored"


@pytest.mark.parametrize(
    "case", ["tampered", "wrong_secret", "old", "future", "missing", "malformed", "no_v1"]
)
def test_verify_rejects(case):
    body = b'{"id":"evt_1"}'
    headers, secret, now = _signed(body), SECRET, NOW + 1
    if case == "tampered":
        body = b'{"id":"evt_2"}'
    elif case == "wrong_secret":
        secret = "whsec_other"
    elif case == "old":
        now = NOW + 301
    elif case == "future":
        now = NOW - 301
    elif case == "missing":
        headers = {}
    elif case == "malformed":
        headers = {"Engram-Signature": "garbage"}
    elif case == "no_v1":
        headers = {"Engram-Signature": f"t={NOW},v0=abc"}
    with pytest.raises(SignatureError):
        verify(secret, headers, body, tolerance=300, now=now)


def test_both_secrets_verify_during_a_rotation():
    body = b'{"id":"evt_1"}'
    headers = _signed(body, secrets=("whsec_new", "whsec_old"))
    assert headers["Engram-Signature"].count("v1=") == 2
    assert verify("whsec_new", headers, body, now=NOW)
    assert verify("whsec_old", headers, body, now=NOW)
    with pytest.raises(SignatureError):
        verify("whsec_other", headers, body, now=NOW)


def test_previous_secret_signs_only_until_its_grace_ends():
    webhook = _webhook(
        previous_secret="whsec_old", previous_secret_expires_at="2030-01-02T00:00:00.000Z"
    )
    assert signing_secrets(webhook, "2030-01-01T23:59:59.000Z") == [SECRET, "whsec_old"]
    assert signing_secrets(webhook, "2030-01-02T00:00:01.000Z") == [SECRET]


# ---- the SSRF guard ----


def _resolver(*addresses: str):
    def resolve(host, port, type=0):
        family = socket.AF_INET6 if ":" in addresses[0] else socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "address,kind",
    [
        ("127.0.0.1", "loopback"),
        ("10.1.2.3", "private"),
        ("172.16.0.1", "private"),
        ("192.168.1.1", "private"),
        ("100.64.0.1", "private"),
        ("169.254.169.254", "link-local"),
        ("224.0.0.1", "multicast"),
        ("0.0.0.0", "unspecified"),
        ("240.0.0.1", "reserved"),
        ("::1", "loopback"),
        ("fc00::1", "private"),
        ("fe80::1%eth0", "link-local"),
        ("ff02::1", "multicast"),
        ("::", "unspecified"),
        ("::ffff:127.0.0.1", "loopback"),
        ("::ffff:10.0.0.1", "private"),
        ("::ffff:169.254.169.254", "link-local"),
        ("2002:7f00:1::", "loopback"),
    ],
)
def test_guard_refuses_non_public_addresses(monkeypatch, address, kind):
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(address))
    with pytest.raises(UnsafeUrl, match=kind):
        check_url("https://hooks.example.com/x")


def test_guard_checks_every_resolved_address(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("93.184.216.34", "10.0.0.1"))
    with pytest.raises(UnsafeUrl, match="private"):
        check_url("https://hooks.example.com/x")


@pytest.mark.parametrize("address", ["93.184.216.34", "2606:4700::1111", "::ffff:8.8.8.8"])
def test_guard_accepts_public_addresses_and_returns_them(monkeypatch, address):
    monkeypatch.setattr(socket, "getaddrinfo", _resolver(address))
    target = check_url("https://hooks.example.com:8443/in?x=1")
    assert (target.scheme, target.host, target.port, target.path) == (
        "https",
        "hooks.example.com",
        8443,
        "/in?x=1",
    )
    assert target.addresses == (address,)


@pytest.mark.parametrize(
    "url,sentence",
    [
        ("http://hooks.example.com/x", "https"),
        ("ftp://hooks.example.com/", "https"),
        ("hooks.example.com/x", "https"),
        ("https:///x", "no host"),
        ("https://user:pw@hooks.example.com/", "credentials"),
        ("https://h.example.com:99999/", "port"),
        ("https://h.example.com/" + "a" * 2100, "longer"),
    ],
)
def test_guard_refuses_malformed_urls(monkeypatch, url, sentence):
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("93.184.216.34"))
    with pytest.raises(UnsafeUrl, match=sentence):
        check_url(url)


def test_guard_refuses_a_host_that_does_not_resolve(monkeypatch):
    def fail(*args, **kwargs):
        raise socket.gaierror("nope")

    monkeypatch.setattr(socket, "getaddrinfo", fail)
    with pytest.raises(UnsafeUrl, match="does not resolve"):
        check_url("https://nowhere.invalid/")


def test_allow_private_admits_http_loopback_and_private_but_not_metadata(monkeypatch):
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("127.0.0.1"))
    assert check_url("http://localhost:8080/", allow_private=True).addresses == ("127.0.0.1",)
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("::1"))
    assert check_url("http://[::1]:8080/", allow_private=True).port == 8080
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("10.0.0.5"))
    assert check_url("https://internal/", allow_private=True)
    monkeypatch.setattr(socket, "getaddrinfo", _resolver("169.254.169.254"))
    with pytest.raises(UnsafeUrl, match="link-local"):
        check_url("http://metadata/", allow_private=True)


# ---- backoff and matching ----


def test_backoff_doubles_from_the_base_up_to_the_cap():
    assert [backoff_seconds(a, 60, 3600) for a in range(1, MAX_ATTEMPTS)] == [
        60,
        120,
        240,
        480,
        960,
        1920,
        3600,
    ]
    assert [backoff_seconds(a, 1, 3) for a in (1, 2, 3, 4)] == [1, 2, 3, 3]
    assert backoff_seconds(5, 0, 3600) == 0


def test_event_matching_picks_active_subscribers_and_tests_go_to_their_webhook():
    a = _webhook(webhook_id="wh_a", events=["memory.stored"])
    b = _webhook(webhook_id="wh_b", events=["session.ended", "memory.stored"])
    off = _webhook(webhook_id="wh_off", events=["memory.stored"], active=False)
    event = {"type": "memory.stored", "data": {}}
    assert [w.webhook_id for w in targets([a, b, off], event)] == ["wh_a", "wh_b"]
    assert targets([a, b, off], {"type": "session.created", "data": {}}) == []
    test = {"type": "webhook.test", "data": {"webhook_id": "wh_off"}}
    assert [w.webhook_id for w in targets([a, b, off], test)] == ["wh_off"]


@pytest.mark.parametrize(
    "events,sentence",
    [
        ([], "at least one"),
        (["memory.stored", "memory.exploded"], "unknown event type 'memory.exploded'"),
    ],
)
def test_event_lists_are_validated(events, sentence):
    with pytest.raises(ValueError, match=sentence):
        WebhookCreate(url="https://x.example.com", events=events)
    with pytest.raises(ValueError, match=sentence):
        WebhookUpdate(events=events)


def test_duplicate_event_names_collapse():
    assert WebhookCreate(
        url="https://x.example.com", events=["memory.stored", "memory.stored"]
    ).events == ["memory.stored"]


# ---- the worker's decisions, with fakes ----


def _webhook(**fields) -> WebhookRecord:
    base = {
        "webhook_id": "wh_1",
        "workspace_id": "ws_1",
        "url": "https://hooks.example.com/in",
        "events": ["memory.stored"],
        "secret": SECRET,
        "created_at": "2030-01-01T00:00:00.000Z",
    }
    return WebhookRecord(**{**base, **fields})


class FakeRepo:
    def __init__(self, webhook: WebhookRecord | None) -> None:
        self.webhook = webhook
        self.delivery = Delivery(
            delivery_id="dlv_1",
            webhook_id="wh_1",
            event_id="evt_1",
            event_type="memory.stored",
            created_at="2030-01-01T00:00:00.000Z",
        )

    def find(self, workspace_id, webhook_id):
        return self.webhook

    def get_delivery(self, workspace_id, webhook_id, delivery_id):
        return self.delivery

    def update_delivery(self, workspace_id, webhook_id, delivery_id, changes):
        self.delivery = self.delivery.model_copy(update=changes)

    def record_success(self, workspace_id, webhook_id, at, status):
        self.webhook = self.webhook.model_copy(
            update={"failure_count": 0, "last_delivery_at": at, "last_delivery_status": status}
        )

    def record_failure(self, workspace_id, webhook_id, at, status, error):
        self.webhook = self.webhook.model_copy(
            update={
                "failure_count": self.webhook.failure_count + 1,
                "last_delivery_at": at,
                "last_delivery_status": status,
                "last_delivery_error": error,
            }
        )
        return self.webhook

    def disable(self, workspace_id, webhook_id, reason, at):
        was = self.webhook.active
        self.webhook = self.webhook.model_copy(update={"active": False, "disabled_reason": reason})
        return was


JOB = DeliveryJob(
    workspace_id="ws_1",
    webhook_id="wh_1",
    delivery_id="dlv_1",
    event={
        "id": "evt_1",
        "type": "memory.stored",
        "created_at": "x",
        "workspace_id": "ws_1",
        "data": {"memory_id": "mem_1"},
    },
)


def _worker(repo, answers, **settings):
    sent = []

    def send(target, body, headers, connect, read):
        sent.append((target, body, headers))
        return answers.pop(0)

    clock = FixedClock(datetime(2030, 1, 1, tzinfo=UTC))
    worker = DeliveryWorker(
        repo, clock, Settings(**settings), send=send, resolve=_resolver("93.184.216.34")
    )
    return worker, sent


def test_worker_signs_the_exact_body_and_records_success():
    repo = FakeRepo(_webhook(failure_count=3))
    worker, sent = _worker(repo, [Attempt(204, 12)])
    assert worker.deliver(JOB, 1).kind == "done"
    _target, body, headers = sent[0]
    assert body == body_of(JOB.event) and headers["Engram-Delivery"] == "dlv_1"
    assert headers["Engram-Event"] == "memory.stored"
    assert verify(SECRET, headers, body, now=datetime(2030, 1, 1, tzinfo=UTC).timestamp())
    assert repo.delivery.status == "succeeded" and repo.delivery.status_code == 204
    assert repo.delivery.attempt == 1 and repo.delivery.duration_ms == 12
    assert repo.webhook.failure_count == 0 and repo.webhook.last_delivery_status == 204


def test_worker_retries_with_growing_delays_then_gives_up_on_the_last_attempt():
    repo = FakeRepo(_webhook())
    worker, _ = _worker(repo, [Attempt(500, 5, "HTTP 500")] * MAX_ATTEMPTS)
    outcomes = [worker.deliver(JOB, attempt) for attempt in range(1, MAX_ATTEMPTS + 1)]
    assert [o.kind for o in outcomes] == ["retry"] * (MAX_ATTEMPTS - 1) + ["dead"]
    delays = [o.delay for o in outcomes[:-1]]
    assert delays == sorted(delays) and delays[0] < delays[1]
    assert repo.delivery.status == "failed" and repo.delivery.attempt == MAX_ATTEMPTS
    assert repo.delivery.next_attempt_at is None


def test_worker_disables_the_webhook_past_the_threshold():
    repo = FakeRepo(_webhook(failure_count=1))
    worker, _ = _worker(repo, [Attempt(None, 3000, "Timed out.")], webhook_disable_after_failures=2)
    assert worker.deliver(JOB, 1).kind == "done"
    assert repo.webhook.active is False and "2 consecutive" in repo.webhook.disabled_reason
    assert repo.delivery.status == "failed" and repo.delivery.error == "Timed out."


@pytest.mark.parametrize(
    "webhook,reason",
    [
        (None, "deleted"),
        (_webhook(deleted_at="2030-01-01T00:00:00.000Z"), "deleted"),
        (_webhook(active=False, disabled_reason="Switched off through the API."), "switched off"),
    ],
)
def test_worker_drops_deliveries_of_gone_or_inactive_webhooks(webhook, reason):
    repo = FakeRepo(webhook)
    worker, sent = _worker(repo, [])
    assert worker.deliver(JOB, 1).kind == "done" and not sent
    assert repo.delivery.status == "failed" and reason in repo.delivery.error


def test_worker_skips_a_delivery_already_settled():
    repo = FakeRepo(_webhook())
    repo.delivery = repo.delivery.model_copy(update={"status": "succeeded"})
    worker, sent = _worker(repo, [])
    assert worker.deliver(JOB, 2).kind == "done" and not sent


def test_worker_rechecks_the_url_at_delivery_time():
    repo = FakeRepo(_webhook())
    worker, sent = _worker(repo, [])
    worker._resolve = _resolver("10.0.0.7")  # DNS changed since the webhook was created
    assert worker.deliver(JOB, 1).kind == "retry" and not sent
    assert "private" in repo.delivery.error and repo.delivery.status == "retrying"
