"""`engram smoke`: a short end-to-end check of a running Engram (a deployment, or the local
stack): health, a session, a memory stored and found again, messages, the end of the session
and its extraction, the context, a webhook test delivery (when a receiver is given); then it
deletes everything it made. One line per step, PASS or FAIL (or SKIP); exit status 0 only if
every step passed. Standard-library HTTP; boto3 only to read a stack's outputs. Every wait is
bounded in polls and in time; the API key is never printed."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TextIO

WAIT_SECONDS = 90.0  # what background work (embedding, extraction, delivery) may take
POLL_SECONDS = 1.0
REQUEST_TIMEOUT = 30.0
CLEANUP_PAGES = 10  # pages of 100 of the session's memories deleted at most


class StepFailed(Exception):
    """A step's check did not hold; the message says what was expected and what came."""


@dataclass
class Target:
    url: str
    key: str


def target_from_stack(stack_name: str, region: str | None = None) -> Target:
    """The API URL and the admin key of a deployed stack: its outputs, then its secret."""
    import boto3

    session = boto3.Session(region_name=region)
    stacks = session.client("cloudformation").describe_stacks(StackName=stack_name)["Stacks"]
    outputs = {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}
    missing = [name for name in ("ApiUrl", "AdminKeySecretName") if name not in outputs]
    if missing:
        raise ValueError(f"stack {stack_name} has no output {', '.join(missing)}")
    secret = session.client("secretsmanager").get_secret_value(
        SecretId=outputs["AdminKeySecretName"]
    )["SecretString"]
    key = (json.loads(secret) if secret.startswith("{") else {}).get("api_key")
    if not key:
        raise ValueError(f"secret {outputs['AdminKeySecretName']} holds no api_key yet")
    return Target(outputs["ApiUrl"], key)


class Http:
    """JSON over urllib with the key in every request but /health."""

    def __init__(self, target: Target, timeout: float = REQUEST_TIMEOUT) -> None:
        self._base = target.url.rstrip("/")
        self._key = target.key
        self._timeout = timeout

    def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        data = None if body is None else json.dumps(body).encode()
        headers = {"Accept": "application/json", "User-Agent": "engram-smoke"}
        if data is not None:
            headers["Content-Type"] = "application/json"
        if path != "/health":
            headers["Authorization"] = f"Bearer {self._key}"
        request = urllib.request.Request(
            self._base + path, data=data, method=method, headers=headers
        )
        try:
            with urllib.request.urlopen(request, timeout=self._timeout) as response:
                status, raw = response.status, response.read()
        except urllib.error.HTTPError as error:
            status, raw = error.code, error.read()
        try:
            return status, json.loads(raw) if raw else None
        except ValueError:
            return status, raw.decode(errors="replace")[:200]

    def expect(self, status: int, method: str, path: str, body: Any = None) -> Any:
        got, answer = self.call(method, path, body)
        if got != status:
            raise StepFailed(f"{method} {path} answered {got}, not {status}: {answer}")
        return answer


@dataclass
class Run:
    """What the steps made (so cleanup can delete it) and what they share."""

    tag: str
    session_id: str | None = None
    memory_id: str | None = None
    webhook_id: str | None = None
    memory_ids: set[str] = field(default_factory=set)


