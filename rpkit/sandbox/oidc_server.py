"""Authlib's authorization server wired to the crew store: clients, grants, ID tokens."""

from __future__ import annotations

import hmac
import secrets
from typing import Any

from authlib.integrations.flask_oauth2 import AuthorizationServer
from authlib.oauth2.rfc6749 import ClientMixin, grants
from authlib.oauth2.rfc6749.errors import (
    InvalidGrantError,
    InvalidRequestError,
    InvalidScopeError,
)
from authlib.oauth2.rfc7636 import CodeChallenge
from authlib.oidc.core import OpenIDCode
from authlib.oidc.core.util import create_half_hash
from authlib.oidc.rpinitiated import EndSessionEndpoint
from flask import Flask, g, request
from joserfc.jwk import KeySet

from .claims import oidc_claims
from .config import OIDC_SCOPES, SCIM_SCOPES, OidcClientConfig
from .models import CrewMember, SignInRefusedError, check_sign_in, verify_password
from .state import AuthorizationCode, IdpSession, RefreshToken, SandboxState

__all__ = ["SESSION_COOKIE", "SandboxClient", "SandboxEndSession", "create_authorization_server"]

SESSION_COOKIE = "rpkit_sandbox_sid"

_CODE_LIFETIME = 300
_REFRESH_LIFETIME = 30 * 86400
_CLIENT_AUTH = ["client_secret_basic", "client_secret_post", "none"]


class SandboxClient(ClientMixin):  # type: ignore[misc]
    """A registered client, as Authlib sees it."""

    def __init__(self, config: OidcClientConfig) -> None:
        self.config = config
        self.client_id = config.client_id
        self.client_metadata = {"post_logout_redirect_uris": list(config.post_logout_redirect_uris)}

    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.config.redirect_uris[0] if self.config.redirect_uris else None

    def get_allowed_scope(self, scope: str | None) -> str:
        allowed = self.config.allowed_scopes
        if not scope:
            return " ".join(allowed)
        requested = scope.split()
        refused = [s for s in requested if s not in allowed]
        if refused:
            fix = (
                "allow offline access for the client (allow_offline_access; Dualog: "
                "AllowOfflineAccess) or do not request it"
                if refused == ["offline_access"]
                else "add the scope to the client's scopes or do not request it"
            )
            raise InvalidScopeError(f"The client may not request {' '.join(refused)}: {fix}.")
        return " ".join(dict.fromkeys(requested))

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.config.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        expected = self.config.client_secret or ""
        return bool(expected) and hmac.compare_digest(expected, client_secret or "")

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        if endpoint == "token":
            return method in self.config.token_endpoint_auth_methods
        return True

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        return grant_type in self.config.grant_types


def _state(grant: Any) -> SandboxState:
    state: SandboxState = grant.server.sandbox
    return state


def _signed_in(state: SandboxState, user_id: str) -> CrewMember:
    """The user again, checked again: SCIM changes and sign-off apply at once."""
    member = state.store.get_user(user_id)
    if member is None:
        raise InvalidGrantError("The user no longer exists.")
    try:
        check_sign_in(member, state.clock.today())
    except SignInRefusedError as err:
        raise InvalidGrantError(err.message) from err
    return member


def _add_id_token(state: SandboxState, grant: Any, response: Any) -> Any:
    _, token, _ = response
    scopes = set(str(token.get("scope", "")).split())
    if "openid" not in scopes:
        return token
    request = grant.request
    member: CrewMember = request.user
    code: AuthorizationCode | None = request.authorization_code
    refresh: RefreshToken | None = getattr(request, "refresh_token", None)
    auth_time = code.auth_time if code else refresh.auth_time if refresh else None
    sid = code.sid if code else refresh.sid if refresh else None
    at_hash = create_half_hash(token["access_token"], "RS256")
    client: SandboxClient = request.client
    # Duende: user claims go in a code-flow ID token only with
    # AlwaysIncludeUserClaimsInIdToken; otherwise userinfo and the access token carry them.
    user_claims = (
        oidc_claims(member, scopes)
        if client.config.always_include_user_claims_in_id_token
        else {"sub": member.id}
    )
    token["id_token"] = state.tokens.issue_id_token(
        client_id=client.get_client_id(),
        user_claims=user_claims,
        lifetime=state.config.id_token_lifetime,
        nonce=code.nonce if code else None,
        auth_time=auth_time,
        at_hash=at_hash.decode() if at_hash else None,
        sid=sid,
    )
    return token


class _IdToken:
    """Adds an ID token to refresh grant responses when ``openid`` is in scope.

    Not to the password grant: Duende's resource owner flow returns no ID token.
    """

    def __call__(self, grant: Any) -> None:
        grant.register_hook(
            "after_create_token_response", lambda g, r: _add_id_token(_state(g), g, r)
        )


