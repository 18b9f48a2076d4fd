"""Credentials and base URL from the environment, for ``AsyncSuprsend()`` and the CLI alike.

``SUPRSEND_WORKSPACE_KEY`` and ``SUPRSEND_WORKSPACE_SECRET`` (HMAC-signed
requests), or ``SUPRSEND_API_KEY`` (Bearer); ``SUPRSEND_BASE_URL``. Values
given explicitly (arguments, command line flags) win over the environment,
each scheme as a whole: an explicit API key is not overridden by a workspace
key and secret found in the environment.
"""

from __future__ import annotations

import os
from collections.abc import Mapping

import attrs

from .._values.errors import SuprsendConfigError

__all__ = ["ApiKeyCredentials", "WorkspaceCredentials", "base_url_from", "credentials_from"]

WORKSPACE_KEY_VAR = "SUPRSEND_WORKSPACE_KEY"
WORKSPACE_SECRET_VAR = "SUPRSEND_WORKSPACE_SECRET"  # noqa: S105 - a variable's name
API_KEY_VAR = "SUPRSEND_API_KEY"
BASE_URL_VAR = "SUPRSEND_BASE_URL"


@attrs.frozen
class WorkspaceCredentials:
    key: str
    secret: str = attrs.field(repr=False)


@attrs.frozen
class ApiKeyCredentials:
    api_key: str = attrs.field(repr=False)


def credentials_from(
    *,
    workspace_key: str | None = None,
    workspace_secret: str | None = None,
    api_key: str | None = None,
    environ: Mapping[str, str] = os.environ,
) -> WorkspaceCredentials | ApiKeyCredentials:
    """The credentials to use: the given ones, completed from the environment.

    SuprsendConfigError if there are none, if only half of a workspace pair
    is found, or if both schemes are given explicitly.
    """
    if api_key and (workspace_key or workspace_secret):
        raise SuprsendConfigError(
            "give a workspace key and secret or an API key, not both"
            " (--workspace-key/--workspace-secret or --api-key on the command line)"
        )
    if api_key:
        return ApiKeyCredentials(api_key)
    key = workspace_key or environ.get(WORKSPACE_KEY_VAR)
    secret = workspace_secret or environ.get(WORKSPACE_SECRET_VAR)
    if key and secret:
        return WorkspaceCredentials(key, secret)
    if key or secret:
        raise SuprsendConfigError(
            "give both the workspace key and the secret (arguments, --workspace-key/"
            f"--workspace-secret, or {WORKSPACE_KEY_VAR}/{WORKSPACE_SECRET_VAR})"
        )
    from_env = environ.get(API_KEY_VAR)
    if from_env:
        return ApiKeyCredentials(from_env)
    raise SuprsendConfigError(
        f"no credentials: set {WORKSPACE_KEY_VAR} and {WORKSPACE_SECRET_VAR}"
        f" (or {API_KEY_VAR}) in the environment, or pass the workspace key and secret"
        " (--workspace-key/--workspace-secret on the command line)"
    )


def base_url_from(base_url: str | None, environ: Mapping[str, str] = os.environ) -> str | None:
    """``base_url``, else ``SUPRSEND_BASE_URL``, else None (the default hub)."""
    return base_url or environ.get(BASE_URL_VAR) or None
