"""The framework-neutral web layer every adapter (``rpkit.flask``, ``rpkit.starlette``)
sits on.

- :mod:`rpkit.web.settings`: ``Settings`` from the app's config and the ``RPKIT_*``
  environment.
- :mod:`rpkit.web.sessions`: the server-side session store (memory or Redis).
- :mod:`rpkit.web.flow`: the login, callback, ACS, SLO and logout steps, on plain values.
- :mod:`rpkit.web.pages`: safe ``next`` paths, JSON-or-page, what each refusal says.
- ``templates/rpkit/``: the error and chooser pages (Jinja), shared by every adapter.

Nothing here reads a framework's request or response, and nothing imports a web
framework: an adapter must be installable without the others (``rpkit[fastapi]`` pulls no
Flask). This package imports no submodule, so using one part loads only what it needs.

Owns: what the web adapters share, framework-free: settings, server sessions, the login,
logout and SLO steps, refusal texts, templates.
Must not import: a web framework (Flask, Starlette, Django), an adapter, the sandbox or
``rpkit.testing`` (floor 4).
"""

__all__: list[str] = []
