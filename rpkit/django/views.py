"""The routes, the same public contract as the Flask blueprint and ``rpkit.starlette``:
``GET /auth/login?next=``, ``GET /auth/login/oidc?next=``, ``GET|POST /auth/oidc/callback``,
``POST /auth/oidc/backchannel-logout``, ``GET /auth/oidc/frontchannel-logout?iss=&sid=``,
``GET /auth/login/saml?next=``,
``POST /auth/saml/acs``, ``GET /auth/saml/metadata``, ``GET|POST /auth/saml/slo``,
``POST /auth/logout``.

A GET route also answers HEAD (``require_safe``), as Flask's and Starlette's routing do:
the same status and headers without a body, so HEAD on a login route starts a login (its
pending state and binding cookie) as GET does.

The IdP's POSTs (form_post callback, ACS, SLO, back-channel logout) are cross-site and
carry their own proof (state bound to this browser, signatures), so they are exempt from
Django's CSRF check; logout checks rpkit's token, bound to the server-side session.
"""

from __future__ import annotations

import logging
from typing import Literal

from django.http import (
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
    QueryDict,
)
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST, require_safe

from ..errors import RpkitError
from ..web import flow
from .http import (
    clear_cookie,
    correlation_id,
    current_session,
    error_response,
    leave,
    render,
    set_cookie,
)
from .state import rpkit_state

__all__ = [
    "login",
    "login_oidc",
    "login_saml",
    "logout",
    "oidc_backchannel_logout",
    "oidc_callback",
    "oidc_frontchannel_logout",
    "page_not_found",
    "saml_acs",
    "saml_metadata",
    "saml_slo",
    "server_error",
]

log = logging.getLogger("rpkit.django")


class _Redirect(HttpResponseRedirect):
    def __init__(self, location: str, status: int) -> None:
        super().__init__(location)
        self.status_code = status


def _send(request: HttpRequest, outgoing: flow.Outgoing) -> HttpResponse:
    response: HttpResponse
    if (page := outgoing.page) is not None:
        return error_response(
            request, page.status, page.title, page.message, code=page.code, as_json=False
        )
    if outgoing.location is not None:
        response = _Redirect(outgoing.location, outgoing.status)
    else:
        response = HttpResponse(outgoing.html or "", status=outgoing.status)
    for name, value in outgoing.headers:
        response[name] = value
    return response


def _fields(values: QueryDict) -> dict[str, str]:
    return {key: str(values[key]) for key in values}


def _signed_in(request: HttpRequest, sign_in: flow.SignIn) -> HttpResponse:
    state = rpkit_state()
    response = _Redirect(sign_in.next, 303)
    lifetime = int(state.settings.session_lifetime.total_seconds())
    set_cookie(response, state.session_cookie, sign_in.new.session_id, max_age=lifetime)
    request.rpkit_session = sign_in.new.record  # type: ignore[attr-defined]
    return response


@require_safe
def login(request: HttpRequest) -> HttpResponse:
    """Send the browser to the only protocol, or show one button per protocol."""
    choice = flow.login_choice(rpkit_state(), request.GET.get("next"))
    if isinstance(choice, str):
        return _Redirect(choice, 303)
    if not choice.protocols:
        message = "No identity provider is set up."
        return error_response(request, 404, "Sign-in is not configured", message)
    return HttpResponse(render(request, "rpkit/chooser.html", choice.context()))


@require_safe
def login_oidc(request: HttpRequest) -> HttpResponse:
    state = rpkit_state()
    browser = request.COOKIES.get(flow.OIDC_BROWSER_COOKIE)
    start = flow.start_oidc_login(state, request.GET.get("next"), browser)
    response = _Redirect(start.location, 302)
    start.hand_off(state, response)
    return response


@csrf_exempt
@require_http_methods(["GET", "POST"])
def oidc_callback(request: HttpRequest) -> HttpResponse:
    state = rpkit_state()
    post = request.method == "POST"
    sign_in = flow.finish_oidc_login(
        state,
        _fields(request.POST if post else request.GET),
        received_via="form_post" if post else "query",
        browser=request.COOKIES.get(flow.OIDC_BROWSER_COOKIE),
        current=current_session(request),
    )
    response = _signed_in(request, sign_in)
    clear_cookie(response, flow.OIDC_BROWSER_COOKIE, path=state.path(flow.OIDC_CALLBACK_PATH))
    return response


