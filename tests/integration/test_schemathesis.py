"""Schemathesis against the combined app's OpenAPI document, in process (ASGI) on moto:
at least 1,000 generated requests, valid and invalid, across every operation; no 5xx, no
undocumented status, no response that breaks its schema. Derandomized and bounded."""

from __future__ import annotations

import math
import socket
from collections import Counter

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis.checks import not_a_server_error
from schemathesis.generation import GenerationMode
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from engram_local.app import build_app

TOTAL_REQUESTS = 1_500
# A guard against a hang, not a speed target: the work is bounded by TOTAL_REQUESTS.
HANG_GUARD_SECONDS = 1_200


def not_a_server_error_but_a_documented_501(ctx, response, case):
    """A dialect's 501 (a product's feature Engram does not offer) is its documented answer."""
    if response.status_code == 501 and "501" in case.operation.definition.raw["responses"]:
        return None
    return not_a_server_error(ctx, response, case)


CHECKS = [
    not_a_server_error_but_a_documented_501,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]


@pytest.fixture(autouse=True)
def _offline_dns(monkeypatch):
    """Webhook URLs resolve through the SSRF guard; generated hosts must not hit the network."""

    def resolve(host, port, *args, **kwargs):
        if host == "hooks.example.com":
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("93.184.216.34", port))]
        raise socket.gaierror(f"offline test: {host}")

    monkeypatch.setattr(socket, "getaddrinfo", resolve)


@pytest.fixture
def ids(client, auth) -> dict[str, str]:
    """Real objects, so generated requests also reach past the 404s."""
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    memory = client.post("/v1/memories", json={"content": "x", "session_id": sid}, headers=auth)
    hook = client.post(
        "/v1/webhooks",
        headers=auth,
        json={"url": "https://hooks.example.com/x", "events": ["session.created"]},
    ).json()
    key = client.post("/v1/api-keys", json={"name": "fuzz"}, headers=auth).json()
    agent = client.post("/v1/agents", json={"name": "fuzz"}, headers=auth).json()
    return {
        "agent_id": agent["agent_id"],
        "session_id": sid,
        "memory_id": memory.json()["memory_id"],
        "episode_id": memory.json()["memory_id"],  # the Remembr dialect's name for it
        "webhook_id": hook.get("webhook_id") or hook["id"],
        "key_id": key["id"],
        "user_id": "fuzz-user",
        "workspace_id": client.get("/v1/auth/me", headers=auth).json()["workspace"]["workspace_id"],
        "path": "symbols/search",  # the Neuroloom dialect's areas it does not offer (501)
    }


def _passes(operation, ids: dict[str, str]) -> list[dict]:
    names = {p.name for p in operation.path_parameters}
    passes = [
        {"generation_mode": GenerationMode.POSITIVE},
        {"generation_mode": GenerationMode.NEGATIVE},
    ]
    if names:
        passes.append(
            {
                "generation_mode": GenerationMode.POSITIVE,
                "path_parameters": {n: ids[n] for n in names},
            }
        )
    return passes


@pytest.mark.timeout(HANG_GUARD_SECONDS)
def test_generated_requests(aws_env, auth, ids):
    schema = schemathesis.openapi.from_asgi("/openapi.json", build_app())
    # deletions last, so the seeded objects serve every other operation first
    operations = sorted(
        (result.ok() for result in schema.get_all_operations()),
        key=lambda op: op.method.upper() == "DELETE",
    )
    per_pass = math.ceil(TOTAL_REQUESTS / sum(len(_passes(op, ids)) for op in operations))
    statuses: Counter[int] = Counter()
    for operation in operations:
        for kwargs in _passes(operation, ids):

            @settings(
                max_examples=per_pass,
                deadline=None,
                database=None,
                derandomize=True,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(**kwargs))
            def run(case):
                response = case.call_and_validate(headers=dict(auth), checks=CHECKS)
                statuses[response.status_code // 100] += 1

            try:
                run()
            except Unsatisfiable:  # nothing invalid to send (e.g. no parameters at all)
                assert kwargs["generation_mode"] is GenerationMode.NEGATIVE, operation.label
    sent = sum(statuses.values())
    assert sent >= 1_000, f"only {sent} requests were generated"
    assert statuses[2] >= sent // 10, f"too few requests got past validation: {statuses}"
    print(f"schemathesis: {sent} requests by status class {dict(statuses)}")
