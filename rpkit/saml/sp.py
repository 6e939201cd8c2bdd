"""The SAML service provider facade: login, ACS, logout and SP metadata.

Web-framework neutral: methods take strings from the request and return values (URLs,
form fields, cookies, identities) for the web layer to turn into responses.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from lxml import etree

from .._clock import Clock, clock_from_datetimes
from .._pending import PendingStore, Refusals, browser_hash, cookie_value, digest, new_key
from ..errors import (
    ConfigurationError,
    NotConfiguredError,
    SamlResponseError,
    ValidationError,
)
from ..identity import CrewIdentity
from ..store import Batch, Committed, MemoryStore, StateStore
from . import _bindings, _gate, _pysaml2, _xmlsec
from .config import NAME_ID_FORMATS, SamlConfig
from .logout import read_logout_message, validate_logout_request, validate_logout_response
from .metadata import IdpMetadata, IdpMetadataSource
from .response import TAKEN_AFTER, TakenAfter, ValidatedResponse, replay_ttl, validate_response
from .state import (
    BrowserCookie,
    LoginRequest,
    LogoutRequest,
    LogoutResult,
    PendingLogout,
    PendingRequest,
    SamlSession,
    SignedMessage,
    check_return_to,
)

__all__ = ["BROWSER_COOKIE", "LoginRequest", "LogoutRequest", "LogoutResult", "ServiceProvider"]

BROWSER_COOKIE = "rpkit_saml"
"""The cookie that binds a pending SAML login to the browser that started it."""
_REPLAY = "saml:replay:"


def _replayed() -> SamlResponseError:
    return SamlResponseError("replay", "this SAML assertion was already used")


_PENDING = "saml:pending:"
_LOGOUT = "saml:logout:"
# RelayState keys both pending logins and logouts: absent, not ours or used are one reason.
_REFUSALS = Refusals(error=SamlResponseError, missing="relay_state", unknown="relay_state")

Binding = Literal["redirect", "post"]


def _in_flight(now: datetime, return_to: str) -> dict[str, Any]:
    """The fields of a new request in flight: a fresh ID and RelayState (opaque keys)."""
    return {
        "request_id": "_" + secrets.token_hex(20),
        "relay_state": new_key(),
        "created_at": now,
        "return_to": return_to,
    }


class ServiceProvider:
    """One SAML SP talking to one IdP.

    ``metadata`` is an :class:`IdpMetadataSource` (refreshing, the default built from
    ``config``) or a fixed :class:`IdpMetadata`. ``store`` holds pending requests and the
    assertion replay cache; use a shared store (Redis) with several app processes.
    """

    def __init__(
        self,
        config: SamlConfig,
        *,
        metadata: IdpMetadataSource | IdpMetadata | None = None,
        store: StateStore | None = None,
        clock: Clock | Callable[[], datetime] | None = None,
    ) -> None:
        self.config = config
        self._clock = clock_from_datetimes(clock)
        self.metadata = (
            metadata if metadata is not None else IdpMetadataSource(config, clock=self._clock)
        )
        self.store: StateStore = store if store is not None else MemoryStore()
        ttl = config.pending_ttl
        self._pending = PendingStore(
            lambda: self.store, PendingRequest, prefix=_PENDING, ttl=ttl, refusals=_REFUSALS
        )
        self._pending_logouts = PendingStore(
            lambda: self.store, PendingLogout, prefix=_LOGOUT, ttl=ttl, refusals=_REFUSALS
        )
        self._forced_refresh_at: datetime | None = None
        self._signing_key: _xmlsec.SigningKey | None = None
        keys = []
        for key_file, cert_file in (
            (config.sp_key_file, config.sp_cert_file),
            (config.sp_next_key_file, config.sp_next_cert_file),
        ):
            if key_file and cert_file:
                try:
                    keys.append(
                        _xmlsec.SigningKey(
                            Path(key_file).read_bytes(), Path(cert_file).read_bytes()
                        )
                    )
                except Exception as err:  # xmlsec.Error, OSError: unusable key material
                    raise ConfigurationError(f"cannot load SP key {key_file!r}") from err
        self._keys = tuple(keys)
        if keys:
            self._signing_key = keys[0]
        if config.logout_url is not None and self._signing_key is None:
            # SAML Profiles §4.4.3.1/§4.4.4.1: logout messages must be signed.
            raise ConfigurationError('"logout_url" needs "sp_key_file"/"sp_cert_file"')

    def _now(self, now: datetime | None) -> datetime:
        now = now if now is not None else self._clock.now()
        if now.tzinfo is None:
            raise ValidationError("now", "now must be timezone-aware (UTC)")
        return now

    def idp(self, now: datetime | None = None) -> IdpMetadata:
        """The IdP's metadata as of ``now``; expired metadata raises ``MetadataError``."""
        now = self._now(now)
        if isinstance(self.metadata, IdpMetadata):
            self.metadata.check_valid(now)
            return self.metadata
        return self.metadata.get(now)

    def _signer(self) -> _xmlsec.SigningKey | None:
        return self._signing_key if self.config.sign_requests else None

    def _message(
        self,
        *,
        binding: Binding,
        url: str,
        param: str,
        xml: bytes,
        relay_state: str | None,
        always_sign: bool = False,
    ) -> SignedMessage:
        signer = self._signing_key if always_sign else self._signer()
        if binding == "redirect":
            return SignedMessage(
                binding="redirect",
                url=_bindings.encode_redirect(url, param, xml, relay_state, signer),
            )
        if signer is not None:
            root = etree.fromstring(xml)
            _xmlsec.sign_enveloped(root, signer)
            xml = etree.tostring(root)
        return SignedMessage(
            binding="post", form_action=url, form=_bindings.post_fields(param, xml, relay_state)
        )

    # -- login ---------------------------------------------------------------------------

    def start_login(
        self,
        *,
        return_to: str = "/",
        binding: Binding | None = None,
        force_authn: bool = False,
        browser_token: str | None = None,
        now: datetime | None = None,
    ) -> LoginRequest:
        """Build an AuthnRequest and store its :class:`PendingRequest` under a new RelayState.

        Pass the current ``BROWSER_COOKIE`` value as ``browser_token`` when the browser
        already has one, so logins started in two tabs both complete.
        """
        now = self._now(now)
        check_return_to(return_to)
        idp = self.idp(now)
        binding = binding or self.config.authn_request_binding
        url = idp.sso_redirect_url if binding == "redirect" else idp.sso_post_url
        if url is None:
            binding = "post" if binding == "redirect" else "redirect"
            url = idp.sso_redirect_url if binding == "redirect" else idp.sso_post_url
        assert url is not None  # load_idp_metadata requires one of the two
        browser_token = cookie_value(browser_token)
        pending = PendingRequest(
            **_in_flight(now, return_to), browser_hash=browser_hash(browser_token)
        )
        xml = _pysaml2.build_authn_request(
            request_id=pending.request_id,
            issue_instant=now,
            destination=url,
            sp_entity_id=self.config.sp_entity_id,
            acs_url=self.config.acs_url,
            name_id_format=self.config.name_id_format,
            force_authn=force_authn,
        )
        message = self._message(
            binding=binding, url=url, param="SAMLRequest", xml=xml, relay_state=pending.relay_state
        )
        self._pending.put(pending.relay_state, pending)
        cookie = BrowserCookie(
            name=BROWSER_COOKIE,
            value=browser_token,
            path=urlsplit(self.config.acs_url).path or "/",
            max_age=int(self.config.pending_ttl.total_seconds()),
        )
        return LoginRequest(message=message, cookie=cookie, pending=pending)

    def take_pending(self, relay_state: str | None, *, browser_token: str | None) -> PendingRequest:
        """Remove and return the pending request for ``relay_state`` (single use).

        Raises ``SamlResponseError("relay_state")`` when RelayState is absent, not one of
        ours (a URL, say) or already used, and ``("browser_binding")`` when the cookie set
        by :meth:`start_login` is missing or belongs to another browser.
        """
        return self._pending.take_bound(relay_state, browser_token=browser_token)

    def process_response(
        self,
        saml_response: str,
        relay_state: str | None,
        *,
        expected: PendingRequest | None,
        now: datetime | None = None,
        writes: Callable[[CrewIdentity], Batch] | None = None,
    ) -> CrewIdentity:
        """Validate the ACS POST and return the crew member; every failure raises.

        ``expected`` is the pending request from :meth:`take_pending`; pass ``None`` only
        for IdP-initiated SSO, which also needs ``allow_unsolicited``. ``writes`` builds the
        caller's writes for the validated identity (its session); they are committed with
        the replay-cache entry in one atomic batch, so a replay writes nothing.
        """
        now = self._now(now)
        if expected is not None and relay_state != expected.relay_state:
            raise SamlResponseError("relay_state", "RelayState does not match the login request")
        validated = self._validate(saml_response, expected, now)
        if not self.store.commit(self._writes(validated, now, writes)):
            raise _replayed()
        return validated.identity

    def _validate(
        self, saml_response: str, expected: PendingRequest | TakenAfter | None, now: datetime
    ) -> ValidatedResponse:
        idp = self.idp(now)
        try:
            return validate_response(
                saml_response,
                config=self.config,
                idp=idp,
                decryption_keys=self._keys,
                expected=expected,
                now=now,
            )
        except SamlResponseError as err:
            fresh = self._refreshed_after_signature_failure(err, idp, now)
            if fresh is None:
                raise
            return validate_response(
                saml_response,
                config=self.config,
                idp=fresh,
                decryption_keys=self._keys,
                expected=expected,
                now=now,
            )

    @staticmethod
    def _writes(
        validated: ValidatedResponse,
        now: datetime,
        writes: Callable[[CrewIdentity], Batch] | None,
    ) -> Batch:
        """The caller's writes for the identity, guarded by the assertion's replay entry."""
        replay_key = _REPLAY + digest(validated.identity.issuer + "\n" + validated.assertion_id)
        batch = writes(validated.identity) if writes is not None else Batch()
        return batch.guard(replay_key, b"1", replay_ttl(validated, now))

    def _refreshed_after_signature_failure(
        self, err: SamlResponseError, idp: IdpMetadata, now: datetime
    ) -> IdpMetadata | None:
        """Fresh metadata with other signing keys, when a signature failed on the old ones.

        The IdP may have rotated its key before the scheduled refresh (an emergency
        rotation, or a ship that was offline). At most one out-of-schedule fetch per
        ``metadata_min_refresh``, so forged responses cannot make the SP hammer the IdP.
        """
        # key_not_found: a signature failure folded into another reason (an encrypted
        # assertion under an unsigned Response answers "decryption" for all its failures).
        signature_failed = err.reason == "signature" or err.key_not_found
        if not signature_failed or not isinstance(self.metadata, IdpMetadataSource):
            return None
        last = self._forced_refresh_at
        if last is not None and now - last < self.config.metadata_min_refresh:
            return None
        self._forced_refresh_at = now
        fresh = self.metadata.refresh(now)
        if fresh.key_fingerprints == idp.key_fingerprints:
            return None
        return fresh

    def complete_login(
        self,
        saml_response: str,
        relay_state: str | None,
        *,
        browser_token: str | None,
        now: datetime | None = None,
        writes: Callable[[CrewIdentity], Batch] | None = None,
    ) -> tuple[CrewIdentity, str]:
        """:meth:`take_pending` + :meth:`process_response`; returns ``(identity, return_to)``.

        On a ``TakingStore`` (memory, Redis) in one store round trip: the response is
        validated first, then the pending request is taken in the commit of the replay
        entry and ``writes`` (refusals as in the two steps; a response that fails
        validation leaves the login pending). Without RelayState the response is treated
        as unsolicited (refused unless ``allow_unsolicited``, then ``return_to`` is ``/``).
        ``writes``: see :meth:`process_response`.
        """
        if not relay_state and self.config.allow_unsolicited:
            identity = self.process_response(
                saml_response, None, expected=None, now=now, writes=writes
            )
            return identity, "/"
        store = self.store
        # Not isinstance(store, TakingStore): a runtime protocol check costs a login ~50 us.
        commit_taking = getattr(store, "commit_taking", None)
        if commit_taking is None:  # a store of your own: two round trips
            pending = self.take_pending(relay_state, browser_token=browser_token)
            identity = self.process_response(
                saml_response, relay_state, expected=pending, now=now, writes=writes
            )
            return identity, pending.return_to
        # One round trip: validate first, then take the pending request (bound to this
        # browser and to the request the Response answers) with the replay entry and the
        # session, atomically. A response that fails validation leaves the login pending.
        key = self._pending.checked_key(relay_state)
        now = self._now(now)
        validated = self._validate(saml_response, TAKEN_AFTER, now)
        batch = self._pending.take_in(
            self._writes(validated, now, writes),
            key,
            browser_token=browser_token,
            fields={"request_id": validated.in_response_to or ""},
        )
        committed: Committed = commit_taking(batch)
        if committed.refused == "guard":
            raise _replayed()
        pending = self._pending.taken(committed, {"request_id": "in_response_to"})
        return validated.identity, pending.return_to

    # -- logout --------------------------------------------------------------------------

    def start_logout(
        self,
        session: SamlSession | CrewIdentity,
        *,
        return_to: str = "/",
        binding: Binding = "redirect",
        now: datetime | None = None,
    ) -> LogoutRequest:
        """Build a signed LogoutRequest, or return ``message=None`` for local-only logout.

        Local logout is the answer when the IdP metadata lists no logout endpoint.
        """
        now = self._now(now)
        check_return_to(return_to)
        if isinstance(session, CrewIdentity):
            session = SamlSession.from_identity(session)
        idp = self.idp(now)
        url = idp.slo_redirect_url if binding == "redirect" else idp.slo_post_url
        url = url or idp.slo_redirect_url or idp.slo_post_url
        if url is None:
            return LogoutRequest(message=None, pending=None)
        if binding == "redirect" and url != idp.slo_redirect_url:
            binding = "post"
        elif binding == "post" and url != idp.slo_post_url:
            binding = "redirect"
        pending = PendingLogout(**_in_flight(now, return_to))
        xml = _pysaml2.build_logout_request(
            request_id=pending.request_id,
            issue_instant=now,
            destination=url,
            sp_entity_id=self.config.sp_entity_id,
            name_id=session.name_id,
            name_id_format=session.name_id_format,
            name_qualifier=session.name_qualifier,
            sp_name_qualifier=session.sp_name_qualifier,
            session_index=session.session_index,
            lifetime=self.config.max_message_age,
        )
        message = self._message(
            binding=binding,
            url=url,
            param="SAMLRequest",
            xml=xml,
            relay_state=pending.relay_state,
            always_sign=True,
        )
        self._pending_logouts.put(pending.relay_state, pending)
        return LogoutRequest(message=message, pending=pending)

    def process_logout_response(
        self,
        *,
        binding: Binding,
        query_string: str | None = None,
        saml_response: str | None = None,
        relay_state: str | None = None,
        now: datetime | None = None,
    ) -> PendingLogout:
        """Check the IdP's LogoutResponse against our pending request; return it.

        For HTTP-Redirect pass the raw ``query_string`` (its signature covers the bytes as
        sent); for HTTP-POST pass the ``SAMLResponse`` and ``RelayState`` form fields.
        """
        now = self._now(now)
        self._require_logout_url()
        root, query_relay_state = read_logout_message(
            binding=binding,
            param="SAMLResponse",
            config=self.config,
            idp=self.idp(now),
            query_string=query_string,
            form_value=saml_response,
            tag="LogoutResponse",
        )
        relay_state = query_relay_state if binding == "redirect" else relay_state
        expected = self._pending_logouts.take(relay_state)
        validate_logout_response(root, config=self.config, expected=expected, now=now)
        return expected

    def process_logout_request(
        self,
        *,
        binding: Binding,
        session: SamlSession | CrewIdentity,
        query_string: str | None = None,
        saml_request: str | None = None,
        relay_state: str | None = None,
        now: datetime | None = None,
    ) -> LogoutResult:
        """Check an IdP-initiated LogoutRequest against ``session``; return our answer.

        The request must be signed (over the raw ``query_string`` for HTTP-Redirect),
        fresh, not replayed, and name the session's NameID and SessionIndex.
        """
        now = self._now(now)
        self._require_logout_url()
        if isinstance(session, CrewIdentity):
            session = SamlSession.from_identity(session)
        idp = self.idp(now)
        root, query_relay_state = read_logout_message(
            binding=binding,
            param="SAMLRequest",
            config=self.config,
            idp=idp,
            query_string=query_string,
            form_value=saml_request,
            tag="LogoutRequest",
        )
        if session.issuer != idp.entity_id:
            raise SamlResponseError("issuer", "the session was not issued by this IdP")
        validated = validate_logout_request(root, config=self.config, session=session, now=now)
        ttl = self.config.max_message_age + 2 * self.config.clock_skew
        if not self.store.add(_REPLAY + "logout:" + digest(validated.request_id), b"1", ttl):
            raise SamlResponseError("replay", "this LogoutRequest was already processed")
        relay_state = query_relay_state if binding == "redirect" else relay_state
        url = (idp.slo_redirect_url if binding == "redirect" else idp.slo_post_url) or (
            idp.slo_redirect_url or idp.slo_post_url
        )
        if url is None:
            raise SamlResponseError("destination", "the IdP metadata has no logout endpoint")
        answer_binding: Binding = "redirect" if url == idp.slo_redirect_url else "post"
        xml = _pysaml2.build_logout_response(
            response_id="_" + secrets.token_hex(20),
            issue_instant=now,
            destination=url,
            sp_entity_id=self.config.sp_entity_id,
            in_response_to=validated.request_id,
        )
        message = self._message(
            binding=answer_binding,
            url=url,
            param="SAMLResponse",
            xml=xml,
            relay_state=relay_state,
            always_sign=True,
        )
        return LogoutResult(
            message=message,
            request_id=validated.request_id,
            all_sessions=not validated.session_indexes,
        )

    def _require_logout_url(self) -> None:
        if self.config.logout_url is None:
            raise NotConfiguredError('SAML single logout needs "logout_url"')

    # -- metadata ------------------------------------------------------------------------

    def sp_metadata(self, *, valid_for: timedelta | None = None) -> bytes:
        """This SP's metadata XML; both certificates are listed during a key rollover."""
        certs = [_xmlsec.cert_der_b64(k.cert_pem) for k in self._keys]
        valid_until = self._clock.now() + valid_for if valid_for is not None else None
        xml = _pysaml2.build_sp_metadata(
            entity_id=self.config.sp_entity_id,
            acs_url=self.config.acs_url,
            logout_url=self.config.logout_url,
            certs=certs,
            name_id_format=self.config.name_id_format or NAME_ID_FORMATS["unspecified"],
            authn_requests_signed=self.config.sign_requests,
            valid_until=valid_until,
        )
        # Round-trip through the gate: what we publish must pass what we accept.
        _gate.parse(xml, max_bytes=1024 * 1024, what="SP metadata")
        return xml
