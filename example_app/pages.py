"""Page bodies of the sample app; each is rendered inside ``templates/layout.html``."""

from __future__ import annotations

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
