"""The Lambda authorizer and the FastAPI dependency decide alike: every credential case
runs through both (the authorizer handler with an HttpApi REQUEST event, and the combined
app as the local stack serves it). Then the AWS path: a function trusts the authorizer's
context instead of verifying again. Token attacks are among the cases."""

from __future__ import annotations

import base64
import copy
import json
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import jwt
import pytest

EVENTS = Path(__file__).resolve().parents[1] / "events"
PASSWORD = "correct horse 42"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).decode().rstrip("=")


def _revoke(key: str) -> None:
    from engram import aws
    from engram.workspaces.repository import WorkspaceRepository
    from engram.workspaces.service import hash_key

    repo = WorkspaceRepository(aws.table())
    found = repo.find_key(hash_key(key))
    repo.revoke_key(found.workspace_id, hash_key(key), "2026-01-01T00:00:00.000Z")


@pytest.fixture
def creds(client, make_key, workspace, monkeypatch):
    """name → (headers, allowed?) for every case, judged a second after one key expired."""
    from engram import wiring
    from engram.accounts import tokens
    from engram.clock import FixedClock

    secret = tokens.jwt_secret()
    pair = client.post(
        "/v1/auth/register",
        json={"email": "ada@example.com", "password": PASSWORD, "workspace_name": "A"},
    ).json()
    logged_out = client.post(
        "/v1/auth/login", json={"email": "ada@example.com", "password": PASSWORD}
    ).json()
    client.post(
        "/v1/auth/logout",
        json={"refresh_token": logged_out["refresh_token"]},
        headers={"authorization": f"Bearer {logged_out['access_token']}"},
    )
    access = pair["access_token"]
    claims = jwt.decode(access, secret, algorithms=["HS256"], audience="engram")
    revoked = make_key()
    _revoke(revoked)
    expires = datetime.now(UTC) + timedelta(minutes=1)
    expiring = make_key(expires_at=expires)
    head, body, sig = access.split(".")

    def forged(key: str = secret, algorithm: str = "HS256", **changes) -> str:
        return jwt.encode({**claims, **changes}, key, algorithm=algorithm)

    def bearer(value):
        return {"authorization": f"Bearer {value}"}

    cases = {
        "api key (Bearer)": (bearer(workspace[1]), True),
        "api key (Token)": ({"authorization": f"Token {workspace[1]}"}, True),
        "api key (x-api-key)": ({"x-api-key": workspace[1]}, True),
        "read-only key": (bearer(make_key(scopes=["read"])), True),
        "access token": (bearer(access), True),
        "no credentials": ({}, False),
        "basic scheme": ({"authorization": f"Basic {workspace[1]}"}, False),
        "empty bearer": ({"authorization": "Bearer "}, False),
        "unknown key": (bearer("ek_" + "A" * 43), False),
        "revoked key": (bearer(revoked), False),
        "expired key": (bearer(expiring), False),
        "not a credential": (bearer("hello"), False),
        "malformed jwt": (bearer("a.b.c"), False),
        "expired jwt": (bearer(forged(exp=int(time.time()) - 5)), False),
        "tampered jwt": (bearer(f"{head}.{_b64({**claims, 'ws': 'ws_other'})}.{sig}"), False),
        "alg none": (bearer(f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{body}."), False),
        "alg HS512": (bearer(forged(algorithm="HS512")), False),
        "other secret": (bearer(forged(key="x" * 64)), False),
        "other audience": (bearer(forged(aud="someone-else")), False),
        "logged-out token": (bearer(logged_out["access_token"]), False),
        "refresh token as bearer": (bearer(pair["refresh_token"]), False),
    }
    later = FixedClock(expires + timedelta(seconds=1))  # the expiring key has expired
    monkeypatch.setattr(wiring, "clock", lambda: later)
    return cases


def authorizer_event(headers: dict[str, str]) -> dict:
    event = json.loads((EVENTS / "authorizer_request.json").read_text())
    event["headers"] = {k: v for k, v in event["headers"].items() if k != "authorization"}
    event["headers"].update(headers)
    return event


def test_authorizer_and_dependency_agree(creds, client, lambda_context):
    from functions.authorizer.handler import lambda_handler

    for name, (headers, allowed) in creds.items():
        decision = lambda_handler(authorizer_event(headers), lambda_context)
        assert decision["isAuthorized"] is allowed, name
        status = client.get("/v1/sessions", headers=headers).status_code
        assert status == (200 if allowed else 401), name
        if allowed:
            context = decision["context"]
            assert context["workspace_id"] and set(context["scopes"].split()) <= {
                "read",
                "write",
                "admin",
            }
            assert all(isinstance(v, str) for v in context.values()), name


def test_functions_trust_the_authorizer_context(creds, lambda_context):
    """On AWS the function gets no re-verification: the context is the principal."""
    from functions.authorizer.handler import lambda_handler as authorize
    from functions.sessions.handler import lambda_handler as sessions

    decision = authorize(authorizer_event(creds["read-only key"][0]), lambda_context)
    for route_key, method, expected in (
        ("GET /v1/sessions", "GET", 200),
        ("POST /v1/sessions", "POST", 403),
    ):
        event = json.loads((EVENTS / "sessions_list.json").read_text())
        event = copy.deepcopy(event)
        event["headers"].pop("authorization")
        event["routeKey"] = event["requestContext"]["routeKey"] = route_key
        event["requestContext"]["http"]["method"] = method
        event["rawQueryString"], event["queryStringParameters"] = "", {}
        if method == "POST":
            event["body"] = "{}"
            event["headers"]["content-type"] = "application/json"
        event["requestContext"]["authorizer"] = {"lambda": decision["context"]}
        response = sessions(event, lambda_context)
        assert response["statusCode"] == expected, response["body"]


def test_without_a_context_the_function_verifies_itself(lambda_context):
    from functions.sessions.handler import lambda_handler as sessions

    event = json.loads((EVENTS / "sessions_list.json").read_text())
    event["headers"].pop("authorization")
    assert sessions(event, lambda_context)["statusCode"] == 401


@pytest.fixture(autouse=True)
def _aws(aws_env):
    return aws_env
