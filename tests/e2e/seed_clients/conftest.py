"""The seed products' clients drive the session's one running stack (`running_stack`);
webhook deliveries to a receiver on 127.0.0.1 need a stack that allows private URLs."""

from __future__ import annotations

import httpx
import pytest

from tests.stack import Stack


class Engram:
    """A running stack as the client tests see it: URL, the dev workspace's admin key, and
    more keys made through the API."""

    def __init__(self, env: dict[str, str]) -> None:
        self.url = env["ENGRAM_URL"]
        self.key = env["ENGRAM_API_KEY"]

    def make_key(self, **body) -> str:
        response = httpx.post(
            f"{self.url}/v1/api-keys",
            headers={"Authorization": f"Bearer {self.key}"},
            json={"name": "test", **body},
            timeout=20,
        )
        assert response.status_code == 201, response.text
        return response.json()["api_key"]

    def workspace_id(self, key: str | None = None) -> str:
        response = httpx.get(
            f"{self.url}/v1/auth/me", headers={"Authorization": f"Bearer {key or self.key}"}
        )
        assert response.status_code == 200, response.text
        return response.json()["workspace"]["workspace_id"]


@pytest.fixture(scope="session")
def engram(running_stack) -> Engram:
    return Engram(running_stack.env)


@pytest.fixture(scope="module")
def private_webhooks_engram(tmp_path_factory):
    """A stack of its own with WEBHOOK_ALLOW_PRIVATE=true: the shared one refuses webhook
    URLs on 127.0.0.1, as a deployment does."""
    running = Stack(tmp_path_factory.mktemp("webhooks-stack"), {"WEBHOOK_ALLOW_PRIVATE": "true"})
    try:
        yield Engram(running.wait_ready())
    finally:
        running.kill()
