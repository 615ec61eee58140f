"""The AWS emulator of the local stack: moto in server mode, in this process's threads (so
Ctrl-C leaves no child process behind), with the template's table and queues created in it.
Its state lives in memory; with a `Durability` it is also kept in a data directory and
loaded from there at start (engram_local.persistence)."""

from __future__ import annotations

import logging
import threading
import time
from dataclasses import dataclass
from typing import Any

from engram_local import moto_fixes
from engram_local.persistence import DEFER_SYNC, Durability, MotoState
from engram_local.resources import LocalResources, create_resources

FAKE_CREDENTIALS = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
READY_TIMEOUT_SECONDS = 10.0


@dataclass
class Emulator:
    endpoint: str
    region: str
    resources: LocalResources
    _server: Any
    _thread: threading.Thread
    _patched: bool = False  # it applied moto_fixes, and undoes them when it stops

    def serve_in_process(self, session: Any = None) -> None:
        """From now on boto3 clients made from `session` (boto3's default session if None)
        that address the emulator hand their requests to its WSGI app in this thread,
        without the loopback socket and the HTTP parsing at both ends; the app is the one
        the server runs (the same moto state, the same DynamoDB lock). Anything else, and
        every other process, still talks HTTP."""
        import boto3

        if session is None:
            if boto3.DEFAULT_SESSION is None:
                boto3.setup_default_session()
            session = boto3.DEFAULT_SESSION
        session.events.register("before-call", _unsigned(self.endpoint))
        session.events.register("choose-signer", _skip_signing)
        session.events.register("before-send", _in_process(self._server.app, self.endpoint))

    def client(self, service: str) -> Any:
        return emulator_client(service, self.endpoint, self.region)

    def stop(self, timeout: float = 5.0) -> None:
        self._server.shutdown()  # returns once serve_forever has left its loop
        self._server.server_close()  # frees the port now, not at process exit
        self._thread.join(timeout)
        if self._patched:
            self._patched = False
            moto_fixes.undo()


_UNSIGNED = "engram_emulator_unsigned"


def _unsigned(endpoint: str) -> Any:
    """A request for the emulator is not signed: moto checks no signature, and SigV4 was
    about a tenth of a POST's CPU here. It carries a fixed Authorization header instead,
    which is all moto reads of one (the region and the access key, for its account)."""
    prefix = endpoint.rstrip("/") + "/"

    def before_call(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
        if not (params["url"] + "/").startswith(prefix):
            return
        context[_UNSIGNED] = True
        scope = f"{context['client_region']}/{model.service_model.signing_name}"
        params["headers"]["Authorization"] = (
            f"AWS4-HMAC-SHA256 Credential={FAKE_CREDENTIALS['aws_access_key_id']}/20000101/"
            f"{scope}/aws4_request, SignedHeaders=host, Signature=unsigned"
        )

    return before_call


def _skip_signing(context: dict[str, Any], **_: Any) -> Any:
    import botocore

    return botocore.UNSIGNED if context.get(_UNSIGNED) else None


def _in_process(app: Any, endpoint: str) -> Any:
    from urllib.parse import urlsplit

    from botocore.awsrequest import AWSResponse
    from moto.core.botocore_stubber import MockRawResponse
    from werkzeug.test import EnvironBuilder, run_wsgi_app

    prefix = endpoint.rstrip("/") + "/"

    def before_send(request: Any, **_: Any) -> Any:
        if not (request.url + "/").startswith(prefix):
            return None  # not for the emulator: botocore sends it over HTTP as usual
        url, body = urlsplit(request.url), request.body
        if hasattr(body, "read"):
            body = body.read()
        headers = {k: v.decode() if isinstance(v, bytes) else v for k, v in request.headers.items()}
        content_type = headers.pop("Content-Type", None)
        headers.pop("Content-Length", None)
        environ = EnvironBuilder(
            method=request.method,
            base_url=endpoint,
            path=url.path or "/",
            query_string=url.query,
            headers=headers,
            content_type=content_type,
            data=body.encode() if isinstance(body, str) else (body or b""),
        ).get_environ()
        environ[DEFER_SYNC] = True  # the API syncs the journal once before it answers
        chunks, status, response_headers = run_wsgi_app(app, environ, buffered=True)
        try:
            content = b"".join(chunks)
        finally:
            getattr(chunks, "close", lambda: None)()
        return AWSResponse(
            request.url, int(status.split()[0]), dict(response_headers), MockRawResponse(content)
        )

    return before_send


def emulator_client(service: str, endpoint: str, region: str) -> Any:
    import boto3

    return boto3.client(service, endpoint_url=endpoint, region_name=region, **FAKE_CREDENTIALS)


def start_emulator(
    port: int = 4566,
    host: str = "127.0.0.1",
    region: str = "us-east-1",
    template: dict[str, Any] | None = None,
    prefix: str = "engram-local",
    fixes: bool = True,
    durability: Durability | None = None,
) -> Emulator:
    """Serves moto on host:port (raises OSError if the port is taken), waits until it
    answers, then creates the template's resources in it. With `fixes`, moto runs with
    moto_fixes applied until the emulator stops. With `durability`, the state its data
    directory holds is loaded (raises DataError if it cannot be) and every write is kept."""
    patched = fixes and moto_fixes.apply()
    try:
        server = _make_server(host, port, durability)
    except BaseException:
        if patched:
            moto_fixes.undo()
        raise
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.2}, name="moto-server", daemon=True
    )
    thread.start()
    endpoint = f"http://{host}:{server.server_address[1]}"
    try:
        _wait_ready(endpoint, region)
        made = create_resources(
            emulator_client("dynamodb", endpoint, region),
            emulator_client("sqs", endpoint, region),
            prefix=prefix,
            template=template,
        )
        if durability is not None:
            durability.load(MotoState(made, region))
            _keep_secrets(durability, made, endpoint, region)
    except BaseException:
        server.shutdown()
        server.server_close()
        thread.join(5.0)
        if patched:
            moto_fixes.undo()
        raise
    return Emulator(endpoint, region, made, server, thread, patched)


