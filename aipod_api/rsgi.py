"""The RSGI application that `python -m aipod_api.server` serves on granian.

`app()` is the factory granian calls in each worker process: it ties the worker's life
to the main process (core/process.py), builds the Flask app and wraps it in the bridge
that reads request bodies on the event loop (core/rsgi.py). Other servers keep using the
WSGI app, `aipod_api.wsgi:app`.
"""

from __future__ import annotations

from aipod_api.core.rsgi import WSGIBridge, end_streams_on_shutdown


def app() -> WSGIBridge:
    from aipod_api.app import create_app
    from aipod_api.core.process import exit_with_parent
    from aipod_api.events.views import STREAM_PATH
    from aipod_api.http import cors
    from aipod_api.settings import Settings

    exit_with_parent()
    settings = Settings()
    bridge = WSGIBridge(
        create_app(settings),
        threads=settings.thread_count,
        max_body=settings.max_body_bytes,
        body_timeout_s=settings.body_timeout_s,
        cors_origin=cors.origin_matcher(settings.cors_origins),
        stream_paths=(STREAM_PATH,),
    )
    end_streams_on_shutdown(bridge)
    return bridge