@csrf_exempt
@require_POST
def oidc_backchannel_logout(request: HttpRequest) -> HttpResponse:
    answer: HttpResponse
    try:
        flow.backchannel_logout(rpkit_state(), request.POST.get("logout_token"))
    except RpkitError as err:
        status, body = flow.backchannel_refusal(err, correlation_id(request))
        answer = JsonResponse(body, status=status)
    else:
        answer = HttpResponse(status=200)
    answer["Cache-Control"] = "no-store"
    return answer


@require_safe
def oidc_frontchannel_logout(request: HttpRequest) -> HttpResponse:
    """OIDC Front-Channel Logout 1.0 §2: end the sessions of the provider session ``sid``
    (no cookies needed; only the provider may frame the page)."""
    return _send(request, flow.frontchannel_logout(rpkit_state(), _fields(request.GET)))


@require_safe
def login_saml(request: HttpRequest) -> HttpResponse:
    from ..saml import BROWSER_COOKIE

    state = rpkit_state()
    browser = request.COOKIES.get(BROWSER_COOKIE)
    start = flow.start_saml_login(state, request.GET.get("next"), browser)
    response = _send(request, start.outgoing)
    cookie = start.cookie
    if state.settings.secure_cookies:
        response.set_cookie(
            cookie.name, cookie.value, max_age=cookie.max_age, path=cookie.path,
            secure=True, httponly=True, samesite="None",
        )  # fmt: skip
    else:
        # Loopback http (the local demo): browsers drop Secure and SameSite=None cookies
        # over http; the IdP and the app share the loopback site, so Lax works.
        set_cookie(response, cookie.name, cookie.value, path=cookie.path, max_age=cookie.max_age)
    return response


@csrf_exempt
@require_POST
def saml_acs(request: HttpRequest) -> HttpResponse:
    from ..saml import BROWSER_COOKIE

    state = rpkit_state()
    sign_in = flow.finish_saml_login(
        state,
        _fields(request.POST),
        browser=request.COOKIES.get(BROWSER_COOKIE),
        current=current_session(request),
    )
    response = _signed_in(request, sign_in)
    clear_cookie(response, BROWSER_COOKIE, path=state.path("/auth/saml/acs"))
    return response


@require_safe
def saml_metadata(request: HttpRequest) -> HttpResponse:
    xml = rpkit_state().require_saml().sp_metadata()
    return HttpResponse(xml, content_type="application/samlmetadata+xml")


@csrf_exempt
@require_http_methods(["GET", "POST"])
def saml_slo(request: HttpRequest) -> HttpResponse:
    state = rpkit_state()
    binding: Literal["redirect", "post"] = "redirect" if request.method == "GET" else "post"
    form = _fields(request.POST) if binding == "post" else {}
    outcome = flow.saml_single_logout(
        state,
        binding=binding,
        query_string=request.META.get("QUERY_STRING", "") if binding == "redirect" else None,
        values={**_fields(request.GET), **form},
        form=form,
        current=current_session(request),
    )
    response = _send(request, outcome.outgoing)
    if outcome.end_browser_session:
        leave(request, response)
    return response


@csrf_exempt  # rpkit's token below, bound to the server-side session
@require_POST
def logout(request: HttpRequest) -> HttpResponse:
    """End the session (CSRF token required), then log out at the IdP it came from."""
    state = rpkit_state()
    record = current_session(request)
    if record is None:
        return _Redirect(state.path("/"), 303)
    token = request.POST.get("csrf_token") or request.headers.get("X-CSRF-Token")
    if not record.check_csrf(token):
        message = "The sign-out form was not sent by this app (missing or wrong CSRF token)."
        return error_response(request, 403, "Sign-out refused", message, code="csrf")
    response = _send(request, flow.logout(state, record))
    leave(request, response)
    return response


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """``handler404 = "rpkit.django.views.page_not_found"``: the friendly 404 page."""
    message = "There is no page at this address."
    return error_response(request, 404, "Page not found", message, code="http_404")


def server_error(request: HttpRequest) -> HttpResponse:
    """``handler500 = "rpkit.django.views.server_error"``: the friendly 500 page."""
    message = "Please try again later."
    return error_response(request, 500, "Something went wrong", message, code="internal_error")
