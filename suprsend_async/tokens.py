"""Credentials for SuprSend's front-end SDKs, computed on your backend.

- :func:`subscriber_id`: the inbox's HMAC authentication (standard library only).
- :func:`user_token`: the signed user token of the hub's enhanced security
  mode, an ES256 JWT (needs the ``tokens`` extra: ``pip install
  'suprsend-async[tokens]'``, which brings PyJWT and ``cryptography``).

Neither is sent anywhere by this library: hand the result to your front end.
No error raised here quotes a secret or a signing key, nor any part of one.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import math
import time
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from ._values.errors import SuprsendConfigError, SuprsendValidationError
from ._values.rules import valid_text

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ec import EllipticCurvePrivateKey

__all__ = ["DEFAULT_TOKEN_LIFETIME", "subscriber_id", "user_token"]

# Short, as a bearer credential held by a browser should be: SuprSend's front-end
# SDKs ask your backend for a fresh token when theirs expires.
DEFAULT_TOKEN_LIFETIME = timedelta(hours=1)


def subscriber_id(distinct_id: str, inbox_secret: str) -> str:
    """The inbox's ``subscriber_id`` for ``distinct_id``.

    HMAC-SHA256 keyed by the inbox secret (the inbox vendor page's "Shared
    Secret") over the distinct id, both as UTF-8, in URL-safe base64 without
    padding, as SuprSend documents it (docs: HMAC Authentication).
    """
    _require_text(distinct_id, "distinct_id")
    if not isinstance(inbox_secret, str) or not inbox_secret:
        raise SuprsendConfigError("missing inbox_secret: a non-empty string is required")
    try:
        secret = inbox_secret.encode()
    except UnicodeEncodeError:
        # Where it is not said: the error's position would tell part of the secret.
        raise SuprsendConfigError(
            "invalid inbox_secret: it holds a lone surrogate, which is no character"
            " (check that the whole secret was copied)"
        ) from None
    digest = hmac.new(secret, distinct_id.encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).decode("ascii").rstrip("=")


def user_token(
    distinct_id: str,
    signing_key: str | bytes,
    *,
    tenant_id: str | None = None,
    expires_in: float | timedelta = DEFAULT_TOKEN_LIFETIME,
) -> str:
    """The signed user token of enhanced security mode, for ``distinct_id``.

    An ES256 JWT with ``entity_type: "subscriber"``, ``entity_id``, ``iat``,
    ``exp`` (``expires_in`` later: seconds or a ``timedelta``, default one
    hour) and, when ``tenant_id`` is given, ``scope: {"tenant_id": ...}``
    (the hub answers 403 to an inbox request for another tenant).

    ``signing_key`` is the dashboard's signing key in either form it is
    shown in: PEM, or the single line of base64 (meant for an environment
    variable). Anything that is not an EC P-256 private key raises
    SuprsendConfigError, which never quotes the key.
    """
    _require_text(distinct_id, "distinct_id")
    if tenant_id is not None:
        _require_text(tenant_id, "tenant_id")
    lifetime = _lifetime(expires_in)
    try:
        import cryptography  # noqa: F401  (PyJWT signs ES256 only with it)
        import jwt
    except ImportError:
        raise SuprsendConfigError(
            "user_token needs the tokens extra: pip install 'suprsend-async[tokens]'"
        ) from None
    issued = int(time.time())
    claims: dict[str, Any] = {
        "entity_type": "subscriber",
        "entity_id": distinct_id,
        "iat": issued,
        "exp": issued + lifetime,
    }
    if tenant_id is not None:
        claims["scope"] = {"tenant_id": tenant_id}
    return jwt.encode(claims, _private_key(signing_key), algorithm="ES256")


def _require_text(value: object, name: str) -> None:
    if not isinstance(value, str) or not value.strip():
        raise SuprsendValidationError(name, "a non-empty string is required")
    valid_text(value, name)  # signed as UTF-8, which a lone surrogate has none of


def _lifetime(value: object) -> int:
    """``expires_in`` as whole seconds (JWT times are whole seconds), at least one."""
    if isinstance(value, timedelta):
        seconds: object = value.total_seconds()
    elif isinstance(value, (int, float)) and not isinstance(value, bool):
        seconds = value
    else:
        raise SuprsendValidationError(
            "expires_in", f"seconds or a timedelta are required, got {type(value).__name__}"
        )
    assert isinstance(seconds, (int, float))
    if not math.isfinite(seconds) or seconds < 1:
        raise SuprsendValidationError("expires_in", "at least one second (and finite) is required")
    return int(seconds)


_NOT_A_KEY = (
    "invalid signing_key: not an EC P-256 private key in PEM or in the dashboard's"
    " single-line base64 form (check that the whole key was copied)"
)


def _private_key(signing_key: object) -> EllipticCurvePrivateKey:
    """The key in either dashboard form, checked; never quoted in an error."""
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import (
        load_der_private_key,
        load_pem_private_key,
    )

    if isinstance(signing_key, str):
        try:
            text = signing_key.strip().encode("ascii")
        except UnicodeError:
            raise SuprsendConfigError(_NOT_A_KEY) from None
    elif isinstance(signing_key, bytes):
        text = signing_key.strip()
    else:
        raise SuprsendConfigError(f"signing_key must be a string, got {type(signing_key).__name__}")
    try:
        if text.startswith(b"-----BEGIN"):
            key: object = load_pem_private_key(text, password=None)
        else:
            # The single-line form: base64 of the PEM text (or of its DER body).
            decoded = base64.b64decode(b"".join(text.split()), validate=True)
            if decoded.lstrip().startswith(b"-----BEGIN"):
                key = load_pem_private_key(decoded.strip(), password=None)
            else:
                key = load_der_private_key(decoded, password=None)
    except Exception:
        # ValueError, binascii.Error, cryptography's UnsupportedAlgorithm...: one
        # answer, not chained, as a parser's message may quote what it could not read.
        raise SuprsendConfigError(_NOT_A_KEY) from None
    if not isinstance(key, ec.EllipticCurvePrivateKey) or not isinstance(key.curve, ec.SECP256R1):
        raise SuprsendConfigError(_NOT_A_KEY)
    return key
