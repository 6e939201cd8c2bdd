"""The framework-neutral steps of a web sign-in, for every web adapter.

Each function takes plain values read from the request (query or form parameters, cookie
values, the loaded session) and returns what the adapter must send: a redirect, an HTML
form to auto-post, cookies to set or clear. Nothing here touches a framework's request or
response objects, and every step is synchronous (the protocol cores and the store are), so
an async adapter runs each step in a worker thread.

Every adapter (Flask, Starlette, Django) runs these same steps, so a rule changes in one
place; the shared contract tests in ``tests/frameworks`` run each app against them.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import quote, urlsplit

from ..errors import (
    MetadataError,
    NotConfiguredError,
    ProviderError,
    RpkitError,
    SamlResponseError,
    StoreUnavailableError,
    TokenError,
)
from ..identity import CrewIdentity
from ..oidc import BROWSER_COOKIE as OIDC_BROWSER_COOKIE
from ..oidc import OidcClient
from ..store import Batch
from .pages import Refusal, describe, safe_next, setting_to_check
from .sessions import NewSession, ServerSession, SessionStore, sid_index, sub_index
from .settings import Settings

if TYPE_CHECKING:
    from ..saml import ServiceProvider

__all__ = [
    "LOCAL_LOGOUT_TITLE",
    "OIDC_BROWSER_COOKIE",
    "OIDC_CALLBACK_PATH",
    "SIGNED_OUT_COOKIE",
    "SIGNED_OUT_NOTICE",
    "Choice",
    "Outgoing",
    "SignIn",
    "SloOutcome",
    "WebState",
    "backchannel_logout",
    "backchannel_refusal",
    "describe",
    "finish_oidc_login",
    "finish_saml_login",
    "frontchannel_logout",
    "login_choice",
    "logout",
    "safe_next",
    "saml_single_logout",
    "setting_to_check",
    "start_oidc_login",
]

log = logging.getLogger("rpkit.web")

# A one-time "you have signed out" notice for the page the browser comes back to (after
# the IdP's logout round trip, whatever URL that is); shown once, then cleared.
SIGNED_OUT_COOKIE = "rpkit_signed_out"
SIGNED_OUT_NOTICE = timedelta(minutes=10)
LOCAL_LOGOUT_TITLE = "Signed out of this app"


class WebState:
    """Per-app state: settings, the shared store, the protocol clients and the sessions.

    Building it talks to no identity provider: discovery and SAML metadata are fetched at
    the first login, so the app starts while Dualog is unreachable.
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.sessions = SessionStore(settings.store, lifetime=settings.session_lifetime)
        self.oidc: OidcClient | None = (
            OidcClient(settings.oidc, store=settings.store) if settings.oidc else None
        )
        self.saml: ServiceProvider | None = None
        if settings.saml is not None:
            from ..saml import ServiceProvider

            self.saml = ServiceProvider(settings.saml, store=settings.store)
        secure = settings.secure_cookies
        # __Host- binds the cookie to this exact origin (no Domain, Path=/, Secure).
        self.session_cookie = (
            "__Host-rpkit_session" if secure and not settings.path_prefix else "rpkit_session"
        )

    @property
    def protocols(self) -> tuple[str, ...]:
        """The configured protocols, in the order buttons are shown."""
        return tuple(
            name for name, on in (("oidc", self.oidc), ("saml", self.saml)) if on is not None
        )

    def providers(self) -> dict[str, str]:
        """Which identity provider each configured protocol signs in with.

        ``{"oidc": <issuer>, "saml": <IdP metadata URL or file>}``, for start-up logs.
        """
        found: dict[str, str] = {}
        if self.settings.oidc is not None:
            found["oidc"] = self.settings.oidc.issuer
        if self.settings.saml is not None:
            saml = self.settings.saml
            found["saml"] = str(saml.idp_metadata_url or saml.idp_metadata_file)
        return found

    def cookie_flags(self, *, cross_site_post: bool = False) -> dict[str, Any]:
        """The flags of every rpkit cookie, as keyword arguments of each framework's
        ``set_cookie``: HttpOnly, ``Secure`` off loopback http, and ``SameSite=Lax`` unless
        it must ride a cross-site POST.

        ``cross_site_post``: the IdP's auto-posted form (OIDC ``form_post``) is a
        cross-site POST, which carries only ``SameSite=None; Secure`` cookies. Over plain
        http (the loopback demo) browsers drop such cookies, and the IdP and the app share
        the loopback site anyway, so Lax is kept there.
        """
        secure = self.settings.secure_cookies
        samesite = "None" if cross_site_post and secure else "Lax"
        return {"secure": secure, "httponly": True, "samesite": samesite}

    def path(self, path: str) -> str:
        return self.settings.path_prefix + path

    def require_oidc(self) -> OidcClient:
        if self.oidc is None:
            raise NotConfiguredError("Sign-in with OpenID Connect is not configured for this app.")
        return self.oidc

    def require_saml(self) -> ServiceProvider:
        if self.saml is None:
            raise NotConfiguredError("Sign-in with SAML is not configured for this app.")
        return self.saml

    def set_cookie(
        self,
        response: Any,
        name: str,
        value: str,
        *,
        path: str = "/",
        max_age: int | None = None,
        cross_site_post: bool = False,
    ) -> None:
        """Set an rpkit cookie on any framework's response (Flask, Starlette and Django
        responses share ``set_cookie``'s keywords); flags: :meth:`cookie_flags`."""
        flags = self.cookie_flags(cross_site_post=cross_site_post)
        response.set_cookie(name, value, path=path, max_age=max_age, **flags)

    def check_bearer_configuration(self) -> None:
        """Raise ``ConfigurationError`` if bearer tokens could not be checked.

        With OIDC configured, the API audience or the allowed clients must be set (or
        ``allow_any_audience``). Without OIDC a bearer view answers 404 per request, as
        every OIDC route does, so an app may serve SAML alone.
        """
        if self.oidc is not None:
            self.oidc.expected_access_token(self.oidc.config.issuer)


