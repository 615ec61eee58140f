"""List filters on GET /v1/memories: each answered by a key condition (a session's GSI2
partition, a filter entry partition, the sort key for since/until), order and offset,
and a parameter the route does not take is a 422."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from engram.clock import SystemClock


@pytest.fixture
def moments(monkeypatch):
    """The clock stands still where told: each memory gets its own minute, so time filters
    and order are exact."""
    now = [datetime(2026, 3, 1, 12, 0, tzinfo=UTC)]
    monkeypatch.setattr(SystemClock, "now", lambda self: now[0])

    def at(minute: int, second: int = 0) -> None:
        now[0] = datetime(2026, 3, 1, 12, minute, second, tzinfo=UTC)

    return at


def _store(client, auth, **body):
    response = client.post("/v1/memories", json=body, headers=auth)
    assert response.status_code == 201, response.text
    return response.json()["memory_id"]


def _ids(client, auth, query):
    response = client.get(f"/v1/memories?{query}", headers=auth)
    assert response.status_code == 200, response.text
    return [m["memory_id"] for m in response.json()["data"]]


@pytest.fixture
def seeded(client, auth, moments):
    ids = {}
    rows = [
        (
            "a",
            {
                "tags": ["rare", "x"],
                "importance_score": 0.9,
                "event_type": "error",
                "agent_id": "bot-1",
                "confidence_score": 0.9,
            },
        ),
        (
            "b",
            {
                "tags": ["x"],
                "importance_score": 0.2,
                "event_type": "tool_call",
                "agent_id": "bot-1",
                "memory_type": "bug_fix",
            },
        ),
        (
            "c",
            {
                "tags": ["x", "y"],
                "importance_score": 0.6,
                "user_id": "u1",
                "confidence_score": 0.5,
                "content": "The Deploy runs nightly.",
            },
        ),
        ("d", {"memory_type": "architecture", "agent_id": "bot-2", "event_type": "error"}),
    ]
    for minute, (name, body) in enumerate(rows):
        moments(minute)
        body.setdefault("content", f"memory {name}")
        ids[name] = _store(client, auth, **body)
    return ids


def test_each_filter_answers_exactly_its_memories(client, auth, seeded):
    ids = {v: k for k, v in seeded.items()}

    def names(query):
        return [ids[i] for i in _ids(client, auth, query)]

    assert names("tag=rare") == ["a"]
    assert names("tags=x&tags=y") == ["c"]
    assert names("tag=x&min_importance=0.5") == ["c", "a"]
    assert names("min_confidence=0.6") == ["a"]
    assert names("event_types=error") == ["d", "a"]
    assert names("event_type=tool_call&event_types=error") == ["d", "b", "a"]
    assert names("agent_id=bot-1&event_type=error") == ["a"]
    assert names("memory_type=bug_fix") == ["b"]
    assert names("memory_types=bug_fix&memory_types=architecture") == ["d", "b"]
    assert names("user_id=u1") == ["c"]
    assert names("content_contains=deploy") == ["c"]
    assert names("since=2026-03-01T12:01:00Z&until=2026-03-01T12:02:00Z") == ["c", "b"]
    assert names("order=asc") == ["a", "b", "c", "d"]
    assert names("order=asc&tag=x&offset=1&limit=1") == ["b"]
    assert names("offset=3") == ["a"]
    assert names("tag=nothing-has-this") == []
    assert names("since=2026-03-01T12:02:00Z&until=2026-03-01T12:01:00Z") == []  # inverted
    assert names("since=999999w&tag=x") == ["c", "b", "a"]  # before the calendar: all


def test_relative_since(client, auth, seeded, moments):
    moments(3, 30)
    assert _ids(client, auth, "since=1m") == [seeded["d"]]


def test_a_filtered_page_follows_its_cursor_to_the_end(client, auth, seeded):
    first = client.get("/v1/memories?tag=x&limit=2", headers=auth).json()
    assert len(first["data"]) == 2 and first["has_more"]
    rest = client.get(f"/v1/memories?tag=x&limit=2&cursor={first['next_cursor']}", headers=auth)
    assert [m["memory_id"] for m in rest.json()["data"]] == [seeded["a"]]
    assert rest.json()["has_more"] is False


def test_entries_follow_updates_and_deletes(client, auth, seeded):
    a = seeded["a"]
    patched = client.patch(
        f"/v1/memories/{a}", json={"tags": ["y"], "importance_score": 0.1}, headers=auth
    )
    assert patched.status_code == 200
    assert _ids(client, auth, "tag=rare") == []
    assert a in _ids(client, auth, "tag=y")
    assert a not in _ids(client, auth, "tag=x&min_importance=0.5")
    client.delete(f"/v1/memories/{a}", headers=auth)
    assert a not in _ids(client, auth, "tag=y")
    assert a in _ids(client, auth, "tag=y&include_deleted=true")
    client.delete(f"/v1/memories/{a}/hard", headers=auth)
    assert a not in _ids(client, auth, "tag=y&include_deleted=true")


def test_a_rare_tag_is_one_partition_not_a_walk_of_the_workspace(client, auth, workspace):
    """The rare tag's list reads its own entry partition: one Query, whatever else exists."""
    from engram import aws
    from engram.memories.repository import MemoryFilters, MemoryRepository

    body = {"memories": [{"content": f"common {i}", "tags": ["common"]} for i in range(60)]}
    assert client.post("/v1/memories", json=body, headers=auth).status_code == 201
    rare = _store(client, auth, content="the rare one", tags=["rare"])
    assert client.post("/v1/memories", json=body, headers=auth).status_code == 201
    table = aws.table()
    calls = []
    real = table.query

    def counting(**kwargs):
        calls.append(kwargs)
        return real(**kwargs)

    table.query = counting
    try:
        page = MemoryRepository(table).list(
            workspace[0].workspace_id, MemoryFilters(tag="rare"), 20, None
        )
    finally:
        table.query = real
    assert [m.memory_id for m in page.items] == [rare] and page.next_cursor is None
    assert len(calls) == 1


