"""The hostile-input gate: every SAML message passes here before anything else reads it.

The SAML CVEs of 2024-2026 (ruby-saml, xml-crypto, node-saml, samlify) share one shape:
verify one part of the document, read another. The gate shrinks the documents that can
reach a parser or a signature check to ones with a single reading: UTF-8, bounded size, no
DOCTYPE, entities, comments or processing instructions, unique IDs, at most one assertion,
signatures only where the profile puts them, with one SignedInfo, one Reference and only
allowlisted transforms and algorithms.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

from lxml import etree

from ..errors import SamlResponseError

__all__ = ["NS", "check_encryption", "check_signature", "parse", "qname", "signatures_of"]

NS = {
    "samlp": "urn:oasis:names:tc:SAML:2.0:protocol",
    "saml": "urn:oasis:names:tc:SAML:2.0:assertion",
    "md": "urn:oasis:names:tc:SAML:2.0:metadata",
    "ds": "http://www.w3.org/2000/09/xmldsig#",
    "xenc": "http://www.w3.org/2001/04/xmlenc#",
}

ENVELOPED = "http://www.w3.org/2000/09/xmldsig#enveloped-signature"
EXC_C14N = "http://www.w3.org/2001/10/xml-exc-c14n#"
C14N = "http://www.w3.org/TR/2001/REC-xml-c14n-20010315"
_TRANSFORMS = frozenset({ENVELOPED, EXC_C14N})
_CANONICALIZATIONS = frozenset({EXC_C14N, C14N})
# XML Encryption: AES-GCM or AES-CBC for the data, RSA-OAEP for the key. RSA PKCS#1 v1.5
# key transport is refused (Bleichenbacher-style padding oracles).
# Authenticated encryption only by default: AES-CBC is malleable and, decrypted before any
# signature is checked, a padding oracle (Jager and Somorovsky, "How to break XML
# encryption", 2011). CBC is accepted with ``allow_aes_cbc``, under a signed Response only.
DATA_ENCRYPTION = frozenset(
    {
        "http://www.w3.org/2009/xmlenc11#aes128-gcm",
        "http://www.w3.org/2009/xmlenc11#aes256-gcm",
    }
)
DATA_ENCRYPTION_CBC = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#aes128-cbc",
        "http://www.w3.org/2001/04/xmlenc#aes256-cbc",
    }
)
KEY_TRANSPORT = frozenset(
    {
        "http://www.w3.org/2001/04/xmlenc#rsa-oaep-mgf1p",
        "http://www.w3.org/2009/xmlenc11#rsa-oaep",
    }
)
_OAEP_DIGESTS = frozenset(
    {
        "http://www.w3.org/2000/09/xmldsig#sha1",  # the OAEP mask default; not a signature
        "http://www.w3.org/2001/04/xmlenc#sha256",
    }
)

MAX_ELEMENTS = 4000
_ENCODING_DECL = re.compile(rb"""^<\?xml[^>]*encoding\s*=\s*["']([A-Za-z0-9._-]+)["']""")
_COUNT = etree.XPath("count(//node())")
_HOSTILE = etree.XPath("//comment() | //processing-instruction()")
# Every attribute a resolver could take for an ID: SAML's ID, XML-DSig/XML-Enc's Id, and
# xml:id, which libxml2 always registers. One value naming two elements is wrapping.
_IDS = etree.XPath("//@ID | //@Id | //@id | //@xml:id")
_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    dtd_validation=False,
    huge_tree=False,
    remove_comments=False,
    remove_pis=False,
    collect_ids=False,
)


def qname(prefix: str, local: str) -> str:
    return f"{{{NS[prefix]}}}{local}"


# Tags and paths in Clark notation, built once: the checks below run on every message.
_SIGNATURE = qname("ds", "Signature")
_SIGNED_INFO = qname("ds", "SignedInfo")
_OBJECT = qname("ds", "Object")
_MANIFEST = qname("ds", "Manifest")
_C14N_METHOD = qname("ds", "CanonicalizationMethod")
_SIGNATURE_METHOD = qname("ds", "SignatureMethod")
_REFERENCE = qname("ds", "Reference")
_DIGEST_METHOD = qname("ds", "DigestMethod")
_TRANSFORM_PATH = qname("ds", "Transforms") + "/" + qname("ds", "Transform")
_INCLUSIVE_NAMESPACES = "{http://www.w3.org/2001/10/xml-exc-c14n#}InclusiveNamespaces"


