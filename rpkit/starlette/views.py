"""The routes, the same public contract as the Flask blueprint: ``GET /auth/login?next=``,
``GET /auth/login/oidc?next=``, ``GET|POST /auth/oidc/callback``,
``POST /auth/oidc/backchannel-logout``, ``GET /auth/oidc/frontchannel-logout?iss=&sid=``,
``GET /auth/login/saml?next=``,
``POST /auth/saml/acs``, ``GET /auth/saml/metadata``, ``GET|POST /auth/saml/slo``,
``POST /auth/logout``.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING, Any, Literal

from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from starlette.routing import Route

from ..errors import RpkitError
from ..web import flow
from ._requests import correlation_id, offload

if TYPE_CHECKING:
    from ..web.sessions import ServerSession
    from .extension import Rpkit

__all__ = ["routes"]

log = logging.getLogger("rpkit.starlette")


def _send(rpkit: Rpkit, request: Request, outgoing: flow.Outgoing) -> Response:
    response: Response
    if (page := outgoing.page) is not None:
        return rpkit.error_response(
            request, page.status, page.title, page.message, code=page.code, as_json=False
        )
    if outgoing.location is not None:
        response = RedirectResponse(outgoing.location, status_code=outgoing.status)
    else:
        response = HTMLResponse(outgoing.html or "", status_code=outgoing.status)
    for name, value in outgoing.headers:
        response.headers[name] = value
    return response


async def _form(request: Request) -> dict[str, str]:
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


def routes(rpkit: Rpkit) -> list[Route]:
    state = rpkit.state

    def begin_session(response: Response, sign_in: flow.SignIn, request: Request) -> None:
        rpkit.set_cookie(
            response,
            state.session_cookie,
            sign_in.new.session_id,
            max_age=int(state.settings.session_lifetime.total_seconds()),
        )
        request.state.rpkit_session = sign_in.new.record

    async def login(request: Request) -> Response:
        """Send the browser to the only protocol, or show one button per protocol."""
        choice = flow.login_choice(state, request.query_params.get("next"))
        if isinstance(choice, str):
            return RedirectResponse(choice, 303)
        if not choice.protocols:
            return rpkit.error_response(
                request, 404, "Sign-in is not configured", "No identity provider is set up."
            )
        html = await rpkit.render(request, "rpkit/chooser.html", **choice.context())
        return HTMLResponse(html)

    async def login_oidc(request: Request) -> Response:
        start = await offload(
            flow.start_oidc_login,
            state,
            request.query_params.get("next"),
            request.cookies.get(flow.OIDC_BROWSER_COOKIE),
        )
        response = RedirectResponse(start.location, 302)
        start.hand_off(state, response)
        return response

    async def oidc_callback(request: Request) -> Response:
        post = request.method == "POST"
        params = await _form(request) if post else dict(request.query_params)
        current = await rpkit.session(request)
        sign_in = await offload(
            lambda: flow.finish_oidc_login(
                state,
                params,
                received_via="form_post" if post else "query",
                browser=request.cookies.get(flow.OIDC_BROWSER_COOKIE),
                current=current,
            )
        )
        response = RedirectResponse(sign_in.next, 303)
        begin_session(response, sign_in, request)
        rpkit.clear_cookie(
            response, flow.OIDC_BROWSER_COOKIE, path=state.path(flow.OIDC_CALLBACK_PATH)
        )
        return response

    async def oidc_backchannel_logout(request: Request) -> Response:
        token = (await _form(request)).get("logout_token")
        try:
            await offload(flow.backchannel_logout, state, token)
        except RpkitError as err:
            status, body = flow.backchannel_refusal(err, correlation_id(request))
            return JSONResponse(body, status_code=status, headers={"Cache-Control": "no-store"})
        return Response(status_code=200, headers={"Cache-Control": "no-store"})

    async def oidc_frontchannel_logout(request: Request) -> Response:
        params = dict(request.query_params)
        return _send(rpkit, request, await offload(flow.frontchannel_logout, state, params))

    async def login_saml(request: Request) -> Response:
        from ..saml import BROWSER_COOKIE

        start = await offload(
            flow.start_saml_login,
            state,
            request.query_params.get("next"),
            request.cookies.get(BROWSER_COOKIE),
        )
        response = _send(rpkit, request, start.outgoing)
        cookie = start.cookie
        if state.settings.secure_cookies:
            response.headers.append("Set-Cookie", cookie.header_value())
        else:
            # Loopback http (the local demo): browsers drop Secure and SameSite=None
            # cookies over http; the IdP and the app share the loopback site, so Lax works.
            rpkit.set_cookie(
                response, cookie.name, cookie.value, path=cookie.path, max_age=cookie.max_age
            )
        return response

    async def saml_acs(request: Request) -> Response:
        from ..saml import BROWSER_COOKIE

        form = await _form(request)
        current = await rpkit.session(request)
        sign_in = await offload(
            lambda: flow.finish_saml_login(
                state, form, browser=request.cookies.get(BROWSER_COOKIE), current=current
            )
        )
        response = RedirectResponse(sign_in.next, 303)
        begin_session(response, sign_in, request)
        rpkit.clear_cookie(response, BROWSER_COOKIE, path=state.path("/auth/saml/acs"))
        return response

    async def saml_metadata(request: Request) -> Response:
        sp = state.require_saml()
        xml = await offload(sp.sp_metadata)
        return Response(xml, media_type="application/samlmetadata+xml")

    async def saml_slo(request: Request) -> Response:
        binding: Literal["redirect", "post"] = "redirect" if request.method == "GET" else "post"
        form = await _form(request) if binding == "post" else {}
        values = {**dict(request.query_params), **form}
        query = request.url.query if binding == "redirect" else None
        current = await rpkit.session(request)
        outcome = await offload(
            lambda: flow.saml_single_logout(
                state,
                binding=binding,
                query_string=query,
                values=values,
                form=form,
                current=current,
            )
        )
        response = _send(rpkit, request, outcome.outgoing)
        if outcome.end_browser_session:
            rpkit.leave(request, response)
        return response

    async def logout(request: Request) -> Response:
        """End the session (CSRF token required), then log out at the IdP it came from."""
        record: ServerSession | None = await rpkit.session(request)
        if record is None:
            return RedirectResponse(state.path("/"), 303)
        form = await _form(request)
        token = form.get("csrf_token") or request.headers.get("x-csrf-token")
        if not record.check_csrf(token):
            return rpkit.error_response(
                request,
                403,
                "Sign-out refused",
                "The sign-out form was not sent by this app (missing or wrong CSRF token).",
                code="csrf",
            )
        outgoing = await offload(flow.logout, state, record)
        response = _send(rpkit, request, outgoing)
        rpkit.leave(request, response)
        return response

    handlers: list[tuple[str, Any, list[str]]] = [
        ("/auth/login", login, ["GET"]),
        ("/auth/login/oidc", login_oidc, ["GET"]),
        ("/auth/oidc/callback", oidc_callback, ["GET", "POST"]),
        ("/auth/oidc/backchannel-logout", oidc_backchannel_logout, ["POST"]),
        ("/auth/oidc/frontchannel-logout", oidc_frontchannel_logout, ["GET"]),
        ("/auth/login/saml", login_saml, ["GET"]),
        ("/auth/saml/acs", saml_acs, ["POST"]),
        ("/auth/saml/metadata", saml_metadata, ["GET"]),
        ("/auth/saml/slo", saml_slo, ["GET", "POST"]),
        ("/auth/logout", logout, ["POST"]),
    ]
    # Paths without the prefix: Starlette matches routes on the path below ``root_path``.
    return [
        Route(path, handler, methods=methods, name=f"rpkit_{handler.__name__}")
        for path, handler, methods in handlers
    ]
