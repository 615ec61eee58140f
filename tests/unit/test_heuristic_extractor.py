"""HeuristicExtractor on fixture conversations: what each must and must not yield, the
summary's basics, and determinism (same input, byte-identical output)."""

from __future__ import annotations

import json
import random
import re
import time
from pathlib import Path

import pytest

from engram import wiring
from engram.adapters.heuristic_extractor import HeuristicExtractor, resolve
from engram.extraction.extractor import (
    MAX_TITLE_CHARS,
    MEMORY_TYPES,
    Episode,
    Extraction,
    Extractor,
)

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "conversations"
NAMES = sorted(p.stem for p in FIXTURES.glob("*.json"))
MAX_SUMMARY_SENTENCES = 4  # the extractor's default, after the client's summary


def load(name: str) -> tuple[list[Episode], dict]:
    data = json.loads((FIXTURES / f"{name}.json").read_text())
    return [Episode(**e) for e in data["episodes"]], data


def run(name: str) -> tuple[Extraction, list[Episode], dict]:
    episodes, data = load(name)
    return HeuristicExtractor().extract(episodes, data["client_summary"]), episodes, data


def matches(memory, rule: dict) -> bool:
    if rule.get("memory_type") and memory.memory_type != rule["memory_type"]:
        return False
    return rule["phrase"].lower() in f"{memory.title} {memory.content}".lower()


def test_there_are_enough_fixture_conversations():
    assert 5 <= len(NAMES) <= 8


@pytest.mark.parametrize("name", NAMES)
def test_fixture_yields_what_it_must(name):
    result, _, data = run(name)
    missing = [r for r in data["must_yield"] if not any(matches(m, r) for m in result.memories)]
    got = [(m.memory_type, m.content) for m in result.memories]
    assert not missing, f"{name}: missing {missing}; got {got}"


@pytest.mark.parametrize("name", NAMES)
def test_fixture_yields_nothing_it_must_not(name):
    result, _, data = run(name)
    wrong = [
        (r, m.content) for r in data["must_not_yield"] for m in result.memories if matches(m, r)
    ]
    assert not wrong, f"{name}: unwanted {wrong}"


@pytest.mark.parametrize("name", NAMES)
def test_candidates_are_well_formed(name):
    result, episodes, _ = run(name)
    ids = {e.memory_id for e in episodes}
    seen = set()
    for m in result.memories:
        assert m.memory_type in MEMORY_TYPES
        assert 0 < len(m.title) <= MAX_TITLE_CHARS and "\n" not in m.title
        assert m.content.strip() and m.content[-1] in ".!?" and m.content[0].isupper()
        assert 0.0 <= m.importance_score <= 1.0
        assert m.source_ids and set(m.source_ids) <= ids
        assert isinstance(m.tags, tuple) and all(isinstance(t, str) and t for t in m.tags)
        key = (m.memory_type, m.content.lower()) if m.memory_type != "entity" else m.title.lower()
        assert key not in seen, f"duplicate candidate {key}"
        seen.add(key)


@pytest.mark.parametrize("name", ["small_talk", "questions_only"])
def test_small_talk_and_questions_yield_nothing(name):
    result, _, _ = run(name)
    assert result.memories == ()


# --- the summary


def words(text: str) -> set[str]:
    """Word forms, the third-person "s" taken off ("prefers" is "prefer")."""
    return {
        w[:-1] if w.endswith("s") and len(w) > 3 else w
        for w in re.findall(r"[a-z0-9]+", text.lower())
    }


@pytest.mark.parametrize("name", NAMES)
def test_summary_is_short_and_from_the_session(name):
    result, episodes, data = run(name)
    summary = result.summary
    assert summary.strip()
    lead = data["client_summary"] or ""
    assert summary.startswith(lead)
    rest = summary[len(lead) :]
    sentences = [s for s in re.split(r"(?<=[.!?])\s+(?=[A-Z])", rest.strip()) if s]
    assert len(sentences) <= MAX_SUMMARY_SENTENCES
    if data["must_yield"] or data["summary_phrases"]:
        # Extractive: apart from pronouns resolved to roles, its words are the session's.
        session = words(" ".join(e.content for e in episodes)) | words(
            "the user assistant team is has asks asked to s will doesn't"
        )
        unknown = words(rest) - session
        assert len(unknown) <= 0.1 * len(words(rest)), unknown
    for phrase in data["summary_phrases"]:
        assert phrase in summary.lower(), f"{name}: summary lacks {phrase!r}: {summary}"


def test_summary_leads_with_the_client_summary():
    episodes, _ = load("support_chat")
    result = HeuristicExtractor().extract(episodes, "  Fixed the customer's meal plan.  ")
    assert result.summary.startswith("Fixed the customer's meal plan. ")
    assert len(result.summary) > len("Fixed the customer's meal plan.")


def test_small_talk_summary_says_so():
    result, _, _ = run("small_talk")
    assert "small talk" in result.summary.lower()


