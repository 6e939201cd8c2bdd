"""Fuzz targets: each one a hypothesis strategy of hostile inputs and a call into rpkit.

A target has three parts. ``strategy`` draws a cheap description of an input (mostly
mutations of valid, correctly signed messages, plus random bytes). ``prepare`` builds the
message from it (signing, encoding): harness work, whose failures are not rpkit's.
``call`` hands it to rpkit, where every failure must be an ``RpkitError``.

Targets and what they reach:

* ``oidc_callback``: ``OidcClient.finish_login`` with hostile callback parameters and
  token endpoint answers (through an in-memory transport), so the callback parser, the
  token response parser and ID token validation all run.
* ``jwt``: ID token, access token and back-channel logout token validation with mutated
  headers and claims, re-signed (ES256, RS256, HS256) or not.
* ``saml_acs``: ``ServiceProvider.process_response`` (the hostile-input gate, signature,
  decryption and every profile check) with mutated, re-signed and wrapped responses.
* ``scim``: ``ScimClient`` calls whose server answers (status, headers, body) are hostile.
* ``roster``: ``read_roster`` on mutated CMS exports, in several encodings.
"""

from __future__ import annotations

import base64
import copy
import itertools
import json
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, timedelta
from functools import cache
from typing import Any

from hypothesis import strategies as st

from rpkit.config import HttpConfig, OidcConfig
from rpkit.errors import RpkitError

from .mutate import Mutator, json_values, mutated_bytes, mutated_json, mutated_text
from .transport import Answer, QueueAdapter, json_answer, session_with

__all__ = ["TARGETS", "Target"]


@dataclass(frozen=True)
class Target:
    name: str
    strategy: Callable[[], st.SearchStrategy[Any]]
    prepare: Callable[[Any], Any]
    call: Callable[[Any], object]
    setup: Callable[[], object]  # keys, clients, seeds: built once per process, not timed
    amplify: Callable[[Any, Mutator], Any]  # a cheap byte-level mutant of a prepared input


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _dumps(value: Any) -> bytes:
    # Python's encoder writes NaN/Infinity and escapes lone surrogates: hostile but JSON-ish.
    return json.dumps(value).encode()


# -- JWT ------------------------------------------------------------------------------

ISSUER = "https://idp.fuzz.test/auth"
CLIENT_ID = "fuzz-app"
CLIENT_SECRET = "a-long-client-secret-for-hs256-fuzzing-0123456789"
API_AUDIENCE = "crew-api"
NONCE = "n-0S6_WzA2Mj"
STATE = "s" * 43
NOW = 1_700_000_000
ACCESS_TOKEN = "access-token-0123456789"
ALGORITHMS = ("RS256", "ES256", "HS256")


@dataclass(frozen=True)
class JwtKit:
    keys: Any  # SigningKeys
    jwks: dict[str, Any]
    signers: dict[str, tuple[str, Any, str | None]]  # name -> (alg, key, kid)
    registry: Any


@cache
def jwt_kit() -> JwtKit:
    from joserfc.jwk import ECKey, OctKey, RSAKey
    from joserfc.jws import JWSRegistry

    from rpkit.oidc import parse_jwks

    rsa = RSAKey.generate_key(2048, parameters={"kid": "rsa1"}, auto_kid=False)
    ec = ECKey.generate_key("P-256", parameters={"kid": "ec1"}, auto_kid=False)
    attacker = ECKey.generate_key("P-256", parameters={"kid": "ec1"}, auto_kid=False)
    jwks = {"keys": [rsa.as_dict(private=False), ec.as_dict(private=False)]}
    return JwtKit(
        keys=parse_jwks(jwks),
        jwks=jwks,
        signers={
            "ec": ("ES256", ec, "ec1"),
            "rsa": ("RS256", rsa, "rsa1"),
            "hs": ("HS256", OctKey.import_key(CLIENT_SECRET), None),
            "attacker": ("ES256", attacker, "ec1"),
        },
        registry=JWSRegistry(algorithms=["RS256", "ES256", "HS256"]),
    )


def sign(header: Any, payload: bytes, signer: str) -> str:
    kit = jwt_kit()
    alg, key, _kid = kit.signers[signer]
    signing_input = f"{b64url(_dumps(header))}.{b64url(payload)}"
    signature = kit.registry.get_alg(alg).sign(signing_input.encode("ascii"), key)
    return f"{signing_input}.{b64url(signature)}"


def claims_for(kind: str) -> dict[str, Any]:
    common = {"iss": ISSUER, "sub": "crew-1001", "iat": NOW - 5, "exp": NOW + 300}
    if kind == "id":
        from rpkit.oidc.id_token import token_hash

        return {
            **common,
            "aud": CLIENT_ID,
            "nonce": NONCE,
            "auth_time": NOW - 10,
            "rank": "Master",
            "sid": "sid-1",
            "at_hash": token_hash(ACCESS_TOKEN, "ES256"),
        }
    if kind == "access":
        return {**common, "aud": API_AUDIENCE, "client_id": CLIENT_ID, "scope": "openid crew"}
    return {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "iat": NOW - 5,
        "jti": "jti-1",
        "sid": "sid-1",
        "events": {"http://schemas.openid.net/event/backchannel-logout": {}},
    }


