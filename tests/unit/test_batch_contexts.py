"""What each memory of a batch, and each session message, is keyword-indexed with besides its
own text."""

from __future__ import annotations

from engram.memories.models import MemoryCreate
from engram.memories.service import batch_contexts
from engram.sessions.messages import message_contexts


def body(content: str, session: str | None = "s1") -> MemoryCreate:
    return MemoryCreate(content=content, session_id=session)


def test_two_before_and_one_after_in_the_same_session():
    bodies = [body(c) for c in ("a", "b", "c", "d", "e")]
    assert batch_contexts(bodies) == ["b", "a\nc", "a\nb\nd", "b\nc\ne", "c\nd"]


def test_other_sessions_and_sessionless_memories_are_not_neighbours():
    bodies = [body("a"), body("x", "s2"), body("b"), body("none", None), body("y", "s2")]
    assert batch_contexts(bodies) == ["b", "y", "a", None, "x"]


def test_a_lone_memory_has_no_context():
    assert batch_contexts([body("alone")]) == [None]
    assert batch_contexts([]) == []


def test_a_message_is_indexed_with_the_two_messages_before_it():
    assert message_contexts(["old", "older is first"][::-1], ["a", "b", "c"]) == [
        "older is first\nold",
        "old\na",
        "a\nb",
    ]
    assert message_contexts([], ["a", "b"]) == [None, "a"]
    assert message_contexts(["only"], ["a"]) == ["only"]
