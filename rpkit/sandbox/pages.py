"""HTML pages: the login page, the signed-out page and plain messages. No external assets."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date
from html import escape

from .models import CrewMember

__all__ = ["render_login", "render_message"]

_CSS = """
:root{--navy:#0b2545;--sea:#13315c;--foam:#eef4ed;--accent:#1b998b;--warn:#c0392b}
*{box-sizing:border-box}body{margin:0;font:15px/1.45 system-ui,-apple-system,Segoe UI,
Roboto,sans-serif;background:linear-gradient(160deg,var(--navy),var(--sea));color:#1d2a38;
min-height:100vh}main{max-width:980px;margin:0 auto;padding:32px 20px}
header{color:#fff;margin-bottom:20px}header h1{margin:0;font-size:26px}
header p{margin:4px 0 0;opacity:.8}.badge{display:inline-block;font-size:11px;
padding:2px 8px;border-radius:10px;background:#f6c90e;color:#222;margin-left:8px;
vertical-align:middle}.panel{background:#fff;border-radius:14px;padding:20px;
box-shadow:0 10px 30px rgba(0,0,0,.25);margin-bottom:18px}
.panel h2{margin:0 0 12px;font-size:17px}.grid{display:grid;gap:12px;
grid-template-columns:repeat(auto-fill,minmax(210px,1fr))}
.card{all:unset;cursor:pointer;display:block;border:1px solid #d8e1ea;border-radius:12px;
padding:14px;background:var(--foam);transition:transform .08s,box-shadow .08s}
.card:hover,.card:focus{transform:translateY(-2px);box-shadow:0 6px 14px rgba(0,0,0,.15);
outline:2px solid var(--accent)}.card .name{font-weight:600;font-size:16px}
.card .rank{color:var(--accent);font-weight:600}.card .ship{color:#51606f;font-size:13px}
.card .state{font-size:12px;margin-top:6px;color:#51606f}
.card.refused{background:#f7eceb;border-color:#e8c4c0}.card.refused .state{color:var(--warn)}
form.pw{display:flex;flex-wrap:wrap;gap:10px;align-items:end}
label{display:flex;flex-direction:column;font-size:13px;color:#51606f;gap:4px}
input{font:inherit;padding:8px 10px;border:1px solid #c7d2dc;border-radius:8px;min-width:240px}
.btn{font:inherit;border:0;border-radius:8px;padding:9px 16px;cursor:pointer}
.primary{background:var(--accent);color:#fff}.ghost{background:#e9edf1;color:#1d2a38}
.alert{border-radius:10px;padding:12px 14px;margin-bottom:16px;font-weight:500}
.alert.error{background:#fdecea;color:#8e1c10;border:1px solid #f5c6c0}
.alert.info{background:#e8f6f3;color:#0e5d52;border:1px solid #bfe6dd}
.foot{color:#cfd8e3;font-size:12px}.foot code{color:#fff}
"""


def _page(title: str, body: str) -> str:
    return (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_CSS}</style></head>"
        f"<body><main>{body}</main></body></html>"
    )


def _hidden(fields: Mapping[str, str]) -> str:
    return "".join(
        f'<input type=hidden name="{escape(k)}" value="{escape(v)}">' for k, v in fields.items()
    )


def _state_text(member: CrewMember, today: date) -> tuple[str, bool]:
    if not member.active:
        return "Inactive account", True
    state = member.contract_state(today)
    if state == "ended" and member.contract_end:
        return f"Signed off {member.contract_end.isoformat()}", True
    if state == "future" and member.contract_start:
        return f"Joins {member.contract_start.isoformat()}", False
    if state == "current" and member.contract_end:
        return f"On board until {member.contract_end.isoformat()}", False
    return "No ship assignment", False


def render_login(
    *,
    app_name: str,
    action: str,
    hidden: Mapping[str, str],
    crew: Sequence[CrewMember],
    today: date,
    error: str | None = None,
    username: str = "",
) -> str:
    """Render the sign-in page: crew cards, a password form and a Deny button."""
    cards = []
    for member in crew:
        state, refused = _state_text(member, today)
        ship = member.ship_name or "Shore / unassigned"
        cards.append(
            f'<button type=submit class="card{" refused" if refused else ""}" name=card '
            f'value="{escape(member.user_name)}" '
            f'data-testid="crew-card-{escape(member.user_name)}" formnovalidate>'
            f"<div class=name>{escape(member.name)}</div>"
            f"<div class=rank>{escape(member.rank or 'No rank')}</div>"
            f"<div class=ship>{escape(ship)}</div>"
            f"<div class=state>{escape(state)}</div></button>"
        )
    alert = (
        f'<div class="alert error" role=alert id=login-error data-testid=login-error>'
        f"{escape(error)}</div>"
        if error
        else ""
    )
    fields = _hidden(hidden)
    body = f"""
<header><h1>Dualog Identity<span class=badge>SANDBOX</span></h1>
<p>Sign in to <strong id=app-name data-testid=app-name>{escape(app_name)}</strong></p></header>
{alert}
<section class=panel><h2>Pick a crew member</h2>
<form method=post action="{escape(action)}" id=crew-cards data-testid=crew-cards>{fields}
<div class=grid>{"".join(cards)}</div></form></section>
<section class=panel><h2>Or sign in with email and password</h2>
<form method=post action="{escape(action)}" class=pw id=password-form
data-testid=password-form>{fields}
<label>Email<input name=username id=username data-testid=username type=email
value="{escape(username)}" autocomplete=username required></label>
<label>Password<input name=password id=password data-testid=password type=password
autocomplete=current-password required></label>
<button class="btn primary" type=submit id=sign-in data-testid=sign-in>Sign in</button>
</form></section>
<section class=panel><form method=post action="{escape(action)}" id=deny-form>{fields}
<button class="btn ghost" type=submit name=deny value=1 id=deny data-testid=deny>
Deny access</button> <span style="color:#51606f;font-size:13px">Returns
<code>access_denied</code> to the application.</span></form></section>
<p class=foot>Seeded crew use the password from the seed file
(<code>Dualog-Demo-1</code> by default). This is a local fake of Dualog Identity.</p>
"""
    return _page(f"Sign in - {app_name}", body)


def render_message(
    title: str, message: str, *, testid: str = "message", reason: str | None = None
) -> str:
    """Render a one-message page (signed out, errors people should read).

    ``reason`` is a stable code for tests and scripts, in ``data-reason``.
    """
    data = f" data-reason={escape(reason)}" if reason else ""
    body = (
        f"<header><h1>Dualog Identity<span class=badge>SANDBOX</span></h1></header>"
        f"<section class=panel><h2>{escape(title)}</h2>"
        f"<p id={escape(testid)} data-testid={escape(testid)}{data}>{escape(message)}</p>"
        "</section>"
    )
    return _page(title, body)


def render_autopost(action: str, fields: Mapping[str, str]) -> str:
    """Render a self-submitting form (OAuth form_post, SAML HTTP-POST binding)."""
    return (
        "<!doctype html><html><head><meta charset=utf-8><title>Continue</title></head>"
        '<body onload="document.forms[0].submit()">'
        f'<form method=post action="{escape(action)}">{_hidden(fields)}'
        "<noscript><button type=submit>Continue</button></noscript></form></body></html>"
    )


def render_signed_out(frontchannel_urls: list[str], return_to: str | None) -> str:
    """The signed-out page: one hidden iframe per front-channel logout URL, as
    IdentityServer's logged-out page renders them, then the way back to the app.

    With ``return_to`` the page follows it once every iframe has loaded (or after 3 s).
    """
    frames = "".join(
        f'<iframe class=frontchannel data-testid=frontchannel-logout src="{escape(url)}" '
        'width=0 height=0 style="display:none"></iframe>'
        for url in frontchannel_urls
    )
    link = (
        f'<p><a data-testid=post-logout-redirect href="{escape(return_to)}">'
        "Return to the application</a></p>"
        if return_to
        else ""
    )
    script = ""
    if return_to:
        script = (
            "<script>(function(){var left=document.querySelectorAll('iframe.frontchannel')"
            ".length;var go=function(){location.href=document.querySelector("
            "'[data-testid=post-logout-redirect]').href};if(!left){go();return}"
            "document.querySelectorAll('iframe.frontchannel').forEach(function(f){"
            "f.addEventListener('load',function(){if(--left===0)go()})});"
            "setTimeout(go,3000)})();</script>"
        )
    body = (
        "<header><h1>Dualog Identity<span class=badge>SANDBOX</span></h1></header>"
        "<section class=panel><h2>Signed out</h2>"
        "<p id=signed-out data-testid=signed-out>You are signed out of Dualog Identity.</p>"
        f"{link}{frames}</section>{script}"
    )
    return _page("Signed out", body)
