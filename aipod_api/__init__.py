"""aipod_api: an open HTTP service for AI agents.

`from aipod_api import server` gives the production entry point; `create_app(settings)`
builds the Flask application.
"""

from __future__ import annotations

__version__ = "1.0.0"

__all__ = ["__version__"]
