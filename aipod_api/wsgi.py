"""WSGI entry point for any WSGI server: `gunicorn aipod_api.wsgi:app`.

Configured from `AIPOD_*` environment variables.
"""

from __future__ import annotations

from aipod_api.app import create_app

app = create_app()
