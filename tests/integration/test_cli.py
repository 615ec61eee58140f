import json

from engram import aws
from engram.cli import main
from engram.workspaces.repository import WorkspaceRepository
from engram.workspaces.service import hash_key


def test_create_workspace_prints_a_working_key(aws_env, capsys):
    assert main(["admin", "create-workspace", "Acme", "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["api_key"].startswith("ek_")
    repo = WorkspaceRepository(aws.table())
    stored = repo.find_key(hash_key(out["api_key"]))
    assert stored.workspace_id == out["workspace_id"]
    assert repo.get(out["workspace_id"]).name == "Acme"


def test_blank_name_is_refused(aws_env, capsys):
    assert main(["admin", "create-workspace", "   "]) == 2
    assert "1 to 255 characters" in capsys.readouterr().err


def test_env_file_is_read_before_settings(aws_env, tmp_path, monkeypatch, capsys):
    env = tmp_path / "dev.env"
    env.write_text("TABLE_NAME=no-such-table\n")
    missing = tmp_path / "missing.env"
    assert main(["--env-file", str(missing), "admin", "create-workspace", "x"]) == 2
    monkeypatch.setenv("TABLE_NAME", "placeholder")
    try:
        main(["--env-file", str(env), "admin", "create-workspace", "x"])
    except Exception as exc:  # the table does not exist: proves the file's TABLE_NAME was used  # noqa: BLE001
        assert "no-such-table" in str(exc) or "ResourceNotFound" in type(exc).__name__ + str(exc)
    else:
        raise AssertionError("expected the missing table to fail")


def test_backfill_filters_rebuilds_entries_and_agent_counters(client, auth, capsys):
    """Memories stored before filter entries existed: their entries and counters are gone
    (removed here by hand) until the backfill writes them again."""
    from boto3.dynamodb.conditions import Attr

    body = {
        "memories": [
            {"content": "a", "tags": ["t"], "agent_id": "bot", "memory_type": "fact"},
            {"content": "b", "agent_id": "bot"},
        ]
    }
    assert client.post("/v1/memories", json=body, headers=auth).status_code == 201
    client.post("/v1/agents", json={"agent_id": "bot", "name": "Bot"}, headers=auth)
    table = aws.table()
    old = table.scan(FilterExpression=Attr("type").eq("MemoryEntry") | Attr("SK").eq("COUNTS"))
    with table.batch_writer() as batch:
        for item in old["Items"]:
            batch.delete_item(Key={"PK": item["PK"], "SK": item["SK"]})
    assert client.get("/v1/memories?tag=t", headers=auth).json()["data"] == []
    assert main(["admin", "backfill-filters"]) == 0
    assert "for 2 memories" in capsys.readouterr().out
    assert [
        m["content"] for m in client.get("/v1/memories?tag=t", headers=auth).json()["data"]
    ] == ["a"]
    stats = client.get("/v1/agents/bot/stats", headers=auth).json()
    assert stats["memory_count"] == 2 and stats["memory_types"] == {"fact": 1, "episodic": 1}
