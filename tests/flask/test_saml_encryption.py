"""Encrypted SAML assertions at the sample app's ACS, over real HTTP.

The sandbox signs a real response; the test drops the Response signature, encrypts the
(still signed) assertion for the app's SP certificate and posts it from the browser that
started the login, as an attacker holding a captured response could.
"""

from __future__ import annotations

import base64
from collections.abc import Callable
from typing import Any

import pytest
import requests
from lxml import etree
from xmlsec import constants as C

from rpkit.saml import _xmlsec
from rpkit.saml._gate import NS, qname

from .conftest import Stack, session_cookies
from .helpers import SP_CERT, saml_acs_post


def _encrypted(
    saml_response: str, *, algorithm: Any, alter: Callable[[etree._Element], None]
) -> str:
    root = etree.fromstring(base64.b64decode(saml_response))
    outer = root.find("ds:Signature", NS)
    if outer is not None:
        root.remove(outer)
    assertion = root.find("saml:Assertion", NS)
    assert assertion is not None and assertion.find("ds:Signature", NS) is not None
    wrapper = etree.Element(qname("saml", "EncryptedAssertion"))
    assertion.addprevious(wrapper)
    wrapper.append(assertion)
    alter(assertion)
    _xmlsec.encrypt_element(assertion, SP_CERT.read_bytes(), algorithm=algorithm)
    return base64.b64encode(etree.tostring(root)).decode()


def _untouched(assertion: etree._Element) -> None:
    pass


def _promote(assertion: etree._Element) -> None:
    for value in assertion.iter(qname("saml", "AttributeValue")):
        if value.text == "Master":
            value.text = "Admiral"
            return
    raise AssertionError("no rank attribute to alter")


def _post(stack: Stack, http: requests.Session, build: Callable[[str], str]) -> requests.Response:
    action, fields = saml_acs_post(http, stack.base_url)
    fields["SAMLResponse"] = build(fields["SAMLResponse"])
    return http.post(
        action, data=fields, allow_redirects=False, headers={"Accept": "application/json"}
    )


def test_an_encrypted_assertion_signs_in(stack: Stack, http: requests.Session) -> None:
    """AES-256-GCM, assertion signed inside, Response unsigned: accepted."""
    answer = _post(
        stack, http, lambda r: _encrypted(r, algorithm=C.TransformAes256Gcm, alter=_untouched)
    )
    assert answer.status_code == 303, answer.text[:300]
    assert http.get(f"{stack.base_url}/me").json()["rank"] == "Master"


def _tamper_ciphertext(saml_response: str) -> str:
    root = etree.fromstring(base64.b64decode(saml_response))
    value = root.find(
        "saml:EncryptedAssertion/xenc:EncryptedData/xenc:CipherData/xenc:CipherValue", NS
    )
    assert value is not None and value.text
    raw = bytearray(base64.b64decode(value.text))
    raw[-20] ^= 0x01
    value.text = base64.b64encode(bytes(raw)).decode()
    return base64.b64encode(etree.tostring(root)).decode()


@pytest.mark.parametrize(
    "build",
    [
        lambda r: _tamper_ciphertext(
            _encrypted(r, algorithm=C.TransformAes256Gcm, alter=_untouched)
        ),
        lambda r: _encrypted(r, algorithm=C.TransformAes256Gcm, alter=_promote),
    ],
    ids=["tampered_ciphertext", "assertion_altered_under_its_signature"],
)
def test_broken_and_forged_plaintexts_answer_alike(
    stack: Stack, http: requests.Session, build: Callable[[str], str]
) -> None:
    """A broken ciphertext and a well-formed forged plaintext get the same answer."""
    answer = _post(stack, http, build)
    assert answer.status_code == 400, answer.text[:300]
    body = answer.json()
    assert (body["error"], body["message"]) == (
        "saml_response_error:decryption",
        "The message from Dualog Identity could not be verified.",
    )
    assert not session_cookies(answer)


def test_aes_cbc_is_refused(stack: Stack, http: requests.Session) -> None:
    """AES-CBC is refused as an algorithm before anything is decrypted."""
    answer = _post(
        stack, http, lambda r: _encrypted(r, algorithm=C.TransformAes256Cbc, alter=_untouched)
    )
    assert answer.status_code == 400, answer.text[:300]
    assert answer.json()["error"] == "saml_response_error:algorithm"
    assert not session_cookies(answer)
