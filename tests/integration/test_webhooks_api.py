"""The webhooks API and the publish fan-out, through the combined app against moto.
Test host names resolve through a fake DNS (webhooks_helpers.FAKE_DNS)."""

from __future__ import annotations

import boto3
import pytest

from tests.integration.webhooks_helpers import body_of, receive_all

URL = "https://hooks.example.com/engram"
pytestmark = pytest.mark.usefixtures("fake_dns")


def _create(client, auth, **body):
    body = {"url": URL, "events": ["session.created"], **body}
    response = client.post("/v1/webhooks", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert body["detail"].endswith(".") and body["code"] and body["request_id"]
    return body


def _deliver_queue(aws_env):
    return boto3.client("sqs"), aws_env.queue_urls["DeliverQueue"]


def _deliveries(client, auth, webhook_id):
    response = client.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=auth)
    assert response.status_code == 200, response.text
    return response.json()["data"]


def test_create_shows_the_secret_once(client, auth, workspace):
    created = _create(client, auth, events=["memory.stored", "session.ended"])
    assert created["webhook_id"].startswith("wh_") and created["secret"].startswith("whsec_")
    assert created["workspace_id"] == workspace[0].workspace_id
    assert created["url"] == URL and created["events"] == ["memory.stored", "session.ended"]
    assert created["active"] is True and created["failure_count"] == 0
    assert created["last_delivery_at"] is None and created["disabled_reason"] is None
    fetched = client.get(f"/v1/webhooks/{created['webhook_id']}", headers=auth).json()
    assert "secret" not in fetched and "previous_secret" not in fetched
    assert fetched == {k: v for k, v in created.items() if k != "secret"}
    listed = client.get("/v1/webhooks", headers=auth).json()
    assert listed["count"] == 1 and listed["data"] == [fetched]
    assert created["secret"] not in str(listed)


def test_the_list_pages_newest_first_without_deleted_webhooks(client, auth, other_auth):
    made = [
        _create(client, auth, url=f"https://hooks.example.com/{i}")["webhook_id"] for i in range(5)
    ]
    assert client.delete(f"/v1/webhooks/{made[3]}", headers=auth).status_code == 204
    first = client.get("/v1/webhooks", params={"limit": 2}, headers=auth).json()
    assert [w["webhook_id"] for w in first["data"]] == [made[4], made[2]]
    assert first["has_more"] is True and first["count"] == 4
    rest = client.get(
        "/v1/webhooks", params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth
    ).json()
    assert [w["webhook_id"] for w in rest["data"]] == [made[1], made[0]]
    assert rest["has_more"] is False and rest["next_cursor"] is None
    default = client.get("/v1/webhooks", headers=auth).json()
    assert [w["webhook_id"] for w in default["data"]] == [made[4], made[2], made[1], made[0]]
    theirs = client.get("/v1/webhooks", params={"cursor": first["next_cursor"]}, headers=other_auth)
    assert "cursor" in _error(theirs, 400)["detail"]


@pytest.mark.parametrize(
    "params,status",
    [
        ({"cursor": "not-a-cursor"}, 400),
        ({"limit": 0}, 422),
        ({"limit": 101}, 422),
        ({"limit": "many"}, 422),
        ({"cursor": "x" * 2049}, 422),
    ],
)
def test_bad_list_parameters_get_a_sentence(client, auth, params, status):
    _create(client, auth)
    _error(client.get("/v1/webhooks", params=params, headers=auth), status)


