"""Jinja templates of the sample app (inline, autoescaped by render_template_string)."""

from __future__ import annotations

LAYOUT = """<!doctype html>
<html lang="en"><head><meta charset="utf-8">
<meta name="viewport" content="width=device-width,initial-scale=1">
<title>rpkit sample app</title>
<style>
body{margin:0;font:16px/1.5 system-ui,-apple-system,Segoe UI,Roboto,sans-serif;
background:#eef4ed;color:#1d2a38}
header{background:#0b2545;color:#fff;padding:14px 24px;display:flex;gap:18px;align-items:center}
header a{color:#fff}main{max-width:760px;margin:24px auto;padding:0 16px}
.card{background:#fff;border-radius:12px;padding:20px;box-shadow:0 4px 16px rgba(0,0,0,.1);
margin-bottom:16px}.btn{display:inline-block;border:0;border-radius:8px;padding:10px 16px;
font:inherit;cursor:pointer;text-decoration:none;margin:4px 8px 4px 0}
.oidc{background:#1b998b;color:#fff}.saml{background:#13315c;color:#fff}
.ghost{background:#e9edf1;color:#1d2a38}dt{font-weight:600;color:#51606f}dd{margin:0 0 8px}
</style></head><body>
<header><strong>rpkit sample app</strong><a href="/">Home</a><a href="/profile">Profile</a>
<a href="/bridge">Bridge</a>
{% if rpkit_identity() %}<span style="margin-left:auto">{{ rpkit_identity().display_name }}</span>
<form method="post" action="/auth/logout" style="margin:0">
<input type="hidden" name="csrf_token" value="{{ rpkit_csrf_token() }}">
<button class="btn ghost" type="submit" data-testid="logout">Sign out</button></form>
{% endif %}</header>
<main>{body}</main></body></html>"""

HOME = """
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
