"""The context block: ranking, scope, time windows, types, markdown, budgets, determinism."""

import pytest


def _session(client, auth, **body):
    return client.post("/v1/sessions", json=body, headers=auth).json()["session_id"]


def _memory(client, auth, content, memory_type, importance=0.5, **extra):
    body = {"content": content, "memory_type": memory_type, "importance_score": importance, **extra}
    response = client.post("/v1/memories", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["memory_id"]


@pytest.fixture
def seeded(client, auth):
    sid = _session(client, auth, project_name="engram", branch_name="main")
    ids = {
        "decision": _memory(
            client,
            auth,
            "We use DynamoDB as the source of truth.",
            "decision",
            0.9,
            title="Storage",
        ),
        "preference": _memory(client, auth, "The user prefers short answers.", "preference", 0.7),
        "pattern": _memory(client, auth, "Every handler stays under 40 lines.", "pattern", 0.6),
        "fact": _memory(client, auth, "The API runs on Python 3.12.", "fact", 0.4),
        "entity": _memory(client, auth, "Ada Lovelace is the account owner.", "entity", 0.3),
        "episodic": _memory(
            client, auth, "Opened the dashboard.", "episodic", 0.99, session_id=sid
        ),
    }
    return sid, ids


def test_recent_memories_rank_by_importance_and_skip_episodes(client, auth, seeded):
    sid, ids = seeded
    body = client.get(f"/v1/sessions/{sid}/context", headers=auth).json()
    recent = body["context"]["recent_memories"]
    assert [m["memory_id"] for m in recent] == [
        ids[t] for t in ("decision", "preference", "pattern", "fact", "entity")
    ]
    assert set(recent[0]) == {
        "memory_id",
        "title",
        "memory_type",
        "importance_score",
        "narrative",
        "created_at",
    }
    assert body["session"]["session_id"] == sid and body["session"]["project_name"] == "engram"
    assert body["memory_count"] == 5 and body["token_estimate"] > 0
    assert body["context"]["relevant_memories"] == []


def test_markdown_groups_by_type_with_counts(client, auth, seeded):
    sid, _ = seeded
    markdown = client.get(f"/v1/sessions/{sid}/context", headers=auth).json()["markdown"]
    assert markdown.startswith(f"## Session Context ({sid})\n")
    order = [
        "### Decisions (1)",
        "### Preferences (1)",
        "### Patterns (1)",
        "### Facts (1)",
        "### Entities (1)",
    ]
    positions = [markdown.index(h) for h in order]
    assert positions == sorted(positions)
    assert "- **Storage**: We use DynamoDB as the source of truth." in markdown
    assert "Recent Actions" not in markdown


def test_session_scope_brings_recent_actions(client, auth, seeded):
    sid, ids = seeded
    body = client.post(
        f"/v1/sessions/{sid}/context", json={"scope": "session"}, headers=auth
    ).json()
    assert [m["memory_id"] for m in body["context"]["recent_memories"]] == [ids["episodic"]]
    assert "### Recent Actions (1)" in body["markdown"]


def test_types_and_limits(client, auth, seeded):
    sid, ids = seeded
    only = client.get(
        f"/v1/sessions/{sid}/context?include_types=fact&include_types=entity", headers=auth
    ).json()
    assert {m["memory_id"] for m in only["context"]["recent_memories"]} == {
        ids["fact"],
        ids["entity"],
    }
    without = client.post(
        f"/v1/sessions/{sid}/context",
        json={"exclude_types": ["decision"], "max_memories": 2},
        headers=auth,
    ).json()
    assert [m["memory_id"] for m in without["context"]["recent_memories"]] == [
        ids["preference"],
        ids["pattern"],
    ]


def test_since_and_until(client, auth, seeded):
    sid, _ = seeded
    recent = client.get(f"/v1/sessions/{sid}/context?since=30m", headers=auth).json()
    assert len(recent["context"]["recent_memories"]) == 5
    future = client.get(
        f"/v1/sessions/{sid}/context?since=2999-01-01T00:00:00Z", headers=auth
    ).json()
    assert future["context"]["recent_memories"] == []
    past = client.get(f"/v1/sessions/{sid}/context?until=7d", headers=auth).json()
    assert past["context"]["recent_memories"] == []
    bad = client.get(f"/v1/sessions/{sid}/context?since=yesterday", headers=auth)
    assert bad.status_code == 422 and "30m" in bad.json()["detail"]


def test_query_adds_relevant_memories(client, auth, seeded, pump):
    sid, ids = seeded
    pump.drain_once()
    body = client.post(
        f"/v1/sessions/{sid}/context", json={"query": "which database do we use?"}, headers=auth
    ).json()
    relevant = [m["memory_id"] for m in body["context"]["relevant_memories"]]
    assert relevant and relevant[0] == ids["decision"]
    assert "### Relevant Memories" in body["markdown"]


def test_include_types_filter_the_relevant_memories_too(client, auth, seeded, pump):
    """The query's hits are asked of the index with the types, before its limit: more
    episodes that match the query better than the decision cannot crowd it out."""
    sid, ids = seeded
    for i in range(6):
        _memory(client, auth, f"Which database do we use? Asked again ({i}).", "episodic", 0.5)
    pump.drain_once()
    body = {"query": "which database do we use?", "include_types": ["decision"], "max_memories": 3}
    got = client.post(f"/v1/sessions/{sid}/context", json=body, headers=auth).json()
    assert [m["memory_id"] for m in got["context"]["relevant_memories"]] == [ids["decision"]]
    body = {"query": "which database do we use?", "exclude_types": ["episodic"]}
    got = client.post(f"/v1/sessions/{sid}/context", json=body, headers=auth).json()
    types = {m["memory_type"] for m in got["context"]["relevant_memories"]}
    assert "episodic" not in types and ids["decision"] in str(got["context"])


def test_recent_sessions_and_workspace_summary(client, auth, seeded):
    sid, _ = seeded
    done = _session(client, auth)
    client.post(
        f"/v1/sessions/{done}/end", json={"summary": "Migrated the billing tables."}, headers=auth
    )
    from engram import aws
    from engram.workspaces.repository import WorkspaceRepository

    ws = client.get(f"/v1/sessions/{sid}", headers=auth).json()["workspace_id"]
    WorkspaceRepository(aws.table()).set_summary(
        ws, "Decisions: DynamoDB.", "2026-01-01T00:00:00.000Z"
    )
    body = client.get(f"/v1/sessions/{sid}/context", headers=auth).json()
    assert [s["session_id"] for s in body["context"]["recent_sessions"]] == [done]
    assert body["context"]["workspace_summary"] == "Decisions: DynamoDB."
    assert "### Session Summaries (1)" in body["markdown"]
    assert "Migrated the billing tables." in body["markdown"]
    none = client.get(f"/v1/sessions/{sid}/context?recent_sessions=0", headers=auth).json()
    assert none["context"]["recent_sessions"] == []


def test_max_tokens_keeps_whole_items_in_rank_order(client, auth, seeded):
    sid, ids = seeded
    full = client.get(f"/v1/sessions/{sid}/context", headers=auth).json()
    budget = full["token_estimate"] - 5
    cut = client.get(f"/v1/sessions/{sid}/context?max_tokens={budget}", headers=auth).json()
    assert cut["token_estimate"] <= budget
    kept = [m["memory_id"] for m in cut["context"]["recent_memories"]]
    ranked = [m["memory_id"] for m in full["context"]["recent_memories"]]
    assert kept == [i for i in ranked if i in kept]  # the same order, some left out
    assert len(kept) < 5 and ids["decision"] in kept
    for memory in cut["context"]["recent_memories"]:
        assert memory["narrative"] in cut["markdown"]  # never cut mid-item


def test_a_small_item_that_fits_is_kept_when_a_better_one_does_not(client, auth):
    """The top-ranked decision is far over the budget alone; the next one fits, so the
    block has it (dropping from the bottom until it fits would have left nothing)."""
    sid = client.post("/v1/sessions", json={}, headers=auth).json()["session_id"]
    _memory(client, auth, "Release notes go out with every deploy. " * 40, "decision", 0.9)
    small = _memory(client, auth, "We deploy on Fridays.", "decision", 0.5)
    cut = client.get(f"/v1/sessions/{sid}/context?max_tokens=60", headers=auth).json()
    assert [m["memory_id"] for m in cut["context"]["recent_memories"]] == [small]
    assert "- We deploy on Fridays." in cut["markdown"] and cut["token_estimate"] <= 60


def test_same_data_gives_byte_identical_output(client, auth, seeded):
    sid, _ = seeded
    first = client.get(f"/v1/sessions/{sid}/context", headers=auth).content
    second = client.post(f"/v1/sessions/{sid}/context", json={}, headers=auth).content
    assert first == second


def test_a_relative_moment_before_the_calendar_starts_means_from_its_first_day(
    client, auth, seeded
):
    sid, ids = seeded
    body = client.post(f"/v1/sessions/{sid}/context", json={"since": "999999w"}, headers=auth)
    assert body.status_code == 200, body.text
    assert ids["decision"] in [m["memory_id"] for m in body.json()["context"]["recent_memories"]]


@pytest.mark.parametrize(
    "query",
    [
        "max_memories=0",
        "max_memories=101",
        "order=sideways",
        "scope=galaxy",
        "include_types=Dream!",
        "max_tokens=3",
    ],
)
def test_bad_parameters_are_422(client, auth, seeded, query):
    sid, _ = seeded
    response = client.get(f"/v1/sessions/{sid}/context?{query}", headers=auth)
    assert response.status_code == 422 and response.json()["detail"]


def test_another_workspace_gets_404(client, auth, other_auth, seeded):
    sid, _ = seeded
    assert client.get(f"/v1/sessions/{sid}/context", headers=other_auth).status_code == 404
    assert (
        client.post(f"/v1/sessions/{sid}/context", json={}, headers=other_auth).status_code == 404
    )


def test_a_title_that_repeats_the_content_is_not_printed_twice(client, auth, seeded):
    sid, _ = seeded
    _memory(client, auth, "Ship on Fridays. Always.", "decision", 0.95, title="Ship on Fridays")
    markdown = client.get(f"/v1/sessions/{sid}/context", headers=auth).json()["markdown"]
    assert "- Ship on Fridays. Always." in markdown and "**Ship on Fridays**" not in markdown
    assert "- **Storage**: We use DynamoDB as the source of truth." in markdown


def test_many_episodes_do_not_crowd_out_an_older_decision(client, auth, monkeypatch):
    from engram.context import service

    monkeypatch.setattr(service, "SCAN_LIMIT", 5)
    sid = _session(client, auth)
    decision = _memory(client, auth, "We chose Postgres for billing.", "decision", 0.9)
    batch = {"memories": [{"content": f"clicked button {i}"} for i in range(10)]}
    assert client.post("/v1/memories", json=batch, headers=auth).status_code == 201
    body = client.get(f"/v1/sessions/{sid}/context", headers=auth).json()
    assert [m["memory_id"] for m in body["context"]["recent_memories"]] == [decision]