@dataclass(frozen=True, slots=True)
class Outgoing:
    """What to send the browser: a redirect (``location``), a page (``html``), or a page of
    the app's layout (``page``: a logout that ended the session here only says so)."""

    location: str | None = None
    status: int = 303
    html: str | None = None
    headers: tuple[tuple[str, str], ...] = ()
    page: Refusal | None = None


def _send_saml(message: Any) -> Outgoing:
    if message.binding == "redirect" and message.url:
        return Outgoing(location=message.url, status=302)
    return Outgoing(html=message.form_html(), status=200)


@dataclass(frozen=True, slots=True)
class Choice:
    """The sign-in chooser: one button per configured protocol."""

    protocols: tuple[str, ...]
    login_urls: dict[str, str]

    def context(self) -> dict[str, Any]:
        """The values of the ``rpkit/chooser.html`` template."""
        labels = {"oidc": "Sign in with Dualog (OIDC)", "saml": "Sign in with Dualog (SAML)"}
        return {"protocols": self.protocols, "login_urls": self.login_urls, "labels": labels}


def login_choice(state: WebState, next_value: str | None) -> str | Choice:
    """``GET /auth/login``: the one protocol's login URL, or the chooser (no protocol:
    a chooser without buttons, which the adapter answers 404)."""
    target = quote(safe_next(next_value))
    urls = {p: state.path(f"/auth/login/{p}?next={target}") for p in state.protocols}
    if len(urls) == 1:
        return next(iter(urls.values()))
    return Choice(state.protocols, urls)


@dataclass(frozen=True, slots=True)
class SignIn:
    """A committed session: the cookie value to hand out and where to send the browser."""

    new: NewSession
    next: str


# -- OIDC ------------------------------------------------------------------------------

OIDC_CALLBACK_PATH = "/auth/oidc/callback"


@dataclass(frozen=True, slots=True)
class OidcStart:
    location: str
    browser: str  # the value of the browser-binding cookie (new or kept)
    cross_site_post: bool  # form_post: the cookie must ride a cross-site POST
    max_age: int  # seconds: as long as the pending login lives

    def hand_off(self, state: WebState, response: Any) -> None:
        """Give the browser the cookie that binds the pending login to it, sent back to the
        callback only and kept as long as the pending login lives."""
        state.set_cookie(
            response,
            OIDC_BROWSER_COOKIE,
            self.browser,
            path=state.path(OIDC_CALLBACK_PATH),
            max_age=self.max_age,
            cross_site_post=self.cross_site_post,
        )


def start_oidc_login(state: WebState, next_value: str | None, browser: str | None) -> OidcStart:
    """Start an authorization-code login bound to this browser (``browser`` = its cookie)."""
    client = state.require_oidc()
    started = client.start_login(
        redirect_uri=state.settings.url(OIDC_CALLBACK_PATH),
        return_to=safe_next(next_value),
        browser_token=browser,
    )
    cookie = started.cookie
    return OidcStart(started.url, cookie.value, cookie.cross_site_post, cookie.max_age)


