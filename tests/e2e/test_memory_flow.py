"""The memory features end to end through the running local stack: the API over HTTP, the
queue pump calling the real embed and extract workers in the background."""

from __future__ import annotations

import signal

import httpx
import pytest

from tests.stack import eventually

pytestmark = pytest.mark.e2e


def test_store_search_converse_end_and_get_context(stack):
    env = stack.wait_ready()
    auth = {"Authorization": f"Bearer {env['ENGRAM_API_KEY']}"}
    with httpx.Client(base_url=env["ENGRAM_URL"], timeout=20) as http:
        stored = http.post(
            "/v1/memories",
            headers=auth,
            json={
                "memories": [
                    {
                        "content": "The customer Ada prefers email over phone calls.",
                        "memory_type": "preference",
                        "tags": ["customer:ada"],
                    },
                    {
                        "content": "Invoices are sent on the first business day of the month.",
                        "memory_type": "fact",
                    },
                ]
            },
        )
        assert stored.status_code == 201, stored.text
        ids = [m["memory_id"] for m in stored.json()["memories"]]
        eventually(
            lambda: all(
                http.get(f"/v1/memories/{i}/status", headers=auth).json()["embedding_status"]
                == "ready"
                for i in ids
            ),
            "embedding",
        )

        check_search_modes_and_filters(http, auth, ids)
        check_delete_and_restore(http, auth, ids[0])

        session = http.post(
            "/v1/sessions",
            headers=auth,
            json={"agent_id": "e2e", "prompt": "Let's plan the billing migration."},
        ).json()
        sid = session["session_id"]
        sent = http.post(
            f"/v1/sessions/{sid}/messages",
            headers=auth,
            json={
                "messages": [
                    {
                        "role": "user",
                        "content": "We decided to use DynamoDB as the source of truth.",
                    },
                    {"role": "user", "content": "I prefer short answers with code examples."},
                ]
            },
        )
        assert sent.status_code == 201
        window = http.get(f"/v1/sessions/{sid}/messages", headers=auth).json()
        assert window["token_usage"]["message_count"] == 3
        assert http.post(f"/v1/sessions/{sid}/end", headers=auth, json={}).status_code == 200

        ended = eventually(
            lambda: (
                (s := http.get(f"/v1/sessions/{sid}", headers=auth).json())["summary_status"]
                == "ready"
                and s
            ),
            "extraction",
        )
        assert "DynamoDB" in ended["summary"]
        decisions = http.get("/v1/memories?memory_type=decision", headers=auth).json()["data"]
        assert any("DynamoDB" in m["content"] for m in decisions)

        other = http.post("/v1/sessions", headers=auth, json={"agent_id": "e2e"}).json()[
            "session_id"
        ]
        context = http.get(
            f"/v1/sessions/{other}/context?query=which database", headers=auth
        ).json()
        assert "### Decisions" in context["markdown"] and "### Preferences" in context["markdown"]
        assert [s["session_id"] for s in context["context"]["recent_sessions"]] == [sid]
        assert "### Session Summaries (1)" in context["markdown"]
        assert ended["summary"].split(".")[0] in context["markdown"]
        kinds = {m["memory_type"] for m in context["context"]["recent_memories"]}
        assert {"decision", "preference"} <= kinds
        assert context["token_estimate"] > 0
    assert stack.stop(signal.SIGINT) == 0, stack.output()


def search(http, auth, **body) -> list[str]:
    response = http.post("/v1/memories/search", headers=auth, json={"limit": 5, **body})
    assert response.status_code == 200, response.text
    return [hit["memory_id"] for hit in response.json()["results"]]


def check_search_modes_and_filters(http, auth, ids):
    ada, invoices = ids
    for mode in ("semantic", "keyword", "hybrid"):
        assert (
            search(http, auth, query="How should we contact Ada by email?", search_mode=mode)[0]
            == ada
        )
    assert search(http, auth, query="email", tags=["customer:ada"]) == [ada]
    assert search(http, auth, query="email", memory_types=["fact"]) in ([], [invoices])
    tagged = {"key": "customer", "op": "eq", "value": "ada"}
    assert search(http, auth, query="contact", tag_filters=[tagged]) == [ada]
    assert set(search(http, auth)) == {ada, invoices}  # no query: a filter-only listing


def check_delete_and_restore(http, auth, memory_id):
    assert http.delete(f"/v1/memories/{memory_id}", headers=auth).status_code == 200
    assert memory_id not in search(http, auth, query="contact Ada")  # at once, before the index
    assert http.post(f"/v1/memories/{memory_id}/restore", headers=auth).status_code == 200
    eventually(lambda: memory_id in search(http, auth, query="contact Ada"), "restored in search")
