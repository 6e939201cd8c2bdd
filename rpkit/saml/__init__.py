"""SAML 2.0 service provider for Dualog Identity (``pip install rpkit[saml]``).

Wiring it into a web framework (three routes, no framework imported here)::

    sp = ServiceProvider(SamlConfig.from_env(), store=RedisStore(url))

    # GET /auth/login/saml
    login = sp.start_login(return_to="/crew", browser_token=cookies.get(BROWSER_COOKIE))
    set_cookie(login.cookie)                  # SameSite=None; Secure; HttpOnly; ACS path
    redirect(login.message.url)               # or HTML login.message.form_html() (POST)

    # POST /auth/saml/acs   (cross-site: the app's SameSite=Lax session cookie is absent)
    identity, return_to = sp.complete_login(
        form["SAMLResponse"], form.get("RelayState"),
        browser_token=cookies.get(BROWSER_COOKIE),
    )                                         # SamlResponseError(.reason) -> 400
    start_session(identity); delete_cookie(BROWSER_COOKIE); redirect_303(return_to)

    # GET /auth/saml/metadata
    respond(sp.sp_metadata(), "application/samlmetadata+xml")

Owns: the SAML 2.0 service provider: IdP metadata, AuthnRequest, the ACS checks, logout, SP
metadata.
Must not import: ``rpkit.oidc``, ``rpkit.scim``, a web layer, the sandbox or
``rpkit.testing`` (floor 2); ``saml2`` only in ``rpkit.saml._pysaml2``, ``xmlsec`` only in
``rpkit.saml._xmlsec``.
"""

from .certs import generate_sp_certificate
from .config import DUALOG_SAML_METADATA_URL, SamlConfig
from .metadata import IdpMetadata, IdpMetadataSource, load_idp_metadata
from .sp import BROWSER_COOKIE, ServiceProvider
from .state import (
    BrowserCookie,
    LoginRequest,
    LogoutRequest,
    LogoutResult,
    PendingLogout,
    PendingRequest,
    SamlSession,
    SignedMessage,
)

__all__ = [
    "BROWSER_COOKIE",
    "DUALOG_SAML_METADATA_URL",
    "BrowserCookie",
    "IdpMetadata",
    "IdpMetadataSource",
    "LoginRequest",
    "LogoutRequest",
    "LogoutResult",
    "PendingLogout",
    "PendingRequest",
    "SamlConfig",
    "SamlSession",
    "ServiceProvider",
    "SignedMessage",
    "generate_sp_certificate",
    "load_idp_metadata",
]
