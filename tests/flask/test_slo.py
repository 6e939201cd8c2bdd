"""IdP-initiated SAML single logout, with and without the browser's session cookie."""

from __future__ import annotations

import base64
import re

import pytest
import requests

from .conftest import Stack
from .helpers import INGRID, TOMAS, forms, saml_login


def _assert_logout_response(stack: Stack, answer: requests.Response) -> None:
    """The app answers with a LogoutResponse to the IdP, over either binding."""
    if answer.status_code == 302:
        location = answer.headers["Location"]
        assert location.startswith(stack.sandbox.urls["saml_slo"] + "?SAMLResponse=")
        assert "Signature=" in location
    else:
        assert answer.status_code == 200, answer.text[:300]
        reply = forms(answer.text)[0]
        assert reply["action"] == stack.sandbox.urls["saml_slo"]
        assert "SAMLResponse" in reply["fields"]


def _idp_logout_form(stack: Stack, http: requests.Session, query: str = "") -> dict[str, object]:
    """Ask the sandbox to log this browser out; return its LogoutRequest form to the app."""
    answer = http.get(stack.sandbox.issuer + "/saml/logout" + query)
    assert answer.status_code == 200, answer.text[:300]
    form = forms(answer.text)[0]
    assert form["action"] == f"{stack.base_url}/auth/saml/slo"
    assert "SAMLRequest" in form["fields"]
    return form


@pytest.mark.parametrize("with_cookie", [True, False], ids=["same_browser", "cross_site"])
def test_idp_initiated_logout(stack: Stack, http: requests.Session, with_cookie: bool) -> None:
    """The IdP's signed LogoutRequest ends the session and is answered with a LogoutResponse."""
    saml_login(http, stack.base_url, TOMAS)
    with requests.Session() as bystander:
        saml_login(bystander, stack.base_url, INGRID)
        form = _idp_logout_form(stack, http)
        poster = http if with_cookie else requests.Session()
        answer = poster.post(str(form["action"]), data=form["fields"], allow_redirects=False)
        _assert_logout_response(stack, answer)
        assert http.get(f"{stack.base_url}/me").status_code == 401
        assert bystander.get(f"{stack.base_url}/me").status_code == 200
        replay = poster.post(str(form["action"]), data=form["fields"], allow_redirects=False)
        assert replay.status_code == 400


def test_logout_request_without_session_index_ends_every_session_of_the_user(
    stack: Stack, http: requests.Session
) -> None:
    """No SessionIndex (SAML Core §3.7.3.2): all of the user's sessions end, nobody else's."""
    saml_login(http, stack.base_url, TOMAS)
    with requests.Session() as laptop, requests.Session() as bystander:
        saml_login(laptop, stack.base_url, TOMAS)
        saml_login(bystander, stack.base_url, INGRID)
        form = _idp_logout_form(stack, http, "?all_sessions=1")
        assert b"SessionIndex" not in base64.b64decode(form["fields"]["SAMLRequest"])  # type: ignore[index]
        with requests.Session() as idp_side:  # cross-site: no session cookie
            answer = idp_side.post(str(form["action"]), data=form["fields"], allow_redirects=False)
        _assert_logout_response(stack, answer)
        assert http.get(f"{stack.base_url}/me").status_code == 401
        assert laptop.get(f"{stack.base_url}/me").status_code == 401
        assert bystander.get(f"{stack.base_url}/me").status_code == 200


def test_logout_request_with_session_index_ends_only_that_session(
    stack: Stack, http: requests.Session
) -> None:
    """With a SessionIndex, the user's other sessions (another device) stay."""
    saml_login(http, stack.base_url, TOMAS)
    with requests.Session() as laptop:
        saml_login(laptop, stack.base_url, TOMAS)
        form = _idp_logout_form(stack, http)
        answer = http.post(str(form["action"]), data=form["fields"], allow_redirects=False)
        _assert_logout_response(stack, answer)
        assert http.get(f"{stack.base_url}/me").status_code == 401
        assert laptop.get(f"{stack.base_url}/me").status_code == 200


def test_forged_logout_request_is_refused(stack: Stack, http: requests.Session) -> None:
    """A LogoutRequest whose signed content was changed ends nothing."""
    saml_login(http, stack.base_url, TOMAS)
    form = _idp_logout_form(stack, http)
    fields = dict(form["fields"])  # type: ignore[call-overload]
    xml = base64.b64decode(fields["SAMLRequest"])
    # Same NameID (so the session is found), but a signed value was changed.
    match = re.search(rb"SessionIndex>([^<]+)<", xml)
    assert match is not None
    forged = xml.replace(match.group(1), match.group(1)[::-1], 1)
    assert forged != xml
    fields["SAMLRequest"] = base64.b64encode(forged).decode()
    with requests.Session() as attacker:
        answer = attacker.post(str(form["action"]), data=fields, allow_redirects=False)
    assert answer.status_code == 400
    assert http.get(f"{stack.base_url}/me").status_code == 200


def test_slo_without_message(stack: Stack, http: requests.Session) -> None:
    """The SLO endpoint without SAMLRequest or SAMLResponse answers 400."""
    assert http.get(f"{stack.base_url}/auth/saml/slo").status_code == 400
    assert http.post(f"{stack.base_url}/auth/saml/slo").status_code == 400


def test_cookieless_redirect_logout_request_ends_the_named_session(
    stack: Stack, http: requests.Session
) -> None:
    """RSK's iframe SLO: a signed HTTP-Redirect LogoutRequest with no cookies at all ends
    the session named by NameID and SessionIndex, and is answered to the IdP."""
    from datetime import UTC, datetime

    from rpkit.sandbox.saml_xml import build_logout_request, redirect_query

    saml_login(http, stack.base_url, TOMAS)
    with requests.Session() as bystander:
        saml_login(bystander, stack.base_url, INGRID)
        state = stack.sandbox.state
        member = state.store.find_user(TOMAS)
        assert member is not None
        with state.lock:  # the IdP session of the latest sign-in of TOMAS
            session = [s for s in state.sessions.values() if s.user_id == member.id][-1]
            sent = dict(session.saml_sps)
        entity_id = f"{stack.base_url}/auth/saml/metadata"
        fmt, _, name_id = sent[entity_id].partition(" ")
        slo = f"{stack.base_url}/auth/saml/slo"
        xml = build_logout_request(
            issuer=stack.sandbox.issuer,
            destination=slo,
            name_id=name_id,
            name_id_format=fmt,
            session_index=session.session_index,
            now=datetime.now(UTC),
            keys=state.saml_keys,
        )
        query = redirect_query("SAMLRequest", xml, "iframe-1", state.saml_keys)
        # The signature covers RelayState: changed, the request is refused and ends nothing.
        tampered = query.replace("iframe-1", "iframe-2")
        assert requests.get(f"{slo}?{tampered}", allow_redirects=False).status_code == 400
        assert http.get(f"{stack.base_url}/me").status_code == 200
        answer = requests.get(f"{slo}?{query}", allow_redirects=False)  # no cookie jar
        assert answer.status_code == 302, answer.text[:300]
        location = answer.headers["Location"]
        assert location.startswith(stack.sandbox.urls["saml_slo"] + "?SAMLResponse=")
        assert "RelayState=iframe-1" in location and "Signature=" in location
        assert http.get(f"{stack.base_url}/me").status_code == 401
        assert bystander.get(f"{stack.base_url}/me").status_code == 200
