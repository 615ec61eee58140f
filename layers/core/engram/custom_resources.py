"""The stack's CloudFormation custom resources, served by functions/setup: the search index
(created from the packaged mapping) and the first workspace, whose admin key is kept in a
Secrets Manager secret of the stack.

CloudFormation invokes the function with a request (`RequestType` Create, Update or Delete,
`ResourceProperties`, a pre-signed `ResponseURL`) and then waits, up to an hour, for a PUT of
the outcome to that URL. So every path answers: an error is a FAILED answer with its
sentence, a watchdog answers FAILED shortly before the function's own timeout, and a Delete
always succeeds (the resources keep what they made: deleting the index or the workspace
would lose data the retained table still points at)."""

from __future__ import annotations

import json
import threading
import time
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlparse

from engram.observability import logger

REASON_CHARS = 1000  # CloudFormation takes a response body of at most 4,096 bytes
WATCHDOG_MARGIN_SECONDS = 10.0
INDEX_ATTEMPTS = 12  # a new collection's data-access policy can take a minute to apply
INDEX_RETRY_SECONDS = 10.0
MAX_DIMENSION = 16_000  # OpenSearch's knn_vector limit
_sleep = time.sleep  # between index attempts (tests replace it)


class Refused(Exception):
    """A request the resource will not carry out; its sentence is the FAILED answer's reason."""


@dataclass
class Outcome:
    physical_id: str
    data: dict[str, str] = field(default_factory=dict)


# (request type, properties, old properties, physical id of an Update or Delete) -> Outcome
ResourceHandler = Callable[[str, Mapping[str, Any], Mapping[str, Any], str | None], Outcome]


# --- the protocol ---


def response_body(
    event: Mapping[str, Any],
    status: str,
    reason: str,
    physical_id: str,
    data: Mapping[str, str] | None = None,
) -> bytes:
    body = {
        "Status": status,
        "Reason": reason[:REASON_CHARS],
        "PhysicalResourceId": physical_id,
        "StackId": event.get("StackId", ""),
        "RequestId": event.get("RequestId", ""),
        "LogicalResourceId": event.get("LogicalResourceId", ""),
        "NoEcho": False,
        "Data": dict(data or {}),
    }
    return json.dumps(body).encode()


def put_response(
    url: str, body: bytes, *, attempts: int = 3, timeout: float = 10.0, sleep=time.sleep
) -> None:
    """PUTs `body` to the pre-signed URL (an empty Content-Type: it is part of the signature)."""
    for attempt in range(attempts):
        request = urllib.request.Request(
            url,
            data=body,
            method="PUT",
            headers={"Content-Type": "", "Content-Length": str(len(body))},
        )
        try:
            with urllib.request.urlopen(request, timeout=timeout) as answer:
                answer.read()
            return
        except OSError:  # URLError and HTTPError are OSErrors
            if attempt == attempts - 1:
                raise
            sleep(2**attempt)


class Responder:
    """Answers one request exactly once: the work or the watchdog, whichever comes first."""

    def __init__(self, event: Mapping[str, Any], put: Callable[[str, bytes], None]) -> None:
        self._event, self._put = event, put
        self._lock = threading.Lock()
        self.status: str | None = None

    def send(
        self, status: str, reason: str, physical_id: str, data: Mapping[str, str] | None = None
    ) -> bool:
        with self._lock:
            if self.status is not None:
                return False
            self.status = status
        body = response_body(self._event, status, reason, physical_id, data)
        try:
            self._put(self._event["ResponseURL"], body)
        except Exception:  # noqa: BLE001 - nothing more can be done; the log says so
            logger.exception(
                "could not deliver the custom resource answer", extra=_ids(self._event)
            )
        return True


def serve(
    event: Mapping[str, Any],
    context: Any,
    handlers: Mapping[str, ResourceHandler],
    *,
    put: Callable[[str, bytes], None] = put_response,
    margin_seconds: float = WATCHDOG_MARGIN_SECONDS,
) -> dict[str, str]:
    """Runs the request's resource handler and answers CloudFormation, whatever happens."""
    if not event.get("ResponseURL"):
        logger.error("not a custom resource request (no ResponseURL)")
        return {"Status": "FAILED"}
    fallback_id = event.get("PhysicalResourceId") or (
        f"{event.get('LogicalResourceId', 'resource')}-{getattr(context, 'aws_request_id', '')}"
    )
    responder = Responder(event, put)
    watchdog = _watchdog(context, margin_seconds, responder, fallback_id)
    request_type = event.get("RequestType", "")
    try:
        handler = handlers.get(event.get("ResourceType", ""))
        if handler is None:
            raise Refused(
                f"This function serves {', '.join(sorted(handlers))}, "
                f"not {event.get('ResourceType')!r}."
            )
        if request_type not in ("Create", "Update", "Delete"):
            raise Refused(f"Unknown RequestType {request_type!r}.")
        outcome = handler(
            request_type,
            event.get("ResourceProperties") or {},
            event.get("OldResourceProperties") or {},
            event.get("PhysicalResourceId"),
        )
        responder.send("SUCCESS", "", outcome.physical_id, outcome.data)
    except Exception as error:  # noqa: BLE001 - every failure must be answered
        reason = str(error) if isinstance(error, Refused) else f"{type(error).__name__}: {error}"
        if request_type == "Delete":  # a failed Delete would strand the stack; keep going
            logger.warning("delete kept the resource", extra={**_ids(event), "reason": reason})
            responder.send("SUCCESS", reason, fallback_id)
        else:
            logger.warning("custom resource failed", extra={**_ids(event), "reason": reason})
            responder.send("FAILED", reason, fallback_id)
    finally:
        if watchdog is not None:
            watchdog.cancel()
    logger.info("custom resource answered", extra={**_ids(event), "status": responder.status})
    return {"Status": responder.status or "FAILED"}