def test_rotate_returns_a_new_secret_and_keeps_the_old_for_the_grace_period(
    client, auth, workspace
):
    from engram import aws
    from engram.webhooks.repository import WebhookRepository

    created = _create(client, auth)
    response = client.post(f"/v1/webhooks/{created['webhook_id']}/rotate-secret", headers=auth)
    assert response.status_code == 200, response.text
    rotated = response.json()
    assert rotated["secret"].startswith("whsec_") and rotated["secret"] != created["secret"]
    assert rotated["secret_rotated_at"]
    assert "secret" not in client.get(f"/v1/webhooks/{created['webhook_id']}", headers=auth).json()
    stored = WebhookRepository(aws.table()).get(workspace[0].workspace_id, created["webhook_id"])
    assert stored.secret == rotated["secret"] and stored.previous_secret == created["secret"]
    assert stored.previous_secret_expires_at > rotated["secret_rotated_at"]


def test_patch_changes_url_events_and_active(client, auth):
    webhook = _create(client, auth)
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    changed = client.patch(
        path,
        json={"url": "https://other.example.com/in", "events": ["memory.deleted"]},
        headers=auth,
    ).json()
    assert changed["url"] == "https://other.example.com/in"
    assert changed["events"] == ["memory.deleted"] and changed["updated_at"]
    off = client.patch(path, json={"active": False}, headers=auth).json()
    assert off["active"] is False and off["disabled_reason"]
    on = client.patch(path, json={"active": True}, headers=auth).json()
    assert on["active"] is True and on["disabled_reason"] is None and on["failure_count"] == 0
    assert client.patch(path, json={}, headers=auth).json() == on


def test_delete_is_soft_and_then_the_webhook_is_gone(client, auth, workspace):
    from engram import aws
    from engram.webhooks.repository import WebhookRepository

    webhook = _create(client, auth)
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    assert client.delete(path, headers=auth).status_code == 204
    _error(client.get(path, headers=auth), 404)
    _error(client.delete(path, headers=auth), 404)
    _error(client.patch(path, json={"active": True}, headers=auth), 404)
    assert client.get("/v1/webhooks", headers=auth).json()["data"] == []
    kept = WebhookRepository(aws.table()).find(workspace[0].workspace_id, webhook["webhook_id"])
    assert kept.deleted_at and kept.active is False


@pytest.mark.parametrize(
    "method,suffix",
    [
        ("get", ""),
        ("patch", ""),
        ("delete", ""),
        ("post", "/rotate-secret"),
        ("get", "/deliveries"),
        ("post", "/test"),
    ],
)
def test_another_workspaces_webhook_is_404(client, auth, other_auth, method, suffix):
    webhook = _create(client, auth)
    kwargs = {"json": {"active": False}} if method == "patch" else {}
    path = f"/v1/webhooks/{webhook['webhook_id']}{suffix}"
    body = _error(getattr(client, method)(path, headers=other_auth, **kwargs), 404)
    assert body["code"] == "not_found"
    assert client.get("/v1/webhooks", headers=other_auth).json()["data"] == []
    assert client.get(f"/v1/webhooks/{webhook['webhook_id']}", headers=auth).json()["active"]


@pytest.mark.parametrize(
    "body,words",
    [
        ({"url": "http://hooks.example.com/x"}, "https"),
        ({"url": "ftp://hooks.example.com/x"}, "https"),
        ({"url": "not a url"}, "https"),
        ({"url": "https://127.0.0.1/x"}, "loopback"),
        ({"url": "https://localhost/x"}, "loopback"),
        ({"url": "https://intranet.example.com/x"}, "private"),
        ({"url": "https://sneaky.example.com/x"}, "link-local"),
        ({"url": "https://[::1]/x"}, "loopback"),
        ({"events": ["memory.exploded"]}, "unknown event type"),
        ({"events": []}, "at least one"),
        ({"events": "memory.stored"}, "events"),
        ({"url": ""}, "url"),
        ({"colour": "red"}, "Unknown field"),
    ],
)
def test_bad_input_is_422_with_a_sentence(client, auth, body, words):
    payload = {"url": URL, "events": ["memory.stored"], **body}
    error = _error(client.post("/v1/webhooks", json=payload, headers=auth), 422)
    assert words in error["detail"] and error["code"] == "validation_error"
    assert client.get("/v1/webhooks", headers=auth).json()["count"] == 0


