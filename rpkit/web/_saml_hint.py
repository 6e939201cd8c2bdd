"""Read the NameID of an incoming LogoutRequest, unverified, only to find the session.

An IdP-initiated logout arrives as a cross-site request without the browser's SameSite=Lax
session cookie, so the session must be found by NameID. Nothing read here is trusted:
the candidate session is then handed to ``ServiceProvider.process_logout_request``, which
checks the signature, issuer, destination, freshness, NameID and SessionIndex.
"""

from __future__ import annotations

import base64
import binascii
import zlib

from lxml import etree

__all__ = ["logout_request_name_id"]

_MAX_BYTES = 256 * 1024
_NAME_ID = "{urn:oasis:names:tc:SAML:2.0:assertion}NameID"


def logout_request_name_id(value: str, *, deflated: bool) -> str | None:
    """The NameID text of a base64 (and, for HTTP-Redirect, deflated) LogoutRequest."""
    try:
        data = base64.b64decode(value, validate=False)
        if deflated:
            inflater = zlib.decompressobj(-15)
            data = inflater.decompress(data, _MAX_BYTES)
            if inflater.unconsumed_tail:
                return None
        if len(data) > _MAX_BYTES or b"<!DOCTYPE" in data.upper():
            return None
        parser = etree.XMLParser(
            resolve_entities=False, no_network=True, load_dtd=False, huge_tree=False
        )
        root = etree.fromstring(data, parser)
    except (binascii.Error, zlib.error, etree.XMLSyntaxError, ValueError):
        return None
    element = root.find(_NAME_ID)
    text = element.text if element is not None else None
    return text.strip() if text else None