def test_no_episodes_gives_the_client_summary_and_nothing_else():
    assert HeuristicExtractor().extract([], "Did nothing.") == Extraction("Did nothing.", ())
    assert HeuristicExtractor().extract([]).summary


# --- importance, repetition, typing details


def test_a_repeated_idea_is_one_memory_with_every_source_and_more_weight():
    result, _, _ = run("repetitive")
    tabs = [m for m in result.memories if "tabs over spaces" in m.content.lower()]
    assert len(tabs) == 1
    assert tabs[0].source_ids == ("mem_r01", "mem_r03", "mem_r05")
    once = next(m for m in result.memories if "commit messages" in m.content.lower())
    assert tabs[0].importance_score > once.importance_score
    assert not tabs[0].content.lower().startswith(("again", "remember"))


def test_decisions_and_preferences_outrank_incidental_facts():
    result, _, _ = run("coding_session")
    by_type = {}
    for m in result.memories:
        by_type.setdefault(m.memory_type, []).append(m.importance_score)
    assert min(by_type["decision"]) > max(by_type["fact"])


def test_undecided_and_hedged_talk_is_no_decision():
    result = HeuristicExtractor().extract(
        [
            Episode(
                "m1",
                "user",
                "We haven't decided on the database yet, maybe Postgres 16.",
                "2025-01-01T00:00:00Z",
            ),
            Episode(
                "m2",
                "user",
                "If we go with DynamoDB we need a single-table design.",
                "2025-01-01T00:01:00Z",
            ),
        ]
    )
    assert not [m for m in result.memories if m.memory_type == "decision"]


@pytest.mark.parametrize(
    "text, role, expected",
    [
        ("I prefer tabs over spaces.", "user", "The user prefers tabs over spaces."),
        ("I always use dark mode", "user", "The user always uses dark mode."),
        ("We need to fix the retry logic.", "user", "The team needs to fix the retry logic."),
        ("We agreed to ship on Friday.", "user", "The team agreed to ship on Friday."),
        ("OK, let's go with Redis.", "user", "The team will go with Redis."),
        ("Please never call me.", "user", "The user asks the assistant to never call the user."),
        ("Your next box ships on May 15.", "assistant", "The user's next box ships on May 15."),
        ("I prefer tabs.", None, "I prefer tabs."),
    ],
)
def test_first_person_is_resolved_to_the_speaker(text, role, expected):
    assert resolve(text, role) == expected


def test_types_follow_their_cues():
    cases = {
        "decision": "We decided to use Terraform for the staging stack.",
        "preference": "I'd rather get the weekly report as a PDF.",
        "pattern": "Whenever a migration runs, the deploy script snapshots the database first.",
        "fact": "The staging cluster has 6 nodes in eu-central-1.",
    }
    for expected, text in cases.items():
        episode = Episode("m1", "user", text, "2025-01-01T00:00:00Z")
        result = HeuristicExtractor().extract([episode])
        types = {m.memory_type for m in result.memories}
        assert expected in types, (text, result.memories)
        assert not types & {"decision", "preference", "pattern", "fact"} - {expected}


# --- determinism


@pytest.mark.parametrize("name", NAMES)
def test_same_input_gives_byte_identical_output(name):
    episodes, data = load(name)
    first = HeuristicExtractor().extract(episodes, data["client_summary"])
    again = HeuristicExtractor().extract(list(episodes), data["client_summary"])
    assert repr(first) == repr(again)
    shuffled = list(episodes)
    random.Random(7).shuffle(shuffled)
    assert repr(HeuristicExtractor().extract(shuffled, data["client_summary"])) == repr(first)


def test_a_long_session_is_extracted_quickly():
    episodes, _ = load("coding_session")
    long = [
        Episode(
            f"{e.memory_id}_{i:03d}",
            e.role,
            e.content,
            f"2025-03-{1 + i % 28:02d}T{e.created_at[11:]}",
        )
        for i in range(10)
        for e in episodes
    ]
    start = time.perf_counter()
    result = HeuristicExtractor().extract(long)
    assert time.perf_counter() - start < 3.0
    assert len(result.memories) <= 20


# --- the port


@pytest.fixture
def fresh_factory():
    wiring.reset()
    yield
    wiring.reset()


def test_heuristic_is_the_default_extractor(fresh_factory):
    extractor = wiring.extractor()
    assert isinstance(extractor, HeuristicExtractor) and isinstance(extractor, Extractor)
    assert extractor.name == "heuristic"
    assert wiring.extractor() is extractor


def test_bedrock_is_chosen_by_setting(fresh_factory, monkeypatch):
    monkeypatch.setenv("EXTRACTOR", "bedrock")
    monkeypatch.setenv("BEDROCK_EXTRACTOR_MODEL_ID", "anthropic.claude-test-v1:0")
    from engram.config import get_settings

    get_settings.cache_clear()
    extractor = wiring.extractor()
    assert extractor.name == "bedrock:anthropic.claude-test-v1:0"
    assert isinstance(extractor, Extractor)
