"""The sandbox's Flask app: blueprints, request counting, injected faults, error bodies."""

from __future__ import annotations

import json
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .controls import Controls, Fault
from .oidc import bp as oidc_bp
from .oidc_server import create_authorization_server
from .state import SandboxState

__all__ = ["create_app"]

# Flask endpoint -> the stable endpoint name used by faults and request counts.
_ENDPOINT_NAMES = {
    "oidc.discovery": "discovery",
    "oidc.jwks": "jwks",
    "oidc.authorize": "authorize",
    "oidc.token": "token",
    "oidc.userinfo": "userinfo",
    "oidc.endsession": "endsession",
    "saml.metadata": "saml_metadata",
    "saml.sso": "saml_sso",
    "saml.sso_login": "saml_sso",
    "saml.slo": "saml_slo",
    "saml.idp_logout": "saml_slo",
    "scim.users": "scim_users",
    "scim.user": "scim_users",
    "scim.groups": "scim_groups",
    "scim.group": "scim_groups",
    "scim.membership": "scim_membership",
    "scim.root": "scim_discovery",
    "scim.service_provider_config_view": "scim_discovery",
    "scim.resource_types_view": "scim_discovery",
    "scim.resource_type": "scim_discovery",
    "scim.schemas_view": "scim_discovery",
    "scim.schema": "scim_discovery",
}


def _problem(endpoint: str, status: int, title: str, detail: str) -> Response:
    """Dualog's error body ``{type,title,status,detail,correlationId}`` (User API guide)."""
    body = {
        "type": f"https://httpstatuses.com/{status}",
        "title": title,
        "status": status,
        "detail": detail,
        "correlationId": str(uuid.uuid4()),
    }
    # The SCIM API answers application/scim+json, its own errors included (scim.py).
    mimetype = "application/scim+json" if endpoint.startswith("scim_") else "application/json"
    return Response(json.dumps(body), status=status, mimetype=mimetype)


def _rate_limited(endpoint: str, retry_after: int) -> Response:
    if endpoint.startswith("scim_"):
        response = _problem(
            endpoint, 429, "TooManyRequests", "Too many requests (injected by the rpkit sandbox)"
        )
    else:
        # OAuth endpoints: an RFC 6749 §5.2-style error object, as OAuth clients parse.
        response = jsonify(error="rate_limited", error_description="Too many requests (injected)")
        response.status_code = 429
    response.headers["Retry-After"] = str(retry_after)
    return response


def _fault_response(
    endpoint: str, fault: Fault, generation: int, controls: Controls
) -> Response | None:
    if fault.kind == "latency":
        if fault.when == "after":
            g.rpkit_delay_after = fault.delay
            return None
        if controls.delay(fault.delay, generation):
            return None
        # A reset happened while this request waited: refuse it rather than let a write
        # land in the state the reset just restored.
        return _problem(
            endpoint,
            503,
            "SandboxReset",
            "The sandbox was reset while this request was delayed; it was not processed.",
        )
    if fault.kind == "rate_limit":
        return _rate_limited(endpoint, fault.retry_after)
    if fault.kind == "error":
        return _problem(
            endpoint, fault.status, "InjectedFault", "Fault injected by the rpkit sandbox"
        )
    return None


def _garble(response: Response) -> None:
    """Make the answer unparseable as what the client expects (the ``malformed`` fault)."""
    body = response.get_data()
    if body:
        response.set_data(body[: max(1, len(body) // 2)])
        return
    # An empty answer (204 No Content) cannot be truncated: send a 200 with a cut-off JSON
    # body instead, so a client expecting "204, no body" sees a wrong status and junk.
    response.status_code = 200
    response.mimetype = "application/json"
    response.set_data(b'{"schemas": ["urn:ietf:params:scim:api:messages:2.0:Er')


def create_app(state: SandboxState) -> Flask:
    """Build the WSGI app serving ``state``."""
    app = Flask("rpkit.sandbox")
    app.config["MAX_CONTENT_LENGTH"] = 1024 * 1024
    app.extensions["rpkit_sandbox"] = state
    app.extensions["rpkit_sandbox_oauth"] = create_authorization_server(app, state)
    app.register_blueprint(oidc_bp)
    from .admin import bp as admin_bp
    from .saml import bp as saml_bp
    from .scim import bp as scim_bp

    app.register_blueprint(saml_bp)
    app.register_blueprint(scim_bp)
    app.register_blueprint(admin_bp)

    @app.before_request
    def _count_and_fault() -> Response | None:
        name = _ENDPOINT_NAMES.get(request.endpoint or "")
        if name is None:
            return None
        controls = state.controls
        generation = controls.enter()
        g.rpkit_generation = generation
        controls.count(name, request.method)
        fault = controls.take_fault(name)
        if fault is None:
            return None
        if fault.kind == "malformed":
            g.rpkit_malformed = True
            return None
        return _fault_response(name, fault, generation, controls)

    @app.after_request
    def _malform_or_delay(response: Response) -> Response:
        name = _ENDPOINT_NAMES.get(request.endpoint or "")
        if name is not None:
            state.controls.count_status(name, response.status_code)
        if g.get("rpkit_malformed"):
            _garble(response)
        delay = g.get("rpkit_delay_after")
        if delay is not None:
            # The request is handled (a write is committed); only the answer is late.
            state.controls.delay(delay, g.rpkit_generation)
        return response

    @app.teardown_request
    def _leave(_exc: BaseException | None) -> None:
        if g.pop("rpkit_generation", None) is not None:
            state.controls.leave()

    @app.errorhandler(HTTPException)
    def _http_error(err: HTTPException) -> Response:
        status = err.code or 500
        response = jsonify(
            type=f"https://httpstatuses.com/{status}",
            title=err.name.replace(" ", ""),
            status=status,
            detail=err.description or err.name,
            correlationId=str(uuid.uuid4()),
        )
        response.status_code = status
        return response

    @app.errorhandler(Exception)
    def _unexpected(err: Exception) -> Response:
        app.logger.exception("sandbox error")
        response = jsonify(
            type="https://httpstatuses.com/500",
            title="InternalServerError",
            status=500,
            detail="The sandbox hit an unexpected error; see its log.",
            correlationId=str(uuid.uuid4()),
        )
        response.status_code = 500
        return response

    return app
