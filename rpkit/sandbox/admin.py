"""The control API under ``/_sandbox``: reset, faults, clock, keys, next-token claims, counts.

Every call needs ``Authorization: Bearer <admin token>`` (printed at start).
"""

from __future__ import annotations

import hmac
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from flask import Blueprint, Response, jsonify, request

from ..errors import ConfigurationError
from .controls import ControlError, Fault
from .keys import KeyRing, SamlKeyRing
from .oidc import sandbox

__all__ = ["bp"]

bp = Blueprint("admin", __name__, url_prefix="/_sandbox")


def _problem(status: int, detail: str) -> Response:
    response = jsonify(error="invalid_request" if status == 400 else "unauthorized", detail=detail)
    response.status_code = status
    return response


@bp.before_request
def _require_admin_token() -> Response | None:
    header = request.headers.get("Authorization", "")
    token = header[7:].strip() if header[:7].lower() == "bearer " else ""
    expected = sandbox().config.admin_token
    if not token or not hmac.compare_digest(token, expected):
        return _problem(401, "the admin API needs 'Authorization: Bearer <admin token>'")
    return None


@bp.errorhandler(ControlError)
def _control_error(err: ControlError) -> Response:
    return _problem(400, str(err))


def _body() -> dict[str, Any]:
    data = request.get_json(silent=True)
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ControlError("the request body must be a JSON object")
    return data


def _number(data: dict[str, Any], name: str, default: float | None = None) -> float:
    value = data.get(name, default)
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ControlError(f'"{name}" must be a number')
    return float(value)


@bp.get("/urls")
def urls() -> Response:
    """Every public URL of this sandbox."""
    return jsonify(sandbox().urls.as_dict())


@bp.post("/reset")
def reset() -> Response:
    """Restore the seed and clear sessions, faults, counts and the clock offset."""
    sandbox().reset()
    return jsonify(status="reset")


@bp.get("/requests")
def requests_counts() -> Response:
    """Requests per endpoint since the last reset; ``?by=method`` splits them by HTTP method,
    ``?by=status`` by the status they were answered with."""
    by = request.args.get("by")
    if by is None:
        return jsonify(sandbox().controls.counts())
    if by == "status":
        return jsonify(sandbox().controls.counts_by_status())
    if by != "method":
        raise ControlError('"by" must be "method" or "status" (or left out for totals)')
    return jsonify(sandbox().controls.counts_by_method())


@bp.delete("/requests")
def reset_counts() -> Response:
    """Zero the request counts."""
    sandbox().controls.reset_counts()
    return jsonify(status="cleared")


@bp.get("/faults")
def faults() -> Response:
    """The active faults."""
    return jsonify(sandbox().controls.faults())


@bp.put("/faults/<endpoint>")
def set_fault(endpoint: str) -> Response:
    """Inject a fault: ``{"kind": "error"|"latency"|"rate_limit"|"malformed", ...}``."""
    sandbox().controls.set_fault(endpoint, Fault.from_mapping(_body()))
    return jsonify(sandbox().controls.faults())


@bp.delete("/faults/<endpoint>")
def clear_fault(endpoint: str) -> Response:
    """Remove the fault on one endpoint."""
    sandbox().controls.clear_fault(endpoint)
    return jsonify(sandbox().controls.faults())


@bp.delete("/faults")
def clear_faults() -> Response:
    """Remove every fault."""
    sandbox().controls.clear_fault(None)
    return jsonify({})


@bp.post("/next-token-claims")
def next_token_claims() -> Response:
    """Override claims of the next token: ``{"token": "id_token", "claims": {...}}``
    (``id_token``, ``access_token``, ``userinfo`` or ``logout_token``)."""
    data = _body()
    claims = data.get("claims")
    if not isinstance(claims, dict):
        raise ControlError('"claims" must be an object (null values remove a claim)')
    sandbox().controls.set_next_claims(str(data.get("token", "id_token")), claims)
    return jsonify(status="armed")


@bp.post("/backchannel-logout")
def backchannel_logout() -> Response:
    """End every session of ``{"user": userName}`` and send logout tokens now (for tests)."""
    state = sandbox()
    user = _body().get("user")
    if not isinstance(user, str) or not user:
        raise ControlError('"user" (a userName) is required')
    member = state.store.find_user(user)
    if member is None:
        raise ControlError(f"no user has userName {user!r}")
    sessions = state.end_sessions(user_id=member.id)
    deliveries = [d.as_dict() for s in sessions for d in state.notify_logout(s, wait=True)]
    return jsonify(sessions=len(sessions), deliveries=deliveries)


@bp.get("/backchannel-deliveries")
def backchannel_deliveries() -> Response:
    """How every back-channel logout delivery went, oldest first."""
    return jsonify(sandbox().backchannel.deliveries())


def _rotation() -> tuple[timedelta, bool]:
    """Read a rotation body: ``{"grace_seconds": 300, "publish": true}``."""
    data = _body()
    grace = _number(data, "grace_seconds", 300)
    if grace < 0:
        raise ControlError('"grace_seconds" must not be negative')
    publish = data.get("publish", True)
    if not isinstance(publish, bool):
        raise ControlError('"publish" must be true or false')
    return timedelta(seconds=grace), publish


