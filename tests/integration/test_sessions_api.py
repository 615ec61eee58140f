"""The sessions API through the combined app, against moto."""

import json

import boto3
import pytest

from engram import wiring


def _create(client, auth, **body):
    response = client.post("/v1/sessions", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()


def _error(response, status):
    assert response.status_code == status, response.text
    body = response.json()
    assert (
        body["detail"] and body["code"] and body["request_id"] == response.headers["x-request-id"]
    )
    return body


def test_create_generates_an_id_and_returns_the_session(client, auth, workspace):
    session = _create(client, auth, agent_id="agent-1", project_name="engram", metadata={"k": 1})
    assert session["session_id"].startswith("sess_")
    assert session["workspace_id"] == workspace[0].workspace_id
    assert session["status"] == "active" and session["is_active"] is True
    assert session["summary_status"] == "none" and session["message_count"] == 0
    assert session["started_at"].endswith("Z") and session["ended_at"] is None
    assert client.get(f"/v1/sessions/{session['session_id']}", headers=auth).json() == session


def test_client_supplied_id_is_kept_and_a_taken_one_is_409_in_any_workspace(
    client, auth, other_auth
):
    assert _create(client, auth, session_id="my-session.1")["session_id"] == "my-session.1"
    _error(client.post("/v1/sessions", json={"session_id": "my-session.1"}, headers=auth), 409)
    _error(
        client.post("/v1/sessions", json={"session_id": "my-session.1"}, headers=other_auth), 409
    )
    # and the other workspace still cannot see it
    _error(client.get("/v1/sessions/my-session.1", headers=other_auth), 404)


@pytest.mark.parametrize(
    "header",
    [
        lambda k: {"Authorization": f"Bearer {k}"},
        lambda k: {"Authorization": f"Token {k}"},
        lambda k: {"x-api-key": k},
    ],
)
def test_the_three_credential_forms_work(client, workspace, header):
    assert client.get("/v1/sessions", headers=header(workspace[1])).status_code == 200


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"Authorization": "Basic dXNlcjpwYXNz"},
        {"Authorization": "Bearer"},
        {"Authorization": "Bearer ek_not_a_real_key"},
        {"Authorization": "Bearer not-even-a-key"},
        {"x-api-key": "ek_wrong"},
    ],
)
def test_missing_or_wrong_credentials_are_401(client, workspace, headers):
    body = _error(client.get("/v1/sessions", headers=headers), 401)
    assert body["code"] == "unauthorized"


def test_list_filters_newest_first_and_count(client, auth):
    ids = [
        _create(
            client,
            auth,
            agent_id="a" if i % 2 else "b",
            task_id=f"t{i % 3}",
            user_id="u1",
            project_name="p" if i < 4 else "q",
        )["session_id"]
        for i in range(6)
    ]
    listed = client.get("/v1/sessions", headers=auth).json()
    assert [s["session_id"] for s in listed["data"]] == ids[::-1]
    assert listed["count"] == 6 and listed["has_more"] is False and listed["next_cursor"] is None

    def ids_for(query):
        body = client.get(f"/v1/sessions?{query}", headers=auth).json()
        return [s["session_id"] for s in body["data"]], body["count"]

    assert ids_for("agent_id=a") == ([ids[5], ids[3], ids[1]], 3)
    assert ids_for("agent_id=a&project_name=p") == ([ids[3], ids[1]], 2)
    assert ids_for("task_id=t0") == ([ids[3], ids[0]], 2)
    assert ids_for("user_id=u1")[1] == 6
    client.post(f"/v1/sessions/{ids[0]}/end", headers=auth)
    client.patch(f"/v1/sessions/{ids[1]}", json={"status": "paused"}, headers=auth)
    assert ids_for("status=completed") == ([ids[0]], 1)
    assert ids_for("status=paused") == ([ids[1]], 1)
    assert ids_for("active=false") == ([ids[0]], 1)
    assert ids_for("active=true")[1] == 5


def test_cursor_pagination_visits_every_session_once(client, auth):
    made = {_create(client, auth, agent_id="x" if i % 3 else "y")["session_id"] for i in range(7)}
    seen, cursor, pages = [], None, 0
    while True:
        query = "limit=2&agent_id=x" + (f"&cursor={cursor}" if cursor else "")
        body = client.get(f"/v1/sessions?{query}", headers=auth).json()
        seen += [s["session_id"] for s in body["data"]]
        pages += 1
        assert pages < 10
        if not body["has_more"]:
            break
        cursor = body["next_cursor"]
    assert len(seen) == len(set(seen)) == 4 and set(seen) <= made


