"""LoCoMo data and turn-level retrieval metrics shared by bench/locomo.py (service layer) and
bench/retrieval.py (HTTP API). Not a package: the scripts import it from their own folder.

Data: ../shared/bench/locomo-dev.json (LoCoMo, Maharana et al., ACL 2024, CC BY-NC 4.0; read in
place, never copied). recall@k is the share of a question's evidence turns in the top k
(LoCoMo's definition); NDCG@10 uses binary gains.
"""

from __future__ import annotations

import json
import math
import re
import statistics
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

DATA = Path(__file__).resolve().parents[2] / "shared" / "bench" / "locomo-dev.json"
_EVIDENCE = re.compile(r"D:?(\d+):(\d+)")


@dataclass
class Turn:
    dia_id: str
    session: int
    speaker: str
    text: str
    date: str


@dataclass
class Conversation:
    sample_id: str
    turns: list[Turn]
    questions: list[dict[str, Any]] = field(default_factory=list)


def evidence_ids(raw: list[str], known: set[str]) -> list[str]:
    """Normalises 'D8:6; D9:17', 'D:11:26', 'D30:05'; drops ids that name no turn."""
    found = [f"D{int(a)}:{int(b)}" for item in raw for a, b in _EVIDENCE.findall(item)]
    return [i for i in dict.fromkeys(found) if i in known]


def load(path: Path, limit: int | None) -> list[Conversation]:
    """The first `limit` conversations (all when None); category 5 and questions without a
    known evidence turn are left out."""
    conversations = []
    for item in json.loads(path.read_text())[:limit]:
        turns = list(_turns(item["conversation"]))
        known = {t.dia_id for t in turns}
        conv = Conversation(item["sample_id"], turns)
        for qa in item["qa"]:
            evidence = evidence_ids(qa.get("evidence", []), known)
            if qa["category"] != 5 and evidence:
                conv.questions.append({**qa, "evidence": evidence})
        conversations.append(conv)
    return conversations


def _turns(conv: dict[str, Any]) -> Iterator[Turn]:
    sessions = sorted(
        int(k.split("_")[1]) for k in conv if re.fullmatch(r"session_\d+", k) and conv[k]
    )
    for n in sessions:
        for turn in conv[f"session_{n}"]:
            text = turn["text"]
            if turn.get("blip_caption"):
                text += f" [shares a photo: {turn['blip_caption']}]"
            yield Turn(turn["dia_id"], n, turn["speaker"], text, conv[f"session_{n}_date_time"])


def sessions_of(turns: list[Turn]) -> list[list[Turn]]:
    grouped: dict[int, list[Turn]] = {}
    for turn in turns:
        grouped.setdefault(turn.session, []).append(turn)
    return list(grouped.values())


def session_time(date: str) -> datetime:
    """'1:56 pm on 8 May, 2023' → an aware datetime."""
    return datetime.strptime(date, "%I:%M %p on %d %B, %Y").replace(tzinfo=UTC)


def memory_content(turn: Turn) -> str:
    return f"{turn.speaker}: {turn.text}"


def memory_title(turn: Turn) -> str:
    return f"Session on {turn.date}"


def recall(ranked: list[str], evidence: list[str], k: int) -> float:
    return len(set(ranked[:k]) & set(evidence)) / len(evidence)


def ndcg(ranked: list[str], evidence: list[str], k: int = 10) -> float:
    gains = sum(1 / math.log2(r + 2) for r, d in enumerate(ranked[:k]) if d in evidence)
    ideal = sum(1 / math.log2(r + 2) for r in range(min(len(evidence), k)))
    return gains / ideal


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


@dataclass
class Tally:
    r5: list[float] = field(default_factory=list)
    r10: list[float] = field(default_factory=list)
    ndcg10: list[float] = field(default_factory=list)
    ms: list[float] = field(default_factory=list)

    def add(self, ranked: list[str], evidence: list[str], ms: float | None = None) -> None:
        self.r5.append(recall(ranked, evidence, 5))
        self.r10.append(recall(ranked, evidence, 10))
        self.ndcg10.append(ndcg(ranked, evidence))
        if ms is not None:
            self.ms.append(ms)

    def row(self, name: str) -> str:
        timing = (
            f"{statistics.median(self.ms):.1f} | {percentile(self.ms, 0.95):.1f}"
            if self.ms
            else "- | -"
        )
        return (
            f"| {name} | {statistics.mean(self.r5):.3f} | {statistics.mean(self.r10):.3f} | "
            f"{statistics.mean(self.ndcg10):.3f} | {timing} |"
        )


class Discard:
    """Queues and events a benchmark does not need (the Queues and Publisher ports, doing
    nothing): it calls the embed worker or IndexSync itself."""

    def send(self, queue: str, body: dict[str, Any]) -> str:
        return ""

    def send_many(self, queue: str, bodies: list[dict[str, Any]]) -> list[str]:
        return ["" for _ in bodies]

    def publish(self, event_type: str, workspace_id: str, data: dict[str, Any]) -> dict[str, Any]:
        return {}

    def publish_many(
        self, event_type: str, workspace_id: str, datas: list[dict[str, Any]]
    ) -> list[dict[str, Any]]:
        return [{} for _ in datas]

    def draft(self, event_type: str, workspace_id: str, datas: list[dict[str, Any]]) -> Any:
        from engram.event_types import Draft

        return Draft([{} for _ in datas], [], datetime.now(UTC))

    def announce(self, draft: Any) -> list[dict[str, Any]]:
        return draft.events