TYP = {"id": "JWT", "access": "at+jwt", "logout": "logout+jwt"}
CLAIM_NAMES = (
    "iss sub aud exp iat nbf nonce azp auth_time at_hash rank sid jti events client_id "
    "scope scp typ"
).split()
HEADER_NAMES = ("alg", "kid", "typ", "crit", "jku", "x5u", "jwk", "b64", "cty", "x5t")


def header_for(kind: str, signer: str) -> dict[str, Any]:
    alg, _key, kid = jwt_kit().signers[signer]
    header: dict[str, Any] = {"alg": alg, "typ": TYP[kind]}
    if kid is not None:
        header["kid"] = kid
    return header


@st.composite
def jwt_descriptions(draw: st.DrawFn, kinds: tuple[str, ...] = ("id", "access", "logout")) -> Any:
    kind = draw(st.sampled_from(kinds))
    mode = draw(st.integers(0, 9))
    signer = draw(st.sampled_from(["ec", "ec", "ec", "rsa", "hs", "attacker"]))
    if mode <= 4:  # re-signed: hostile claims and headers under a valid signature
        header = header_for(kind, signer)
        claims = claims_for(kind)
        if draw(st.integers(0, 3)) == 0:
            header = draw(_header_strategy(kind, signer))
        if draw(st.integers(0, 4)) != 0:
            claims = draw(_claims_strategy(kind))
        return (kind, "signed", header, claims, signer)
    if mode <= 7:  # byte edits of a valid token (signature broken, or header/payload)
        return (kind, "bytes", draw(_token_bytes_strategy(kind, signer)))
    if mode == 8:  # one segment replaced by arbitrary base64url data
        segment = draw(st.integers(0, 2))
        raw = draw(st.binary(max_size=300) | st.builds(_dumps, json_values))
        return (kind, "segment", signer, segment, raw)
    return (kind, "text", draw(st.text(max_size=400) | st.sampled_from(["", ".", "..", "a.b.c"])))


@cache
def _header_strategy(kind: str, signer: str) -> st.SearchStrategy[Any]:
    return mutated_json([header_for(kind, signer)], keys=HEADER_NAMES, max_ops=2)


@cache
def _claims_strategy(kind: str) -> st.SearchStrategy[Any]:
    return mutated_json([claims_for(kind)], keys=CLAIM_NAMES)


@cache
def _token_bytes_strategy(kind: str, signer: str) -> st.SearchStrategy[bytes]:
    return mutated_bytes([valid_token(kind, signer).encode()], max_ops=4)


def amplify_jwt(prepared: tuple[str, str], mutator: Mutator) -> tuple[str, str]:
    kind, token = prepared
    if mutator.rng.random() < 0.2:  # swap one segment for one of a valid token
        parts, donor = token.split("."), valid_token(kind, "ec").split(".")
        index = mutator.rng.randrange(3)
        if index < len(parts):
            parts[index] = donor[index]
            return kind, ".".join(parts)
    return kind, mutator.text(token)


@cache
def valid_token(kind: str, signer: str) -> str:
    return sign(header_for(kind, signer), _dumps(claims_for(kind)), signer)


def prepare_jwt(description: Any) -> tuple[str, str]:
    kind, mode = description[0], description[1]
    if mode == "signed":
        _, _, header, claims, signer = description
        return kind, sign(header, _dumps(claims), signer)
    if mode == "bytes":
        return kind, description[2].decode("utf-8", "surrogateescape")
    if mode == "segment":
        _, _, signer, segment, raw = description
        parts = valid_token(kind, signer).split(".")
        parts[segment] = b64url(raw)
        return kind, ".".join(parts)
    return kind, description[2]


def call_jwt(prepared: tuple[str, str]) -> object:
    from rpkit.oidc import ExpectedIdToken, validate_id_token
    from rpkit.oidc.bearer import ExpectedAccessToken, unverified_issuer, validate_access_token
    from rpkit.oidc.logout import validate_logout_token

    kind, token = prepared
    keys = jwt_kit().keys
    if kind == "id":
        expected = ExpectedIdToken(
            issuer=ISSUER,
            client_id=CLIENT_ID,
            nonce=NONCE,
            algorithms=ALGORITHMS,
            max_age=3600,
            access_token=ACCESS_TOKEN,
            client_secret=CLIENT_SECRET,
        )
        return validate_id_token(token, keys=keys, expected=expected, now=NOW)
    if kind == "access":
        try:  # what the API reads first, unverified, to pick the issuer's keys
            unverified_issuer(token)
        except RpkitError:
            pass
        expected_access = ExpectedAccessToken(
            issuer=ISSUER,
            algorithms=("RS256", "ES256"),
            audiences=(API_AUDIENCE,),
            client_ids=(CLIENT_ID,),
            required_scopes=("crew",),
        )
        return validate_access_token(token, keys=keys, expected=expected_access, now=NOW)
    return validate_logout_token(
        token,
        keys=keys,
        issuer=ISSUER,
        client_id=CLIENT_ID,
        algorithms=ALGORITHMS,
        now=NOW,
        client_secret=CLIENT_SECRET,
    )