def _keep_secrets(durability: Durability, made: LocalResources, endpoint: str, region: str) -> None:
    """The secrets (the JWT signing key...) keep their first values: tokens and keys signed
    before a restart stay valid after it."""
    client = emulator_client("secretsmanager", endpoint, region)
    for logical_id, arn in made.secrets.items():
        name = f"secret:{logical_id}"
        if name in durability.meta:
            client.put_secret_value(SecretId=arn, SecretString=durability.meta[name])
        else:
            value = client.get_secret_value(SecretId=arn)["SecretString"]
            durability.set_meta(name, value)


def _make_server(host: str, port: int, durability: Durability | None = None) -> Any:
    from moto.moto_server.werkzeug_app import (
        DomainDispatcherApplication,
        MotoRequestHandler,
        create_backend_app,
    )
    from werkzeug.serving import make_server

    # werkzeug logs every request at INFO on its own handler unless told otherwise.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    moto_app = DomainDispatcherApplication(create_backend_app)
    app = durability.wrap(moto_app) if durability else _dynamodb_serialised(moto_app)
    return make_server(host, port, app, threaded=True, request_handler=MotoRequestHandler)


def _dynamodb_serialised(app: Any) -> Any:
    """moto's DynamoDB is not thread-safe (a transaction deep-copies a table while another
    request thread writes to it: intermittent 500s under concurrent API calls), so DynamoDB
    requests run one at a time. Only those: SQS long polls must not hold the others up."""
    lock = threading.Lock()

    def wsgi(environ: dict, start_response: Any) -> Any:
        if not environ.get("HTTP_X_AMZ_TARGET", "").startswith("DynamoDB"):
            return app(environ, start_response)
        with lock:
            return list(app(environ, start_response))

    return wsgi


def _wait_ready(endpoint: str, region: str, timeout: float = READY_TIMEOUT_SECONDS) -> None:
    import boto3
    from botocore.config import Config

    quick = Config(retries={"max_attempts": 1}, connect_timeout=1, read_timeout=2)
    probe = boto3.client(
        "sqs", endpoint_url=endpoint, region_name=region, config=quick, **FAKE_CREDENTIALS
    )
    deadline = time.monotonic() + timeout
    while True:
        try:
            probe.list_queues()
            return
        except Exception:  # noqa: BLE001
            if time.monotonic() >= deadline:
                raise TimeoutError(
                    f"The AWS emulator at {endpoint} did not answer in {timeout:.0f} s."
                ) from None
            time.sleep(0.05)
