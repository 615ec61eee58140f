"""Data rights: export (JSON and CSV, filters, page by page, large exports through S3 with a
presigned URL), forgetting a user (their memories and sessions, soft, admin only) and restoring
them within the window."""

from __future__ import annotations

import csv
import io
import json
from datetime import timedelta

import boto3
import pytest

from engram import wiring
from engram.clock import FixedClock
from engram.datarights import service as datarights_service


def remember(client, auth, content, **fields):
    response = client.post("/v1/memories", json={"content": content, **fields}, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


@pytest.fixture
def memories(client, auth):
    return [
        remember(
            client,
            auth,
            f"memory {i}",
            user_id="u1" if i % 2 else "u2",
            tags=["t"],
            metadata={"i": i},
        )
        for i in range(5)
    ]


def test_json_export_is_every_memory_newest_first(client, auth, memories, monkeypatch):
    monkeypatch.setattr(datarights_service, "PAGE", 2)  # several pages
    response = client.get("/v1/export", headers=auth)
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("application/json")
    exported = response.json()
    assert [m["memory_id"] for m in exported] == [m["memory_id"] for m in reversed(memories)]
    assert exported[0]["metadata"] == {"i": 4}


def test_csv_export_has_a_header_row(client, auth, memories):
    response = client.get("/v1/export?format=csv", headers=auth)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(response.text)))
    assert len(rows) == 5 and rows[0]["content"] == "memory 4"
    assert json.loads(rows[0]["tags"]) == ["t"]


def test_export_filters(client, auth, memories):
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    in_session = remember(client, auth, "in session", session_id=sid)
    only = client.get(f"/v1/export?session_id={sid}", headers=auth).json()
    assert [m["memory_id"] for m in only] == [in_session["memory_id"]]
    since = memories[3]["created_at"]
    recent = client.get("/v1/export", params={"from_date": since}, headers=auth).json()
    assert {m["memory_id"] for m in recent} >= {memories[3]["memory_id"], memories[4]["memory_id"]}
    assert memories[0]["memory_id"] not in {m["memory_id"] for m in recent}
    client.delete(f"/v1/memories/{memories[0]['memory_id']}", headers=auth)
    assert len(client.get("/v1/export", headers=auth).json()) == 5
    assert len(client.get("/v1/export?include_deleted=true", headers=auth).json()) == 6


def test_a_large_export_goes_to_s3_with_a_presigned_url(
    client, auth, memories, monkeypatch, aws_env
):
    monkeypatch.setenv("EXPORT_INLINE_MAX_BYTES", "1024")
    from engram.config import get_settings

    get_settings.cache_clear()
    for i in range(5):
        remember(client, auth, "x" * 400 + str(i))
    response = client.get("/v1/export", headers=auth, follow_redirects=False)
    assert response.status_code == 303, response.text
    link = response.json()
    assert response.headers["location"] == link["url"] and link["bytes"] > 1024
    bucket = aws_env.buckets["ExportBucket"]
    objects = boto3.client("s3").list_objects_v2(Bucket=bucket)["Contents"]
    assert len(objects) == 1 and objects[0]["Key"] in link["url"]
    assert "X-Amz-Signature" in link["url"] or "Signature" in link["url"]
    body = boto3.client("s3").get_object(Bucket=bucket, Key=objects[0]["Key"])["Body"].read()
    assert len(json.loads(body)) == 10


def test_export_and_forget_need_admin(client, make_key):
    writer = {"x-api-key": make_key(scopes=["read", "write"])}
    assert client.get("/v1/export", headers=writer).status_code == 403
    assert client.delete("/v1/users/u1/memories", headers=writer).status_code == 403
    assert client.post("/v1/users/u1/restore", headers=writer).status_code == 403


def test_bad_export_parameters_are_422(client, auth):
    assert client.get("/v1/export?format=xml", headers=auth).status_code == 422
    assert client.get("/v1/export?from_date=yesterday", headers=auth).status_code == 422
    assert client.get("/v1/export?to_date=0.5", headers=auth).status_code == 422  # not a time


def test_an_inverted_export_range_holds_nothing(client, auth, memories):
    backwards = client.get("/v1/export?from_date=2099-02-01&to_date=2000-01-01", headers=auth)
    assert backwards.status_code == 200 and backwards.json() == []