# -- OIDC callback ----------------------------------------------------------------------

REDIRECT_URI = "https://app.fuzz.test/auth/oidc/callback"


@dataclass
class CallbackKit:
    client: Any
    adapter: QueueAdapter
    login: Any


@cache
def callback_kit() -> CallbackKit:
    from rpkit._http import HttpClient
    from rpkit.oidc import OidcClient
    from rpkit.oidc.authorize import LoginState

    discovery = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/connect/authorize",
        "token_endpoint": f"{ISSUER}/connect/token",
        "jwks_uri": f"{ISSUER}/.well-known/openid-configuration/jwks",
        "end_session_endpoint": f"{ISSUER}/connect/endsession",
        "response_types_supported": ["code"],
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": ["RS256", "ES256"],
        "code_challenge_methods_supported": ["S256"],
        "authorization_response_iss_parameter_supported": True,
    }
    adapter = QueueAdapter(
        {
            "/auth/.well-known/openid-configuration": json_answer(discovery),
            "/auth/.well-known/openid-configuration/jwks": json_answer(jwt_kit().jwks),
        },
        fallback=json_answer({"error": "invalid_grant"}, 400),
    )
    http = HttpClient(HttpConfig(), session=session_with(adapter))
    config = OidcConfig(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        client_secret=CLIENT_SECRET,
        redirect_uri=REDIRECT_URI,
        id_token_signing_algs=("RS256", "ES256"),
    )
    client = OidcClient(config, clock=lambda: float(NOW), http=http)
    login = LoginState(
        issuer=ISSUER,
        client_id=CLIENT_ID,
        redirect_uri=REDIRECT_URI,
        state=STATE,
        nonce=NONCE,
        code_verifier="v" * 43,
        scopes=("openid", "profile"),
        response_mode="query",
        max_age=None,
        created_at=datetime.fromtimestamp(NOW, UTC),
    )
    return CallbackKit(client=client, adapter=adapter, login=login)


def token_response() -> dict[str, Any]:
    return {
        "access_token": ACCESS_TOKEN,
        "token_type": "Bearer",
        "expires_in": 3600,
        "refresh_token": "refresh-0123",
        "scope": "openid profile",
        "id_token": valid_token("id", "ec"),
    }


CALLBACK_PARAMS = {"code": "c0de-0123", "state": STATE, "iss": ISSUER}
CALLBACK_NAMES = ("code", "state", "iss", "error", "error_description", "session_state")
TOKEN_NAMES = ("access_token", "token_type", "expires_in", "refresh_token", "id_token", "scope")
STATUSES = st.sampled_from([200] * 8 + [201, 204, 302, 400, 401, 403, 404, 429, 500, 503]) | (
    st.integers(100, 599)
)


HEADER_TEXT = st.text(max_size=40).map(lambda t: t.encode("latin-1", "replace").decode("latin-1"))
RETRY_AFTER = HEADER_TEXT | st.sampled_from(
    ["0", "-1", "1e999", "99999999999999999999", "Wed, 21 Oct 2015 07:28:00 GMT", "nan"]
)
CONTENT_TYPES = st.sampled_from(
    ["application/json", "text/html", "", "application/scim+json; charset=latin-1"]
)


def answers(documents: list[Any], names: tuple[str, ...]) -> st.SearchStrategy[Answer]:
    """A server answer: mostly a mutated valid body, sometimes bytes or headers gone bad."""
    json_s = mutated_json(documents, keys=names).map(_dumps)
    bytes_s = mutated_bytes([_dumps(d) for d in documents])
    valid_s = st.sampled_from([_dumps(d) for d in documents])
    body_s = st.one_of(json_s, json_s, json_s, bytes_s, valid_s, st.binary(max_size=600))

    @st.composite
    def build(draw: st.DrawFn) -> Answer:
        headers = {"Content-Type": draw(CONTENT_TYPES)}
        if draw(st.integers(0, 3)) == 0:
            headers["Retry-After"] = draw(RETRY_AFTER)
        if draw(st.integers(0, 4)) == 0:
            headers["X-Correlation-Id"] = draw(HEADER_TEXT)
        return Answer(draw(STATUSES), draw(body_s), headers)

    return build()


@cache
def _token_answers() -> st.SearchStrategy[Answer]:
    return answers([token_response()], TOKEN_NAMES)


@cache
def _params_strategy() -> st.SearchStrategy[Any]:
    return mutated_json([CALLBACK_PARAMS], keys=CALLBACK_NAMES, max_ops=2)


