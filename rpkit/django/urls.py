"""The ``/auth/...`` routes: ``path("", include("rpkit.django.urls"))`` in the root URLconf
(the paths are fixed: the redirect URIs registered at Dualog end in them)."""

from __future__ import annotations

from django.urls import URLPattern, path

from . import views

app_name = "rpkit"

urlpatterns: list[URLPattern] = [
    path("auth/login", views.login, name="login"),
    path("auth/login/oidc", views.login_oidc, name="login_oidc"),
    path("auth/oidc/callback", views.oidc_callback, name="oidc_callback"),
    path(
        "auth/oidc/backchannel-logout",
        views.oidc_backchannel_logout,
        name="oidc_backchannel_logout",
    ),
    path(
        "auth/oidc/frontchannel-logout",
        views.oidc_frontchannel_logout,
        name="oidc_frontchannel_logout",
    ),
    path("auth/login/saml", views.login_saml, name="login_saml"),
    path("auth/saml/acs", views.saml_acs, name="saml_acs"),
    path("auth/saml/metadata", views.saml_metadata, name="saml_metadata"),
    path("auth/saml/slo", views.saml_slo, name="saml_slo"),
    path("auth/logout", views.logout, name="logout"),
]
