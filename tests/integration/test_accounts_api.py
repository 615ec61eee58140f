"""Accounts through the combined app on moto: register, login, refresh rotation and reuse,
logout, me, and the bad input of issue 5 (each a clear 4xx, nothing half-written)."""

from __future__ import annotations

import pytest

from engram import keys

PASSWORD = "correct horse 42"


def register(client, email="ada@example.com", password=PASSWORD, name="Acme"):
    return client.post(
        "/v1/auth/register", json={"email": email, "password": password, "workspace_name": name}
    )


@pytest.fixture
def tokens(client):
    response = register(client)
    assert response.status_code == 201, response.text
    return response.json()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_register_returns_tokens_that_work(client, tokens):
    assert tokens["token_type"] == "bearer" and tokens["expires_in"] == 900
    assert tokens["refresh_token"].startswith("ert_")
    me = client.get("/v1/auth/me", headers=bearer(tokens["access_token"]))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["user"]["email"] == "ada@example.com"
    assert "password_hash" not in body["user"]
    assert body["workspace"]["name"] == "Acme"
    assert body["workspace"]["workspace_id"] == body["user"]["workspace_id"]
    assert body["scopes"] == ["read", "write", "admin"]
    created = client.post("/v1/sessions", json={}, headers=bearer(tokens["access_token"]))
    assert created.status_code == 201
    assert created.json()["workspace_id"] == body["workspace"]["workspace_id"]


def test_login_and_failures_that_do_not_reveal_the_email(client, tokens):
    ok = client.post("/v1/auth/login", json={"email": "ADA@example.com ", "password": PASSWORD})
    assert ok.status_code == 200, ok.text
    wrong = client.post("/v1/auth/login", json={"email": "ada@example.com", "password": "nope"})
    unknown = client.post("/v1/auth/login", json={"email": "bob@example.com", "password": PASSWORD})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json()["detail"] == unknown.json()["detail"]
    assert wrong.json()["code"] == "unauthorized"


def test_refresh_rotates_and_reuse_revokes_the_family(client, tokens):
    first = client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert first.status_code == 200, first.text
    rotated = first.json()
    assert rotated["refresh_token"] != tokens["refresh_token"]
    assert client.get("/v1/auth/me", headers=bearer(rotated["access_token"])).status_code == 200
    # the old token again: reuse, so the whole family (the new tokens too) stops working
    reuse = client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]})
    assert reuse.status_code == 401
    again = client.post("/v1/auth/refresh", json={"refresh_token": rotated["refresh_token"]})
    assert again.status_code == 401
    assert client.get("/v1/auth/me", headers=bearer(rotated["access_token"])).status_code == 401


def test_logout_revokes_refresh_and_access_tokens(client, tokens):
    headers = bearer(tokens["access_token"])
    out = client.post(
        "/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]}, headers=headers
    )
    assert out.status_code == 204
    assert (
        client.post("/v1/auth/refresh", json={"refresh_token": tokens["refresh_token"]}).status_code
        == 401
    )
    assert client.get("/v1/auth/me", headers=headers).status_code == 401


def test_logout_needs_credentials(client, tokens):
    response = client.post("/v1/auth/logout", json={"refresh_token": tokens["refresh_token"]})
    assert response.status_code == 401


def test_duplicate_email_is_409_and_writes_nothing(client, tokens, aws_env):
    import boto3

    table = boto3.resource("dynamodb").Table(aws_env.tables["Table"])
    before = table.scan(Select="COUNT")["Count"]
    response = register(client, email="Ada@Example.com", name="Second")
    assert response.status_code == 409
    assert "email" in response.json()["detail"]
    assert table.scan(Select="COUNT")["Count"] == before


@pytest.mark.parametrize("password", ["short1", "onlyletterslong", "x" * 300, ""])
def test_weak_passwords_are_422_stating_the_rule(client, password, aws_env):
    import boto3

    response = register(client, password=password)
    assert response.status_code == 422, response.text
    assert "12 to 256 characters" in response.json()["detail"]
    table = boto3.resource("dynamodb").Table(aws_env.tables["Table"])
    assert table.get_item(Key=keys.email_key("ada@example.com")).get("Item") is None


@pytest.mark.parametrize(
    "body",
    [
        {"password": PASSWORD, "workspace_name": "x"},
        {"email": "not-an-email", "password": PASSWORD, "workspace_name": "x"},
        {"email": "a@example.com", "workspace_name": "x"},
        {"email": "a@example.com", "password": PASSWORD, "workspace_name": "   "},
        {"email": "a@example.com", "password": PASSWORD, "workspace_name": "x", "role": "admin"},
    ],
)
def test_bad_registrations_are_422(client, body, aws_env):
    response = register_raw(client, body)
    assert response.status_code == 422, response.text
    assert response.json()["detail"].endswith(".")


def register_raw(client, body):
    return client.post("/v1/auth/register", json=body)


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "ert_nope", "x" * 5000])
def test_bad_refresh_tokens_are_401_or_422(client, token, aws_env):
    response = client.post("/v1/auth/refresh", json={"refresh_token": token})
    assert response.status_code in (401, 422)
