"""Authentication as httpx.Auth flows.

httpx runs an auth flow each time a request is sent, so every attempt of a
retried request gets a fresh Date and a fresh signature.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from collections.abc import Callable, Generator
from email.utils import formatdate
from types import ModuleType
from typing import TYPE_CHECKING, Any

import httpx

__all__ = ["BearerAuth", "HubAuth", "WorkspaceSignatureAuth", "auth_on", "string_to_sign"]


def string_to_sign(method: str, body: bytes, content_type: str, date: str, path: str) -> bytes:
    """The five lines the hub signs: method, body MD5, Content-Type, Date, path."""
    body_md5 = hashlib.md5(body, usedforsecurity=False).hexdigest() if body else ""
    return "\n".join((method.upper(), body_md5, content_type, date, path)).encode()


class HubAuth(httpx.Auth):
    """An httpx.Auth whose flow is one step: the headers ``credentials`` gives.

    The client sends through its own pool without httpx's client layer (see
    ``HubTransport.request_once``) and builds each request with these headers
    in it; an ``http_client`` of the user's runs the flow as any httpx.Auth.
    """

    def credentials(
        self, method: str, path: str, body: bytes, content_type: str
    ) -> list[tuple[str, str]]:
        """The headers that authenticate a request (``path`` as sent, with its query)."""
        raise NotImplementedError

    def auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        for name, value in self.credentials(
            request.method,
            request.url.raw_path.decode("ascii"),
            request.content,
            request.headers.get("Content-Type", ""),
        ):
            request.headers[name] = value
        yield request


class WorkspaceSignatureAuth(HubAuth):
    """``Authorization: <workspace_key>:<base64 HMAC-SHA256 of the request>``."""

    requires_request_body = True

    def __init__(
        self,
        workspace_key: str,
        workspace_secret: str,
        *,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.workspace_key = workspace_key
        self._secret = workspace_secret.encode()
        self._clock = clock
        # The Date header of the current second: formatting one costs more
        # than signing (the hub reads it to the second).
        self._date: tuple[int, str] = (0, "")

    def __repr__(self) -> str:
        return f"WorkspaceSignatureAuth(workspace_key={self.workspace_key!r}, secret=<redacted>)"

    def sign(self, method: str, body: bytes, content_type: str, date: str, path: str) -> str:
        message = string_to_sign(method, body, content_type, date, path)
        digest = hmac.new(self._secret, message, hashlib.sha256).digest()
        return base64.b64encode(digest).decode()

    def date(self) -> str:
        now = self._clock()
        second, text = self._date
        if int(now) != second or not text:
            text = formatdate(now, usegmt=True)
            self._date = (int(now), text)
        return text

    def credentials(
        self, method: str, path: str, body: bytes, content_type: str
    ) -> list[tuple[str, str]]:
        date = self.date()
        signature = self.sign(method, body, content_type, date, path)
        return [("Date", date), ("Authorization", f"{self.workspace_key}:{signature}")]


class BearerAuth(HubAuth):
    """``Authorization: Bearer <API key>``."""

    def __init__(self, api_key: str) -> None:
        self._header = f"Bearer {api_key}"

    def __repr__(self) -> str:
        return "BearerAuth(api_key=<redacted>)"

    def credentials(
        self, method: str, path: str, body: bytes, content_type: str
    ) -> list[tuple[str, str]]:
        return [("Authorization", self._header)]


def auth_on(library: ModuleType, auth: HubAuth) -> Any:
    """``auth`` as an Auth of ``library`` (httpx2 refuses httpx's Auth objects)."""
    return auth if library is httpx else _auth_class(library)(auth)


@functools.cache
def _auth_class(library: ModuleType) -> Any:
    if TYPE_CHECKING:
        import httpx
    else:
        httpx = library

    class _OnLibrary(httpx.Auth):
        """The same flow on another library's Auth (it reads only what both requests have)."""

        def __init__(self, auth: Any) -> None:
            self._auth = auth
            self.requires_request_body = auth.requires_request_body

        def __repr__(self) -> str:
            return repr(self._auth)

        def auth_flow(
            self, request: httpx.Request
        ) -> Generator[httpx.Request, httpx.Response, None]:
            yield from self._auth.auth_flow(request)

    return _OnLibrary