def amplify_callback(prepared: Any, mutator: Mutator) -> Any:
    params, received_via, answer = prepared
    rng = mutator.rng
    if rng.random() < 0.3 and params:
        params = dict(params)
        name = rng.choice(sorted(params))
        params[name] = mutator.text(params[name])
        return params, received_via, answer
    if rng.random() < 0.2:
        return (
            params,
            received_via,
            replace(answer, status=rng.choice([200, 400, 401, 500, 302, 204])),
        )
    return params, received_via, replace(answer, body=mutator.bytes(answer.body))


@st.composite
def callback_descriptions(draw: st.DrawFn) -> Any:
    if draw(st.integers(0, 5)) == 0:
        params = draw(
            st.dictionaries(
                st.sampled_from(CALLBACK_NAMES) | st.text(max_size=8),
                st.text(max_size=60),
                max_size=6,
            )
        )
    else:
        params = draw(_params_strategy())
        if not isinstance(params, dict):
            params = {}
        params = {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in params.items()}
    received_via = draw(st.sampled_from(["query", "query", "form_post", None]))
    answer = draw(_token_answers())
    id_token = None
    if draw(st.integers(0, 3)) == 0:  # a hostile ID token inside an otherwise valid answer
        id_token = draw(jwt_descriptions(("id",)))
    return params, received_via, answer, id_token


def prepare_callback(description: Any) -> Any:
    params, received_via, answer, id_token = description
    if id_token is not None:
        body = token_response()
        body["id_token"] = prepare_jwt(id_token)[1]
        answer = replace(answer, status=200, body=_dumps(body))
    return params, received_via, answer


def call_callback(prepared: Any) -> object:
    params, received_via, answer = prepared
    kit = callback_kit()
    kit.adapter.queue.clear()
    kit.adapter.queue.append(answer)
    return kit.client.finish_login(params, expected=kit.login, received_via=received_via)


# -- SAML ACS ---------------------------------------------------------------------------


@dataclass
class SamlKit:
    idp: Any
    attacker: Any
    sp: Any
    pending: Any
    sp_cert: bytes
    seeds: list[bytes]


@cache
def saml_kit() -> SamlKit:
    from lxml import etree

    from rpkit.saml import SamlConfig, ServiceProvider, load_idp_metadata
    from tests.saml import idp as test_idp

    idp = test_idp.TestIdp()
    attacker = test_idp.TestIdp()
    sp_key, sp_cert = test_idp.make_key_pair("rpkit fuzz SP (throwaway)")
    directory = tempfile.mkdtemp(prefix="rpkit-fuzz-sp-")
    key_file, cert_file = os.path.join(directory, "sp.key"), os.path.join(directory, "sp.crt")
    with open(key_file, "wb") as fh:
        fh.write(sp_key)
    with open(cert_file, "wb") as fh:
        fh.write(sp_cert)
    config = SamlConfig(
        sp_entity_id=test_idp.SP_ENTITY_ID,
        acs_url=test_idp.ACS_URL,
        logout_url=test_idp.LOGOUT_URL,
        sp_key_file=key_file,
        sp_cert_file=cert_file,
        idp_entity_id=idp.entity_id,
        idp_metadata_url="https://idp.test/auth/saml/metadata",
    )
    metadata = load_idp_metadata(idp.metadata(), entity_id=idp.entity_id, now=test_idp.NOW)
    sp = ServiceProvider(config, metadata=metadata, clock=lambda: test_idp.NOW)
    pending = sp.start_login().pending
    spec = response_spec(pending.request_id)
    seeds = []
    for how in ({"response": True}, {"assertion": True, "response": False}, {"assertion": True}):
        seeds.append(base64.b64decode(idp.signed_response(spec, **how)))
    encrypted = idp.build_response(spec)
    idp.sign(idp.assertion_of(encrypted))
    idp.encrypt_assertion(encrypted, sp_cert)
    idp.sign(encrypted)
    seeds.append(etree.tostring(encrypted))
    return SamlKit(idp, attacker, sp, pending, sp_cert, seeds)


def response_spec(request_id: str, **changes: Any) -> Any:
    from tests.saml.idp import ResponseSpec

    return replace(
        ResponseSpec(in_response_to=request_id, scd_in_response_to=request_id), **changes
    )


