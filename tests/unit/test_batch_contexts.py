"""What each memory of a batch, and each session message, is keyword-indexed with besides its
own text."""

from __future__ import annotations

from engram.memories.models import MemoryCreate
from engram.memories.service import batch_contexts
from engram.sessions.messages import message_contexts
from engram.text import neighbour_text


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


def test_a_message_is_indexed_with_the_two_messages_before_it_and_the_one_after():
    assert message_contexts(["old", "older is first"][::-1], ["a", "b", "c"]) == [
        "older is first\nold\nb",
        "old\na\nc",
        "a\nb",
    ]
    assert message_contexts([], ["a", "b"]) == ["b", "a"]
    assert message_contexts(["only"], ["a"]) == ["only"]
    assert message_contexts([], ["alone"]) == [None]


def test_neighbours_are_indexed_without_their_time_stamp_and_speaker_label():
    earlier = ["[1:56 pm on 8 May, 2023] Caroline: I went to the LGBTQ support group."]
    contents = ["[1:56 pm on 8 May, 2023] Melanie: Wow, how was it?", "Caroline: Powerful."]
    assert message_contexts(earlier, contents) == [
        "I went to the LGBTQ support group.\nPowerful.",
        "I went to the LGBTQ support group.\nWow, how was it?",
    ]
    bodies = [body("Dr. Jo Smith: take two a day"), body("Sam: noted")]
    assert batch_contexts(bodies) == ["noted", "take two a day"]


def test_neighbour_text_keeps_what_is_not_a_stamp_or_a_label():
    assert neighbour_text("[10:02] bot: Deploy done") == "Deploy done"
    assert neighbour_text("Note: the key rotates at midnight") == "the key rotates at midnight"
    assert neighbour_text("See https://example.com/x for it") == "See https://example.com/x for it"
    assert neighbour_text("We chose this over the rest of them: Postgres") == (
        "We chose this over the rest of them: Postgres"
    )
    assert neighbour_text("[draft]") == "[draft]"  # nothing else: kept whole
    assert neighbour_text("Caroline:") == "Caroline:"


def test_context_of_reads_back_what_indexed_text_put_between_title_and_content():
    from engram.text import context_of, indexed_text

    for title, context, content in [
        ("T", "before\nafter", "own"),
        (None, "before", "own\nlines"),
        ("same", None, "same"),
        (None, None, "own"),
        ("T", "ctx", "T"),
    ]:
        assert context_of(indexed_text(title, content, context), title, content) == context
    assert context_of(None, "T", "own") is None
    assert context_of("other text", "T", "own") is None  # not made from this title and content
