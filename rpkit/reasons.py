"""Every rejection reason code rpkit raises, with its likely cause and the fix.

An :class:`~rpkit.errors.AuthenticationError` carries a stable ``reason``; this table says
what each one means for the person who reads the log. The troubleshooting page of the docs
is generated from it, and a test checks that every reason raised in the code is here, so the
two cannot drift.

Owns: the cause and fix of every rejection reason code.
Must not import: anything of rpkit but ``rpkit.errors`` (floor 0).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from .errors import AuthenticationError, ProviderUnavailableError

__all__ = ["REASONS", "Reason", "explain"]


@dataclass(frozen=True)
class Reason:
    """What a reason code means: the likely ``cause`` and the ``fix``."""

    cause: str
    fix: str


_CLOCK = (
    "Check this machine's clock (NTP); on a ship without time sync set "
    "`RPKIT_OIDC_CLOCK_OFFSET` to the offset of the ship's identity server."
)

# Reasons of any signed JWT: ID tokens, access tokens, logout tokens, signed userinfo.
_JWS: dict[str, Reason] = {
    "malformed": Reason(
        "Not a compact JWS, a header or payload that is not a JSON object, or a claim of the "
        "wrong type.",
        "The token was damaged or is not from the provider; look at what sent it.",
    ),
    "alg": Reason(
        "The header's `alg` is not in the relying party's allowlist (`none` never is), or "
        "not one the provider's discovery document lists.",
        "If the provider really signs with it, add it to `id_token_signing_algs`; otherwise "
        "this is a forged or downgraded token.",
    ),
    "unknown_kid": Reason(
        "The JWKS has no key with the token's `kid`, even after one refetch.",
        "The provider rotated keys and the new JWKS is not reachable, or the token is "
        "forged. Check the JWKS URL from this machine; wait out `jwks_refetch_cooldown`.",
    ),
    "no_key": Reason(
        "The token has no `kid` and the JWKS has no key of the token's algorithm type.",
        "Check the provider's JWKS; the token may be forged.",
    ),
    "kid_ambiguous": Reason(
        "The token has no `kid` and the JWKS holds several candidate keys.",
        "Ask the provider to send `kid` in the header; rpkit never tries each key in turn.",
    ),
    "signature": Reason(
        "The signature does not verify with the key the `kid` names.",
        "A forged or altered token, or a key published under another token's `kid`.",
    ),
    "weak_key": Reason(
        "The token is signed by a key the provider publishes but rpkit refuses: RSA under "
        "2048 bits or EC on a curve other than P-256/384/521 (a warning at JWKS fetch names "
        "its `kid`).",
        "Ask the provider to sign with an RSA-2048 (or larger) or P-256 key; rpkit has no "
        "switch to accept weak keys.",
    ),
}

_TIMES: dict[str, Reason] = {
    "expired": Reason("`exp` is missing or in the past (after the leeway).", _CLOCK),
    "iat": Reason("`iat` is missing or in the future (after the leeway).", _CLOCK),
    "not_yet_valid": Reason("`nbf` is in the future (after the leeway).", _CLOCK),
}

_CALLBACK: dict[str, Reason] = {
    "state_missing": Reason(
        "The callback has no `state` parameter.",
        "Someone opened the callback URL by hand or an old bookmark; start the login again.",
    ),
    "state_mismatch": Reason(
        "The callback's `state` is not the one this login was started with.",
        "A forged or crossed callback; start the login again.",
    ),
    "state_unknown": Reason(
        "No pending login has this `state`: it was used already, it expired, or it was "
        "started in another app process without a shared store.",
        "Start the login again. Behind several processes, set `RPKIT_REDIS_URL` so they "
        "share pending logins.",
    ),
    "browser_binding": Reason(
        "The callback arrived in another browser than the one that started the login "
        "(the binding cookie is missing or different).",
        "A login link carried to another browser, or a browser that drops cookies on the "
        "cross-site return; start the login again in one browser.",
    ),
    "code_missing": Reason(
        "The callback has neither `code` nor `error`.",
        "Check the provider's redirect; start the login again.",
    ),
    "code_malformed": Reason(
        "The callback's `code` is not printable ASCII (RFC 6749 Appendix A.11), so no "
        "provider issued it; it is not sent to the token endpoint.",
        "A forged or mangled callback URL; start the login again.",
    ),
    "iss_missing": Reason(
        "The provider advertises RFC 9207 `iss` in authorization responses, and this one has none.",
        "A mix-up attack or a proxy that strips query parameters; check what rewrites the "
        "callback URL.",
    ),
    "iss_mismatch": Reason(
        "The callback's (or a front-channel logout request's) `iss` is another issuer "
        "than the configured one.",
        "A mix-up attack, or the app is configured with another issuer than the one the "
        "browser signed in at (`RPKIT_OIDC_ISSUER` / `RPKIT_OIDC_SHIP_HOST`).",
    ),
    "frontchannel_params": Reason(
        "A front-channel logout request lacks `iss` or `sid`, or its `sid` is malformed "
        "(Front-Channel Logout 1.0 §2).",
        "Register the front-channel URI with session support (IdentityServer's "
        "`FrontChannelLogoutSessionRequired`, on by default); a request without both ends "
        "nothing.",
    ),
    "response_mode": Reason(
        "The callback arrived by another response mode (query or form_post) than the "
        "login asked for.",
        "Check `RPKIT_OIDC_RESPONSE_MODE` against the provider's client settings.",
    ),
}

_ID_TOKEN: dict[str, Reason] = {
    **_JWS,
    **_TIMES,
    "missing": Reason(
        "The token response has no `id_token`.",
        "The login did not ask for the `openid` scope, or the provider refused it; check "
        "`RPKIT_OIDC_SCOPES`.",
    ),
    "issuer": Reason(
        "`iss` is not exactly the configured issuer.",
        "Set the issuer exactly as the provider names itself (case, trailing slash, host "
        "name or IP of a ship server).",
    ),
    "audience": Reason(
        "`aud` does not contain this app's `client_id`.",
        "A token issued to another app; check `RPKIT_OIDC_CLIENT_ID`.",
    ),
    "azp": Reason(
        "Several audiences and no `azp`, or an `azp` that is not this app.",
        "A token issued to another app.",
    ),
    "sub": Reason(
        "`sub` is missing or empty, or changed on refresh.",
        "A broken or substituted token; sign in again.",
    ),
    "nonce": Reason(
        "`nonce` is missing or not the one this login sent.",
        "A replayed or injected ID token; start the login again.",
    ),
    "at_hash": Reason(
        "`at_hash` is not the hash of the access token it came with.",
        "A substituted access token; start the login again.",
    ),
    "auth_time": Reason(
        "`max_age` was asked for and `auth_time` is missing or too old.",
        "Ask the provider to include `auth_time`, or do not send `max_age`.",
    ),
    "rank": Reason(
        "The Dualog `rank` claim is in neither the ID token nor userinfo, or is empty.",
        "Ask Dualog to release `rank` to this client (the `crew.public` scope), or set "
        "`allow_missing_rank` for a provider that has no ranks.",
    ),
}

_TOKEN: dict[str, Reason] = {
    **_JWS,
    **_TIMES,
    "issuer": Reason(
        "`iss` is neither the configured issuer nor one of `accepted_issuers`.",
        "A token from another provider; add a ship-side issuer to `accepted_issuers` if the "
        "API serves both.",
    ),
    "audience": Reason(
        "`aud` does not contain the API's audience (or the client is not allowed).",
        "Configure `RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE` to the API resource the provider puts "
        "in `aud`, or list the calling clients in `RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS`; a "
        "token minted for another API is refused.",
    ),
    "typ": Reason(
        "The JWT `typ` header is not the one this token kind must have (`at+jwt` for access "
        "tokens, `logout+jwt` for logout tokens).",
        "An ID token presented as an access token, or a token of another kind.",
    ),
    "scope": Reason(
        "The token lacks a scope the route requires.",
        "Ask for the scope at login, or give the API client that scope at the provider.",
    ),
    "nonce": Reason(
        "A logout token carries `nonce`, which OIDC back-channel logout forbids.",
        "An ID token sent as a logout token.",
    ),
    "events": Reason(
        "A logout token without the back-channel logout event.",
        "Not a logout token.",
    ),
    "sub_or_sid": Reason(
        "A logout token with neither `sub` nor `sid`.",
        "The provider's logout token is incomplete.",
    ),
    "jti": Reason("A logout token without `jti`.", "The provider's logout token is incomplete."),
    "replay": Reason(
        "This logout token's `jti` was seen already.",
        "A replayed logout token; nothing to do.",
    ),
}

_USERINFO: dict[str, Reason] = {
    **_JWS,
    "malformed": Reason(
        "The userinfo answer is not a JSON object (or a valid signed JWT).",
        "Check the provider's userinfo endpoint.",
    ),
    "issuer": Reason("A signed userinfo `iss` that is not the issuer.", "Check the provider."),
    "audience": Reason("A signed userinfo `aud` that is not this client.", "Check the provider."),
    "sub_mismatch": Reason(
        "userinfo's `sub` is not the ID token's `sub` (OIDC Core 5.3.2).",
        "A substituted userinfo answer; the login is refused.",
    ),
}

_SAML: dict[str, Reason] = {
    "malformed": Reason(
        "The SAML message could not be read: not base64, not XML, a bad encoding, or "
        "a decryption or schema failure before the signature was checked.",
        "Look at the IdP's log for the message; the detail is in this app's log only.",
    ),
    "size": Reason("The message is larger than the SP accepts.", "Check the IdP."),
    "doctype": Reason("The XML has a DOCTYPE (XXE and entity expansion).", "Hostile input."),
    "comment": Reason(
        "A comment inside a signed value (a NameID truncation attack).", "Hostile input."
    ),
    "processing_instruction": Reason("The XML has a processing instruction.", "Hostile input."),
    "encoding": Reason("The XML declares an encoding other than UTF-8.", "Check the IdP."),
    "wrapping": Reason(
        "More than one element with the signed ID, or the signed element is not the one "
        "processed (XML signature wrapping).",
        "Hostile input.",
    ),
    "signature": Reason(
        "The response or assertion is unsigned, or its signature does not verify with the "
        "IdP certificate from the metadata.",
        "If the IdP rotated its signing certificate, refresh the metadata "
        "(`RPKIT_SAML_IDP_METADATA_URL`); otherwise the message is forged.",
    ),
    "weak_key": Reason(
        "The message is signed by an IdP certificate rpkit dropped from the metadata: RSA "
        "under 2048 bits or EC on a curve other than P-256/384/521 (a warning at metadata "
        "load names the certificate).",
        "Ask the IdP to sign with an RSA-2048 (or larger) or P-256 certificate.",
    ),
    "algorithm": Reason(
        "A signature or digest algorithm the SP refuses (SHA-1, or an encryption "
        "algorithm not allowed).",
        "Ask the IdP to sign with RSA-SHA256 (the Dualog default).",
    ),
    "decryption": Reason(
        "An encrypted assertion could not be decrypted with the SP key. Under an unsigned "
        "Response every failure of the encrypted assertion (decryption, parsing, its "
        "signature) gives this one reason, so that the answer is no decryption oracle; the "
        "warning logged just before names the real one.",
        "Check `RPKIT_SAML_SP_KEY_FILE` matches the certificate registered at the IdP, then "
        "read the log line 'SAML encrypted assertion ... refused (<reason>)'.",
    ),
    "status": Reason(
        "The IdP answered with a non-success status (the user cancelled, or was refused).",
        "Read the status in the log; the user may not be allowed to use this app.",
    ),
    "sp_rejected": Reason(
        "The IdP answered with a signed status that blames this SP's request: "
        "InvalidNameIDPolicy, UnsupportedBinding or RequestUnsupported (the app shows a "
        "'misconfigured' page, 502).",
        "Check the setting the log names: `RPKIT_SAML_NAME_ID_FORMAT` (unset it to take the "
        "registered format), `RPKIT_SAML_AUTHN_BINDING`, or the SP's registration at the IdP.",
    ),
    "issuer": Reason(
        "The issuer is not the IdP entity ID from the metadata.",
        "Check `RPKIT_SAML_IDP_ENTITY_ID` or the metadata URL.",
    ),
    "destination": Reason(
        "`Destination` is not this SP's ACS or SLO URL.",
        "Check `RPKIT_BASE_URL` is the public URL the IdP posts to.",
    ),
    "recipient": Reason(
        "The subject confirmation's `Recipient` is not this SP's ACS URL.",
        "Check `RPKIT_BASE_URL` is the public URL the IdP posts to.",
    ),
    "audience": Reason(
        "The assertion's audience is not this SP's entity ID.",
        "Check the SP entity ID registered at the IdP (`<RPKIT_BASE_URL>/auth/saml/metadata`).",
    ),
    "expired": Reason("The assertion or its subject confirmation is past `NotOnOrAfter`.", _CLOCK),
    "not_yet_valid": Reason("The assertion's `NotBefore` is in the future.", _CLOCK),
    "in_response_to": Reason(
        "`InResponseTo` names no AuthnRequest this SP sent (or another browser's).",
        "Start the login again; behind several processes set `RPKIT_REDIS_URL`.",
    ),
    "unsolicited": Reason(
        "An IdP-initiated response, which the SP refuses by default.",
        "Start logins from the app, or opt in with `allow_unsolicited`.",
    ),
    "replay": Reason("This assertion ID was used already.", "A replayed response; sign in again."),
    "missing_assertion": Reason("The response has no assertion.", "Check the IdP."),
    "multiple_assertions": Reason("The response has more than one assertion.", "Hostile input."),
    "authn_statement": Reason("The assertion has no AuthnStatement.", "Check the IdP."),
    "conditions": Reason("The assertion has no usable Conditions.", "Check the IdP."),
    "subject": Reason("The assertion has no usable Subject.", "Check the IdP."),
    "subject_confirmation": Reason(
        "No bearer SubjectConfirmation that fits this SP.", "Check the IdP."
    ),
    "name_id": Reason(
        "The NameID is missing, or a logout message names another user.", "Check the IdP."
    ),
    "session": Reason("A logout message for a session this SP does not have.", "Nothing to do."),
    "session_index": Reason(
        "A logout message whose SessionIndex is not this session's.", "Nothing to do."
    ),
    "relay_state": Reason(
        "A RelayState that is not a key this SP issued, or points off-site.",
        "Start the login again; an IdP-side RelayState is ignored.",
    ),
    "browser_binding": Reason(
        "The response arrived in another browser than the one that started the login.",
        "Start the login again in one browser; check the binding cookie is not blocked.",
    ),
}

# Why an outbound call failed (ProviderUnavailableError.reason, set by rpkit._http). The
# cause is a short phrase: rpkit._http builds its messages from cause and fix.
_NETWORK: dict[str, Reason] = {
    "deadline": Reason(
        "the whole answer did not arrive within the deadline",
        "raise `RPKIT_HTTP_TIMEOUT` only if the server is known to be slow; a server that "
        "drips its answer is cut off here on purpose",
    ),
    "timeout": Reason(
        "connecting or reading timed out",
        "check that the server is up and reachable (`RPKIT_HTTP_CONNECT_TIMEOUT`)",
    ),
    "connection_refused": Reason(
        "the connection was refused: nothing listens on that port",
        "check the host and port, and that the server runs",
    ),
    "dns": Reason(
        "the host name does not resolve",
        "check the host name, or the ship's DNS resolver",
    ),
    "connection": Reason(
        "the connection failed or was cut", "check the network path and any proxy"
    ),
    "tls_expired": Reason(
        "the server's certificate has expired",
        "renew the server's certificate, or check this machine's clock",
    ),
    "tls_not_yet_valid": Reason(
        "the server's certificate is not valid yet", "check this machine's clock and the server's"
    ),
    "tls_hostname": Reason(
        "the server's certificate is for another host name or IP address",
        "use the name or IP the certificate is for, or pin the certificate "
        "(`RPKIT_HTTP_PINNED_CERT_SHA256`)",
    ),
    "tls_unknown_issuer": Reason(
        "the server's certificate is issued by a CA that is not trusted",
        "set `RPKIT_CA_BUNDLE` to the CA that issued it (a ship's private CA)",
    ),
    "tls_self_signed": Reason(
        "the server's certificate is self-signed",
        "pin it (`RPKIT_HTTP_PINNED_CERT_SHA256` or `RPKIT_HTTP_PINNED_CERT_FILE`)",
    ),
    "tls_pin_mismatch": Reason(
        "the server's certificate is not the pinned one",
        "check `RPKIT_HTTP_PINNED_CERT_SHA256` against the server's certificate",
    ),
    "tls": Reason("the TLS handshake failed", "check `RPKIT_CA_BUNDLE` or the pinned certificate"),
    "too_large": Reason(
        "the answer is larger than the size cap",
        "`RPKIT_HTTP_MAX_RESPONSE_BYTES` (JSON, 1 MB) or `RPKIT_HTTP_MAX_METADATA_BYTES` "
        "(SAML metadata, 4 MB), if the provider really sends that much",
    ),
    "http_status": Reason(
        "the server answered with a 5xx or 429 status", "the provider is failing; try later"
    ),
}

REASONS: Mapping[str, Mapping[str, Reason]] = MappingProxyType(
    {
        "CallbackError": MappingProxyType(_CALLBACK),
        "IdTokenError": MappingProxyType(_ID_TOKEN),
        "TokenError": MappingProxyType(_TOKEN),
        "UserinfoError": MappingProxyType(_USERINFO),
        "SamlResponseError": MappingProxyType(_SAML),
        "ProviderUnavailableError": MappingProxyType(_NETWORK),
    }
)
"""``REASONS[error class name][reason]``: every reason code by the error that carries it."""


def explain(error: AuthenticationError | ProviderUnavailableError) -> Reason | None:
    """The cause and fix of ``error``'s reason, or None for a class or reason not listed."""
    for cls in type(error).__mro__:
        table = REASONS.get(cls.__name__)
        if table is not None and error.reason in table:
            return table[error.reason]
    return None
