"""HttpApi REQUEST authorizer (payload 2.0, simple responses): the same verification as the
FastAPI dependency; the principal travels to the functions as the context."""

from engram.bootstrap import bootstrap

bootstrap(api=False)  # first: before our models are imported (cold start)

from typing import Any  # noqa: E402

from engram import wiring  # noqa: E402
from engram.credentials import credential_from_headers  # noqa: E402
from engram.errors import Unauthorized  # noqa: E402
from engram.observability import logger  # noqa: E402


@logger.inject_lambda_context
def lambda_handler(event: dict[str, Any], context: Any) -> dict[str, Any]:
    headers = {k.lower(): v for k, v in (event.get("headers") or {}).items()}
    try:
        principal = wiring.authenticator().verify(credential_from_headers(headers))
    except Unauthorized as exc:
        logger.info("denied", extra={"reason": exc.detail, "route": event.get("routeKey")})
        return {"isAuthorized": False}
    return {"isAuthorized": True, "context": principal.to_context()}