class _OpenIDCode(OpenIDCode):  # type: ignore[misc]
    def __init__(self, state: SandboxState) -> None:
        super().__init__(require_nonce=False)
        self._sandbox = state

    def exists_nonce(self, nonce: str, request: Any) -> bool:
        state = self._sandbox
        client_id = request.payload.client_id
        with state.lock:
            return any(c.nonce == nonce and c.client_id == client_id for c in state.codes.values())

    def process_token(self, grant: Any, response: Any) -> Any:
        return _add_id_token(_state(grant), grant, response)


class _S256Only(CodeChallenge):  # type: ignore[misc]
    SUPPORTED_CODE_CHALLENGE_METHOD = ["S256"]
    DEFAULT_CODE_CHALLENGE_METHOD = "S256"

    def validate_code_challenge(self, grant: Any, redirect_uri: Any) -> None:
        # Authlib demands PKCE from public clients only; Duende's RequirePkce (default
        # true) demands it from every client.
        client: SandboxClient = grant.request.client
        if client.config.require_pkce and not grant.request.payload.data.get("code_challenge"):
            raise InvalidRequestError(
                "code challenge required: send PKCE (code_challenge with S256), or turn "
                "require_pkce off for the client (Dualog: RequirePkce)"
            )
        super().validate_code_challenge(grant, redirect_uri)

    def get_authorization_code_challenge(self, authorization_code: AuthorizationCode) -> Any:
        return authorization_code.code_challenge

    def get_authorization_code_challenge_method(self, code: AuthorizationCode) -> Any:
        return code.code_challenge_method