def _route_ring(
    prefix: str, ring_of: Callable[[], KeyRing | SamlKeyRing], new_id: str, name: str
) -> None:
    """Route one signing-key ring: ``GET prefix`` describes it (no private parts), ``POST
    prefix/rotate`` signs with a new key (``{"grace_seconds": 300, "publish": true}``;
    answers the new key's ``new_id`` and the ring), ``POST prefix/publish`` publishes every
    live key (after a rotation with ``publish: false``). ``name`` prefixes the endpoints."""

    def describe() -> Response:
        return jsonify(ring_of().describe())

    def rotate() -> Response:
        grace, publish = _rotation()
        ring = ring_of()
        new = ring.rotate(grace=grace, publish=publish)
        return jsonify({new_id: new, "keys": ring.describe()})

    def publish() -> Response:
        ring = ring_of()
        ring.publish_all()
        return jsonify(ring.describe())

    bp.add_url_rule(prefix, name, describe, methods=["GET"])
    bp.add_url_rule(prefix + "/rotate", f"rotate_{name}", rotate, methods=["POST"])
    bp.add_url_rule(prefix + "/publish", f"publish_{name}", publish, methods=["POST"])


# The OIDC key ring (JWKS) and the SAML signing certificates (IdP metadata).
_route_ring("/keys", lambda: sandbox().keys, "kid", "keys")
_route_ring("/saml/keys", lambda: sandbox().saml_key_ring, "sha256", "saml_keys")


@bp.get("/clock")
def clock() -> Response:
    """The sandbox time and its offset from the real clock."""
    state = sandbox()
    return jsonify(offset_seconds=state.clock.offset, now=state.clock.now().isoformat())


@bp.post("/clock")
def set_clock() -> Response:
    """Shift the clock: ``{"offset_seconds": N}`` or ``{"advance_seconds": N}``."""
    state = sandbox()
    data = _body()
    if "offset_seconds" in data:
        state.clock.set_offset(_number(data, "offset_seconds"))
    elif "advance_seconds" in data:
        state.clock.advance(_number(data, "advance_seconds"))
    else:
        raise ControlError('give "offset_seconds" or "advance_seconds"')
    return jsonify(offset_seconds=state.clock.offset, now=state.clock.now().isoformat())


@bp.put("/saml/metadata")
def set_metadata_validity() -> Response:
    """Set the metadata's ``validUntil`` to now + ``{"valid_for_seconds": N}`` (negative:
    expired metadata); ``null`` restores the default (5 days)."""
    data = _body()
    if "valid_for_seconds" not in data:
        raise ControlError('give "valid_for_seconds" (a number, or null for the default)')
    value = data["valid_for_seconds"]
    seconds = None if value is None else _number(data, "valid_for_seconds")
    sandbox().controls.set_metadata_valid_for(seconds)
    return jsonify(valid_for_seconds=seconds)


@bp.post("/clients/<client_id>/secret")
def set_client_secret(client_id: str) -> Response:
    """Give a client a new secret: ``{"client_secret": "..."}`` (a rotation in the portal, so
    the app's configured secret is wrong until updated; reset restores it)."""
    secret = _body().get("client_secret")
    if not isinstance(secret, str) or not secret:
        raise ControlError('"client_secret" must be a non-empty string')
    try:
        sandbox().set_client_secret(client_id, secret)
    except KeyError as err:
        raise ControlError(f"no client has client_id {client_id!r}") from err
    return jsonify(client_id=client_id, status="secret changed")


def _tls() -> Any:
    tls = sandbox().tls
    if tls is None:
        raise ControlError("this sandbox serves plain http; start it with --tls")
    return tls


@bp.get("/tls")
def tls_status() -> Response:
    """The certificate served, its host names and the CA bundle to trust."""
    return jsonify(_tls().describe())


@bp.put("/tls")
def set_tls_certificate() -> Response:
    """Serve another certificate to new connections: ``{"certificate": "expired"}``
    (``valid``, ``expired``, ``expiring``, ``wrong_name``, ``unknown_ca``, ``self_signed``)."""
    tls = _tls()
    try:
        tls.serve(str(_body().get("certificate", "")))
    except ValueError as err:
        raise ControlError(str(err)) from err
    return jsonify(tls.describe())


@bp.post("/service-providers")
def register_sp() -> Response:
    """Register a SAML SP from metadata: ``{"metadata": "<xml>"}`` or ``{"metadata_url": ...}``.

    Optional per-SP switches (RSK's per-SP settings): ``require_signed_requests``,
    ``attribute_names``, ``claims_mapping``, ``name_id_format``.
    """
    from dataclasses import replace

    from .config import SamlServiceProviderConfig
    from .saml_sp import SamlMetadataError, fetch_metadata, parse_sp_metadata

    data = _body()
    switches: dict[str, Any] = {
        k: data[k]
        for k in ("require_signed_requests", "attribute_names", "claims_mapping", "name_id_format")
        if k in data
    }
    try:
        if isinstance(data.get("metadata"), str):
            sp = parse_sp_metadata(data["metadata"].encode())
        elif isinstance(data.get("metadata_url"), str):
            sp = parse_sp_metadata(fetch_metadata(data["metadata_url"]))
        else:
            raise ControlError('give "metadata" (XML text) or "metadata_url"')
    except SamlMetadataError as err:
        raise ControlError(str(err)) from err
    if switches:
        try:
            checked = SamlServiceProviderConfig.from_mapping(
                {"entity_id": sp.entity_id, "acs_urls": [sp.acs[0].url], **switches}
            )
        except ConfigurationError as err:
            raise ControlError(str(err)) from err
        sp = replace(
            sp,
            require_signed_requests=checked.require_signed_requests,
            attribute_names=checked.attribute_names,
            claims_mapping=dict(checked.claims_mapping) if checked.claims_mapping else None,
            name_id_format=checked.name_id_format
            if "name_id_format" in switches
            else sp.name_id_format,
        )
    state = sandbox()
    with state.lock:
        state.service_providers[sp.entity_id] = sp
    return jsonify(entity_id=sp.entity_id, acs_urls=[a.url for a in sp.acs])