XML_TEXT = st.text(
    alphabet=st.characters(codec="utf-8", exclude_categories=("Cs", "Cc")), max_size=40
) | st.sampled_from(
    [
        "",
        " ",
        "https://idp.test/auth",
        "https://app.test/saml",
        "https://app.test/auth/saml/acs",
        "_request1",
        "2026-11-24T08:30:00Z",
        "1970-01-01T00:00:00Z",
        "9999-12-31T23:59:59Z",
        "2026-13-45T99:99:99Z",
        "urn:oasis:names:tc:SAML:2.0:status:Responder",
        "x" * 3000,
    ]
)
SPEC_FIELDS = {
    "in_response_to": XML_TEXT,
    "destination": XML_TEXT,
    "response_issuer": XML_TEXT,
    "assertion_issuer": XML_TEXT,
    "name_id": XML_TEXT,
    "name_id_format": XML_TEXT,
    "recipient": XML_TEXT,
    "scd_in_response_to": XML_TEXT,
    "audience": XML_TEXT,
    "session_index": XML_TEXT,
    "status": XML_TEXT,
    "attributes": st.dictionaries(XML_TEXT, st.lists(XML_TEXT, max_size=3), max_size=4),
    "issue_instant": st.datetimes(
        min_value=datetime(1, 1, 2), max_value=datetime(9999, 12, 30), timezones=st.just(UTC)
    ),
}
ATTRIBUTES = (
    "ID Version IssueInstant Destination InResponseTo Recipient NotBefore NotOnOrAfter "
    "SessionIndex Format Method Name Value Algorithm URI"
).split()


@st.composite
def tree_ops(draw: st.DrawFn) -> list[tuple[int, int, int, str]]:
    return draw(
        st.lists(
            st.tuples(
                st.integers(0, 8),
                st.integers(0, 10_000),
                st.integers(0, 10_000),
                XML_TEXT,
            ),
            max_size=4,
        )
    )


@cache
def _saml_bytes_strategy() -> st.SearchStrategy[bytes]:
    return mutated_bytes(saml_kit().seeds, max_ops=4)


@cache
def _saml_b64_strategy() -> st.SearchStrategy[str]:
    return mutated_text([base64.b64encode(saml_kit().seeds[0]).decode()], max_ops=3)


def amplify_saml(prepared: tuple[str, str | None], mutator: Mutator) -> tuple[str, str | None]:
    saml_response, relay_state = prepared
    if mutator.rng.random() < 0.1:
        return mutator.text(saml_response, max_ops=2), relay_state
    try:
        xml = base64.b64decode(saml_response, validate=False)
    except ValueError:
        xml = saml_response.encode("utf-8", "surrogateescape")
    return base64.b64encode(mutator.bytes(xml)).decode("ascii"), relay_state


@st.composite
def saml_descriptions(draw: st.DrawFn) -> Any:
    mode = draw(st.integers(0, 11))
    relay = "pending" if draw(st.integers(0, 9)) else draw(st.text(max_size=60))
    if mode <= 4:  # structured: a hostile field or tree edit, then (re)signed
        changes: dict[str, Any] = {}
        for name in draw(st.lists(st.sampled_from(sorted(SPEC_FIELDS)), max_size=3, unique=True)):
            changes[name] = draw(SPEC_FIELDS[name])
        ops = draw(tree_ops())
        sign_how = draw(
            st.sampled_from(["response", "assertion", "both", "none", "attacker", "before_ops"])
        )
        encrypt = draw(st.integers(0, 7)) == 0
        return ("structured", relay, changes, ops, sign_how, encrypt)
    if mode <= 8:  # byte edits of valid signed XML (plain and encrypted)
        return ("bytes", relay, draw(_saml_bytes_strategy()))
    if mode == 9:  # edits of the base64 text itself
        return ("b64", relay, draw(_saml_b64_strategy()))
    if mode == 10:  # a valid response with a wrapped (XSW) copy, not re-signed
        return ("wrap", relay, draw(tree_ops()))
    return ("random", relay, draw(st.binary(max_size=800) | st.text(max_size=200).map(str.encode)))


def _apply_ops(root: Any, ops: list[tuple[int, int, int, str]]) -> None:
    from lxml import etree

    for op, a, b, text in ops:
        nodes = [n for n in root.iter() if isinstance(n.tag, str)]
        node = nodes[a % len(nodes)]
        other = nodes[b % len(nodes)]
        if op == 0:
            node.set(ATTRIBUTES[b % len(ATTRIBUTES)], text)
        elif op == 1 and node.attrib:
            del node.attrib[sorted(node.attrib)[b % len(node.attrib)]]
        elif op == 2:
            node.text = text
        elif op == 3 and node is not root and node.getparent() is not None:
            node.getparent().remove(node)
        elif op == 4 and node is not root:  # duplicate, with a change in the copy
            twin = copy.deepcopy(node)
            for child in twin.iter():
                if isinstance(child.tag, str) and child.text and child.text.strip():
                    child.text = text
                    break
            other.append(twin)
        elif (
            op == 5 and node is not root and other is not node and node not in other.iterancestors()
        ):
            other.insert(0, node)  # move (signature wrapping)
        elif op == 6 and node.text:
            # A comment inside text: "crew<!---->4711" (the NameID truncation attack).
            cut = b % (len(node.text) + 1)
            head, tail = node.text[:cut], node.text[cut:]
            node.text = head
            comment = etree.Comment("")
            comment.tail = tail
            node.insert(0, comment)
        elif op == 7:
            node.tag = "{urn:fuzz}" + etree.QName(node).localname
        elif op == 8:  # a new child in the same namespace, named by the fuzzer
            namespace = etree.QName(node).namespace
            local = "".join(c for c in text[:12] if c.isalnum()) or "X"
            tag = f"{{{namespace}}}{local}" if namespace else local
            etree.SubElement(node, tag).text = text