def test_forget_a_user_is_soft_and_restorable(client, auth, memories, other_auth):
    sid = client.post("/v1/sessions", json={"user_id": "u1"}, headers=auth).json()["session_id"]
    in_session = remember(client, auth, "said in u1's session", session_id=sid)
    assert client.delete("/v1/users/u1/memories", headers=other_auth).json()["forgotten"] == 0
    response = client.delete("/v1/users/u1/memories", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": "u1", "forgotten": 3, "sessions": 1}
    left = client.get("/v1/memories", headers=auth).json()["data"]
    assert {m["user_id"] for m in left} == {"u2"}
    assert client.get(f"/v1/memories/{in_session['memory_id']}", headers=auth).status_code == 404
    restored = client.post(f"/v1/memories/{memories[1]['memory_id']}/restore", headers=auth)
    assert restored.status_code == 200
    again = client.delete("/v1/users/u1/memories", headers=auth).json()
    assert again == {"user_id": "u1", "forgotten": 1, "sessions": 0}  # only what was live again


def start_session(client, auth, user_id, message):
    response = client.post("/v1/sessions", json={"user_id": user_id}, headers=auth)
    assert response.status_code == 201, response.text
    sid = response.json()["session_id"]
    posted = client.post(
        f"/v1/sessions/{sid}/messages", json={"role": "user", "content": message}, headers=auth
    )
    assert posted.status_code == 201, posted.text
    return sid


@pytest.fixture
def sessions(client, auth):
    """Two sessions of u1 (one with a checkpoint) and one of u2, a message each."""
    ids = [start_session(client, auth, user, f"said by {user}") for user in ("u1", "u1", "u2")]
    assert client.post(f"/v1/sessions/{ids[0]}/checkpoints", headers=auth).status_code == 201
    return ids


def listed(client, auth, query=""):
    body = client.get(f"/v1/sessions{query}", headers=auth).json()
    return [s["session_id"] for s in body["data"]], body["count"]


def test_forgetting_a_user_soft_deletes_their_sessions(client, auth, memories, sessions):
    u1a, u1b, u2 = sessions
    assert listed(client, auth) == ([u2, u1b, u1a], 3)
    response = client.delete("/v1/users/u1/memories", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": "u1", "forgotten": 4, "sessions": 2}  # 2 + 2 messages
    assert listed(client, auth) == ([u2], 1)  # the workspace's counter moved too
    assert listed(client, auth, "?user_id=u1") == ([], 0)
    for method, path, body in [
        ("GET", "", None),
        ("PATCH", "", {"summary": "x"}),
        ("DELETE", "", None),
        ("POST", "/end", {}),
        ("GET", "/messages", None),
        ("POST", "/messages", {"role": "user", "content": "more"}),
        ("GET", "/history", None),
        ("GET", "/checkpoints", None),
        ("POST", "/checkpoints", None),
        ("GET", "/context", None),
        ("GET", "/embedding-status", None),
        ("DELETE", "/memories", None),
    ]:
        response = client.request(method, f"/v1/sessions/{u1a}{path}", json=body, headers=auth)
        assert response.status_code == 404, f"{method} {path}: {response.text}"
    assert client.get(f"/v1/sessions/{u2}", headers=auth).status_code == 200
    left = client.get("/v1/memories", headers=auth).json()["data"]
    assert {m["content"] for m in left} == {"memory 0", "memory 2", "memory 4", "said by u2"}
    again = client.delete("/v1/users/u1/memories", headers=auth).json()
    assert again == {"user_id": "u1", "forgotten": 0, "sessions": 0}
    assert listed(client, auth) == ([u2], 1)


def test_restoring_a_user_brings_back_their_sessions_and_memories(client, auth, memories, sessions):
    u1a, u1b, u2 = sessions
    before = client.get(f"/v1/sessions/{u1a}", headers=auth).json()
    window = client.get(f"/v1/sessions/{u1a}/messages", headers=auth).json()
    client.delete("/v1/users/u1/memories", headers=auth)
    response = client.post("/v1/users/u1/restore", headers=auth)
    assert response.status_code == 200, response.text
    assert response.json() == {"user_id": "u1", "restored": 4, "sessions": 2}
    assert listed(client, auth) == ([u2, u1b, u1a], 3)
    after = client.get(f"/v1/sessions/{u1a}", headers=auth).json()
    assert "deleted_at" not in after and "restorable_until" not in after
    assert {k: v for k, v in after.items() if k != "updated_at"} == {
        k: v for k, v in before.items() if k != "updated_at"
    }
    assert client.get(f"/v1/sessions/{u1a}/messages", headers=auth).json() == window
    assert len(client.get(f"/v1/sessions/{u1a}/checkpoints", headers=auth).json()) == 1
    assert len(client.get("/v1/memories", headers=auth).json()["data"]) == 8
    posted = client.post(
        f"/v1/sessions/{u1b}/messages", headers=auth, json={"role": "user", "content": "back again"}
    )
    assert posted.status_code == 201, posted.text
    again = client.post("/v1/users/u1/restore", headers=auth).json()
    assert again == {"user_id": "u1", "restored": 0, "sessions": 0}
    assert listed(client, auth) == ([u2, u1b, u1a], 3)


def test_another_workspace_can_neither_see_nor_restore_a_forgotten_user(
    client, auth, other_auth, memories, sessions
):
    u1a = sessions[0]
    client.delete("/v1/users/u1/memories", headers=auth)
    assert client.post("/v1/users/u1/restore", headers=other_auth).json() == {
        "user_id": "u1",
        "restored": 0,
        "sessions": 0,
    }
    assert client.get(f"/v1/sessions/{u1a}", headers=other_auth).status_code == 404
    assert client.get(f"/v1/sessions/{u1a}", headers=auth).status_code == 404  # still forgotten
    assert client.post("/v1/users/u1/restore", headers=auth).json()["sessions"] == 2


def test_nothing_comes_back_after_the_window(client, auth, memories, sessions, monkeypatch):
    client.delete("/v1/users/u1/memories", headers=auth)
    later = FixedClock(wiring.clock().now() + timedelta(days=31))
    monkeypatch.setattr(wiring, "clock", lambda: later)
    response = client.post("/v1/users/u1/restore", headers=auth)
    assert response.json() == {"user_id": "u1", "restored": 0, "sessions": 0}
    assert client.get(f"/v1/sessions/{sessions[0]}", headers=auth).status_code == 404
    assert listed(client, auth) == ([sessions[2]], 1)