class Smoke:
    def __init__(
        self,
        http: Http,
        out: TextIO,
        *,
        webhook_receiver: str | None = None,
        wait_seconds: float = WAIT_SECONDS,
        poll_seconds: float = POLL_SECONDS,
        clock: Callable[[], float] = time.monotonic,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self.http, self.out = http, out
        self.receiver = webhook_receiver
        self.wait_seconds, self.poll_seconds = wait_seconds, poll_seconds
        self.clock, self.sleep = clock, sleep
        self.run_state = Run(tag=f"smoke:{uuid.uuid4().hex[:12]}")

    # -- the run --

    def run(self) -> bool:
        steps: list[tuple[str, Callable[[], str]]] = [
            ("health", self.health),
            ("create a session", self.create_session),
            ("store a memory", self.store_memory),
            ("search finds it", self.search),
            ("messages", self.messages),
            ("end the session", self.end_session),
            ("context", self.context),
            ("webhook test delivery", self.webhook),
        ]
        passed = True
        for name, step in steps:
            if not passed:
                self._line("SKIP", name, "an earlier step failed")
                continue
            passed = self._step(name, step)
        cleaned = self._step("clean up", self.cleanup)
        self.out.write(f"smoke: {'passed' if passed and cleaned else 'FAILED'}\n")
        return passed and cleaned

    def _step(self, name: str, step: Callable[[], str]) -> bool:
        try:
            detail = step()
        except StepFailed as failure:
            self._line("FAIL", name, str(failure))
            return False
        except Exception as error:  # noqa: BLE001 - a smoke test reports, it does not crash
            self._line("FAIL", name, f"{type(error).__name__}: {error}")
            return False
        self._line("SKIP" if detail.startswith("skipped") else "PASS", name, detail)
        return True

    def _line(self, verdict: str, name: str, detail: str) -> None:
        self.out.write(f"{verdict:4}  {name}: {detail}\n")
        self.out.flush()

    def until(self, check: Callable[[], Any], what: str) -> Any:
        """check() until it returns something true: at most wait_seconds and as many polls."""
        deadline = self.clock() + self.wait_seconds
        for _ in range(int(self.wait_seconds / self.poll_seconds) + 1):
            value = check()
            if value:
                return value
            if self.clock() >= deadline:
                break
            self.sleep(self.poll_seconds)
        raise StepFailed(f"{what} did not happen within {self.wait_seconds:g} s")

    # -- the steps --

    def health(self) -> str:
        answer = self.http.expect(200, "GET", "/health")
        if not isinstance(answer, dict) or answer.get("status") != "ok":
            raise StepFailed(f"/health said {answer}")
        return f"version {answer.get('version')}"

    def create_session(self) -> str:
        session = self.http.expect(
            201,
            "POST",
            "/v1/sessions",
            {"agent_id": "engram-smoke", "metadata": {"smoke": self.run_state.tag}},
        )
        self.run_state.session_id = session["session_id"]
        return self.run_state.session_id

    def store_memory(self) -> str:
        memory = self.http.expect(
            201,
            "POST",
            "/v1/memories",
            {
                "content": "The lighthouse keeper logs the smoke check after every deploy.",
                "memory_type": "fact",
                "session_id": self.run_state.session_id,
                "tags": [self.run_state.tag],
            },
        )
        memory_id = self.run_state.memory_id = memory["memory_id"]
        self.run_state.memory_ids.add(memory_id)

        def embedded() -> bool:
            status = self.http.expect(200, "GET", f"/v1/memories/{memory_id}/status")
            if status["embedding_status"] == "failed":
                raise StepFailed(f"embedding failed: {status.get('embedding_error')}")
            return status["embedding_status"] == "ready"

        self.until(embedded, "embedding")
        return f"{memory_id}, embedded"

    def search(self) -> str:
        def found() -> dict[str, Any] | None:
            answer = self.http.expect(
                200,
                "POST",
                "/v1/memories/search",
                {"query": "lighthouse keeper", "tags": [self.run_state.tag], "limit": 5},
            )
            hits = [r for r in answer["results"] if r["memory_id"] == self.run_state.memory_id]
            return hits[0] if hits else None

        hit = self.until(found, "finding the memory by hybrid search")
        return f"score {hit['score']:.2f}"

    def messages(self) -> str:
        sid = self.run_state.session_id
        sent = [
            {"role": "user", "content": "We decided the smoke check runs after every deploy."},
            {"role": "assistant", "content": "Noted: the smoke check runs after every deploy."},
        ]
        stored = self.http.expect(201, "POST", f"/v1/sessions/{sid}/messages", {"messages": sent})
        self.run_state.memory_ids |= {m["memory_id"] for m in stored["messages"]}
        window = self.http.expect(200, "GET", f"/v1/sessions/{sid}/messages")
        contents = [m["content"] for m in window["messages"]]
        if contents[-2:] != [m["content"] for m in sent]:
            raise StepFailed(f"the window holds {contents}, not the two messages sent")
        return f"{len(stored['messages'])} stored, window of {len(contents)}"

    def end_session(self) -> str:
        sid = self.run_state.session_id
        ended = self.http.expect(200, "POST", f"/v1/sessions/{sid}/end", {"summary": "Smoke."})
        if ended["status"] != "completed":
            raise StepFailed(f"the ended session's status is {ended['status']}")

        def extracted() -> str | None:
            state = self.http.expect(200, "GET", f"/v1/sessions/{sid}")["summary_status"]
            if state == "failed":
                raise StepFailed("the session's extraction failed")
            return state if state == "ready" else None

        self.until(extracted, "the session's extraction")
        return "completed, summary ready"

    def context(self) -> str:
        sid = self.run_state.session_id
        answer = self.http.expect(200, "GET", f"/v1/sessions/{sid}/context?max_memories=15")
        if not answer.get("markdown") or "context" not in answer:
            raise StepFailed(f"no context block: {answer}")
        return f"{answer['memory_count']} memories, ~{answer['token_estimate']} tokens"

    def webhook(self) -> str:
        if not self.receiver:
            return "skipped (no receiver given: WEBHOOK_RECEIVER=https://...)"
        hook = self.http.expect(
            201, "POST", "/v1/webhooks", {"url": self.receiver, "events": ["session.ended"]}
        )
        hook_id = self.run_state.webhook_id = hook["webhook_id"]
        self.http.expect(202, "POST", f"/v1/webhooks/{hook_id}/test")

        def delivered() -> dict[str, Any] | None:
            answer = self.http.expect(200, "GET", f"/v1/webhooks/{hook_id}/deliveries")
            tests = [d for d in answer["data"] if d["event_type"] == "webhook.test"]
            for delivery in tests:
                if delivery["status"] == "succeeded":
                    return delivery
                if delivery["status"] in ("failed", "retrying"):
                    raise StepFailed(
                        f"the receiver answered {delivery.get('status_code')}: "
                        f"{delivery.get('error')}"
                    )
            return None

        delivery = self.until(delivered, "the test delivery")
        return f"{delivery['status_code']} from the receiver"

    def cleanup(self) -> str:
        state, removed = self.run_state, []
        if state.webhook_id:
            self.http.expect(204, "DELETE", f"/v1/webhooks/{state.webhook_id}")
            removed.append("webhook")
        if state.session_id:
            state.memory_ids |= self._session_memories(state.session_id)
        for memory_id in sorted(state.memory_ids):
            status, answer = self.http.call("DELETE", f"/v1/memories/{memory_id}/hard")
            if status not in (204, 404):
                raise StepFailed(f"deleting {memory_id} answered {status}: {answer}")
        if state.memory_ids:
            removed.append(f"{len(state.memory_ids)} memories")
        if state.session_id:
            status, answer = self.http.call("DELETE", f"/v1/sessions/{state.session_id}")
            if status not in (204, 404):
                raise StepFailed(f"deleting the session answered {status}: {answer}")
            removed.append("session")
        return ", ".join(removed) + " deleted" if removed else "nothing to delete"

    def _session_memories(self, session_id: str) -> set[str]:
        """Every memory of the session (its messages, what extraction made), page by page."""
        found: set[str] = set()
        cursor = None
        for _ in range(CLEANUP_PAGES):
            query = f"/v1/memories?session_id={session_id}&limit=100"
            page = self.http.expect(200, "GET", query + (f"&cursor={cursor}" if cursor else ""))
            found |= {m["memory_id"] for m in page["data"]}
            cursor = page.get("next_cursor")
            if not cursor:
                break
        return found
