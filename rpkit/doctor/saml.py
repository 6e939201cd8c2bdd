"""The ``saml.*`` checks: the IdP's metadata (``saml.metadata``) and this SP's own key pair
and URLs (``saml.sp``). Read only: the metadata is fetched, nothing is sent to the IdP."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from .._http import HttpClient
from ..config import is_loopback_host
from ..errors import MetadataError, ProviderError
from .report import CheckResult, Status, fail

__all__ = ["METADATA_WARNING", "SP_METADATA_PATH", "run_saml_checks"]

METADATA_WARNING = timedelta(days=7)
CERT_WARNING = timedelta(days=30)
MIN_RSA_BITS = 2048
# The sample app's SP metadata route (README: routes are a public contract).
SP_METADATA_PATH = "/auth/saml/metadata"
# validUntil is checked here against the real clock, so it is parsed as of a time before
# any metadata could have been written.
_LONG_AGO = datetime(2000, 1, 1, tzinfo=UTC)


def run_saml_checks(
    config: Any, *, base_url: str, now: datetime | None = None
) -> list[CheckResult]:
    """Run ``saml.metadata`` and ``saml.sp`` for a ``SamlConfig``."""
    now = now or datetime.now(UTC)
    return [_metadata(config, now), _sp(config, base_url, now)]


def _fetch(config: Any) -> bytes:
    if config.idp_metadata_file:
        return Path(config.idp_metadata_file).read_bytes()
    http = HttpClient(config.http)
    response = http.request("GET", config.idp_metadata_url, what="SAML metadata")
    if response.status_code != 200:
        raise ProviderError(f"{config.idp_metadata_url} answered HTTP {response.status_code}")
    return bytes(response.content)


def _source(config: Any) -> str:
    if config.idp_metadata_file:
        return f"RPKIT_SAML_IDP_METADATA_FILE={config.idp_metadata_file}"
    return f"RPKIT_SAML_IDP_METADATA_URL={config.idp_metadata_url}"


def _key_text(cert: x509.Certificate) -> tuple[str, bool]:
    """A short description of the certificate's key and whether it is strong enough."""
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        return f"RSA {key.key_size}", key.key_size >= MIN_RSA_BITS
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"EC {key.curve.name}", key.curve.name in ("secp256r1", "secp384r1", "secp521r1")
    return type(key).__name__, False


def _warning_window(config: Any) -> timedelta:
    """How close to ``validUntil`` is worth a warning.

    A metadata file does not renew itself: warn a week ahead. Metadata from a URL is
    fetched again at least every ``metadata_max_refresh`` (Duende serves a rolling 5-day
    ``validUntil``), so it only matters if it would lapse before the next refresh.
    """
    if config.idp_metadata_file:
        return METADATA_WARNING
    refresh: timedelta = config.metadata_max_refresh
    return min(METADATA_WARNING, refresh)


def _metadata(config: Any, now: datetime) -> CheckResult:
    from ..saml.metadata import load_idp_metadata

    source = _source(config)
    try:
        xml = _fetch(config)
    except (OSError, ProviderError) as err:
        text = err.message if isinstance(err, ProviderError) else str(err)
        return fail(
            "saml.metadata",
            f"cannot read the IdP metadata ({source}): {text}",
            fix="check RPKIT_SAML_IDP_METADATA_URL (Dualog: "
            "https://crew.dualog.com/auth/saml/metadata) and the network path to it",
        )
    pinned = (
        Path(config.idp_metadata_signing_cert_file).read_bytes()
        if config.idp_metadata_signing_cert_file
        else None
    )
    try:
        idp = load_idp_metadata(
            xml, entity_id=config.idp_entity_id, now=_LONG_AGO, signing_cert=pinned, config=config
        )
    except MetadataError as err:
        return fail(
            "saml.metadata",
            f"{source}: {err.message}",
            fix="check RPKIT_SAML_IDP_ENTITY_ID and RPKIT_SAML_IDP_METADATA_SIGNING_CERT_FILE "
            "against the metadata Dualog publishes",
        )
    findings: list[str] = [f"entity {idp.entity_id}"]
    fails: list[str] = []
    warns: list[str] = []
    fixes: list[str] = []
    if idp.valid_until is not None:
        left = idp.valid_until - now
        findings.append(f"validUntil {idp.valid_until:%Y-%m-%d %H:%M} UTC")
        if left <= timedelta(0):
            fails.append(f"the metadata expired {-left.days} day(s) ago (validUntil passed)")
            fixes.append(
                "fetch fresh metadata: for RPKIT_SAML_IDP_METADATA_FILE download a new copy; if "
                "the IdP serves it expired, check this machine's clock and tell Dualog support"
            )
        elif left < _warning_window(config):
            warns.append(f"the metadata expires in {left.days} day(s), {left.seconds // 3600} h")
            fixes.append(
                "download a fresh copy to RPKIT_SAML_IDP_METADATA_FILE before validUntil"
                if config.idp_metadata_file
                else "the IdP's metadata expires before the SP's next refresh; lower "
                "RPKIT_SAML_METADATA_MAX_REFRESH or tell Dualog support"
            )
    bindings = {"redirect": idp.sso_redirect_url, "post": idp.sso_post_url}
    findings.append("SSO " + ", ".join(f"{b}: {u}" for b, u in bindings.items() if u))
    wanted = config.authn_request_binding
    if not bindings.get(wanted):
        fails.append(f"no HTTP-{wanted.capitalize()} SSO endpoint for RPKIT_SAML_AUTHN_BINDING")
        other = "post" if wanted == "redirect" else "redirect"
        fixes.append(f"set RPKIT_SAML_AUTHN_BINDING={other}")
    elif not all(bindings.values()):
        warns.append("only one SSO binding is offered")
    for pem in idp.signing_certs:
        cert = x509.load_pem_x509_certificate(pem)
        key, strong = _key_text(cert)
        expiry = cert.not_valid_after_utc
        findings.append(f"signing certificate {key}, expires {expiry:%Y-%m-%d}")
        if not strong:
            fails.append(f"a signing certificate has a weak key ({key})")
            fixes.append("ask Dualog to sign with an RSA key of at least 2048 bits")
        if expiry <= now:
            warns.append(f"a signing certificate expired on {expiry:%Y-%m-%d}")
            fixes.append("ask Dualog to publish a current signing certificate")
        elif expiry - now < CERT_WARNING:
            warns.append(f"a signing certificate expires on {expiry:%Y-%m-%d}")
            fixes.append("watch for the IdP's new signing certificate in its metadata")
    findings.append(
        "signature verified with the pinned certificate"
        if pinned
        else "signature not checked (no RPKIT_SAML_IDP_METADATA_SIGNING_CERT_FILE; trust rests "
        "on TLS)"
    )
    message = "; ".join(fails + warns + findings)
    status: Status = "fail" if fails else "warn" if warns else "ok"
    return CheckResult(id="saml.metadata", status=status, message=message, fix="; ".join(fixes))


