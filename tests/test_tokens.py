"""suprsend_async.tokens: the inbox's subscriber_id and enhanced security mode's user token."""

from __future__ import annotations

import base64
import logging
import time
from datetime import timedelta
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from hypothesis import given, settings
from hypothesis import strategies as st

from suprsend_async import SuprsendConfigError, SuprsendValidationError
from suprsend_async.tokens import DEFAULT_TOKEN_LIFETIME, subscriber_id, user_token

# -- subscriber_id -------------------------------------------------------------------------

# Expected values computed outside Python, by OpenSSL and coreutils:
#   printf '%s' "$ID" | openssl dgst -sha256 -hmac "$SECRET" -binary | basenc --base64url
# (basenc pads with "="; the documented subscriber_id has no padding).
KNOWN = [
    ("Ann", "inbox-secret", "Oc3ottyXFeT_Ann-GVJEtIjPNvSgyzzGE87PIsuOyKE"),
    ("ann@example.com", "AAAA/BBB+cc", "V3yPeq92AfJJXskBabjc4PdD76Ge7v2QM3n-qqXwEBc"),
    # Both the id and the secret as UTF-8.
    ("Zoë 😀 ид", "sécret", "ZNyhQ0AKDJFQYjTcFM55hPH3-Fbx6oQr7Gzv93kJX4o"),
]


@pytest.mark.parametrize(("distinct_id", "secret", "expected"), KNOWN)
def test_subscriber_id_is_the_documented_hmac(distinct_id: str, secret: str, expected: str) -> None:
    assert subscriber_id(distinct_id, secret) == expected


@given(st.text(min_size=1).filter(str.strip), st.text(min_size=1))
def test_subscriber_id_is_url_safe_unpadded_and_decodes_to_a_sha256(
    distinct_id: str, secret: str
) -> None:
    result = subscriber_id(distinct_id, secret)
    assert set(result) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    assert len(base64.urlsafe_b64decode(result + "=")) == 32


@pytest.mark.parametrize("distinct_id", ["", "   ", None, 5])
def test_subscriber_id_refuses_a_missing_id(distinct_id: object) -> None:
    with pytest.raises(SuprsendValidationError) as caught:
        subscriber_id(distinct_id, "secret")  # type: ignore[arg-type]
    assert caught.value.field == "distinct_id"


def test_subscriber_id_refuses_a_missing_secret_without_echoing_anything() -> None:
    with pytest.raises(SuprsendConfigError, match="inbox_secret"):
        subscriber_id("ann", "")


def test_subscriber_id_refuses_a_lone_surrogate_with_a_typed_error() -> None:
    # No character: it has no UTF-8, so no HMAC can be computed over it.
    with pytest.raises(SuprsendValidationError) as caught:
        subscriber_id("ann\ud800", "secret")
    assert caught.value.field == "distinct_id"
    assert "lone surrogate" in caught.value.rule


def test_subscriber_id_refuses_a_secret_with_a_lone_surrogate_without_echoing_it() -> None:
    with pytest.raises(SuprsendConfigError, match="inbox_secret") as caught:
        subscriber_id("ann", "hunter2\udc00tail")
    assert "hunter2" not in str(caught.value)
    assert "tail" not in str(caught.value)
    # Nor in a chained error a traceback would print.
    assert caught.value.__cause__ is None
    assert caught.value.__suppress_context__


# -- user_token ----------------------------------------------------------------------------


def _key(curve: ec.EllipticCurve | None = None) -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(curve or ec.SECP256R1())


