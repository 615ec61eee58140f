"""API.md's limits, each a 413 or 422 with a sentence, before anything is written."""

from __future__ import annotations

import boto3
import pytest


@pytest.fixture
def item_count(aws_env):
    table = boto3.resource("dynamodb").Table(aws_env.tables["Table"])
    return lambda: table.scan(Select="COUNT")["Count"]


def _refused(response, statuses=(413, 422)):
    assert response.status_code in statuses, response.text
    body = response.json()
    assert body["detail"].endswith(".") and body["code"] in (
        "payload_too_large",
        "validation_error",
    )


@pytest.mark.parametrize(
    "body",
    [
        {"content": "x" * 32_769},
        {"content": "ok", "metadata": {"blob": "x" * 8_200}},
        {"content": "ok", "tags": [f"t{i}" for i in range(51)]},
        {"content": "ok", "tags": ["x" * 129]},
        {"content": "ok", "session_id": "s" * 256},
        {"content": "ok", "user_id": "bad id"},
        {"content": "ok", "metadata": {"n": 10**40 + 1}},
        {"content": "ok", "metadata": {"": 1}},
        {"memories": [{"content": "ok"}] * 101},
        {"memories": [{"content": "ok"}, {"content": ""}]},
    ],
)
def test_memory_limits(client, auth, item_count, body):
    before = item_count()
    _refused(client.post("/v1/memories", json=body, headers=auth))
    assert item_count() == before


@pytest.mark.parametrize(
    "body",
    [
        {"session_id": "x" * 256},
        {"session_id": "has space"},
        {"metadata": {"blob": "x" * 8_200}},
        {"project_name": "p" * 256},
    ],
)
def test_session_limits(client, auth, item_count, body):
    before = item_count()
    _refused(client.post("/v1/sessions", json=body, headers=auth))
    assert item_count() == before


def test_message_limits(client, auth, item_count):
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    before = item_count()
    too_long = {"role": "user", "content": "x" * 32_769}
    _refused(client.post(f"/v1/sessions/{sid}/messages", json=too_long, headers=auth))
    batch = {"messages": [{"role": "user", "content": "ok"}] * 101}
    _refused(client.post(f"/v1/sessions/{sid}/messages", json=batch, headers=auth))
    assert item_count() == before


def test_bodies_over_one_mebibyte_are_413(client, auth, item_count):
    before = item_count()
    body = '{"content": "' + "x" * 1_048_600 + '"}'
    response = client.post(
        "/v1/memories", content=body, headers={**auth, "content-type": "application/json"}
    )
    _refused(response, (413,))
    assert item_count() == before


def test_a_chunked_body_over_the_limit_is_413(client, auth, item_count):
    """No Content-Length to refuse up front: the limit is met while the body streams in."""
    before = item_count()

    def chunks():
        yield b'{"content": "'
        for _ in range(20):
            yield b"x" * 60_000
        yield b'"}'

    response = client.post(
        "/v1/memories", content=chunks(), headers={**auth, "content-type": "application/json"}
    )
    _refused(response, (413,))
    assert "larger than the limit" in response.json()["detail"]
    assert item_count() == before


@pytest.mark.parametrize(
    "method, path, allowed",
    [
        ("PUT", "/v1/memories/mem_x", {"GET", "HEAD", "PATCH", "DELETE"}),
        ("GET", "/v1/sessions/sess_x/end", {"POST"}),
        ("PATCH", "/v1/sessions", {"GET", "HEAD", "POST"}),
    ],
)
def test_405_names_every_allowed_method(client, auth, method, path, allowed):
    response = client.request(method, path, headers=auth)
    assert response.status_code == 405, response.text
    assert set(response.headers["Allow"].split(", ")) == allowed
    assert response.json()["detail"] == f"{method} is not allowed on this route."


def test_405_allow_follows_the_most_specific_route(client, auth):
    """`search` also fits `/v1/memories/{memory_id}`, but the route at this path is search."""
    response = client.request("OPTIONS", "/v1/memories/search", headers=auth)
    assert response.status_code == 405
    assert response.headers["Allow"] == "POST"


@pytest.mark.parametrize(
    "path, name",
    [
        ("/v1/memories?colour=red", "colour"),
        ("/v1/sessions?limit=5&sort=name", "sort"),
        ("/v1/api-keys?page=2", "page"),
        ("/health?verbose=1", "verbose"),
    ],
)
def test_a_query_parameter_the_route_does_not_take_is_422(client, auth, path, name):
    response = client.get(path, headers=auth)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].startswith(f"Unknown query parameter '{name}'")


def test_declared_query_parameters_and_aliases_still_pass(client, auth):
    assert client.get("/v1/sessions?limit=5&active=true", headers=auth).status_code == 200
    assert client.get("/v1/memories?memory_type=fact&tag=x", headers=auth).status_code == 200
