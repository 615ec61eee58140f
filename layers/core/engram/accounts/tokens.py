"""Access tokens (HS256 JWTs signed with a Secrets Manager secret) and opaque refresh tokens."""

from __future__ import annotations

import hashlib
import secrets
from datetime import timedelta
from typing import Any

from engram.clock import Clock
from engram.config import get_settings
from engram.errors import Unauthorized

ALGORITHM = "HS256"
ISSUER = AUDIENCE = "engram"
REFRESH_PREFIX = "ert_"
_INVALID = "The access token is not valid."


def jwt_secret() -> str:
    """Cached per warm function for `jwt_secret_max_age` seconds (Powertools parameters)."""
    from aws_lambda_powertools.utilities import parameters

    settings = get_settings()
    return str(parameters.get_secret(settings.jwt_secret_name, max_age=settings.jwt_secret_max_age))


def clear_secret_cache() -> None:
    from aws_lambda_powertools.utilities import parameters
    from aws_lambda_powertools.utilities.parameters.base import DEFAULT_PROVIDERS

    parameters.clear_caches()
    DEFAULT_PROVIDERS.clear()  # its boto3 client may belong to an emulator that is gone


def issue_access_token(
    user_id: str, workspace_id: str, family_id: str, clock: Clock, secret: str
) -> str:
    import jwt

    now = clock.now()
    claims = {
        "iss": ISSUER,
        "aud": AUDIENCE,
        "sub": user_id,
        "ws": workspace_id,
        "sid": family_id,
        "iat": int(now.timestamp()),
        "exp": int((now + timedelta(seconds=get_settings().access_token_ttl_seconds)).timestamp()),
    }
    return jwt.encode(claims, secret, algorithm=ALGORITHM)


def verify_access_token(token: str, clock: Clock, secret: str) -> dict[str, Any]:
    """The claims of a token we signed with HS256 that has not expired; else 401. Only HS256
    is accepted, so `none` and algorithm-confusion tokens fail the signature check."""
    import jwt

    try:
        # Expiry is checked against the injected clock below, not PyJWT's wall clock.
        claims = jwt.decode(
            token,
            secret,
            algorithms=[ALGORITHM],
            audience=AUDIENCE,
            issuer=ISSUER,
            options={"verify_exp": False, "require": ["exp", "iat", "sub", "ws", "sid"]},
        )
    except jwt.PyJWTError as exc:
        raise Unauthorized(_INVALID) from exc
    if not all(isinstance(claims.get(c), str) for c in ("sub", "ws", "sid")):
        raise Unauthorized(_INVALID)
    if not isinstance(claims["exp"], int) or claims["exp"] <= clock.now().timestamp():
        raise Unauthorized("The access token has expired; refresh it.")
    return claims


def new_refresh_token() -> str:
    return REFRESH_PREFIX + secrets.token_urlsafe(32)


def hash_token(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def looks_like_jwt(credential: str) -> bool:
    return credential.count(".") == 2