def prepare_saml(description: Any) -> tuple[str, str | None]:
    from lxml import etree

    kit = saml_kit()
    mode, relay = description[0], description[1]
    relay_state = kit.pending.relay_state if relay == "pending" else relay
    if mode == "structured":
        _, _, changes, ops, sign_how, encrypt = description
        idp = kit.idp
        root = idp.build_response(response_spec(kit.pending.request_id, **changes))
        if sign_how == "before_ops":
            idp.sign(root)
        _apply_ops(root, ops)
        assertion = root.find("{urn:oasis:names:tc:SAML:2.0:assertion}Assertion")
        if sign_how in ("assertion", "both") and assertion is not None:
            idp.sign(assertion)
        if encrypt and assertion is not None:
            idp.encrypt_assertion(root, kit.sp_cert)
        if sign_how in ("response", "both"):
            idp.sign(root)
        elif sign_how == "attacker":
            kit.attacker.sign(root)
        data = etree.tostring(root)
    elif mode == "bytes":
        data = description[2]
    elif mode == "b64":
        return description[2], relay_state
    elif mode == "wrap":
        root = etree.fromstring(kit.seeds[0])
        _apply_ops(root, description[2])
        data = etree.tostring(root)
    else:
        data = description[2]
    return base64.b64encode(data).decode("ascii"), relay_state


def call_saml(prepared: tuple[str, str | None]) -> object:
    kit = saml_kit()
    saml_response, relay_state = prepared
    return kit.sp.process_response(saml_response, relay_state, expected=kit.pending)


# -- SCIM -------------------------------------------------------------------------------

SCIM_BASE = "https://scim.fuzz.test/api/scim/v2"
USER_URN = "urn:ietf:params:scim:schemas:core:2.0:User"
CREW_URN = "urn:ietf:params:scim:schemas:extension:dualog:2.0:User"


def scim_user(n: int = 1) -> dict[str, Any]:
    from rpkit.scim.models import CREW_EXTENSION_URN

    return {
        "schemas": [USER_URN, CREW_EXTENSION_URN],
        "id": f"10{n}",
        "userName": f"crew{n}@fleet.example",
        "externalId": f"E-{n}",
        "name": {"givenName": "Anna", "familyName": "Berg"},
        "displayName": "Anna Berg",
        "active": True,
        "emails": [{"value": f"crew{n}@fleet.example", "type": "work", "primary": True}],
        "phoneNumbers": [{"value": "+4712345678", "type": "mobile"}],
        "groups": [{"value": "g1", "display": "Deck"}],
        "meta": {"resourceType": "User", "created": "2026-01-01T00:00:00Z"},
        CREW_EXTENSION_URN: {
            "rank": "Chief Officer",
            "department": "Deck",
            "shipName": "MV Nordlys",
            "shipImo": "9876543",
            "contractStartDate": "2026-01-01",
            "contractEndDate": "2026-12-31",
            "forceChangePassword": False,
            "userFields": [{"key": "badge", "value": "7"}],
        },
    }


def scim_documents() -> list[Any]:
    group = {"id": "g1", "displayName": "Deck", "members": [{"value": "101", "display": "A"}]}
    return [
        scim_user(1),
        group,
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 2,
            "startIndex": 1,
            "itemsPerPage": 2,
            "Resources": [scim_user(1), scim_user(2)],
        },
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
            "totalResults": 1,
            "Resources": [group],
        },
        {
            "schemas": ["urn:ietf:params:scim:api:messages:2.0:Error"],
            "status": "409",
            "scimType": "uniqueness",
            "detail": "userName exists",
        },
        {
            "type": "https://tools.ietf.org/html/rfc7231#section-6.5.1",
            "title": "Bad Request",
            "status": 400,
            "detail": "invalid",
            "correlationId": "c-1",
        },
    ]


SCIM_NAMES = (
    "id",
    "userName",
    "name",
    "emails",
    "active",
    "meta",
    "totalResults",
    "Resources",
    "startIndex",
    "itemsPerPage",
    "members",
    "displayName",
    "detail",
    "scimType",
    "status",
    "groups",
    "phoneNumbers",
    "externalId",
    CREW_URN,
)
SCIM_OPS = (
    "get_user",
    "list_users",
    "find_user",
    "create_user",
    "replace_user",
    "delete_user",
    "get_group",
    "list_groups",
    "add_to_group",
    "schemas",
)


@dataclass
class ScimKit:
    client: Any
    adapter: QueueAdapter
    user: Any