def _sp(config: Any, base_url: str, now: datetime) -> CheckResult:
    metadata_url = base_url + SP_METADATA_PATH
    findings: list[str] = []
    fails: list[str] = []
    warns: list[str] = []
    fixes: list[str] = []
    if config.sp_cert_file and config.sp_key_file:
        try:
            cert = x509.load_pem_x509_certificate(Path(config.sp_cert_file).read_bytes())
            key = serialization.load_pem_private_key(
                Path(config.sp_key_file).read_bytes(), password=None
            )
        except (OSError, ValueError, TypeError) as err:
            return fail(
                "saml.sp",
                f"the SP key pair cannot be read ({type(err).__name__})",
                fix="set RPKIT_SAML_SP_KEY_FILE (unencrypted PEM) and RPKIT_SAML_SP_CERT_FILE "
                "(PEM); generate them with rpkit.saml.generate_sp_certificate",
            )
        der = serialization.Encoding.DER
        spki = serialization.PublicFormat.SubjectPublicKeyInfo
        if key.public_key().public_bytes(der, spki) != cert.public_key().public_bytes(der, spki):
            fails.append(
                f"RPKIT_SAML_SP_KEY_FILE ({config.sp_key_file}) is not the key of "
                f"RPKIT_SAML_SP_CERT_FILE ({config.sp_cert_file})"
            )
            fixes.append(
                "point RPKIT_SAML_SP_KEY_FILE and RPKIT_SAML_SP_CERT_FILE at one pair; after a "
                "new pair, register the new SP metadata"
            )
        key_text, _ = _key_text(cert)
        expiry = cert.not_valid_after_utc
        findings.append(f"key pair {key_text}, certificate expires {expiry:%Y-%m-%d}")
        if Path(config.sp_key_file).name == "demo-sp.key":
            findings.append(
                "the throwaway demo key pair (the app uses it on loopback only; set "
                "RPKIT_SAML_SP_KEY_FILE and RPKIT_SAML_SP_CERT_FILE for go-live)"
            )
        if expiry <= now:
            fails.append(f"the SP certificate expired on {expiry:%Y-%m-%d}")
            fixes.append("generate a new SP key pair and register the new SP metadata")
        elif expiry - now < CERT_WARNING:
            warns.append(f"the SP certificate expires on {expiry:%Y-%m-%d}")
            fixes.append(
                "roll the key over (RPKIT_SAML_SP_NEXT_KEY_FILE/RPKIT_SAML_SP_NEXT_CERT_FILE) "
                "and register the new SP metadata"
            )
    else:
        findings.append("no SP key pair (requests are not signed)")
    for name, url in (
        ("RPKIT_SAML_ACS_URL", config.acs_url),
        ("RPKIT_SAML_SP_ENTITY_ID", config.sp_entity_id),
    ):
        if not str(url).startswith(base_url + "/"):
            fails.append(f"{name} {url} is not under RPKIT_BASE_URL {base_url}")
            fixes.append(f"unset {name} (it follows RPKIT_BASE_URL) or set RPKIT_BASE_URL")
    host = urlsplit(config.acs_url).hostname or ""
    if urlsplit(config.acs_url).scheme != "https" and not is_loopback_host(host):
        fails.append(f"the ACS URL {config.acs_url} is plain http off loopback")
        fixes.append("serve the app over https (RPKIT_BASE_URL=https://...)")
    findings.append(
        f"register in the Dualog portal: SP metadata URL {metadata_url} (entity ID "
        f"{config.sp_entity_id}, ACS {config.acs_url})"
    )
    status: Status = "fail" if fails else "warn" if warns else "ok"
    return CheckResult(
        id="saml.sp",
        status=status,
        message="; ".join(fails + warns + findings),
        fix="; ".join(fixes),
    )