def test_missing_fields_and_bad_patches_are_422(client, auth):
    _error(client.post("/v1/webhooks", json={"events": ["memory.stored"]}, headers=auth), 422)
    _error(client.post("/v1/webhooks", json={"url": URL}, headers=auth), 422)
    webhook = _create(client, auth)
    path = f"/v1/webhooks/{webhook['webhook_id']}"
    assert (
        "private"
        in _error(
            client.patch(path, json={"url": "https://intranet.example.com/"}, headers=auth), 422
        )["detail"]
    )
    _error(client.patch(path, json={"events": []}, headers=auth), 422)
    assert client.get(path, headers=auth).json()["url"] == URL


def test_webhooks_need_the_admin_scope(aws_env, workspace):
    from fastapi.testclient import TestClient

    from engram.auth import Principal, get_principal
    from engram_local.app import build_app

    app = build_app()
    app.dependency_overrides[get_principal] = lambda: Principal(
        workspace_id=workspace[0].workspace_id, key_id="key_w", scopes=frozenset({"read", "write"})
    )
    with TestClient(app, raise_server_exceptions=False) as writer:
        assert _error(writer.get("/v1/webhooks"), 403)["code"] == "forbidden"
        _error(writer.post("/v1/webhooks", json={"url": URL, "events": ["memory.stored"]}), 403)
        _error(writer.post("/v1/webhooks/wh_x/rotate-secret"), 403)


def test_the_workspace_limit_is_enforced(client, auth, monkeypatch):
    from engram import config

    monkeypatch.setenv("WEBHOOK_MAX_PER_WORKSPACE", "2")
    config.get_settings.cache_clear()
    _create(client, auth)
    _create(client, auth)
    _error(
        client.post("/v1/webhooks", json={"url": URL, "events": ["memory.stored"]}, headers=auth),
        409,
    )


def test_publish_fans_out_to_each_subscribed_active_webhook_only(client, auth, aws_env):
    subscribed = _create(client, auth, events=["session.created", "session.ended"])
    also = _create(client, auth, url="https://other.example.com/in", events=["session.created"])
    other_event = _create(client, auth, events=["memory.stored"])
    inactive = _create(client, auth, events=["session.created"], active=False)
    session = client.post("/v1/sessions", json={}, headers=auth).json()

    sqs, queue = _deliver_queue(aws_env)
    messages = [body_of(m) for m in receive_all(sqs, queue)]
    assert sorted(m["webhook_id"] for m in messages) == sorted(
        [subscribed["webhook_id"], also["webhook_id"]]
    )
    for message in messages:
        assert message["kind"] == "webhook.deliver"
        event = message["event"]
        assert event["type"] == "session.created" and event["id"].startswith("evt_")
        assert event["data"]["session_id"] == session["session_id"]
        assert set(event) == {"id", "type", "created_at", "workspace_id", "data"}
        [delivery] = _deliveries(client, auth, message["webhook_id"])
        assert delivery["delivery_id"] == message["delivery_id"]
        assert delivery["status"] == "pending" and delivery["attempt"] == 0
        assert delivery["event_id"] == event["id"] and delivery["event_type"] == "session.created"
    assert _deliveries(client, auth, other_event["webhook_id"]) == []
    assert _deliveries(client, auth, inactive["webhook_id"]) == []


def test_an_event_nobody_subscribed_to_makes_no_delivery(client, auth, aws_env):
    webhook = _create(client, auth, events=["memory.deleted"])
    client.post("/v1/sessions", json={}, headers=auth)
    sqs, queue = _deliver_queue(aws_env)
    assert receive_all(sqs, queue) == []
    assert _deliveries(client, auth, webhook["webhook_id"]) == []


