"""The sandbox's Flask app: blueprints, request counting, injected faults, error bodies."""

from __future__ import annotations

import time
import uuid

from flask import Flask, Response, g, jsonify, request
from werkzeug.exceptions import HTTPException

from .controls import Fault
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


def _fault_response(fault: Fault) -> Response | None:
    if fault.kind == "latency":
        time.sleep(fault.delay)
        return None
    if fault.kind == "rate_limit":
        response = jsonify(error="rate_limited", error_description="Too many requests (injected)")
        response.status_code = 429
        response.headers["Retry-After"] = str(fault.retry_after)
        return response
    if fault.kind == "error":
        response = jsonify(
            type=f"https://httpstatuses.com/{fault.status}",
            title="InjectedFault",
            status=fault.status,
            detail="Fault injected by the rpkit sandbox",
            correlationId=str(uuid.uuid4()),
        )
        response.status_code = fault.status
        return response
    return None


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
        state.controls.count(name)
        fault = state.controls.take_fault(name)
        if fault is None:
            return None
        if fault.kind == "malformed":
            g.rpkit_malformed = True
            return None
        return _fault_response(fault)

    @app.after_request
    def _malform(response: Response) -> Response:
        if g.get("rpkit_malformed"):
            body = response.get_data()
            response.set_data(body[: max(1, len(body) // 2)] or b"{")
        return response

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
