"""The reference: a small, typical Flask + Flask-SQLAlchemy implementation of the read routes.

Issue 18 asks the API to stay at least 3x "a typical Flask-SQLAlchemy implementation" of
the same routes, measured in the same run. This is that implementation, written the way
the Flask-SQLAlchemy documentation teaches: declarative ORM models, `db.session`,
`db.paginate`, `db.first_or_404`, `jsonify`. It maps ORM models onto the tables of the
dataset `bench/load.py` builds (only the columns these routes need) and answers:

- `GET /v1/agents/<agent_id>`: the public profile (with the email for its owner);
- `GET /v1/agents?capability=&min_trust=&page=&page_size=`: trust order, paginated;
- `GET /v1/tasks?status=&page=&page_size=`: newest first, paginated;
- `GET /v1/wallet`: the caller's account;

with the API's envelope (`{"code": 0, "message": "操作成功", "data": …, "timestamp": …}`) and
the same fields in `data` (`bench/run.py` checks that the `data` of each route equals the
API's before it measures). Every request authenticates its `Authorization: Bearer` key the
typical way: the SHA-256 of the key (how the API stores keys, `auth.service.hash_key`)
looked up in `api_keys` through the ORM, no cache. It writes nothing (no `last_used_at`
update), which favours it.

Not reproduced (product rules a typical implementation has no reason to have): trust decay
on read and settling overdue tasks before a read, rate limits, request ids, the
`Idempotency-Key` store. Pagination totals come from `db.paginate`, i.e. a `COUNT(*)` over
the matching rows on every page, as Flask-SQLAlchemy does.

`python bench/reference_app.py --database-url sqlite:////abs/path.db --port 5902
--workers 1 --threads 2` serves it on granian with the options `bench/ceiling_app.py` uses
(WSGI, blocking threads, backlog 2048). Needs Flask-SQLAlchemy: `pip install -e ".[bench]"`.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from functools import wraps
from typing import Any

from flask import Flask, abort, g, jsonify, request
from flask_sqlalchemy import SQLAlchemy
from sqlalchemy import BigInteger, ForeignKey, String, or_
from sqlalchemy.orm import DeclarativeBase, Mapped, aliased, mapped_column, relationship

DATABASE_URL_ENV = "REFERENCE_DATABASE_URL"
MESSAGE = "操作成功"
TASK_STATUSES = ("open", "progress", "done", "submitted", "disputed", "cancelled", "expired")


class Base(DeclarativeBase):
    pass


db = SQLAlchemy(model_class=Base)


class Agent(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "agents"

    seq: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(String(32), unique=True)
    email: Mapped[str] = mapped_column(String(254))
    nickname: Mapped[str] = mapped_column(String(64))
    description: Mapped[str]
    endpoint: Mapped[str | None] = mapped_column(String(512))
    capabilities: Mapped[str]  # a JSON array, as the API stores it
    trust_score: Mapped[float]
    ratings_count: Mapped[int]
    tasks_completed: Mapped[int]
    created_at: Mapped[int] = mapped_column(BigInteger)
    updated_at: Mapped[int] = mapped_column(BigInteger)
    pub_tasks: Mapped[int]
    pub_approved: Mapped[int]
    pub_disputes: Mapped[int]
    pub_disputes_lost: Mapped[int]

    capability_rows: Mapped[list[AgentCapability]] = relationship(back_populates="agent")

    def to_dict(self, *, owner: bool = False) -> dict[str, Any]:
        decided = self.pub_approved + self.pub_disputes
        data: dict[str, Any] = {
            "agent_id": self.agent_id,
            "nickname": self.nickname,
            "capabilities": json.loads(self.capabilities),
            "description": self.description,
            "endpoint": self.endpoint,
            "trust_score": round(self.trust_score, 4),
            "ratings_count": self.ratings_count,
            "tasks_completed": self.tasks_completed,
            "created_at": iso(self.created_at),
            "updated_at": iso(self.updated_at),
            "publisher_record": {
                "tasks_published": self.pub_tasks,
                "reviews_approved": self.pub_approved,
                "disputes_opened": self.pub_disputes,
                "disputes_lost": self.pub_disputes_lost,
                "approval_rate": round(self.pub_approved / decided, 4) if decided else None,
            },
        }
        if owner:
            data["email"] = self.email
        return data


class AgentCapability(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "agent_capabilities"

    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"), primary_key=True)
    capability: Mapped[str] = mapped_column(String(64), primary_key=True)
    position: Mapped[int]

    agent: Mapped[Agent] = relationship(back_populates="capability_rows")


class ApiKey(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "api_keys"

    seq: Mapped[int] = mapped_column(primary_key=True)
    agent_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    revoked_at: Mapped[int | None] = mapped_column(BigInteger)


class Account(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "accounts"

    account_id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))
    agent_id: Mapped[str | None] = mapped_column(ForeignKey("agents.agent_id"), unique=True)
    balance_cents: Mapped[int] = mapped_column(BigInteger)
    held_cents: Mapped[int] = mapped_column(BigInteger)
    earned_cents: Mapped[int] = mapped_column(BigInteger)
    spent_cents: Mapped[int] = mapped_column(BigInteger)

    def to_dict(self) -> dict[str, Any]:
        return {
            "agent_id": self.agent_id,
            "balance": money(self.balance_cents),
            "escrow": money(self.held_cents),
            "total_earned": money(self.earned_cents),
            "total_spent": money(self.spent_cents),
            "currency": "credit",
        }


class Task(db.Model):  # type: ignore[name-defined,misc]
    __tablename__ = "tasks"

    seq: Mapped[int] = mapped_column(primary_key=True)
    title: Mapped[str] = mapped_column(String(200))
    description: Mapped[str]
    required_capabilities: Mapped[str]  # a JSON array
    budget_cents: Mapped[int] = mapped_column(BigInteger)
    deadline: Mapped[int | None] = mapped_column(BigInteger)
    status: Mapped[str] = mapped_column(String(16))
    publisher_id: Mapped[str] = mapped_column(ForeignKey("agents.agent_id"))
    assignee_id: Mapped[str | None] = mapped_column(ForeignKey("agents.agent_id"))
    created_at: Mapped[int] = mapped_column(BigInteger)
    accepted_at: Mapped[int | None] = mapped_column(BigInteger)
    completed_at: Mapped[int | None] = mapped_column(BigInteger)
    deliverables: Mapped[str | None]
    quality_notes: Mapped[str | None]
    rated: Mapped[bool]
    review_seconds: Mapped[int]
    submitted_at: Mapped[int | None] = mapped_column(BigInteger)
    review_due: Mapped[int | None] = mapped_column(BigInteger)
    change_rounds: Mapped[int]
    max_change_rounds: Mapped[int]
    disputed_at: Mapped[int | None] = mapped_column(BigInteger)
    dispute_reason: Mapped[str | None]
    resolution: Mapped[str | None] = mapped_column(String(8))
    assignee_share_bp: Mapped[int | None]
    payout_cents: Mapped[int | None] = mapped_column(BigInteger)

    def to_dict(self, viewer_id: str) -> dict[str, Any]:
        party = viewer_id in (self.publisher_id, self.assignee_id)
        return {
            "task_id": f"task_{self.seq:03d}",
            "title": self.title,
            "description": self.description,
            "required_capabilities": json.loads(self.required_capabilities),
            "budget": money(self.budget_cents),
            "deadline": iso(self.deadline),
            "status": self.status,
            "publisher_id": self.publisher_id,
            "assignee_id": self.assignee_id,
            "created_at": iso(self.created_at),
            "accepted_at": iso(self.accepted_at),
            "completed_at": iso(self.completed_at),
            "deliverables": (
                json.loads(self.deliverables) if party and self.deliverables else None
            ),
            "quality_notes": self.quality_notes if party else None,
            "rated": self.rated,
            "review_seconds": self.review_seconds,
            "submitted_at": iso(self.submitted_at),
            "review_due": iso(self.review_due),
            "change_rounds": self.change_rounds,
            "max_change_rounds": self.max_change_rounds,
            "disputed_at": iso(self.disputed_at),
            "dispute_reason": self.dispute_reason if party else None,
            "resolution": self.resolution,
            "assignee_share": (
                None if self.assignee_share_bp is None else self.assignee_share_bp / 10_000
            ),
            "payout": (
                money(self.budget_cents if self.payout_cents is None else self.payout_cents)
                if self.status == "done"
                else None
            ),
        }


def iso(ts: int | None) -> str | None:
    if ts is None:
        return None
    return datetime.fromtimestamp(ts, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def money(cents: int) -> int | float:
    return cents // 100 if cents % 100 == 0 else float(Decimal(cents) / 100)


def ok(data: Any) -> Any:
    return jsonify(
        code=0,
        message=MESSAGE,
        data=data,
        timestamp=datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    )


def error(status: int, message: str) -> Any:
    body = jsonify(code=status * 100, message=message, data=None)
    return body, status


def page_args() -> tuple[int, int]:
    page = request.args.get("page", 1, type=int)
    page_size = request.args.get("page_size", 20, type=int)
    if page < 1 or not 1 <= page_size <= 100:
        abort(400)
    return page, page_size


def page_dict(pagination: Any, items: list[dict[str, Any]]) -> dict[str, Any]:
    return {
        "items": items,
        "page": pagination.page,
        "page_size": pagination.per_page,
        "total": pagination.total,
        "total_capped": False,
        "has_more": pagination.has_next,
    }


def require_key(view: Callable[..., Any]) -> Callable[..., Any]:
    """The caller's key, looked up on every request (SHA-256, as the API stores keys)."""

    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        header = request.headers.get("Authorization", "")
        if not header.startswith("Bearer "):
            return error(401, "missing API key")
        digest = hashlib.sha256(header[7:].strip().encode()).hexdigest()
        key = db.session.execute(
            db.select(ApiKey).filter_by(key_hash=digest, revoked_at=None)
        ).scalar_one_or_none()
        if key is None:
            return error(401, "invalid API key")
        g.agent_id = key.agent_id
        return view(*args, **kwargs)

    return wrapper