def test_other_workspaces_events_do_not_reach_this_workspaces_webhooks(
    client, auth, other_auth, aws_env
):
    webhook = _create(client, auth)
    client.post("/v1/sessions", json={}, headers=other_auth)
    sqs, queue = _deliver_queue(aws_env)
    assert receive_all(sqs, queue) == []
    assert _deliveries(client, auth, webhook["webhook_id"]) == []


def test_test_endpoint_queues_a_webhook_test_even_when_not_subscribed(client, auth, aws_env):
    webhook = _create(client, auth, events=["memory.stored"])
    bystander = _create(client, auth, events=["webhook.test"])
    response = client.post(f"/v1/webhooks/{webhook['webhook_id']}/test", headers=auth)
    assert response.status_code == 202, response.text
    queued = response.json()
    assert queued["webhook_id"] == webhook["webhook_id"] and queued["event_type"] == "webhook.test"
    sqs, queue = _deliver_queue(aws_env)
    [message] = [body_of(m) for m in receive_all(sqs, queue)]
    assert message["webhook_id"] == webhook["webhook_id"]
    assert message["event"]["id"] == queued["event_id"]
    assert message["event"]["type"] == "webhook.test"
    assert _deliveries(client, auth, bystander["webhook_id"]) == []


def test_deliveries_page_newest_first(client, auth, aws_env):
    webhook = _create(client, auth)
    for _ in range(3):
        client.post("/v1/sessions", json={}, headers=auth)
    path = f"/v1/webhooks/{webhook['webhook_id']}/deliveries"
    first = client.get(path, params={"limit": 2}, headers=auth).json()
    assert len(first["data"]) == 2 and first["has_more"] and first["next_cursor"]
    rest = client.get(
        path, params={"limit": 2, "cursor": first["next_cursor"]}, headers=auth
    ).json()
    ids = [d["delivery_id"] for d in first["data"] + rest["data"]]
    assert len(ids) == 3 and ids == sorted(ids, reverse=True) and not rest["has_more"]


def test_a_batch_of_memories_fans_out_in_batches(client, auth, aws_env, monkeypatch):
    import botocore.client

    webhook = _create(client, auth, events=["memory.stored"])
    made, real = [], botocore.client.BaseClient._make_api_call

    def counted(self, operation, params):
        made.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    batch = {"memories": [{"content": f"note {i}"} for i in range(12)]}
    stored = client.post("/v1/memories", json=batch, headers=auth).json()["memories"]
    monkeypatch.undo()
    # Events in the memories' transaction, deliveries in one BatchWriteItem; embed and
    # deliver jobs 10 to a send.
    assert made.count("BatchWriteItem") == 1 and made.count("SendMessageBatch") == 4
    assert "PutItem" not in made and "SendMessage" not in made
    sqs, queue = _deliver_queue(aws_env)
    messages = [body_of(m) for m in receive_all(sqs, queue, rounds=5)]
    assert sorted(m["event"]["data"]["memory_id"] for m in messages) == sorted(
        m["memory_id"] for m in stored
    )
    deliveries = _deliveries(client, auth, webhook["webhook_id"])
    assert len(deliveries) == 12 and {d["status"] for d in deliveries} == {"pending"}
    assert {d["delivery_id"] for d in deliveries} == {m["delivery_id"] for m in messages}


def test_deliveries_that_cannot_be_queued_are_failed_and_the_write_stands(client, auth, aws_env):
    webhook = _create(client, auth, events=["memory.stored"])
    boto3.client("sqs").delete_queue(QueueUrl=aws_env.queue_urls["DeliverQueue"])
    batch = {"memories": [{"content": f"note {i}"} for i in range(3)]}
    assert client.post("/v1/memories", json=batch, headers=auth).status_code == 201
    assert client.get("/v1/memories", headers=auth).json()["count"] == 3
    deliveries = _deliveries(client, auth, webhook["webhook_id"])
    assert len(deliveries) == 3 and {d["status"] for d in deliveries} == {"failed"}
    assert all(d["error"].startswith("Could not be queued:") for d in deliveries)
