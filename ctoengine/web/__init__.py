"""The web pages: login, the supervisors' wallboard, the operator's workplace (issue 16).

Served by the engine's own aiohttp listener under ``/ui/``. Pages are rendered
on the server (Jinja2, autoescaped); the wallboard's live part is the same
template fragment, re-rendered on the server and pushed over Server-Sent
Events; a little JavaScript swaps it in. No build step, no CDN.

- ``sessions.py``: session ids, their hashes, the CSRF token, expiry (pure) and
  the store's Protocol with an in-memory store; ``pgsessions.py`` the
  PostgreSQL store (migration 009).
- ``auth.py``: the cookie, the login and who a request is.
- ``snapshot.py``: the wallboard's figures, a pure function of the distributor,
  the rolling service level and ``now``; ``labels.py`` its Russian words.
- ``stream.py``: one broadcaster renders the board when it changes and feeds
  every open page.
- ``actions.py``: the supervisors' and admins' actions, audited.
- ``routes.py``: the routes; ``assets.py``: versioned static files.
"""