def test_a_cursor_from_another_list_or_garbage_is_400(client, auth):
    for _ in range(3):
        _create(client, auth, agent_id="x")
    cursor = client.get("/v1/sessions?limit=1", headers=auth).json()["next_cursor"]
    _error(client.get(f"/v1/sessions?agent_id=x&cursor={cursor}", headers=auth), 400)
    _error(client.get("/v1/sessions?cursor=%%%garbage", headers=auth), 400)
    _error(client.get("/v1/sessions?cursor=e30", headers=auth), 400)  # "{}"


def test_patch_replaces_metadata_and_checks_status_moves(client, auth):
    sid = _create(client, auth, metadata={"a": 1, "b": 2}, status="created")["session_id"]
    patched = client.patch(
        f"/v1/sessions/{sid}", json={"metadata": {"c": 3}, "branch_name": "main"}, headers=auth
    ).json()
    assert patched["metadata"] == {"c": 3} and patched["branch_name"] == "main"
    assert patched["updated_at"] is not None
    assert (
        client.patch(f"/v1/sessions/{sid}", json={"status": "active"}, headers=auth).json()[
            "status"
        ]
        == "active"
    )
    assert client.patch(f"/v1/sessions/{sid}", json={"status": "paused"}, headers=auth).json()[
        "is_active"
    ]
    done = client.patch(f"/v1/sessions/{sid}", json={"status": "completed"}, headers=auth).json()
    assert done["is_active"] is False and done["ended_at"]
    body = _error(client.patch(f"/v1/sessions/{sid}", json={"status": "active"}, headers=auth), 409)
    assert "completed" in body["detail"]
    assert client.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "completed"


def test_end_sets_pending_summary_and_enqueues_extraction(client, auth, aws_env, workspace):
    sid = _create(client, auth)["session_id"]
    ended = client.post(
        f"/v1/sessions/{sid}/end", json={"summary": "did things", "status": "failed"}, headers=auth
    )
    assert ended.status_code == 200
    body = ended.json()
    assert body["status"] == "failed" and body["summary_status"] == "pending"
    assert body["ended_at"] and body["summary"] == "did things" and body["is_active"] is False
    messages = boto3.client("sqs").receive_message(
        QueueUrl=aws_env.queue_urls["ExtractQueue"], MaxNumberOfMessages=10
    )["Messages"]
    assert [json.loads(m["Body"])["session_id"] for m in messages] == [sid]
    assert json.loads(messages[0]["Body"])["workspace_id"] == workspace[0].workspace_id
    _error(client.post(f"/v1/sessions/{sid}/end", headers=auth), 409)


def test_events_are_published_for_create_and_end(client, auth, workspace):

    sid = _create(client, auth)["session_id"]
    client.post(f"/v1/sessions/{sid}/end", headers=auth)
    events = wiring.events().recent(workspace[0].workspace_id)
    assert [e["type"] for e in events] == ["session.ended", "session.created"]
    assert all(e["data"]["session_id"] == sid for e in events)


def test_delete_removes_the_session_and_the_count(client, auth):
    sid = _create(client, auth)["session_id"]
    _create(client, auth)
    assert client.delete(f"/v1/sessions/{sid}", headers=auth).status_code == 204
    _error(client.get(f"/v1/sessions/{sid}", headers=auth), 404)
    _error(client.delete(f"/v1/sessions/{sid}", headers=auth), 404)
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 1


def test_another_workspace_never_sees_or_touches_a_session(client, auth, other_auth):
    sid = _create(client, auth)["session_id"]
    other = other_auth
    _error(client.get(f"/v1/sessions/{sid}", headers=other), 404)
    _error(client.patch(f"/v1/sessions/{sid}", json={"status": "paused"}, headers=other), 404)
    _error(client.post(f"/v1/sessions/{sid}/end", headers=other), 404)
    _error(client.delete(f"/v1/sessions/{sid}", headers=other), 404)
    assert client.get("/v1/sessions", headers=other).json() == {
        "data": [],
        "next_cursor": None,
        "has_more": False,
        "count": 0,
    }
    assert client.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "active"