def create_app(database_url: str) -> Flask:
    app = Flask(__name__)
    app.config["SQLALCHEMY_DATABASE_URI"] = database_url
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    db.init_app(app)

    @app.errorhandler(400)
    def bad_request(_exc: Exception) -> Any:
        return error(400, "bad request")

    @app.errorhandler(404)
    def not_found(_exc: Exception) -> Any:
        return error(404, "not found")

    @app.get("/v1/agents/<agent_id>")
    @require_key
    def get_agent(agent_id: str) -> Any:
        agent = db.first_or_404(db.select(Agent).filter_by(agent_id=agent_id.lower()))
        return ok(agent.to_dict(owner=agent.agent_id == g.agent_id))

    @app.get("/v1/agents")
    @require_key
    def list_agents() -> Any:
        page, page_size = page_args()
        query = db.select(Agent)
        for cap in request.args.getlist("capability"):
            # a join per capability (faster here than `capability_rows.any()`, an EXISTS
            # that SQLite probes once per agent for the count)
            row = aliased(AgentCapability)
            query = query.join(row, Agent.capability_rows.of_type(row)).where(
                row.capability == cap.strip().lower()
            )
        min_trust = request.args.get("min_trust", type=float)
        if min_trust is not None:
            query = query.where(Agent.trust_score >= min_trust)
        query = query.order_by(Agent.trust_score.desc(), Agent.agent_id)
        pagination = db.paginate(query, page=page, per_page=page_size, error_out=False)
        return ok(page_dict(pagination, [a.to_dict() for a in pagination.items]))

    @app.get("/v1/tasks")
    @require_key
    def list_tasks() -> Any:
        page, page_size = page_args()
        query = db.select(Task)
        status = request.args.get("status")
        if status is not None:
            if status not in TASK_STATUSES:
                abort(400)
            query = query.filter_by(status=status)
            if status == "open":  # an open task past its deadline is no longer open
                now = int(datetime.now(UTC).timestamp())
                query = query.where(or_(Task.deadline.is_(None), Task.deadline > now))
        query = query.order_by(Task.seq.desc())
        pagination = db.paginate(query, page=page, per_page=page_size, error_out=False)
        return ok(page_dict(pagination, [t.to_dict(g.agent_id) for t in pagination.items]))

    @app.get("/v1/wallet")
    @require_key
    def wallet() -> Any:
        account = db.session.execute(
            db.select(Account).filter_by(agent_id=g.agent_id, kind="agent")
        ).scalar_one()
        return ok(account.to_dict())

    return app


# granian imports `reference_app:app` in its worker process; the URL comes from the
# environment (set by main() below, or by whoever starts the server).
app = create_app(os.environ.get(DATABASE_URL_ENV, "sqlite:///aipod.db"))


def main() -> int:
    p = argparse.ArgumentParser(description="the Flask-SQLAlchemy reference on granian")
    p.add_argument("--database-url", required=True, help="e.g. sqlite:////abs/path.db")
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, default=5902)
    p.add_argument("--workers", type=int, default=1)
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    os.environ[DATABASE_URL_ENV] = args.database_url
    from granian.constants import Interfaces
    from granian.server import Server

    server = Server(
        "reference_app:app",
        address=args.host,
        port=args.port,
        interface=Interfaces.WSGI,
        workers=args.workers,
        blocking_threads=args.threads,
        backlog=2048,
        log_level="warning",  # type: ignore[arg-type]
    )
    server.serve()
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