def _fail(reason: str, message: str) -> SamlResponseError:
    return SamlResponseError(reason, message)


def parse(data: bytes, *, max_bytes: int, what: str) -> etree._Element:
    """Parse ``data`` as a single-reading XML document or raise ``SamlResponseError``.

    Reasons: ``size``, ``encoding``, ``doctype``, ``malformed``, ``comment``,
    ``processing_instruction``, ``wrapping`` (duplicate ``ID``).
    """
    if len(data) > max_bytes:
        raise _fail("size", f"{what} is {len(data)} bytes, over the {max_bytes}-byte cap")
    if data.startswith((b"\xff\xfe", b"\xfe\xff", b"\xef\xbb\xbf")):
        raise _fail("encoding", f"{what} starts with a byte-order mark; UTF-8 without one only")
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _fail("encoding", f"{what} is not UTF-8") from err
    declared = _ENCODING_DECL.match(data)
    if declared and declared.group(1).lower() not in (b"utf-8", b"utf8"):
        raise _fail("encoding", f"{what} declares a non-UTF-8 encoding")
    # A DOCTYPE is the door to external entities and entity expansion; SAML never needs one.
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise _fail("doctype", f"{what} contains a DOCTYPE or entity declaration")
    try:
        root = etree.fromstring(data, _PARSER)
    except etree.XMLSyntaxError as err:
        raise _fail("malformed", f"{what} is not well-formed XML") from err
    tree = root.getroottree()
    if tree.docinfo.doctype or tree.docinfo.internalDTD is not None:
        raise _fail("doctype", f"{what} contains a DOCTYPE")
    check_nodes(root, what)
    return root


def check_nodes(root: etree._Element, what: str) -> None:
    """Reject comments, processing instructions, too many nodes and duplicate IDs.

    A comment inside a signed text node survives canonicalization-based verification but
    splits the text a reader sees (``admin@x.com<!---->.evil.com``), so none are allowed.
    Entity references cannot occur: a DOCTYPE is refused, so no entity can be declared.
    """
    tree = root.getroottree()
    if _COUNT(tree) > MAX_ELEMENTS:
        raise _fail("size", f"{what} has more than {MAX_ELEMENTS} nodes")
    for node in _HOSTILE(tree):
        _reject_node(node, what)
    ids = _IDS(tree)
    if len(ids) != len(set(ids)):
        raise _fail("wrapping", f"{what} has two elements with the same ID")


def _reject_node(node: etree._Element, what: str) -> None:
    if isinstance(node, etree._Comment):
        raise _fail("comment", f"{what} contains an XML comment")
    if isinstance(node, etree._ProcessingInstruction):
        raise _fail("processing_instruction", f"{what} contains a processing instruction")
    if isinstance(node, etree._Entity):
        raise _fail("doctype", f"{what} contains an entity reference")
    raise _fail("malformed", f"{what} contains an unexpected node")


def signatures_of(
    root: etree._Element, allowed_parents: Iterable[etree._Element], what: str
) -> None:
    """Require every ``ds:Signature`` to be a direct child of an allowed element, once each.

    Signatures elsewhere (inside an Extensions, another Signature, an Object) are the
    wrapping attacks' hiding places (XSW1-XSW8).
    """
    allowed = list(allowed_parents)
    seen: list[etree._Element] = []
    signed_infos = 0
    # One walk of the tree for the four tags (this runs on every message).
    for element in root.iter(_SIGNATURE, _SIGNED_INFO, _OBJECT, _MANIFEST):
        if element.tag == _SIGNED_INFO:
            signed_infos += 1
            continue
        if element.tag != _SIGNATURE:
            raise _fail("wrapping", f"{what} has a ds:{etree.QName(element).localname} element")
        parent = element.getparent()
        if parent is None or not any(parent is a for a in allowed):
            raise _fail("wrapping", f"{what} has a Signature outside the signed elements")
        if any(parent is p for p in seen):
            raise _fail("wrapping", f"{what} has two Signatures on one element")
        seen.append(parent)
    if signed_infos != len(seen):
        raise _fail("wrapping", f"{what} has a SignedInfo outside a single Signature")


