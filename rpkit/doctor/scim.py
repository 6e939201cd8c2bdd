"""The ``scim.*`` checks: a client-credentials token (``scim.token``), then a read-only
look at the User API (``scim.read``): ServiceProviderConfig and one user with ``count=1``.

``scim.token`` does issue one access token at the provider (that is what it checks);
nothing is written: no POST, PUT, PATCH or DELETE reaches the User API.
"""

from __future__ import annotations

from .._http import HttpClient, error_from_response, json_object
from ..errors import ProviderError, ProviderResponseError
from ..oauth import TokenSet, request_client_credentials
from ..scim._transport import scim_client_config
from ..scim.config import ScimConfig
from .report import CheckResult, fail

__all__ = ["run_scim_checks"]


def run_scim_checks(config: ScimConfig) -> list[CheckResult]:
    """Run ``scim.token`` and, if it passed, ``scim.read``."""
    http = HttpClient(config.http)
    token, result = _token(config, http)
    if token is None:
        return [result, CheckResult(id="scim.read", status="skip", message="needs scim.token")]
    return [result, _read(config, http, token.access_token)]


def _token(config: ScimConfig, http: HttpClient) -> tuple[TokenSet | None, CheckResult]:
    url = config.effective_token_url
    if not config.client_id or not config.client_secret:
        return None, fail(
            "scim.token",
            "no SCIM API client configured",
            fix="set RPKIT_SCIM_CLIENT_ID and RPKIT_SCIM_CLIENT_SECRET (an API client of the "
            "Dualog portal)",
        )
    try:
        token = request_client_credentials(
            http, scim_client_config(config), (config.scope,), what="SCIM client credentials"
        )
    except ProviderResponseError as err:
        return None, _token_refused(config, err)
    except ProviderError as err:
        return None, fail(
            "scim.token", err.message, fix="check RPKIT_SCIM_TOKEN_URL and the network path to it"
        )
    if token.scope and config.scope not in token.scope:
        return None, _scope_refused(config, f"the token carries {' '.join(token.scope)}")
    return token, CheckResult(
        id="scim.token",
        status="ok",
        message=f"client {config.client_id} got a {config.scope} token from {url} (this "
        "issued one access token at the provider; nothing else changed)",
    )


def _scope_refused(config: ScimConfig, why: str) -> CheckResult:
    if config.scope == "crew_import":
        fix = (
            "this API client is not allowed crew_import: for read-only use set "
            "RPKIT_SCIM_SCOPE=crew_read, or give the API client crew_import in the Dualog portal"
        )
    else:
        fix = f"give the API client the {config.scope} scope in the Dualog portal"
    return fail(
        "scim.token",
        f"client {config.client_id} may not ask for scope {config.scope} ({why})",
        fix=fix,
    )


def _token_refused(config: ScimConfig, err: ProviderResponseError) -> CheckResult:
    if err.error == "invalid_scope":
        return _scope_refused(config, "invalid_scope")
    if err.error == "invalid_client" or err.status == 401:
        return fail(
            "scim.token",
            f"the token endpoint refused client {config.client_id} ({err.error or err.status})",
            fix="set RPKIT_SCIM_CLIENT_ID and RPKIT_SCIM_CLIENT_SECRET to the API client's values "
            "in the Dualog portal",
        )
    return fail(
        "scim.token",
        err.message,
        fix='check that the API client may use the "client_credentials" grant',
    )


def _read(config: ScimConfig, http: HttpClient, access_token: str) -> CheckResult:
    headers = {
        "Authorization": f"Bearer {access_token}",
        "Accept": "application/scim+json, application/json",
    }
    users_url = f"{config.base_url}/Users"
    try:
        for url, params in (
            (f"{config.base_url}/ServiceProviderConfig", None),
            (users_url, {"startIndex": "1", "count": "1"}),
        ):
            response = http.request("GET", url, what="SCIM read", headers=headers, params=params)
            if response.status_code != 200:
                raise error_from_response(response, f"GET {url}")
            body = json_object(response, f"GET {url}")
    except ProviderResponseError as err:
        fix = "check RPKIT_SCIM_BASE_URL"
        if err.status in (401, 403):
            fix = "give the API client crew_read (or crew_import) in the Dualog portal"
        return fail("scim.read", err.message, fix=fix)
    except ProviderError as err:
        return fail(
            "scim.read", err.message, fix="check RPKIT_SCIM_BASE_URL and the network path to it"
        )
    total = body.get("totalResults")
    return CheckResult(
        id="scim.read",
        status="ok",
        message=f"ServiceProviderConfig read; {users_url}?count=1 lists users (totalResults "
        f"{total}); nothing written",
    )
