"""`python -m aipod_api.server`: run the API on granian, a production server.

Every flag also has an `AIPOD_*` environment variable (flags win). Migrations and
first-run demo data are applied once here, before any worker starts.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from aipod_api import __version__


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="python -m aipod_api.server",
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


def _announce(host: str, port: int) -> None:
    shown = f"[{host}]" if ":" in host else host
    print(f"aipod_api {__version__} listening on http://{shown}:{port}", flush=True)
    print(f"  docs: http://{shown}:{port}/docs", flush=True)


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
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
    from aipod_api.core.bootstrap import prepare_database
    from aipod_api.core.db import make_null_pool_engine
    from aipod_api.core.types import to_cents

    engine = make_null_pool_engine(settings.database_url)
    try:
        prepare_database(
            engine,
            with_demo=settings.demo,
            signup_credit_cents=to_cents(settings.signup_credit),
        )
    except Exception as exc:
        print(f"cannot prepare the database {settings.database_url!r}: {exc}", file=sys.stderr)
        return 1
    finally:
        engine.dispose()
    if args.migrate_only:
        print("database is at the newest schema", flush=True)
        return 0

    from aipod_api.core.rsgi import rsgi_server

    mark_parent()
    # RSGI: request bodies are read on granian's event loop, bounded by size and time;
    # bodyless requests run in `thread_count` granian threads per worker, requests with a
    # body, once complete, in as many threads of the bridge (aipod_api/core/rsgi.py).
    server = rsgi_server(
        target="aipod_api.rsgi:app",
        request_threads=settings.thread_count,
        address=settings.host,
        port=settings.port,
        factory=True,
        workers=settings.workers,
        backlog=2048,
        websockets=False,
        log_level=settings.log_level.lower(),
        respawn_failed_workers=True,
        # A stop lets requests in flight finish, and a pending body lasts at most its
        # deadline; a worker still running well after that is killed.
        workers_kill_timeout=int(settings.body_timeout_s) + 30,
    )
    # Called by granian once its socket is bound and listening, before workers fork.
    # (No threads may run in this process before the fork: a thread holding the import
    # lock at fork time deadlocks the workers.)
    server.on_startup(lambda: _announce(settings.host, settings.port))
    server.serve()
    if port_claim is not None:
        port_claim.close()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
