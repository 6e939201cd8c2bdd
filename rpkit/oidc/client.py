"""``OidcClient``: the relying party's flows over one provider, IO at the edges.

It owns the caches (discovery, JWKS, client-credentials token), the per-login state in a
``StateStore`` (single-use and bound to the browser that started the login, by
``rpkit._pending``) and the clock; every decision is made by the pure functions it calls.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, TypeVar
from urllib.parse import urlsplit

from .._clock import Clock, clock_from
from .._http import HttpClient, error_from_response, json_object
from .._pending import (
    BrowserCookie,
    PendingStore,
    Refusals,
    browser_hash,
    check_return_to,
    cookie_value,
)
from .._single_flight import SingleFlight
from ..config import OidcConfig
from ..errors import (
    CallbackError,
    ConfigurationError,
    IdTokenError,
    OidcTokenError,
    ProviderResponseError,
    TokenError,
    UserinfoError,
)
from ..identity import CrewIdentity
from ..oauth import (
    TokenSet,
    exchange_code,
    request_client_credentials,
    request_refresh,
    request_token,
)
from ..store import FileCache, MemoryStore, StateStore
from ._jwt import verify_jwt
from .authorize import LoginState, Prompt, ResponseMode, parse_callback, start_login
from .bearer import (
    AccessToken,
    ExpectedAccessToken,
    unverified_issuer,
    validate_access_token,
)
from .claims import identity_from_claims, merge_claims, missing_user_claims, require_rank
from .discovery import Discovery, ProviderMetadata
from .id_token import ExpectedIdToken, IdToken, validate_id_token
from .keys import JwksCache, SigningKeys
from .logout import (
    LogoutToken,
    end_session_url,
    validate_frontchannel_logout,
    validate_logout_token,
)
from .tokens import client_config

__all__ = ["BROWSER_COOKIE", "AuthorizationRequest", "LoginResult", "OidcClient", "RefreshResult"]

_T = TypeVar("_T")

BROWSER_COOKIE = "rpkit_oidc"
"""The cookie that binds a pending OIDC login to the browser that started it."""
_REFRESH_RESULT_TTL = 30.0
_REFUSALS = Refusals(error=CallbackError, missing="state_missing", unknown="state_unknown")


@dataclass(frozen=True, kw_only=True, slots=True)
class AuthorizationRequest:
    """What :meth:`OidcClient.start_login` returns.

    Redirect the browser to ``url`` and set ``cookie`` (its value goes back to
    :meth:`OidcClient.finish_login` as ``browser_token``). ``login`` is already stored.
    """

    url: str
    cookie: BrowserCookie
    login: LoginState


@dataclass(frozen=True, kw_only=True, slots=True)
class _SignedIn:
    identity: CrewIdentity
    tokens: TokenSet
    id_token: IdToken
    userinfo: Mapping[str, Any] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class RefreshResult(_SignedIn):
    """What ``OidcClient.refresh`` yields: the new tokens, the ID token and the identity."""


@dataclass(frozen=True, kw_only=True, slots=True)
class LoginResult(_SignedIn):
    """A completed login: who signed in, the tokens that prove it, and where to go."""

    #: The path the login was started for (``start_login(return_to=)``).
    return_to: str = "/"


class _Provider:
    """Discovery and keys of one issuer."""

    def __init__(self, client: OidcClient, issuer: str) -> None:
        config = client.config
        self.discovery = Discovery(
            config,
            client.http,
            issuer=issuer,
            file_cache=client.file_cache,
            clock=client.clock,
            ship_hint=not config.is_dualog_cloud,
        )
        self.jwks = JwksCache(
            self._fetch_jwks,
            cooldown=config.jwks_refetch_cooldown,
            ttl=config.jwks_ttl,
            max_age=config.cache_max_age,
            file_cache=client.file_cache,
            cache_name="jwks-" + hashlib.sha256(issuer.encode()).hexdigest()[:16],
            clock=client.clock,
        )
        self._http = client.http

    def _fetch_jwks(self) -> Mapping[str, Any]:
        return self._http.get_json(self.discovery.get().jwks_uri, what="JWKS")


class OidcClient:
    """A relying party for one OpenID provider (Dualog cloud or a ship-side server).

    Args:
        config: the provider and this app's registration.
        store: where pending logins and replay caches live (``MemoryStore`` by default;
            a ``RedisStore`` when several app processes share logins).
        clock: a :class:`~rpkit._clock.Clock`, or a wall clock in epoch seconds; either
            way ``config.clock_offset`` is applied on top.
    """

    def __init__(
        self,
        config: OidcConfig,
        *,
        store: StateStore | None = None,
        clock: Clock | Callable[[], float] = time.time,
        http: HttpClient | None = None,
    ) -> None:
        self.config = config
        self.store: StateStore = store if store is not None else MemoryStore()
        self._pending = PendingStore(
            lambda: self.store,
            LoginState,
            prefix="oidc:state:",
            ttl=config.pending_ttl,
            refusals=_REFUSALS,
        )
        self.clock = clock_from(clock, offset=config.clock_offset)
        # This machine's time (no provider offset), for the lifetimes it measures itself:
        # when a login started, when a token expires.
        self._local_clock = self.clock.with_offset(timedelta(0))
        self.wall_clock = self.clock.wall
        self.http = http if http is not None else HttpClient(config.http)
        self.file_cache = FileCache(config.cache_dir) if config.cache_dir else None
        self._providers: dict[str, _Provider] = {}
        self._providers_lock = threading.Lock()
        self._cc_tokens: dict[tuple[str, ...], TokenSet] = {}
        self._cc_lock = threading.Lock()
        self._refreshes: SingleFlight[RefreshResult] = SingleFlight(
            keep_result=_REFRESH_RESULT_TTL, wait=config.http.timeout.total_seconds() * 2
        )

    # -- time and providers -------------------------------------------------------------

    def now(self) -> datetime:
        """The provider's idea of now: this machine's clock plus ``clock_offset``."""
        return self.clock.now()

    def _provider(self, issuer: str | None = None) -> _Provider:
        issuer = issuer or self.config.issuer
        provider = self._providers.get(issuer)
        if provider is None:
            with self._providers_lock:
                provider = self._providers.get(issuer)
                if provider is None:
                    provider = _Provider(self, issuer)
                    self._providers[issuer] = provider
        return provider

    def metadata(self) -> ProviderMetadata:
        """The provider's validated discovery document (fetched on first use)."""
        return self._provider().discovery.get()

    def signing_keys(self) -> SigningKeys:
        return self._provider().jwks.current()

    def id_token_algorithms(self) -> tuple[str, ...]:
        """Algorithms accepted for ID and logout tokens.

        ``id_token_signing_algs`` intersected with discovery's
        ``id_token_signing_alg_values_supported``: the provider's metadata narrows the RP's
        allowlist, never widens it.
        """
        return self.metadata().id_token_algorithms(self.config.id_token_signing_algs)

    # -- login ---------------------------------------------------------------------------

    def start_login(
        self,
        *,
        redirect_uri: str | None = None,
        scopes: tuple[str, ...] | None = None,
        prompt: Prompt | None = None,
        max_age: int | None = None,
        login_hint: str | None = None,
        response_mode: ResponseMode | None = None,
        extra: Mapping[str, str] | None = None,
        return_to: str = "/",
        browser_token: str | None = None,
    ) -> AuthorizationRequest:
        """Store a new login, bound to this browser; return where to send it.

        ``browser_token``: the browser's current ``BROWSER_COOKIE`` value, if it has one
        (kept, so logins started in two tabs both complete); else a new one is made. The
        callback is accepted only with it (:meth:`finish_login`). ``return_to`` is a path
        on this site, handed back in ``LoginResult.return_to``. ``scopes`` and
        ``response_mode`` default to the configuration's (``requested_scopes``,
        ``response_mode``).
        """
        redirect = redirect_uri or self.config.redirect_uri
        if not redirect:
            raise ConfigurationError('"redirect_uri" is needed to start a login')
        check_return_to(return_to)
        token = cookie_value(browser_token)
        url, login = start_login(
            self.metadata(),
            client_id=self.config.client_id,
            redirect_uri=redirect,
            scopes=scopes or self.config.requested_scopes,
            now=self._local_clock.now(),
            prompt=prompt,
            max_age=max_age,
            login_hint=login_hint,
            response_mode=response_mode or self.config.response_mode,
            extra=extra,
            browser_hash=browser_hash(token),
            return_to=return_to,
        )
        self._pending.put(login.state, login)
        cookie = BrowserCookie(
            name=BROWSER_COOKIE,
            value=token,
            path=urlsplit(redirect).path or "/",
            max_age=int(self.config.pending_ttl.total_seconds()),
            # form_post comes back as a cross-site POST; a query answer is a top-level GET.
            samesite="None" if login.response_mode == "form_post" else "Lax",
        )
        return AuthorizationRequest(url=url, cookie=cookie, login=login)

    def take_login_state(self, state: str | None, *, browser_token: str | None) -> LoginState:
        """Remove and return the stored ``LoginState`` for ``state``: it works once, and
        only in the browser that started it (``browser_token``: its ``BROWSER_COOKIE``).

        Raises:
            CallbackError: ``state_missing``, ``state_unknown`` (expired, forged,
                replayed) or ``browser_binding`` (the login is burnt then).
        """
        return self._pending.take_bound(state, browser_token=browser_token)

    def finish_login(
        self,
        params: Mapping[str, str],
        *,
        browser_token: str | None = None,
        expected: LoginState | None = None,
        fetch_userinfo: bool | None = None,
        received_via: ResponseMode | None = None,
    ) -> LoginResult:
        """Complete the login from the callback parameters (query or form_post body).

        The stored login named by ``params["state"]`` is consumed, so a replayed callback
        fails with ``state_unknown``; it must have been started in this browser
        (``browser_token``, the value of ``AuthorizationRequest.cookie``), else
        ``browser_binding``. ``expected`` replaces that lookup for a caller that kept the
        ``LoginState`` itself, in storage of that one browser. Pass ``received_via``
        (``"query"`` for a GET, ``"form_post"`` for a POST) to refuse a response
        delivered in another mode than the login asked for.

        ``fetch_userinfo``: None (the default) calls userinfo only when the ID token lacks
        a claim the login needs (``rank``; ``email``, ``name`` for their scopes), as with
        IdentityServer's default client settings; True always calls it; False never does.
        ``rank`` is enforced on the ID token merged with userinfo.
        """
        login = (
            expected
            if expected is not None
            else self.take_login_state(params.get("state"), browser_token=browser_token)
        )
        if received_via is not None and received_via != login.response_mode:
            # A code moved from a form post into a URL ends up in logs and Referer headers.
            raise CallbackError(
                "response_mode",
                f"the login asked for response_mode={login.response_mode} but the callback "
                f"came as {received_via}",
            )
        metadata = self.metadata()
        code = parse_callback(params, expected=login, metadata=metadata)
        tokens = exchange_code(
            self.http,
            client_config(self.config, metadata.token_endpoint),
            code=code,
            redirect_uri=login.redirect_uri,
            code_verifier=login.code_verifier,
            clock=self._local_clock,
        )
        if not tokens.id_token:
            raise IdTokenError("missing", "the token response has no id_token")
        id_token = self.validate_id_token(
            tokens.id_token,
            expected=self.expected_id_token(
                nonce=login.nonce,
                max_age=login.max_age,
                access_token=tokens.access_token,
                user_claims_elsewhere=True,
            ),
        )
        claims, userinfo = self._user_claims(
            id_token, tokens.access_token, scopes=login.scopes, fetch_userinfo=fetch_userinfo
        )
        return LoginResult(
            identity=identity_from_claims(id_token.issuer, claims),
            tokens=tokens,
            id_token=id_token,
            userinfo=userinfo,
            return_to=login.return_to,
        )

    def _user_claims(
        self,
        id_token: IdToken,
        access_token: str,
        *,
        scopes: Collection[str],
        fetch_userinfo: bool | None,
    ) -> tuple[dict[str, Any], dict[str, Any] | None]:
        """The login's claims: the ID token's, plus userinfo's when needed; ``rank`` checked.

        One back-channel call at most, and none when the ID token already carries what
        the login needs (IdentityServer's ``AlwaysIncludeUserClaimsInIdToken``).
        """
        claims: dict[str, Any] = dict(id_token.claims)
        need_rank = not self.config.allow_missing_rank
        missing = missing_user_claims(claims, scopes=scopes, require_rank=need_rank)
        fetch = bool(missing) if fetch_userinfo is None else fetch_userinfo
        if fetch and fetch_userinfo is None and not self.metadata().userinfo_endpoint:
            fetch = False  # nothing to ask; the rank check below says where we looked
        userinfo = None
        if fetch:
            userinfo = self.userinfo(access_token, subject=id_token.subject)
            claims = merge_claims(claims, userinfo)
        if need_rank:
            require_rank(
                claims,
                looked_in="the ID token or in userinfo"
                if userinfo is not None
                else "the ID token (the provider has no userinfo_endpoint)"
                if fetch_userinfo is None
                else "the ID token (userinfo was not asked)",
            )
        return claims, userinfo

    def expected_id_token(
        self,
        *,
        nonce: str,
        max_age: int | None = None,
        access_token: str | None = None,
        user_claims_elsewhere: bool = False,
    ) -> ExpectedIdToken:
        """Expectations for a login's ID token.

        ``user_claims_elsewhere``: the caller checks ``rank`` itself, on the ID token
        merged with userinfo (as ``finish_login`` does), so the ID token may lack it.
        """
        return ExpectedIdToken(
            issuer=self.config.issuer,
            client_id=self.config.client_id,
            nonce=nonce,
            algorithms=self.id_token_algorithms(),
            leeway=self.config.leeway,
            max_age=max_age,
            access_token=access_token,
            client_secret=self.config.client_secret,
            allow_missing_rank=self.config.allow_missing_rank or user_claims_elsewhere,
        )

    def validate_id_token(self, raw: str, *, expected: ExpectedIdToken) -> IdToken:
        """Validate with the cached keys; refetch the JWKS once if the key is unknown."""
        return self._with_rotation(
            None,
            lambda keys: validate_id_token(
                raw, keys=keys, expected=expected, now=self.clock.timestamp()
            ),
        )

    def _with_rotation(self, issuer: str | None, verify: Callable[[SigningKeys], _T]) -> _T:
        """Run ``verify`` with the cached keys; on an unknown key refetch once and retry."""
        jwks = self._provider(issuer).jwks
        keys = jwks.current()
        try:
            return verify(keys)
        except OidcTokenError as err:
            if not err.key_not_found:
                raise
            fresh = jwks.refresh_for(keys)
            if fresh is None:
                raise
        return verify(fresh)

    # -- userinfo and refresh ------------------------------------------------------------

    def userinfo(self, access_token: str, *, subject: str) -> dict[str, Any]:
        """Fetch userinfo with the token in the header; its ``sub`` must be ``subject``.

        Raises:
            UserinfoError: ``sub_mismatch`` (OIDC Core 1.0 §5.3.2) or ``malformed``.
        """
        endpoint = self.metadata().userinfo_endpoint
        if not endpoint:
            raise ProviderResponseError("the provider has no userinfo_endpoint")
        response = self.http.request(
            "GET",
            endpoint,
            what="userinfo",
            headers={"Authorization": f"Bearer {access_token}", "Accept": "application/json"},
        )
        if response.status_code != 200:
            raise error_from_response(response, "userinfo", redact=(access_token,))
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip()
        if content_type == "application/jwt":
            claims = self._signed_userinfo(response.text)
        else:
            try:
                claims = json_object(response, "userinfo")
            except ProviderResponseError as err:
                raise UserinfoError("malformed", "userinfo response is not a JSON object") from err
        if claims.get("sub") != subject:
            raise UserinfoError(
                "sub_mismatch", 'userinfo "sub" does not match the ID token; discarding it'
            )
        return claims

    def _signed_userinfo(self, raw: str) -> dict[str, Any]:
        keys = self.signing_keys()
        _, claims = verify_jwt(
            raw.strip(),
            keys=keys,
            algorithms=self.config.id_token_signing_algs,
            error=UserinfoError,
            what="signed userinfo",
            secret=self.config.client_secret,
        )
        if claims.get("iss") != self.config.issuer:
            raise UserinfoError("issuer", 'signed userinfo "iss" is not the provider')
        aud = claims.get("aud")
        if aud is not None and self.config.client_id not in (
            [aud] if isinstance(aud, str) else aud
        ):
            raise UserinfoError("audience", 'signed userinfo "aud" is not this client')
        return claims

    def refresh(
        self, refresh_token: str, *, previous: IdToken, fetch_userinfo: bool | None = None
    ) -> RefreshResult:
        """Refresh tokens; the new ID token must keep ``iss`` and ``sub`` (OIDC Core §12.2).

        Concurrent refreshes of the same refresh token share one request, so a provider
        that rotates refresh tokens does not see the old one twice. User claims are read
        as at login (``fetch_userinfo``, see :meth:`finish_login`): a refresh whose ID
        token lacks ``rank`` calls userinfo with the new access token.
        """
        key = hashlib.sha256(refresh_token.encode()).hexdigest()
        return self._refreshes.run(
            key, lambda: self._refresh(refresh_token, previous, fetch_userinfo)
        )

    def _refresh(
        self, refresh_token: str, previous: IdToken, fetch_userinfo: bool | None
    ) -> RefreshResult:
        metadata = self.metadata()
        tokens = request_refresh(
            self.http,
            client_config(self.config, metadata.token_endpoint),
            refresh_token,
            clock=self._local_clock,
        )
        if tokens.refresh_token is None:
            # RFC 6749 §6: the provider may keep the old refresh token valid.
            tokens = TokenSet(
                access_token=tokens.access_token,
                token_type=tokens.token_type,
                expires_at=tokens.expires_at,
                refresh_token=refresh_token,
                id_token=tokens.id_token,
                scope=tokens.scope,
            )
        id_token = previous
        if tokens.id_token:
            id_token = self.validate_id_token(
                tokens.id_token,
                expected=ExpectedIdToken.for_refresh(
                    previous,
                    access_token=tokens.access_token,
                    issuer=self.config.issuer,
                    client_id=self.config.client_id,
                    algorithms=self.id_token_algorithms(),
                    leeway=self.config.leeway,
                    client_secret=self.config.client_secret,
                    allow_missing_rank=True,  # checked below, with userinfo
                ),
            )
        claims, userinfo = self._user_claims(
            id_token,
            tokens.access_token,
            scopes=tokens.scope or self.config.requested_scopes,
            fetch_userinfo=fetch_userinfo,
        )
        return RefreshResult(
            tokens=tokens,
            id_token=id_token,
            identity=identity_from_claims(id_token.issuer, claims),
            userinfo=userinfo,
        )

    # -- logout --------------------------------------------------------------------------

    def end_session_url(
        self,
        *,
        id_token_hint: str | None,
        state: str | None = None,
        post_logout_redirect_uri: str | None = None,
    ) -> str:
        """The provider's logout URL; ``MetadataError`` if it has none (log out locally)."""
        return end_session_url(
            self.metadata(),
            client_id=self.config.client_id,
            id_token_hint=id_token_hint,
            post_logout_redirect_uri=post_logout_redirect_uri
            or self.config.post_logout_redirect_uri,
            state=state,
        )

    def validate_frontchannel_logout(self, params: Mapping[str, str]) -> str:
        """The ``sid`` of a front-channel logout request (``iss`` must be the issuer)."""
        return validate_frontchannel_logout(params, issuer=self.config.issuer)

    def validate_logout_token(self, token: str) -> LogoutToken:
        """Validate a back-channel logout token and refuse a replayed ``jti``."""
        result = self._with_rotation(
            None,
            lambda keys: validate_logout_token(
                token,
                keys=keys,
                now=self.clock.timestamp(),
                issuer=self.config.issuer,
                client_id=self.config.client_id,
                algorithms=self.id_token_algorithms(),
                leeway=self.config.leeway,
                client_secret=self.config.client_secret,
            ),
        )
        if not self.store.add(f"oidc:logout-jti:{result.jti}", b"1", timedelta(minutes=10)):
            raise TokenError("replay", "logout token was already used")
        return result

    # -- machine-to-machine --------------------------------------------------------------

    def client_credentials(self, scopes: tuple[str, ...]) -> TokenSet:
        """A client-credentials token for ``scopes``, cached until shortly before expiry."""
        margin = self.config.client_credentials_refresh_margin.total_seconds()
        key = tuple(sorted(scopes))
        with self._cc_lock:
            cached = self._cc_tokens.get(key)
            now = self._local_clock.now()
            if cached is not None and not cached.expires_within(margin, now=now):
                return cached
            tokens = request_client_credentials(
                self.http,
                client_config(self.config, self.metadata().token_endpoint),
                scopes,
                clock=self._local_clock,
            )
            if tokens.expires_at is not None:
                # Without expires_in there is no safe moment to reuse it: fetch anew.
                self._cc_tokens[key] = tokens
            return tokens

    def forget_client_credentials(self, scopes: tuple[str, ...]) -> None:
        """Drop a cached client-credentials token (the API answered 401)."""
        with self._cc_lock:
            self._cc_tokens.pop(tuple(sorted(scopes)), None)

    def password_grant(
        self, username: str, password: str, *, scopes: tuple[str, ...] | None = None
    ) -> TokenSet:
        """Legacy resource-owner password grant (RFC 6749 §4.3), as Dualog still offers.

        Prefer the code flow: this grant hands the user's password to the app and cannot
        do multi-factor sign-in. Any ID token returned is not validated here.
        """
        return request_token(
            self.http,
            client_config(self.config, self.metadata().token_endpoint),
            {
                "grant_type": "password",
                "username": username,
                "password": password,
                "scope": " ".join(scopes or self.config.requested_scopes),
            },
            what="password grant",
            clock=self._local_clock,
        )

    # -- APIs ----------------------------------------------------------------------------

    def validate_access_token(
        self, token: str, *, required_scopes: Collection[str] = ()
    ) -> AccessToken:
        """Validate a bearer JWT access token from the configured or an accepted issuer.

        Raises:
            ConfigurationError: no audience or client is configured (see
                :meth:`expected_access_token`).
            TokenError: the token is refused; ``reason`` says why.
        """
        self.expected_access_token(self.config.issuer)  # configuration before input
        issuer = unverified_issuer(token)
        if issuer != self.config.issuer and issuer not in self.config.accepted_issuers:
            raise TokenError("issuer", f"access token issuer {issuer!r} is not accepted")
        expected = self.expected_access_token(issuer, required_scopes=required_scopes)
        return self._with_rotation(
            issuer,
            lambda keys: validate_access_token(
                token, keys=keys, expected=expected, now=self.clock.timestamp()
            ),
        )

    def expected_access_token(
        self, issuer: str, *, required_scopes: Collection[str] = ()
    ) -> ExpectedAccessToken:
        """What a bearer token from ``issuer`` must say to be accepted by this app's API.

        Raises:
            ConfigurationError: neither ``access_token_audience`` nor
                ``access_token_client_ids`` is set and ``allow_any_audience`` is off.
        """
        config = self.config
        return ExpectedAccessToken(
            issuer=issuer,
            # HS256 is keyed by our own client secret: never valid for tokens others issued.
            algorithms=tuple(a for a in config.id_token_signing_algs if a != "HS256"),
            audiences=config.access_token_audience,
            client_ids=config.access_token_client_ids,
            allow_any_audience=config.allow_any_audience,
            allow_untyped_access_tokens=config.allow_untyped_access_tokens,
            leeway=config.leeway,
            required_scopes=tuple(required_scopes),
        )