def finish_oidc_login(
    state: WebState,
    params: Mapping[str, str],
    *,
    received_via: Literal["query", "form_post"],
    browser: str | None,
    current: ServerSession | None,
) -> SignIn:
    """Finish the login: the state must be ours, unused, and started in this browser."""
    client = state.require_oidc()
    result = client.finish_login(dict(params), browser_token=browser, received_via=received_via)
    data: dict[str, Any] = {"id_token": result.tokens.id_token}
    sid = result.id_token.claims.get("sid")
    if isinstance(sid, str) and sid:
        data["sid"] = sid
    new = state.sessions.prepare(result.identity, protocol_data=data, replaces=current)
    state.settings.store.commit(new.batch)
    log.info("rpkit: OIDC sign-in of %s", result.identity.subject)
    return SignIn(new, safe_next(result.return_to))


def backchannel_logout(state: WebState, logout_token: str | None) -> int:
    """OIDC Back-Channel Logout 1.0 §2.5: end the sessions the token names; return how many."""
    client = state.require_oidc()
    if not logout_token:
        raise TokenError("malformed", 'the request has no "logout_token"')
    logout_ = client.validate_logout_token(logout_token)
    ended = 0
    if logout_.session_id:
        ended += state.sessions.end_by_index(*sid_index(logout_.issuer, logout_.session_id))
    if logout_.subject and not ended:
        # No session filed under that sid: end the user's sessions at this issuer; logging
        # out too much is the safe direction.
        ended += state.sessions.end_by_index(*sub_index("oidc", logout_.issuer, logout_.subject))
    log.info("rpkit: back-channel logout ended %d session(s)", ended)
    return ended


def backchannel_refusal(err: RpkitError, correlation_id: str) -> tuple[int, dict[str, str]]:
    """Log a refused back-channel logout; its status and JSON body. 503 when the provider's
    keys or the app's store could not be reached (the provider retries later), else 400
    (§2.8: the token was refused)."""
    log.warning(
        "rpkit: back-channel logout refused (%s) correlation_id=%s", err.code, correlation_id
    )
    status = 503 if isinstance(err, ProviderError | StoreUnavailableError) else 400
    return status, {"error": "invalid_request", "correlation_id": correlation_id}


def frontchannel_logout(state: WebState, params: Mapping[str, str]) -> Outgoing:
    """OIDC Front-Channel Logout 1.0 §2: end the sessions of the provider session ``sid``.

    Loaded by the provider in a hidden iframe, usually without this app's cookies, so the
    session is found by ``(iss, sid)`` alone; ``iss`` must be the configured issuer.
    """
    client = state.require_oidc()
    sid = client.validate_frontchannel_logout(params)
    ended = state.sessions.end_by_index(*sid_index(client.config.issuer, sid))
    log.info("rpkit: front-channel logout ended %d session(s)", ended)
    issuer = urlsplit(client.config.issuer)
    return Outgoing(
        status=200,
        html=(
            "<!doctype html><html lang=en><head><meta charset=utf-8><title>Signed out</title>"
            "</head><body>Signed out.</body></html>"
        ),
        headers=(
            ("Cache-Control", "no-store"),
            # Only the provider may frame this page (it renders it in an iframe).
            ("Content-Security-Policy", f"frame-ancestors {issuer.scheme}://{issuer.netloc}"),
        ),
    )


# -- SAML ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class SamlStart:
    outgoing: Outgoing
    cookie: Any  # rpkit.saml.BrowserCookie


def start_saml_login(state: WebState, next_value: str | None, browser: str | None) -> SamlStart:
    """A signed AuthnRequest; the pending request is bound to this browser."""
    sp = state.require_saml()
    login_request = sp.start_login(return_to=safe_next(next_value), browser_token=browser)
    return SamlStart(_send_saml(login_request.message), login_request.cookie)


def finish_saml_login(
    state: WebState,
    form: Mapping[str, str],
    *,
    browser: str | None,
    current: ServerSession | None,
) -> SignIn:
    """Validate the IdP's POSTed response (every profile check) and store the session."""
    from ..saml import SamlSession

    sp = state.require_saml()
    saml_response = form.get("SAMLResponse")
    if not saml_response:
        raise SamlResponseError("malformed", "the request has no SAMLResponse")
    prepared: list[NewSession] = []

    def session_writes(identity: CrewIdentity) -> Batch:
        # Committed with the replay-cache entry in one batch (one Redis round trip).
        data = {"saml_session": SamlSession.from_identity(identity).to_dict()}
        prepared.append(state.sessions.prepare(identity, protocol_data=data, replaces=current))
        return prepared[-1].batch

    identity, return_to = sp.complete_login(
        saml_response, form.get("RelayState"), browser_token=browser, writes=session_writes
    )
    log.info("rpkit: SAML sign-in of %s", identity.subject)
    return SignIn(prepared[-1], safe_next(return_to))


@dataclass(frozen=True, slots=True)
class SloOutcome:
    outgoing: Outgoing
    end_browser_session: bool  # clear this browser's session cookie