def _pem(key: object, form: serialization.PrivateFormat | None = None) -> str:
    return key.private_bytes(  # type: ignore[attr-defined, no-any-return]
        serialization.Encoding.PEM,
        form or serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _one_line(pem: str) -> str:
    """The dashboard's single-line form: the PEM text in base64."""
    return base64.b64encode(pem.encode()).decode()


def _claims(token: str, key: ec.EllipticCurvePrivateKey, **options: Any) -> dict[str, object]:
    claims: dict[str, object] = jwt.decode(token, key.public_key(), algorithms=["ES256"], **options)
    return claims


KEY = _key()
PEM = _pem(KEY)


@pytest.mark.parametrize(
    "form",
    [
        pytest.param(PEM, id="pem-pkcs8"),
        pytest.param(_pem(KEY, serialization.PrivateFormat.TraditionalOpenSSL), id="pem-sec1"),
        pytest.param(_one_line(PEM), id="base64-of-pem"),
        pytest.param(
            base64.b64encode(
                KEY.private_bytes(
                    serialization.Encoding.DER,
                    serialization.PrivateFormat.PKCS8,
                    serialization.NoEncryption(),
                )
            ).decode(),
            id="base64-of-der",
        ),
        pytest.param(PEM.encode(), id="pem-bytes"),
        pytest.param("\n  " + PEM + "\n", id="pem-with-blank-lines"),
    ],
)
def test_user_token_is_an_es256_jwt_of_the_documented_claims(form: str | bytes) -> None:
    before = int(time.time())
    token = user_token("ann@example.com", form)
    after = int(time.time())
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    claims = _claims(token, KEY)
    assert set(claims) == {"entity_type", "entity_id", "iat", "exp"}
    assert claims["entity_type"] == "subscriber"
    assert claims["entity_id"] == "ann@example.com"
    assert isinstance(claims["iat"], int)
    assert before <= claims["iat"] <= after
    assert claims["exp"] == claims["iat"] + DEFAULT_TOKEN_LIFETIME.total_seconds()


def test_user_token_is_scoped_to_the_tenant_given() -> None:
    claims = _claims(user_token("ann", PEM, tenant_id="acme"), KEY)
    assert claims["scope"] == {"tenant_id": "acme"}


def test_a_token_signed_by_another_key_does_not_verify() -> None:
    with pytest.raises(jwt.InvalidSignatureError):
        _claims(user_token("ann", PEM), _key())


@pytest.mark.parametrize("expires_in", [90, 90.7, timedelta(seconds=90)])
def test_user_token_expires_when_asked(expires_in: float | timedelta) -> None:
    token = user_token("ann", PEM, expires_in=expires_in)
    claims = _claims(token, KEY)
    assert claims["exp"] == claims["iat"] + 90  # type: ignore[operator]
    # Checked as if 91 s had passed, without waiting (a negative leeway moves the
    # verifier's clock on; its iat check would then call the token not yet valid).
    later = {"options": {"verify_iat": False}}
    with pytest.raises(jwt.ExpiredSignatureError):
        _claims(token, KEY, leeway=-91, **later)
    assert _claims(token, KEY, leeway=-80, **later)["entity_id"] == "ann"


@pytest.mark.parametrize("expires_in", [0, 0.5, -5, float("inf"), float("nan"), "3600", True])
def test_user_token_refuses_a_lifetime_that_is_not_one(expires_in: object) -> None:
    with pytest.raises(SuprsendValidationError) as caught:
        user_token("ann", PEM, expires_in=expires_in)  # type: ignore[arg-type]
    assert caught.value.field == "expires_in"


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("distinct_id", ""),
        ("tenant_id", " "),
        ("distinct_id", "ann\udfff"),
        ("tenant_id", "\ud800"),
    ],
)
def test_user_token_refuses_empty_ids_and_ids_that_are_no_text(name: str, value: str) -> None:
    options = {"distinct_id": "ann", "tenant_id": None, name: value}
    with pytest.raises(SuprsendValidationError) as caught:
        user_token(options.pop("distinct_id"), PEM, **options)  # type: ignore[arg-type]
    assert caught.value.field == name


# -- keys that are not an EC P-256 private key: refused, never echoed -----------------------

OTHER_KEYS = {
    "p384": _pem(_key(ec.SECP384R1())),
    "public-key": KEY.public_key()
    .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    .decode(),
    "encrypted": KEY.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(b"pass"),
    ).decode(),
    "truncated": PEM[: len(PEM) // 2],
    "base64-truncated": _one_line(PEM)[:100],
    "not-base64": "this is not a key at all, just text",
    "non-ascii": PEM.replace("A", "Ä", 1),
    "empty": "",
}


def _secret_parts(key_text: str) -> list[str]:
    """Pieces of ``key_text`` an error must never show (its base64 lines, in 8-char runs)."""
    body = "".join(line for line in key_text.splitlines() if not line.startswith("-----"))
    return [body[i : i + 8] for i in range(0, max(len(body) - 8, 0), 4)]


def _assert_not_echoed(error: BaseException, key_text: str, logs: str) -> None:
    shown = " ".join([str(error), repr(error), repr(error.args), logs])
    for part in _secret_parts(key_text):
        assert part not in shown
    # Nor through a chained parser error, whose message may quote what it read.
    assert error.__cause__ is None
    assert error.__context__ is None or error.__suppress_context__


@pytest.mark.parametrize("name", sorted(OTHER_KEYS))
def test_other_keys_are_refused_without_echoing_them(
    name: str, caplog: pytest.LogCaptureFixture
) -> None:
    key_text = OTHER_KEYS[name]
    caplog.set_level(logging.DEBUG)
    with pytest.raises(SuprsendConfigError, match="EC P-256 private key") as caught:
        user_token("ann", key_text)
    _assert_not_echoed(caught.value, key_text, caplog.text)


def test_an_rsa_key_is_refused() -> None:
    key_text = _pem(rsa.generate_private_key(public_exponent=65537, key_size=2048))
    with pytest.raises(SuprsendConfigError) as caught:
        user_token("ann", key_text)
    _assert_not_echoed(caught.value, key_text, "")


@settings(max_examples=60, deadline=None)
@given(st.data())
def test_a_mangled_key_is_refused_or_still_the_same_key_and_never_echoed(
    data: st.DataObject,
) -> None:
    """Any cut or changed character: refused with no part of the key, or signed by KEY itself."""
    text = data.draw(st.sampled_from([PEM, _one_line(PEM)]))
    at = data.draw(st.integers(0, len(text) - 1))
    mangled = text[:at] + data.draw(st.sampled_from(["", "!", "Q", "\n", "é"])) + text[at + 1 :]
    try:
        token = user_token("ann", mangled)
    except SuprsendConfigError as error:
        _assert_not_echoed(error, text, "")
    else:
        # (A changed character inside PEM's padding or a line break may leave the key whole.)
        assert _claims(token, KEY)["entity_id"] == "ann"


@pytest.mark.parametrize("key", [None, 5, ["pem"]])
def test_a_key_of_the_wrong_type_is_refused(key: object) -> None:
    with pytest.raises(SuprsendConfigError, match="signing_key must be a string"):
        user_token("ann", key)  # type: ignore[arg-type]