def check_signature(
    sig: etree._Element,
    *,
    signed: etree._Element,
    signature_algorithms: frozenset[str],
    digest_algorithms: frozenset[str],
    what: str,
) -> tuple[str, str, str]:
    """Check one enveloped signature's shape before any cryptography runs.

    One SignedInfo with one Reference to ``signed``'s own ID, enveloped + exclusive c14n
    transforms only, and allowlisted algorithms (reason ``algorithm``). Returns the
    canonicalization, signature and digest algorithms, the only ones verification enables.
    """
    children = [c for c in sig if isinstance(c.tag, str)]
    if not children or children[0].tag != _SIGNED_INFO:
        raise _fail("wrapping", f"{what} Signature does not start with SignedInfo")
    if sum(1 for c in children if c.tag == _SIGNED_INFO) != 1:
        raise _fail("wrapping", f"{what} Signature has a second SignedInfo")
    signed_info = children[0]
    c14n = signed_info.find(_C14N_METHOD)
    method = signed_info.find(_SIGNATURE_METHOD)
    refs = signed_info.findall(_REFERENCE)
    if c14n is None or c14n.get("Algorithm") not in _CANONICALIZATIONS:
        raise _fail("algorithm", f"{what} canonicalization method is not allowed")
    if method is None or method.get("Algorithm") not in signature_algorithms:
        alg = None if method is None else method.get("Algorithm")
        raise _fail("algorithm", f"{what} signature method {alg!r} is not allowed")
    if len(refs) != 1:
        raise _fail("wrapping", f"{what} SignedInfo must have exactly one Reference")
    ref = refs[0]
    signed_id = signed.get("ID")
    if not signed_id or ref.get("URI") != "#" + signed_id:
        raise _fail("wrapping", f"{what} signature does not reference the element it is on")
    digest = ref.find(_DIGEST_METHOD)
    if digest is None or digest.get("Algorithm") not in digest_algorithms:
        alg = None if digest is None else digest.get("Algorithm")
        raise _fail("algorithm", f"{what} digest method {alg!r} is not allowed")
    transforms = ref.findall(_TRANSFORM_PATH)
    algs = [t.get("Algorithm") for t in transforms]
    if not algs or any(a not in _TRANSFORMS for a in algs) or ENVELOPED not in algs:
        raise _fail("algorithm", f"{what} signature uses a transform outside the allowlist")
    for transform in transforms:
        for child in transform:
            if child.tag != _INCLUSIVE_NAMESPACES:
                raise _fail("algorithm", f"{what} signature transform has unexpected content")
    return str(c14n.get("Algorithm")), str(method.get("Algorithm")), str(digest.get("Algorithm"))


def check_encryption(encrypted: etree._Element, what: str, *, allow_cbc: bool = False) -> None:
    """Allow only AES-GCM (AES-CBC with ``allow_cbc``) content encryption, RSA-OAEP keys."""
    methods = list(encrypted.iter(qname("xenc", "EncryptionMethod")))
    data = encrypted.find("xenc:EncryptedData", NS)
    if data is None:
        raise _fail("malformed", f"{what} has no EncryptedData")
    data_method = data.find("xenc:EncryptionMethod", NS)
    algorithm = None if data_method is None else data_method.get("Algorithm")
    if algorithm in DATA_ENCRYPTION_CBC and not allow_cbc:
        raise _fail(
            "algorithm",
            f"{what} is encrypted with AES-CBC, which is refused: it is accepted only with "
            '"allow_aes_cbc" (RPKIT_SAML_ALLOW_AES_CBC) and a signed Response',
        )
    if algorithm not in DATA_ENCRYPTION and algorithm not in DATA_ENCRYPTION_CBC:
        raise _fail("algorithm", f"{what} content encryption algorithm is not allowed")
    for method in methods:
        if method is data_method:
            continue
        if method.get("Algorithm") not in KEY_TRANSPORT:
            raise _fail("algorithm", f"{what} key transport algorithm is not allowed")
        for digest in method.iter(qname("ds", "DigestMethod")):
            if digest.get("Algorithm") not in _OAEP_DIGESTS:
                raise _fail("algorithm", f"{what} OAEP digest is not allowed")