def saml_single_logout(
    state: WebState,
    *,
    binding: Literal["redirect", "post"],
    query_string: str | None,
    values: Mapping[str, str],
    form: Mapping[str, str],
    current: ServerSession | None,
) -> SloOutcome:
    """The IdP's answer to our LogoutRequest, or its own LogoutRequest (``values`` = query
    and form together; ``form`` = the POSTed fields only)."""
    from ..saml import SamlSession
    from ._saml_hint import logout_request_name_id

    sp = state.require_saml()
    if "SAMLResponse" in values:
        pending = sp.process_logout_response(
            binding=binding,
            query_string=query_string,
            saml_response=form.get("SAMLResponse"),
            relay_state=form.get("RelayState"),
        )
        return SloOutcome(Outgoing(location=safe_next(pending.return_to)), False)
    if "SAMLRequest" not in values:
        raise SamlResponseError("malformed", "the request has no SAMLRequest or SAMLResponse")
    candidates: list[ServerSession]
    if current is not None and current.protocol == "saml":
        candidates = [current]
    else:
        name_id = logout_request_name_id(
            values.get("SAMLRequest", ""), deflated=binding == "redirect"
        )
        candidates = []
        if name_id:
            issuer = sp.idp().entity_id
            candidates = state.sessions.find_by_index(*sub_index("saml", issuer, name_id))[:20]
    if not candidates:
        raise SamlResponseError("session", "no SAML session here matches the LogoutRequest")
    last_error: RpkitError | None = None
    for record in candidates:
        try:
            result = sp.process_logout_request(
                binding=binding,
                session=SamlSession(**record.protocol_data["saml_session"]),
                query_string=query_string,
                saml_request=form.get("SAMLRequest"),
                relay_state=form.get("RelayState"),
            )
        except SamlResponseError as err:
            if err.reason not in ("name_id", "session_index", "session"):
                raise
            last_error = err
            continue
        state.sessions.end(record)
        if result.all_sessions:
            # Verified NameID, no SessionIndex: the principal's every session ends.
            state.sessions.end_by_index(
                *sub_index("saml", record.identity.issuer, record.identity.subject)
            )
        mine = current is not None and (
            current.key == record.key
            or (
                result.all_sessions
                and current.protocol == "saml"
                and (current.identity.issuer, current.identity.subject)
                == (record.identity.issuer, record.identity.subject)
            )
        )
        if mine and current is not None:
            state.sessions.end(current)
        return SloOutcome(_send_saml(result.message), mine)
    assert last_error is not None
    raise last_error


# -- logout ----------------------------------------------------------------------------


def logout(state: WebState, record: ServerSession) -> Outgoing:
    """End ``record`` here, then send the browser to log out at the IdP it came from.

    The caller has checked the CSRF token. When the IdP cannot be told (no ID token to show
    it, provider unreachable) the logout is local only and the page says so; the session
    here ends either way.
    """
    try:
        if record.protocol == "oidc":
            return _logout_oidc(state, record)
        return _logout_saml(state, record)
    finally:
        state.sessions.end(record)


def _logout_oidc(state: WebState, record: ServerSession) -> Outgoing:
    client = state.require_oidc()
    id_token = record.protocol_data.get("id_token")
    if not id_token:
        # IdentityServer follows post_logout_redirect_uri only with an id_token_hint
        # (expired or not): without one the user would be stranded at Dualog's page.
        log.warning("rpkit: OIDC logout is local only (the session kept no ID token)")
        return _logged_out_locally(
            "This session kept no ID token to show Dualog, so your Dualog sign-in may "
            "still be active. Sign out at Dualog too on a shared computer."
        )
    try:
        url = client.end_session_url(
            id_token_hint=id_token,
            post_logout_redirect_uri=client.config.post_logout_redirect_uri
            or state.settings.url("/"),
        )
    except (MetadataError, ProviderError) as err:
        log.warning("rpkit: OIDC logout is local only (%s)", err.code)
        return _logged_out_locally(
            "Dualog could not be reached to end your sign-in there; it may still be active."
        )
    return Outgoing(location=url)


def _logged_out_locally(message: str) -> Outgoing:
    return Outgoing(page=Refusal(200, LOCAL_LOGOUT_TITLE, message, "logged_out_locally"))


def _logout_saml(state: WebState, record: ServerSession) -> Outgoing:
    from ..saml import SamlSession

    home = state.path("/")
    sp = state.require_saml()
    try:
        session = SamlSession(**record.protocol_data["saml_session"])
        outgoing = sp.start_logout(session, return_to=home)
    except (ProviderError, KeyError, TypeError) as err:
        log.warning("rpkit: SAML logout is local only (%s)", type(err).__name__)
        return Outgoing(location=home)
    if outgoing.message is None:
        return Outgoing(location=home)
    return _send_saml(outgoing.message)