@pytest.mark.parametrize(
    "query, phrase",
    [
        ("colour=red", "Unknown query parameter 'colour'"),
        ("min_importance=2", "min_importance"),
        ("order=sideways", "order"),
        ("offset=-1", "offset"),
        ("since=yesterday", "since must be relative like 30m, 2h or 7d, or an ISO 8601 time"),
        ("memory_type=Not A Type", "memory_type"),
    ],
)
def test_bad_list_parameters_are_422(client, auth, query, phrase):
    response = client.get(f"/v1/memories?{query}", headers=auth)
    assert response.status_code == 422, response.text
    assert phrase in response.json()["detail"]


def _write_calls(monkeypatch):
    """The DynamoDB writes that touch a memory or its entries, in order (events and the
    like are left out)."""
    import botocore.client

    made, real = [], botocore.client.BaseClient._make_api_call
    writes = ("TransactWriteItems", "BatchWriteItem", "PutItem", "UpdateItem", "DeleteItem")

    def touched(params) -> bool:
        text = repr(params)
        return "#MEMBY#" in text or "'MEMORY#" in text

    def counted(self, operation, params):
        if operation in writes and touched(params):
            made.append(operation)
        return real(self, operation, params)

    monkeypatch.setattr(botocore.client.BaseClient, "_make_api_call", counted)
    return made


def _assert_in_step(workspace_id, memory_id):
    """The memory's filter entries are exactly those it should have, copying its fields."""
    from boto3.dynamodb.conditions import Attr

    from engram import aws
    from engram.memories.repository import MemoryRepository, _entries

    table = aws.table()
    stored = table.scan(FilterExpression=Attr("memory_id").eq(memory_id))["Items"]
    entries = {i["PK"]: i for i in stored if i.get("type") == "MemoryEntry"}
    try:
        memory = MemoryRepository(table).get(workspace_id, memory_id, include_deleted=True)
    except Exception:  # noqa: BLE001 - gone: no entry may remain
        assert entries == {}
        return
    assert entries == {e["PK"]: e for e in _entries(memory)}


