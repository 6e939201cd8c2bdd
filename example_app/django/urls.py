"""The sample app's URLconf: its pages and rpkit's ``/auth/...`` routes."""

from __future__ import annotations

from django.urls import include, path

from . import views

urlpatterns = [
    path("", views.home),
    path("profile", views.profile),
    path("bridge", views.bridge),
    path("me", views.me),
    path("api/crew/me", views.api_crew_me),
    path("", include("rpkit.django.urls")),
]

handler404 = "rpkit.django.views.page_not_found"
handler500 = "rpkit.django.views.server_error"
