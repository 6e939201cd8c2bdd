"""Page bodies of the sample app; each is rendered inside ``templates/layout.html``."""

from __future__ import annotations

from typing import Any

from rpkit.identity import CrewIdentity
from rpkit.oidc import AccessToken

HOME = """
{% if rpkit_signed_out() %}<div class="card" data-testid="signed-out">You have signed out.
Close the browser on a shared computer.</div>{% endif %}
<div class="card">
{% if identity %}
<h1 data-testid="welcome">Welcome aboard, {{ identity.display_name }}</h1>
<p>You are signed in with <strong data-testid="protocol">{{ identity.protocol|upper }}</strong>.
See your <a href="/profile" data-testid="profile-link">profile</a>.</p>
{% else %}
<h1>Sign in</h1>
<p>Use your Dualog Identity crew account.</p>
{% if "oidc" in protocols %}<a class="btn oidc" data-testid="login-oidc"
href="/auth/login/oidc?next=/profile">Sign in with Dualog (OIDC)</a>{% endif %}
{% if "saml" in protocols %}<a class="btn saml" data-testid="login-saml"
href="/auth/login/saml?next=/profile">Sign in with Dualog (SAML)</a>{% endif %}
{% if not protocols %}<p data-testid="no-provider">No identity provider is configured.</p>
{% endif %}
{% endif %}
</div>
{% if sandbox_url %}<p style="color:#51606f;font-size:14px">Demo mode: signing in through the
local sandbox at <code>{{ sandbox_url }}</code> (a fake Dualog; pick any crew card).</p>{% endif %}
"""

PROFILE = """
<div class="card"><h1 data-testid="profile-name">{{ identity.display_name }}</h1>
<dl>
<dt>Rank</dt><dd data-testid="profile-rank">{{ identity.rank or "Not set" }}
{% if canonical_rank and canonical_rank != identity.rank %}({{ canonical_rank }}){% endif %}</dd>
<dt>Department</dt><dd data-testid="profile-department">{{ identity.department or "-" }}</dd>
<dt>Ship</dt><dd data-testid="profile-ship">{{ identity.ship_name or "Not assigned" }}
{% if identity.ship_imo %}(IMO {{ identity.ship_imo }}){% endif %}</dd>
<dt>Email</dt><dd data-testid="profile-email">{{ identity.email or "-" }}</dd>
<dt>Signed in with</dt><dd data-testid="profile-protocol">{{ identity.protocol|upper }}</dd>
<dt>Issuer</dt><dd data-testid="profile-issuer">{{ identity.issuer }}</dd>
</dl>
{% if is_deck_officer %}<a class="btn oidc" href="/bridge" data-testid="bridge-link">Go to the
bridge</a>{% endif %}
</div>"""

BRIDGE = """
<div class="card"><h1 data-testid="bridge-title">Bridge</h1>
<p>Deck officers only. Welcome, {{ identity.rank }} {{ identity.display_name }}.</p></div>"""


def page(body: str) -> str:
    """A page body inside the layout, as a template source."""
    return '{% extends "layout.html" %}{% block body %}' + body + "{% endblock %}"


def me(identity: CrewIdentity) -> dict[str, Any]:
    """The ``/me`` answer of a signed-in crew member."""
    return {
        "authenticated": True,
        "protocol": identity.protocol,
        "issuer": identity.issuer,
        "subject": identity.subject,
        "email": identity.email,
        "name": identity.display_name,
        "rank": identity.rank,
        "department": identity.department,
        "ship_name": identity.ship_name,
        "ship_imo": identity.ship_imo,
    }


def api_crew_me(token: AccessToken) -> dict[str, Any]:
    """The ``/api/crew/me`` answer for a validated access token."""
    claims = token.claims
    return {
        "issuer": token.issuer,
        "subject": token.subject,
        "client_id": token.client_id,
        "scopes": list(token.scopes),
        "rank": claims.get("rank"),
        "ship_name": claims.get("ship_name"),
    }


# /api/crew/me when no API audience is configured: people sign in, every token gets a 401.
API_NOT_CONFIGURED = (
    "This API accepts no access tokens until its audience is configured "
    "(RPKIT_OIDC_ACCESS_TOKEN_AUDIENCE or RPKIT_OIDC_ACCESS_TOKEN_CLIENT_IDS)."
)
API_NOT_CONFIGURED_CHALLENGE = (
    'Bearer realm="rpkit", error="invalid_token", error_description="no API audience is configured"'
)