def test_an_update_and_its_entries_are_one_transaction(client, auth, workspace, monkeypatch):
    ws = workspace[0].workspace_id
    agent = {"agent_id": "bot", "name": "Bot"}
    assert client.post("/v1/agents", json=agent, headers=auth).status_code == 201
    mid = _store(client, auth, content="entries", tags=["a", "b"], agent_id="bot", concepts=["c"])
    writes = _write_calls(monkeypatch)
    patched = client.patch(
        f"/v1/memories/{mid}",
        json={"tags": ["b", "new"], "memory_type": "decision", "importance_score": 0.9},
        headers=auth,
    )
    assert patched.status_code == 200, patched.text
    assert writes == ["TransactWriteItems"]
    _assert_in_step(ws, mid)
    assert _ids(client, auth, "tag=a") == [] and _ids(client, auth, "tag=new") == [mid]
    agent = client.get("/v1/agents/bot/stats", headers=auth).json()
    assert agent["memory_types"] == {"decision": 1}

    writes.clear()
    assert client.delete(f"/v1/memories/{mid}", headers=auth).status_code == 200
    assert writes == ["TransactWriteItems"]  # the memory, its entries and both live counts
    _assert_in_step(ws, mid)
    assert client.get("/v1/agents/bot/stats", headers=auth).json()["memory_count"] == 0

    writes.clear()
    assert client.post(f"/v1/memories/{mid}/restore", headers=auth).status_code == 200
    assert writes == ["TransactWriteItems"]
    _assert_in_step(ws, mid)

    writes.clear()
    assert client.delete(f"/v1/memories/{mid}/hard", headers=auth).status_code == 204
    assert writes == ["TransactWriteItems"]
    _assert_in_step(ws, mid)
    assert _ids(client, auth, "tag=new&include_deleted=true") == []


def test_an_update_racing_another_is_written_on_the_newer_state(client, auth, workspace):
    """Between the update's read and its write another one changes the tags: the
    transaction's condition fails, and the update is made again on what is stored now."""
    from engram import aws
    from engram.memories.repository import MemoryRepository

    ws = workspace[0].workspace_id
    mid = _store(client, auth, content="raced", tags=["old"])
    repo = MemoryRepository(aws.table())
    real_read, raced = repo._read, []

    def read_then_race(workspace_id, memory_id):
        item = real_read(workspace_id, memory_id)
        if not raced:
            raced.append(True)
            MemoryRepository(aws.table()).update(ws, mid, {"tags": ["theirs"]})
        return item

    repo._read = read_then_race
    after = repo.update(ws, mid, {"importance_score": 0.8})
    assert after.tags == ["theirs"] and after.importance_score == 0.8
    _assert_in_step(ws, mid)
    assert _ids(client, auth, "tag=theirs&min_importance=0.7") == [mid]
    assert _ids(client, auth, "tag=old") == []


def test_a_dedup_write_moves_the_entries_of_the_memory_it_updates(client, auth, workspace):
    ws = workspace[0].workspace_id
    first = _store(client, auth, content="v1", dedup_key="k", tags=["one"], event_type="x")
    second = _store(client, auth, content="v2", dedup_key="k", tags=["two"], event_type="y")
    assert first == second
    _assert_in_step(ws, first)
    assert _ids(client, auth, "tag=one") == [] and _ids(client, auth, "event_types=y") == [first]


def test_a_memory_with_more_entries_than_a_transaction_holds(client, auth, workspace):
    """50 tags, 50 concepts and a type are 101 entries: beyond one transaction the memory
    is written first, then its entries; they still end in step."""
    ws = workspace[0].workspace_id
    tags = [f"t{i}" for i in range(50)]
    mid = _store(client, auth, content="many", tags=tags, concepts=[f"c{i}" for i in range(50)])
    _assert_in_step(ws, mid)
    patched = client.patch(f"/v1/memories/{mid}", json={"tags": [*tags[1:], "z"]}, headers=auth)
    assert patched.status_code == 200, patched.text
    _assert_in_step(ws, mid)
    assert _ids(client, auth, "tag=t0") == [] and _ids(client, auth, "tag=z") == [mid]
    assert client.delete(f"/v1/memories/{mid}/hard", headers=auth).status_code == 204
    _assert_in_step(ws, mid)
