"""End of session → extract queue → extract worker → typed memories, summaries, dedup."""

import pytest

from engram import wiring
from engram.extraction.extractor import Candidate, Extraction


class ScriptedExtractor:
    """Returns the same extraction for any session; records what it was given."""

    name = "scripted"

    def __init__(self, candidates, summary="The team chose DynamoDB."):
        self.candidates, self.summary, self.calls = candidates, summary, []

    def extract(self, episodes, client_summary=None):
        self.calls.append((list(episodes), client_summary))
        ids = tuple(e.memory_id for e in episodes[:1])
        return Extraction(
            summary=self.summary,
            memories=tuple(
                Candidate(
                    memory_type=t,
                    title=title,
                    content=c,
                    importance_score=i,
                    tags=("x",),
                    source_ids=ids,
                )
                for t, title, c, i in self.candidates
            ),
        )


@pytest.fixture
def use_extractor(monkeypatch):
    def install(extractor):
        monkeypatch.setattr(wiring, "extractor", lambda: extractor)
        wiring.session_extraction.cache_clear()
        return extractor

    yield install
    wiring.session_extraction.cache_clear()


def _ended_session(client, auth, *messages, summary=None):
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    body = {"messages": [{"role": "user", "content": m} for m in messages]}
    assert client.post(f"/v1/sessions/{sid}/messages", json=body, headers=auth).status_code == 201
    end = {"summary": summary} if summary else {}
    assert client.post(f"/v1/sessions/{sid}/end", json=end, headers=auth).status_code == 200
    return sid


def _drain(pump, rounds=3):
    for _ in range(rounds):
        pump.drain_once()


def test_ended_session_is_distilled(client, auth, pump, use_extractor, workspace):
    extractor = use_extractor(
        ScriptedExtractor(
            [
                (
                    "decision",
                    "Storage",
                    "The team decided to use DynamoDB as the source of truth.",
                    0.9,
                ),
                ("preference", "Answers", "The user prefers short answers.", 0.6),
            ]
        )
    )
    sid = _ended_session(
        client,
        auth,
        "Let's go with DynamoDB.",
        "Keep answers short please.",
        summary="Storage talk",
    )
    _drain(pump)
    episodes, client_summary = extractor.calls[0]
    assert [e.content for e in episodes] == [
        "Let's go with DynamoDB.",
        "Keep answers short please.",
    ]
    assert client_summary == "Storage talk"
    session = client.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert session["summary_status"] == "ready" and session["summary"] == "The team chose DynamoDB."
    made = client.get("/v1/memories?memory_type=decision", headers=auth).json()["data"]
    assert len(made) == 1 and made[0]["source"] == "extraction" and made[0]["title"] == "Storage"
    assert made[0]["metadata"]["source_ids"] == [episodes[0].memory_id]
    assert made[0]["embedding_status"] == "ready"
    from engram import aws
    from engram.workspaces.repository import WorkspaceRepository

    ws = workspace[0].workspace_id
    assert "DynamoDB" in WorkspaceRepository(aws.table()).summary(ws)
    types = [e["type"] for e in wiring.events().recent(ws)]
    assert "session.summarized" in types


def test_running_twice_creates_nothing_twice(client, auth, pump, use_extractor, workspace):
    use_extractor(ScriptedExtractor([("fact", "Version", "The API runs on Python 3.12.", 0.5)]))
    sid = _ended_session(client, auth, "We run Python 3.12.")
    _drain(pump)

    job = wiring.session_extraction()
    assert job.run(workspace[0].workspace_id, sid) == "skipped"
    client.patch(f"/v1/sessions/{sid}", json={"summary": None}, headers=auth)
    from engram import aws
    from engram.sessions.repository import SessionRepository

    SessionRepository(aws.table()).update(
        workspace[0].workspace_id, sid, {"summary_status": "pending"}
    )
    assert job.run(workspace[0].workspace_id, sid) == "summarized"  # forced re-run
    facts = client.get("/v1/memories?memory_type=fact", headers=auth).json()["data"]
    assert len(facts) == 1


def test_a_near_duplicate_updates_the_existing_memory(client, auth, pump, use_extractor):
    use_extractor(
        ScriptedExtractor([("preference", "Tone", "The user prefers short answers.", 0.4)])
    )
    _ended_session(client, auth, "Short answers please.")
    _drain(pump)
    first = client.get("/v1/memories?memory_type=preference", headers=auth).json()["data"]
    use_extractor(
        ScriptedExtractor([("preference", "Tone", "The user prefers short answers!", 0.8)])
    )
    _ended_session(client, auth, "Again: keep it short.")
    _drain(pump)
    after = client.get("/v1/memories?memory_type=preference", headers=auth).json()["data"]
    assert len(after) == 1 and after[0]["memory_id"] == first[0]["memory_id"]
    assert after[0]["importance_score"] == 0.8
    assert len(after[0]["metadata"]["source_ids"]) == 2


def test_a_failing_extractor_ends_failed_with_the_reason(
    client, auth, pump, use_extractor, monkeypatch
):
    class Broken:
        name = "broken"

        def extract(self, episodes, client_summary=None):
            raise RuntimeError("model unavailable")

    monkeypatch.setenv("EXTRACT_MAX_ATTEMPTS", "1")
    from engram.config import get_settings

    get_settings.cache_clear()
    use_extractor(Broken())
    sid = _ended_session(client, auth, "hello")
    _drain(pump, rounds=1)
    session = client.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert session["summary_status"] == "failed" and "model unavailable" in session["summary_error"]


def test_the_default_heuristic_extractor_end_to_end(client, auth, pump):
    sid = _ended_session(
        client,
        auth,
        "Hi there!",
        "We decided to use DynamoDB as the source of truth for sessions.",
        "I prefer short answers with code examples.",
        "Thanks, bye!",
    )
    _drain(pump)
    session = client.get(f"/v1/sessions/{sid}", headers=auth).json()
    assert session["summary_status"] == "ready" and "DynamoDB" in session["summary"]
    made = client.get("/v1/memories?limit=50", headers=auth).json()["data"]
    extracted = {m["memory_type"] for m in made if m["source"] == "extraction"}
    assert {"decision", "preference"} <= extracted
    assert not any("bye" in m["content"].lower() for m in made if m["source"] == "extraction")
