"""`python -m aipod_api.server`: run the API on granian, a production server.

Every flag also has an `AIPOD_*` environment variable (flags win). Migrations and
first-run demo data are applied once here, before any worker starts.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from typing import TYPE_CHECKING

from aipod_api import __version__

if TYPE_CHECKING:
    from aipod_api.settings import Settings

CONSOLE_SCRIPT = "aipod-api"
MODULE_COMMAND = "python -m aipod_api.server"


def build_parser(prog: str = CONSOLE_SCRIPT) -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog=prog,
        description="aipod_api HTTP server (granian). Flags override AIPOD_* variables.",
    )
    p.add_argument("--host", help="bind address (AIPOD_HOST, default 127.0.0.1)")
    p.add_argument("--port", type=int, help="port (AIPOD_PORT, default 5001)")
    p.add_argument(
        "--database-url",
        help="sqlite:///relative.db, sqlite:////abs/path.db or postgresql+psycopg://... "
        "(AIPOD_DATABASE_URL, default sqlite:///aipod.db)",
    )
    p.add_argument("--redis-url", help="redis://host:6379/0 (AIPOD_REDIS_URL)")
    p.add_argument("--workers", type=int, help="processes (AIPOD_WORKERS, default 1)")
    p.add_argument(
        "--threads",
        type=int,
        help="threads per process (AIPOD_THREADS; default 2 on SQLite, 16 on PostgreSQL)",
    )
    p.add_argument("--no-demo", action="store_true", help="never create demo data (AIPOD_DEMO=0)")
    p.add_argument(
        "--migrate-only",
        action="store_true",
        help="apply database migrations (and demo data unless --no-demo), then exit",
    )
    p.add_argument(
        "--reset-demo",
        action="store_true",
        help="embedded SQLite database only: replace it with a fresh one holding the demo "
        "data (everything else in it is lost), then start (with --migrate-only: exit)",
    )
    p.add_argument("--version", action="version", version=f"aipod_api {__version__}")
    return p


def _apply_flags(args: argparse.Namespace) -> None:
    mapping = {
        "host": "AIPOD_HOST",
        "port": "AIPOD_PORT",
        "database_url": "AIPOD_DATABASE_URL",
        "redis_url": "AIPOD_REDIS_URL",
        "workers": "AIPOD_WORKERS",
        "threads": "AIPOD_THREADS",
    }
    for attr, env in mapping.items():
        value = getattr(args, attr)
        if value is not None:
            os.environ[env] = str(value)
    if args.no_demo:
        os.environ["AIPOD_DEMO"] = "0"


def _storage(url: str) -> str:
    """Where the data lives, for people: a SQLite path, or PostgreSQL's host and database
    (never a password, which may sit in the URL or its query string)."""
    from sqlalchemy.engine import make_url

    from aipod_api.core.db import normalise_url
    from aipod_api.reset import sqlite_path

    path = sqlite_path(url)
    if path is not None:
        return f"SQLite {path}"
    parsed = make_url(normalise_url(url))
    user = f"{parsed.username}@" if parsed.username else ""
    port = f":{parsed.port}" if parsed.port else ""
    name = parsed.get_backend_name()
    name = "PostgreSQL" if name == "postgresql" else name
    return f"{name} {user}{parsed.host or 'localhost'}{port}/{parsed.database or ''}"


def _redis(url: str | None) -> str:
    if not url:
        return "in this process (no Redis)"
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    host = parts.hostname or "localhost"
    port = f":{parts.port}" if parts.port else ""
    return f"Redis {host}{port}{parts.path}"


def _announce(settings: Settings, demo_note: str, *, prog: str) -> None:
    """The start-up banner: where to go, what is stored where, how to start over."""
    host = settings.host
    if host in ("0.0.0.0", "::", ""):
        shown, where = "127.0.0.1", f" (listening on all interfaces, {host or '*'})"
    else:
        shown, where = (f"[{host}]" if ":" in host else host), ""
    base = f"http://{shown}:{settings.port}"
    threads, readers = settings.thread_count, settings.read_thread_count
    workers = settings.workers
    lines = [
        f"aipod_api {__version__} listening on {base}{where}",
        f"  docs:     {base}/docs",
        f"  storage:  {_storage(settings.database_url)}",
        f"  demo:     {demo_note}",
        f"  serving:  {workers} worker{'s' if workers != 1 else ''} x {readers} "
        f"thread{'s' if readers != 1 else ''} for reads + {threads} for requests with a body; "
        f"limits counted {_redis(settings.redis_url)}",
    ]
    if settings.is_sqlite and settings.demo:
        lines.append(f"  reset:    stop, then `{prog} --reset-demo` restores the demo data")
    lines.append("  stop:     Ctrl-C")
    print("\n".join(lines), flush=True)


def _demo_note(settings: Settings, *, created: bool, present: bool, reset: bool) -> str:
    from aipod_api.auth.service import DEMO_KEY

    if not settings.demo:
        return "off (register to get a key: POST /v1/auth/register)"
    if not present:
        return (
            "on, but this database had agents before the demo was turned on, so it has no "
            "demo data and the demo key does not work"
        )
    if reset:
        state = "demo data reset to its initial state now"
    elif created:
        state = "demo data created now"
    else:
        state = "demo data kept from an earlier start"
    return f"on, key {DEMO_KEY}; {state}"


def _granian_log_level(log_level: str) -> str:
    """granian's INFO lines ("Websockets are not supported on WSGI, ignoring", "Spawning
    worker-1 ...", "Started worker-1") repeat what the banner says or nothing at all: at
    our default INFO only its warnings and errors are shown; DEBUG shows everything."""
    return "warning" if log_level == "INFO" else log_level.lower()


def main(argv: Sequence[str] | None = None, *, prog: str = CONSOLE_SCRIPT) -> int:
    args = build_parser(prog).parse_args(argv)
    _apply_flags(args)

    from pydantic import ValidationError

    from aipod_api.settings import Settings

    try:
        settings = Settings()
    except ValidationError as exc:
        print(f"invalid configuration:\n{exc}", file=sys.stderr)
        return 2
    if settings.workers > 1 and not settings.redis_url:
        print(
            "refusing --workers > 1 without --redis-url: rate limits and the in-flight cap "
            "would be counted per process and silently multiply. Set AIPOD_REDIS_URL.",
            file=sys.stderr,
        )
        return 2

    from aipod_api.core.process import PortInUse, claim_port, mark_parent

    port_claim = None
    if not args.migrate_only:
        try:
            # Before any database work; held (and inherited by the workers) while serving.
            port_claim = claim_port(settings.host, settings.port)
        except PortInUse as exc:
            print(f"refusing to start: {exc}. Stop it or choose another --port.", file=sys.stderr)
            return 1

    # Migrate (and seed) once in the parent, so workers start against a ready schema.
    from aipod_api.bootstrap import demo_present, prepare_database
    from aipod_api.core.db import make_null_pool_engine
    from aipod_api.core.types import to_cents
    from aipod_api.reset import ResetRefused, reset_demo

    signup_cents = to_cents(settings.signup_credit)
    if args.reset_demo:
        if not settings.demo:
            print(
                "refusing --reset-demo with the demo off (--no-demo or AIPOD_DEMO=0): the "
                "reset restores the demo data, whose key works only while the demo is on.",
                file=sys.stderr,
            )
            return 2
        try:
            reset_demo(settings.database_url, signup_credit_cents=signup_cents)
        except ResetRefused as exc:
            print(f"refusing --reset-demo: {exc}", file=sys.stderr)
            return 2
    engine = make_null_pool_engine(settings.database_url)
    try:
        created = prepare_database(
            engine,
            with_demo=settings.demo,
            signup_credit_cents=signup_cents,
            trust_seeds=settings.operator_ids,
        )
        present = settings.demo and demo_present(engine)
    except Exception as exc:
        where = _storage(settings.database_url)  # the URL may hold a password
        print(f"cannot prepare the database ({where}): {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    demo_note = _demo_note(settings, created=created, present=present, reset=args.reset_demo)
    if args.migrate_only:
        print(f"database is at the newest schema: {_storage(settings.database_url)}", flush=True)
        print(f"demo: {demo_note}", flush=True)
        return 0

    from aipod_api.core.rsgi import rsgi_server

    mark_parent()
    # RSGI: request bodies are read on granian's event loop, bounded by size and time;
    # bodyless requests run in `read_thread_count` granian threads per worker, requests
    # with a body, once complete, in `thread_count` threads of the bridge
    # (aipod_api/core/rsgi.py).
    server = rsgi_server(
        target="aipod_api.rsgi:app",
        request_threads=settings.read_thread_count,
        address=settings.host,
        port=settings.port,
        factory=True,
        workers=settings.workers,
        backlog=2048,
        websockets=False,
        log_level=_granian_log_level(settings.log_level),
        respawn_failed_workers=True,
        # A stop lets requests in flight finish, and a pending body lasts at most its
        # deadline; a worker still running well after that is killed.
        workers_kill_timeout=int(settings.body_timeout_s) + 30,
    )
    # Called by granian once its socket is bound and listening, before workers fork.
    # (No threads may run in this process before the fork: a thread holding the import
    # lock at fork time deadlocks the workers.)
    server.on_startup(lambda: _announce(settings, demo_note, prog=prog))
    server.serve()
    if port_claim is not None:
        port_claim.close()
    print("aipod_api stopped", flush=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(prog=MODULE_COMMAND))
