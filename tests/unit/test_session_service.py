"""SessionService decisions with in-memory fakes: what it writes, queues and publishes."""

from datetime import UTC, datetime

import pytest

from engram.clock import FixedClock
from engram.errors import Conflict
from engram.sessions.models import Session, SessionCreate, SessionEnd, SessionUpdate
from engram.sessions.service import SessionService


class FakeRepo:
    def __init__(self):
        self.sessions: dict[str, Session] = {}
        self.updates = []

    def create(self, session):
        if session.session_id in self.sessions:
            raise Conflict("exists")
        self.sessions[session.session_id] = session

    def get(self, workspace_id, session_id):
        return self.sessions[session_id]

    def update(self, workspace_id, session_id, changes, allowed_from=None):
        self.updates.append((changes, allowed_from))
        current = self.sessions[session_id]
        if allowed_from is not None and current.status not in allowed_from:
            raise Conflict("illegal move")
        self.sessions[session_id] = current.model_copy(update=changes)
        return self.sessions[session_id]


class FakeQueues:
    def __init__(self):
        self.sent = []

    def send(self, queue, body):
        self.sent.append((queue, body))
        return "m1"


class FakeEvents:
    def __init__(self):
        self.published = []

    def publish(self, event_type, workspace_id, data):
        self.published.append((event_type, workspace_id, data))
        return {}


@pytest.fixture
def parts():
    clock = FixedClock(datetime(2026, 3, 1, 12, tzinfo=UTC))
    repo, queues, events = FakeRepo(), FakeQueues(), FakeEvents()
    return SessionService(repo, queues, events, clock), repo, queues, events, clock


def test_create_stamps_times_and_publishes(parts):
    service, _repo, _, events, _ = parts
    session = service.create("ws1", SessionCreate(agent_id="a", status="created"))
    assert session.status == "created" and session.started_at == "2026-03-01T12:00:00.000Z"
    assert events.published == [
        (
            "session.created",
            "ws1",
            {
                "session_id": session.session_id,
                "status": "created",
                "agent_id": "a",
                "project_name": "",
            },
        )
    ]


def test_end_closes_queues_extraction_then_publishes(parts):
    service, _repo, queues, events, clock = parts
    sid = service.create("ws1", SessionCreate()).session_id
    clock.advance(hours=1)
    ended = service.end("ws1", sid, SessionEnd(summary="s"))
    assert ended.status == "completed" and ended.summary_status == "pending"
    assert ended.ended_at == "2026-03-01T13:00:00.000Z" and ended.summary == "s"
    assert queues.sent == [
        (
            "extract",
            {
                "kind": "session.extract",
                "workspace_id": "ws1",
                "session_id": sid,
                "ended_at": ended.ended_at,
            },
        )
    ]
    assert events.published[-1][0] == "session.ended"
    with pytest.raises(Conflict):
        service.end("ws1", sid, SessionEnd())
    assert len(queues.sent) == 1


def test_update_checks_moves_and_ignores_null_status_and_metadata(parts):
    service, repo, _, _, _ = parts
    sid = service.create("ws1", SessionCreate(metadata={"a": 1})).session_id
    same = service.update("ws1", sid, SessionUpdate(metadata=None, status=None))
    assert same.metadata == {"a": 1} and not repo.updates
    service.update("ws1", sid, SessionUpdate(status="paused", task_id=None))
    changes, allowed = repo.updates[-1]
    assert changes["is_active"] is True and "task_id" in changes
    assert allowed == ["active", "created", "paused"]
    service.update("ws1", sid, SessionUpdate(status="failed"))
    assert repo.sessions[sid].ended_at is not None and not repo.sessions[sid].is_active