@pytest.mark.parametrize(
    "body, status, phrase",
    [
        ({"session_id": "x" * 256}, 422, "255"),
        ({"session_id": "has space"}, 422, "letters, digits"),
        ({"session_id": ""}, 422, "empty"),
        ({"agent_id": "a/b"}, 422, "letters, digits"),
        ({"status": "paused"}, 422, "status"),
        ({"status": "bogus"}, 422, "status"),
        ({"unknown_field": 1}, 422, "Unknown field 'unknown_field'"),
        ({"metadata": "not-an-object"}, 422, "metadata"),
        ({"metadata": {"big": "x" * 9000}}, 422, "limit is 8192"),
        ({"project_name": 12}, 422, "project_name"),
        ({"user_email": "a" * 243 + "@example.com"}, 422, "254"),
        ([1, 2], 422, "body"),
    ],
)
def test_bad_create_bodies_are_4xx_with_a_sentence_and_write_nothing(
    client, auth, body, status, phrase
):
    response = client.post("/v1/sessions", json=body, headers=auth)
    detail = _error(response, status)["detail"]
    assert phrase in detail
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 0


def test_malformed_json_and_oversized_bodies(client, auth):
    headers = {**auth, "content-type": "application/json"}
    body = _error(client.post("/v1/sessions", content=b'{"agent_id": ', headers=headers), 400)
    assert body["detail"] == "The request body is not valid JSON."
    unreadable = {
        '{"agent_id": "\xe9"}'.encode("latin-1"): "it is not UTF-8 text",
        b"[" * 5000 + b"]" * 5000: "it nests too deeply",
        b'{"metadata": {"n": ' + b"7" * 5001 + b"}}": "a number with too many digits",
    }
    for content, phrase in unreadable.items():
        body = _error(client.post("/v1/sessions", content=content, headers=headers), 400)
        assert phrase in body["detail"], body
    big = json.dumps({"metadata": {"x": "y" * 1_100_000}}).encode()
    _error(client.post("/v1/sessions", content=big, headers=headers), 413)
    assert client.get("/v1/sessions", headers=auth).json()["count"] == 0


@pytest.mark.parametrize(
    "path, status",
    [
        ("/v1/sessions/" + "x" * 256, 422),
        ("/v1/sessions/bad%20id", 422),
        ("/v1/sessions/sess_missing", 404),
        ("/v1/sessions?status=bogus", 422),
        ("/v1/sessions?limit=0", 422),
        ("/v1/sessions?limit=101", 422),
        ("/v1/sessions?active=maybe", 422),
        ("/v1/nowhere", 404),
    ],
)
def test_bad_paths_and_queries(client, auth, path, status):
    _error(client.get(path, headers=auth), status)


def test_patch_and_end_bad_input(client, auth):
    sid = _create(client, auth)["session_id"]
    _error(client.patch(f"/v1/sessions/{sid}", json={"status": "bogus"}, headers=auth), 422)
    _error(client.patch(f"/v1/sessions/{sid}", json={"session_id": "x"}, headers=auth), 422)
    _error(client.post(f"/v1/sessions/{sid}/end", json={"status": "paused"}, headers=auth), 422)
    _error(client.post(f"/v1/sessions/{sid}/end", json={"extra": 1}, headers=auth), 422)
    assert client.get(f"/v1/sessions/{sid}", headers=auth).json()["status"] == "active"


def test_health_needs_no_key_and_every_response_has_a_request_id(client):
    response = client.get("/health")
    assert response.json() == {"status": "ok", "version": "0.1.0"}
    assert response.headers["x-request-id"].startswith("req_")
    kept = client.get("/health", headers={"X-Request-Id": "client-req-123"})
    assert kept.headers["x-request-id"] == "client-req-123"


def test_a_read_only_key_cannot_write(client, workspace):
    from engram import aws
    from engram.clock import iso
    from engram.ids import new_id
    from engram.workspaces.models import ApiKey
    from engram.workspaces.repository import WorkspaceRepository
    from engram.workspaces.service import generate_key, hash_key

    secret = generate_key()
    key = ApiKey(
        key_id=new_id("key"),
        workspace_id=workspace[0].workspace_id,
        name="ro",
        prefix=secret[:11],
        scopes=["read"],
        created_at=iso(wiring.clock().now()),
    )
    WorkspaceRepository(aws.table()).add_key(key, hash_key(secret))
    headers = {"x-api-key": secret}
    assert client.get("/v1/sessions", headers=headers).status_code == 200
    assert _error(client.post("/v1/sessions", json={}, headers=headers), 403)["code"] == "forbidden"
