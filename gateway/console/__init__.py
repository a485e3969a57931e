"""The admin console at /admin/ui/: pages (pages_*.py, templates/, static/), sign-in
(login.py, oidc.py) and what the pages share (web.py, charts.py). `mount.mount_console`
adds it to an app; the roles and sessions it relies on live in gateway/identity/."""