@cache
def scim_kit() -> ScimKit:
    from rpkit._http import HttpClient
    from rpkit.scim import ScimClient, ScimConfig
    from rpkit.scim.models import user_from_scim

    adapter = QueueAdapter(
        {
            "/token": json_answer(
                {"access_token": "t0ken", "token_type": "Bearer", "expires_in": 86400}
            )
        },
        fallback=json_answer({"schemas": [], "status": "404", "detail": "not found"}, 404),
    )
    config = ScimConfig(
        base_url=SCIM_BASE,
        token_url="https://scim.fuzz.test/token",
        client_id="fuzz",
        client_secret="fuzz-secret",
        max_retries=1,
        backoff=timedelta(seconds=0.001),
    )
    client = ScimClient(
        config,
        http=HttpClient(config.http, session=session_with(adapter)),
        sleep=lambda _seconds: None,
        clock=lambda: float(NOW),
        today=lambda: date(2026, 6, 1),
    )
    return ScimKit(client, adapter, user_from_scim(scim_user(1)))


@st.composite
def scim_descriptions(draw: st.DrawFn) -> Any:
    op = draw(st.sampled_from(SCIM_OPS))
    replies = draw(st.lists(_scim_answers(), min_size=1, max_size=3))
    return op, replies


@cache
def _scim_answers() -> st.SearchStrategy[Answer]:
    return answers(scim_documents(), SCIM_NAMES)


def amplify_scim(prepared: Any, mutator: Mutator) -> Any:
    op, replies = prepared[-2:]
    replies = list(replies)
    index = mutator.rng.randrange(len(replies))
    replies[index] = replace(replies[index], body=mutator.bytes(replies[index].body))
    # Most mutants skip the HTTP stack (its cost would dominate) and go straight to the
    # response parsers the client uses; one in five takes the whole client path.
    if mutator.rng.random() < 0.8:
        return "parse", op, replies
    return op, replies


def _response(answer: Answer) -> Any:
    import requests
    from requests.structures import CaseInsensitiveDict

    response = requests.Response()
    response.status_code = answer.status
    response._content = answer.body
    response.headers = CaseInsensitiveDict(answer.headers)
    response.url = SCIM_BASE + "/Users"
    response.encoding = None
    return response


class _PagesTransport:
    """Feeds list pages to ``list_pages`` exactly as ``Transport.call`` returns them."""

    def __init__(self, replies: list[Answer]) -> None:
        self.replies = list(replies)

    def call(self, method: str, url: str, *, what: str, **_: Any) -> Any:
        return _parsed(self.replies.pop(0) if self.replies else self.replies_end(), what)

    @staticmethod
    def replies_end() -> Answer:
        return json_answer({"totalResults": 0, "Resources": []})


def _parsed(answer: Answer, what: str) -> Any:
    """What ``Transport.call`` makes of one answer: the error it raises, or the JSON body."""
    from rpkit._http import error_from_response
    from rpkit.scim._transport import readable_json

    response = _response(answer)
    if not 200 <= answer.status < 300:
        raise error_from_response(response, what)
    return readable_json(response, what)


def parse_scim(op: str, replies: list[Answer]) -> object:
    from rpkit.scim._transport import list_pages
    from rpkit.scim.models import group_from_scim, user_from_scim

    if op in ("list_users", "find_user", "list_groups"):
        resource = "Groups" if op == "list_groups" else "Users"
        parse = group_from_scim if op == "list_groups" else user_from_scim
        pages = list_pages(_PagesTransport(replies), SCIM_BASE, resource, filter=None, count=2)
        return [parse(item) for item in itertools.islice(pages, 20)]
    body = _parsed(replies[0], f"SCIM {op}")
    if op in ("get_user", "create_user", "replace_user"):
        return user_from_scim(body)
    if op == "get_group":
        return group_from_scim(body)
    return body


def call_scim(prepared: Any) -> object:
    if prepared[0] == "parse":
        return parse_scim(prepared[1], prepared[2])
    op, replies = prepared
    kit = scim_kit()
    client = kit.client
    kit.adapter.queue.clear()
    kit.adapter.queue.extend(replies)
    if op == "get_user":
        return client.get_user("101")
    if op == "list_users":
        return list(itertools.islice(client.list_users(page_size=2), 20))
    if op == "find_user":
        return client.find_user(external_id="E-1", user_name="crew1@fleet.example")
    if op == "create_user":
        return client.create_user(replace(kit.user, id=None))
    if op == "replace_user":
        return client.replace_user(kit.user)
    if op == "delete_user":
        return client.delete_user("101")
    if op == "get_group":
        return client.get_group("g1")
    if op == "list_groups":
        return list(itertools.islice(client.list_groups(page_size=2), 20))
    if op == "add_to_group":
        return client.add_to_group("101", "g1")
    return client.schemas()


# -- roster -----------------------------------------------------------------------------