def _watchdog(
    context: Any, margin: float, responder: Responder, physical_id: str
) -> threading.Timer | None:
    remaining = getattr(context, "get_remaining_time_in_millis", None)
    if remaining is None:
        return None
    timer = threading.Timer(
        max(remaining() / 1000 - margin, 0.0),
        responder.send,
        ("FAILED", "The setup function ran out of time; its log says how far it got.", physical_id),
    )
    timer.daemon = True
    timer.start()
    return timer


def _ids(event: Mapping[str, Any]) -> dict[str, Any]:
    """What a log line may say about a request (never its ResponseURL or properties)."""
    return {
        "request_type": event.get("RequestType"),
        "resource_type": event.get("ResourceType"),
        "logical_resource_id": event.get("LogicalResourceId"),
    }


def _required(props: Mapping[str, Any], name: str) -> str:
    value = str(props.get(name) or "").strip()
    if not value:
        raise Refused(f"The resource property {name} is required.")
    return value


# --- Custom::SearchIndex ---


def dimension_of(props: Mapping[str, Any]) -> int:
    raw = str(props.get("Dimension", "")).strip()  # CloudFormation passes numbers as strings
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_DIMENSION:
        raise Refused(f"Dimension must be a whole number from 1 to {MAX_DIMENSION}, not {raw!r}.")
    return int(raw)


def search_index(
    request_type: str,
    props: Mapping[str, Any],
    old: Mapping[str, Any],
    physical_id: str | None,
    *,
    make_client: Callable[..., Any] | None = None,
) -> Outcome:
    """Creates the index with its mapping if it is missing; an existing index of the same
    dimension is kept as it is (an Update keeps the data), one of another is refused."""
    from engram.adapters.opensearch_index import DimensionMismatch, OpenSearchIndex, aws_service
    from engram.adapters.opensearch_index import make_client as default_client
    from engram.config import get_settings

    endpoint, index = _required(props, "Endpoint"), _required(props, "Index")
    host = urlparse(endpoint if "://" in endpoint else f"https://{endpoint}").hostname
    own_id = f"{host}/{index}"
    if request_type == "Delete":
        return Outcome(physical_id or own_id)  # the index and its documents stay
    dimension = dimension_of(props)
    service = aws_service(endpoint, str(props.get("Service") or "es"))
    client = (make_client or default_client)(
        endpoint, region=get_settings().aws_region, service=service
    )
    adapter = OpenSearchIndex(client, index, serverless=service == "aoss")
    try:
        _retrying(lambda: adapter.ensure_index(dimension))
    except DimensionMismatch as mismatch:
        raise Refused(
            f"The search index {index} holds {mismatch.found}-dimensional vectors and "
            f"EmbeddingDimension is now {dimension}: a new dimension needs a new index and a "
            "reindex (README, 'Changing the embedding dimension'), so this update is refused "
            "and the stack keeps its index."
        ) from mismatch
    return Outcome(own_id, {"Index": index, "Dimension": str(dimension)})


def _retrying(step: Callable[[], None]) -> None:
    """`step`, again after a 403 or a connection error (a new collection's data-access policy
    and DNS take a while), at most INDEX_ATTEMPTS times."""
    from opensearchpy.exceptions import AuthorizationException, ConnectionError

    for attempt in range(INDEX_ATTEMPTS):
        try:
            return step()
        except (AuthorizationException, ConnectionError) as error:
            if attempt == INDEX_ATTEMPTS - 1:
                raise
            logger.info("search index not reachable yet", extra={"error": type(error).__name__})
            _sleep(INDEX_RETRY_SECONDS)


# --- Custom::FirstWorkspace ---


class KeySecret:
    """The secret that holds the first workspace's admin key, as JSON."""

    def __init__(self, client: Any, secret_id: str) -> None:
        self._client, self._secret_id = client, secret_id

    def read(self) -> dict[str, str] | None:
        value = self._client.get_secret_value(SecretId=self._secret_id).get("SecretString")
        try:
            kept = json.loads(value or "")
        except ValueError:
            return None
        return kept if isinstance(kept, dict) and kept.get("api_key") else None

    def write(self, value: Mapping[str, str]) -> None:
        self._client.put_secret_value(SecretId=self._secret_id, SecretString=json.dumps(value))


def first_workspace(
    request_type: str,
    props: Mapping[str, Any],
    old: Mapping[str, Any],
    physical_id: str | None,
) -> Outcome:
    """Create makes the workspace (in the functions' table) and its admin key once and puts
    the key in the secret (a repeated Create finds it there); Update and Delete keep both."""
    if request_type != "Create" and physical_id:
        return Outcome(physical_id, {"WorkspaceId": physical_id})
    from engram import aws, wiring
    from engram.workspaces.service import hash_key

    secret = KeySecret(aws.client("secretsmanager"), _required(props, "SecretId"))
    kept = secret.read()
    if kept and wiring.workspace_repository().find_key(hash_key(kept["api_key"])) is not None:
        workspace_id = kept["workspace_id"]
    else:
        workspace, key = wiring.workspace_service().create_workspace(
            str(props.get("WorkspaceName") or "default"), key_name="admin"
        )
        secret.write(
            {
                "workspace_id": workspace.workspace_id,
                "key_id": key.key.key_id,
                "api_key": key.api_key,
            }
        )
        workspace_id = workspace.workspace_id
    return Outcome(workspace_id, {"WorkspaceId": workspace_id})


HANDLERS: dict[str, ResourceHandler] = {
    "Custom::SearchIndex": search_index,
    "Custom::FirstWorkspace": first_workspace,
}