class _CodeGrant(grants.AuthorizationCodeGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH

    def save_authorization_code(self, code: str, request: Any) -> None:
        state = _state(self)
        data = request.payload.data
        client_id = request.client.get_client_id()
        session: IdpSession | None = g.get("rpkit_idp_session")
        if session is not None:
            with state.lock:
                if client_id not in session.oidc_clients:
                    session.oidc_clients.append(client_id)
        state_code = AuthorizationCode(
            code=code,
            client_id=request.client.get_client_id(),
            redirect_uri=request.payload.redirect_uri or "",
            scope=request.payload.scope or "",
            user_id=request.user.id,
            nonce=data.get("nonce"),
            code_challenge=data.get("code_challenge"),
            code_challenge_method=data.get("code_challenge_method"),
            auth_time=int(state.clock.time()),
            expires_at=state.clock.time() + _CODE_LIFETIME,
            sid=session.sid if session is not None else None,
        )
        with state.lock:
            state.codes[code] = state_code

    def query_authorization_code(self, code: str, client: SandboxClient) -> Any:
        state = _state(self)
        with state.lock:
            item = state.codes.get(code)
        if item and item.client_id == client.client_id and item.expires_at > state.clock.time():
            return item
        return None

    def delete_authorization_code(self, authorization_code: AuthorizationCode) -> None:
        state = _state(self)
        with state.lock:
            state.codes.pop(authorization_code.code, None)

    def authenticate_user(self, authorization_code: AuthorizationCode) -> CrewMember:
        return _signed_in(_state(self), authorization_code.user_id)


class _RefreshGrant(grants.RefreshTokenGrant):  # type: ignore[misc]
    """Refresh, with Duende's RefreshTokenUsage: ``reuse`` (default) answers with the same
    refresh token; ``one_time`` issues a new one and revokes the old."""

    TOKEN_ENDPOINT_AUTH_METHODS = _CLIENT_AUTH
    INCLUDE_NEW_REFRESH_TOKEN = True

    def issue_token(self, user: CrewMember, refresh_token: RefreshToken) -> dict[str, Any]:
        client: SandboxClient = self.request.client
        if client.config.refresh_token_usage == "one_time":
            token: dict[str, Any] = super().issue_token(user, refresh_token)
            return token
        scope = self.request.payload.scope or refresh_token.get_scope()
        token = self.generate_token(user=user, scope=scope, include_refresh_token=False)
        token["refresh_token"] = refresh_token.token
        return token

    def authenticate_refresh_token(self, refresh_token: str) -> RefreshToken | None:
        state = _state(self)
        with state.lock:
            item = state.refresh_tokens.get(refresh_token)
        if item and not item.revoked and item.expires_at > state.clock.time():
            return item
        return None

    def authenticate_user(self, refresh_token: RefreshToken) -> CrewMember:
        return _signed_in(_state(self), refresh_token.user_id)

    def revoke_old_credential(self, refresh_token: RefreshToken) -> None:
        client: SandboxClient = self.request.client
        if client.config.refresh_token_usage == "one_time":
            refresh_token.revoked = True


class _PasswordGrant(grants.ResourceOwnerPasswordCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]

    def authenticate_user(self, username: str, password: str) -> CrewMember | None:
        state = _state(self)
        member = state.store.find_user(username)
        if member is None or not verify_password(password, member.password_hash):
            return None
        return _signed_in(state, member.id)


class _ClientCredentialsGrant(grants.ClientCredentialsGrant):  # type: ignore[misc]
    TOKEN_ENDPOINT_AUTH_METHODS = ["client_secret_basic", "client_secret_post"]


class _TokenGenerator:
    """Issue JWT access tokens; refresh tokens only when ``offline_access`` was granted."""

    def __init__(self, state: SandboxState) -> None:
        self._state = state

    def __call__(
        self,
        grant_type: str,
        client: SandboxClient,
        user: CrewMember | None = None,
        scope: str | None = None,
        expires_in: int | None = None,
        include_refresh_token: bool = True,
    ) -> dict[str, Any]:
        config = self._state.config
        scope = client.get_allowed_scope(scope)
        if grant_type == "client_credentials":
            lifetime = config.client_credentials_lifetime
        else:
            lifetime = expires_in or config.access_token_lifetime
        scopes = scope.split()
        token: dict[str, Any] = {
            "token_type": "Bearer",
            "access_token": self._state.tokens.issue_access_token(
                client_id=client.client_id,
                subject=user.id if user else None,
                scope=scope,
                lifetime=lifetime,
                audiences=config.audiences_for(scopes),
                user_claims=oidc_claims(user, set(scopes)) if user else None,
            ),
            "expires_in": lifetime,
            "scope": scope,
        }
        if include_refresh_token and user is not None and "offline_access" in scopes:
            token["refresh_token"] = secrets.token_urlsafe(32)
        return token


class SandboxEndSession(EndSessionEndpoint):  # type: ignore[misc]
    """RP-Initiated Logout 1.0 on Authlib's endpoint."""

    cookie_name = SESSION_COOKIE

    def __init__(self, state: SandboxState) -> None:
        super().__init__()
        self._sandbox = state

    def get_server_jwks(self) -> KeySet:
        return self._sandbox.keys.verification_keys()

    def get_algorithms(self) -> list[str]:
        return ["RS256"]

    def is_post_logout_redirect_uri_legitimate(
        self, request: Any, post_logout_redirect_uri: str, client: Any, logout_hint: Any
    ) -> bool:
        # Duende ignores client_id: post_logout_redirect_uri and state are followed only
        # with a valid id_token_hint (EndSessionRequestValidator).
        return False

    def end_session(self, end_session_request: Any) -> None:
        state = self._sandbox
        cookie = request.cookies.get(self.cookie_name)
        ended = state.end_sessions(cookie=cookie) if cookie else []
        claims = end_session_request.id_token_claims or {}
        sid = claims.get("sid")
        if not ended and isinstance(sid, str) and sid:
            # No cookie (another browser, a test client): the signed id_token_hint names it.
            ended = state.end_sessions(sid=sid)
        g.rpkit_ended_sessions = ended
        for session in ended:
            # Back-Channel Logout 1.0 §2.5; on a thread, so a dead RP delays nothing here.
            state.notify_logout(session)


def create_authorization_server(app: Flask, state: SandboxState) -> AuthorizationServer:
    """Build the Authlib server for ``state`` and attach it to ``app``."""

    def query_client(client_id: str) -> SandboxClient | None:
        # Read live: the admin API may change a client's secret (a rotation in the portal).
        config = state.clients.get(client_id)
        return SandboxClient(config) if config is not None else None

    def save_token(token: dict[str, Any], request: Any) -> None:
        refresh = token.get("refresh_token")
        if not refresh or request.user is None:
            return
        with state.lock:
            if refresh in state.refresh_tokens:
                return  # RefreshTokenUsage reuse: the same token, the same absolute lifetime
        code: AuthorizationCode | None = request.authorization_code
        previous: RefreshToken | None = getattr(request, "refresh_token", None)
        now = state.clock.time()
        auth_time = code.auth_time if code else previous.auth_time if previous else int(now)
        with state.lock:
            state.refresh_tokens[refresh] = RefreshToken(
                token=refresh,
                client_id=request.client.get_client_id(),
                user_id=request.user.id,
                scope=token.get("scope", ""),
                expires_at=now + _REFRESH_LIFETIME,
                auth_time=auth_time,
                sid=code.sid if code else previous.sid if previous else None,
            )

    server = AuthorizationServer(app, query_client=query_client, save_token=save_token)
    server.sandbox = state
    server.scopes_supported = list(OIDC_SCOPES + SCIM_SCOPES)
    server.register_token_generator("default", _TokenGenerator(state))
    server.register_grant(_CodeGrant, [_OpenIDCode(state), _S256Only(required=True)])
    server.register_grant(_RefreshGrant, [_IdToken()])
    server.register_grant(_PasswordGrant)
    server.register_grant(_ClientCredentialsGrant)
    server.register_endpoint(SandboxEndSession(state))
    return server