def roster_rows() -> list[dict[str, str]]:
    return [
        {
            "first_name": "Anna",
            "surname": "Berg",
            "email": "anna.berg@fleet.example",
            "rank": "Chief Officer",
            "employee_id": "E-1",
            "ship_name": "MV Nordlys",
            "imo": "9876543",
            "contract_start": "2026-01-01",
            "contract_end": "2026-12-31",
            "personal_email": "anna@home.example",
            "phone": "+4712345678",
            "department": "Deck",
        },
        {
            "first_name": "Jonas",
            "surname": "Dela Cruz",
            "email": "jonas@fleet.example",
            "rank": "AB",
            "employee_id": "E-2",
            "ship_name": "MT Polar Voyager",
            "imo": "IMO 9074729",
            "contract_start": "",
            "contract_end": "",
            "personal_email": "",
            "phone": "",
            "department": "Deck",
        },
    ]


@cache
def roster_seeds() -> list[bytes]:
    from rpkit.scim.roster import rows_to_csv

    text = rows_to_csv(roster_rows())
    return [
        text.encode(),
        ("\ufeff" + text).encode(),
        text.replace(",", ";").encode(),
        text.replace(",", "\t").encode("utf-16"),
        text.encode("latin-1"),
    ]


ROSTER_FIELDS = tuple(roster_rows()[0])
CELL = st.text(max_size=30) | st.sampled_from(
    [
        "",
        " ",
        "2026-02-30",
        "31/12/2026",
        "99999-01-01",
        "9876543",
        "IMO 1234567",
        "0000000",
        "a@b",
        "@",
        "x" * 200_000,
        '"',
        '""',
        "\x00",
        "=cmd|' /C calc'!A0",
        "\r",
        "1e999",
    ]
)


@cache
def _roster_bytes_strategy() -> st.SearchStrategy[bytes]:
    return mutated_bytes(roster_seeds())


@st.composite
def roster_descriptions(draw: st.DrawFn) -> Any:
    mode = draw(st.integers(0, 9))
    date_format = draw(st.sampled_from(["%Y-%m-%d", "%Y-%m-%d", "%d/%m/%Y", "%d.%m.%Y", "%Y"]))
    delimiter = draw(st.sampled_from([None, None, None, ",", ";", "\t"]) | st.text(max_size=2))
    spec = None
    if draw(st.integers(0, 9)) == 0:
        spec = draw(
            st.sampled_from(["email=E-mail", "imo=IMO;rank=Position", ""]) | st.text(max_size=40)
        )
    if mode <= 4:  # structured rows with hostile cells, then an encoding
        rows = []
        for row in draw(st.lists(st.sampled_from(roster_rows()), min_size=0, max_size=5)):
            row = dict(row)
            for name in draw(st.lists(st.sampled_from(ROSTER_FIELDS), max_size=4)):
                row[name] = draw(CELL)
            rows.append(row)
        encoding = draw(
            st.sampled_from(["utf-8", "utf-8", "utf-8-sig", "latin-1", "utf-16", "cp1252"])
        )
        return ("rows", rows, encoding, date_format, delimiter, spec)
    if mode <= 8:
        return ("bytes", draw(_roster_bytes_strategy()), None, date_format, delimiter, spec)
    return ("bytes", draw(st.binary(max_size=600)), None, date_format, delimiter, spec)


@cache
def roster_path() -> str:
    fd, path = tempfile.mkstemp(prefix="rpkit-fuzz-roster-", suffix=".csv")
    os.close(fd)
    return path


def prepare_roster(description: Any) -> Any:
    from rpkit.scim.roster import rows_to_csv

    mode, payload, encoding, date_format, delimiter, spec = description
    if mode == "rows":
        text = rows_to_csv(payload)
        data = text.encode(encoding, "replace")
    else:
        data = payload
    return data, date_format, delimiter, spec


def amplify_roster(prepared: Any, mutator: Mutator) -> Any:
    data, date_format, delimiter, spec = prepared
    return mutator.bytes(data, max_ops=3), date_format, delimiter, spec


def call_roster(prepared: Any) -> object:
    from rpkit.scim.roster import RosterColumns, read_roster

    data, date_format, delimiter, spec = prepared
    with open(roster_path(), "wb") as fh:
        fh.write(data)
    columns = RosterColumns.from_spec(spec) if spec is not None else None
    roster = read_roster(
        roster_path(), columns=columns, date_format=date_format, delimiter=delimiter
    )
    return roster.valid_rows


TARGETS: dict[str, Target] = {
    t.name: t
    for t in (
        Target(
            "oidc_callback",
            callback_descriptions,
            prepare_callback,
            call_callback,
            callback_kit,
            amplify_callback,
        ),
        Target("jwt", jwt_descriptions, prepare_jwt, call_jwt, jwt_kit, amplify_jwt),
        Target("saml_acs", saml_descriptions, prepare_saml, call_saml, saml_kit, amplify_saml),
        Target("scim", scim_descriptions, lambda d: d, call_scim, scim_kit, amplify_scim),
        Target(
            "roster", roster_descriptions, prepare_roster, call_roster, roster_path, amplify_roster
        ),
    )
}
