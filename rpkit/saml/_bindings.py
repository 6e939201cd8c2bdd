"""HTTP-Redirect and HTTP-POST encodings (SAML Bindings §3.4, §3.5), signatures in-process."""

from __future__ import annotations

import base64
import binascii
import zlib
from collections.abc import Sequence
from urllib.parse import quote, unquote_plus

import xmlsec

from ..errors import SamlResponseError
from . import _xmlsec

__all__ = ["decode_redirect", "encode_redirect", "post_fields"]


def encode_redirect(
    url: str,
    param: str,
    xml: bytes,
    relay_state: str | None,
    signing_key: _xmlsec.SigningKey | None,
    sig_alg: str = _xmlsec.RSA_SHA256,
) -> str:
    """Return ``url`` with the DEFLATE-encoded message and, with a key, its signature."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    deflated = compressor.compress(xml) + compressor.flush()
    parts = [f"{param}={quote(base64.b64encode(deflated), safe='')}"]
    if relay_state is not None:
        parts.append(f"RelayState={quote(relay_state, safe='')}")
    if signing_key is not None:
        parts.append(f"SigAlg={quote(sig_alg, safe='')}")
        signature = _xmlsec.sign_binary("&".join(parts).encode("ascii"), signing_key, sig_alg)
        parts.append(f"Signature={quote(base64.b64encode(signature), safe='')}")
    return url + ("&" if "?" in url else "?") + "&".join(parts)


def post_fields(param: str, xml: bytes, relay_state: str | None) -> dict[str, str]:
    fields = {param: base64.b64encode(xml).decode("ascii")}
    if relay_state is not None:
        fields["RelayState"] = relay_state
    return fields


def _inflate(data: bytes, max_bytes: int, what: str) -> bytes:
    inflater = zlib.decompressobj(-15)
    try:
        out = inflater.decompress(data, max_bytes + 1)
    except zlib.error as err:
        raise SamlResponseError("malformed", f"{what} is not DEFLATE-encoded") from err
    if len(out) > max_bytes or inflater.unconsumed_tail:
        raise SamlResponseError("size", f"{what} inflates past the {max_bytes}-byte cap")
    return out


def decode_redirect(
    query_string: str,
    param: str,
    *,
    keys: Sequence[xmlsec.Key],
    accepted_algorithms: frozenset[str],
    max_bytes: int,
    what: str,
) -> tuple[bytes, str | None]:
    """Check the signature over the raw query, then return ``(xml, relay_state)``.

    The signed octets are rebuilt from the parameters exactly as they arrived (SAML
    Bindings §3.4.4.1), never re-encoded: re-encoding lets a different query verify.
    An unsigned message raises ``SamlResponseError("signature")``.
    """
    if not query_string.isascii():
        raise SamlResponseError("malformed", f"{what} query string is not URL-encoded ASCII")
    raw: dict[str, str] = {}
    for pair in query_string.lstrip("?").split("&"):
        if not pair:
            continue
        name, _, value = pair.partition("=")
        if name in (param, "RelayState", "SigAlg", "Signature"):
            if name in raw:
                raise SamlResponseError("malformed", f"{what} repeats the {name} parameter")
            raw[name] = value
    if param not in raw:
        raise SamlResponseError("malformed", f"{what} has no {param} parameter")
    if "Signature" not in raw or "SigAlg" not in raw:
        raise SamlResponseError("signature", f"{what} is not signed")
    sig_alg = unquote_plus(raw["SigAlg"])
    if sig_alg not in accepted_algorithms:
        raise SamlResponseError("algorithm", f"{what} SigAlg {sig_alg!r} is not allowed")
    signed = f"{param}={raw[param]}"
    if "RelayState" in raw:
        signed += f"&RelayState={raw['RelayState']}"
    signed += f"&SigAlg={raw['SigAlg']}"
    try:
        signature = base64.b64decode(unquote_plus(raw["Signature"]), validate=True)
        message = base64.b64decode(unquote_plus(raw[param]), validate=True)
    except (binascii.Error, ValueError) as err:
        raise SamlResponseError("malformed", f"{what} is not base64") from err
    _xmlsec.verify_binary(signed.encode("ascii"), signature, keys, sig_alg, what=what)
    relay_state = unquote_plus(raw["RelayState"]) if "RelayState" in raw else None
    return _inflate(message, max_bytes, what), relay_state
