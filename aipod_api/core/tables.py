"""SQLAlchemy Core schema: the single source for Alembic migrations and queries.

Times are stored as integer UNIX seconds (UTC); money as integer cents. Every resource
with a public sequential ID (`task_001`, `tx_000001`, ...) has an integer primary key
`seq` that the database assigns (a sequence on PostgreSQL, rowid on SQLite).
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    Boolean,
    CheckConstraint,
    Column,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    false,
)

NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)

# BigInteger that is still an auto-incrementing rowid alias on SQLite.
BigSeq = BigInteger().with_variant(Integer(), "sqlite")

agents = Table(
    "agents",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("agent_id", String(32), nullable=False, unique=True),
    Column("username", String(32), nullable=False),
    Column("email", String(254), nullable=False),
    Column("email_norm", String(254), nullable=False, unique=True),
    Column("nickname", String(64), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("endpoint", String(512), nullable=True),
    Column("capabilities", Text, nullable=False, default="[]"),  # JSON array, in order
    Column("password_hash", String(255), nullable=True),
    Column("trust_score", Float, nullable=False, default=0.5),
    Column("ratings_count", Integer, nullable=False, default=0),
    Column("tasks_completed", Integer, nullable=False, default=0),
    Column("created_at", BigInteger, nullable=False),
    Column("updated_at", BigInteger, nullable=False),
    # Trust aggregates (migration 0006, aipod_api/trust/scores.py): the score at any
    # time t is exact from N, D as of trust_at; trust_score is its 4-decimal value,
    # refreshed before trust_due (when that value next changes).
    Column("trust_n", Float, nullable=False, server_default="0"),
    Column("trust_d", Float, nullable=False, server_default="0"),
    Column("trust_at", BigInteger, nullable=True),
    Column("trust_due", BigInteger, nullable=True),
    # The agent's record as a publisher (migration 0009; bumped by the transitions,
    # tasks/flows.py `tally`): tasks published, reviews approved (by it or by the
    # clock), disputes opened, disputes lost (the assignee was paid in full).
    Column("pub_tasks", Integer, nullable=False, server_default="0"),
    Column("pub_approved", Integer, nullable=False, server_default="0"),
    Column("pub_disputes", Integer, nullable=False, server_default="0"),
    Column("pub_disputes_lost", Integer, nullable=False, server_default="0"),
    # Earned standing (migration 0012, aipod_api/trust/standing.py): vouched earnings in
    # cents (task pay from payers who had earned standing, net of pay back; the sum of
    # this agent's `trust_flows.vouched` as payee) and whether it is a pre-trusted seed.
    Column("trust_vouched_cents", BigInteger, nullable=False, server_default="0"),
    Column("trust_seed", Boolean, nullable=False, server_default=false()),
)
Index("ix_agents_trust_order", agents.c.trust_score.desc(), agents.c.agent_id)
Index("ix_agents_trust_due", agents.c.trust_due)

agent_capabilities = Table(
    "agent_capabilities",
    metadata,
    Column("agent_id", String(32), ForeignKey("agents.agent_id"), primary_key=True),
    Column("capability", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
    # A copy of agents.trust_score kept by triggers (migration 0004) for the
    # capability-filtered list in trust order.
    Column("trust_score", Float, nullable=False, server_default="0.5"),
)
Index("ix_agent_capabilities_cap", agent_capabilities.c.capability, agent_capabilities.c.agent_id)
Index(
    "ix_agent_capabilities_cap_trust",
    agent_capabilities.c.capability,
    agent_capabilities.c.trust_score.desc(),
    agent_capabilities.c.agent_id,
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("agent_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("key_hash", String(64), nullable=False, unique=True),
    Column("prefix", String(16), nullable=False),
    Column("label", String(100), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("last_used_at", BigInteger, nullable=True),
    Column("revoked_at", BigInteger, nullable=True),
)
Index("ix_api_keys_agent", api_keys.c.agent_id, api_keys.c.seq)

# --- idempotency keys (core/idempotency.py, migration 0005) --------------------------
# One row per (caller scope, Idempotency-Key): claimed as 'running' in a transaction of
# its own, then 'done' with the stored answer in the same transaction as the request's
# effects. Neither the key nor a secret of the answer is stored in plain text.
idempotency_keys = Table(
    "idempotency_keys",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("scope", String(64), nullable=False),  # "agent:<id>" or "ip:<address>"
    Column("key_hash", String(64), nullable=False),  # SHA-256 of the key (hex)
    Column("fingerprint", String(64), nullable=False),  # HMAC(key, method, path, body)
    Column("method", String(8), nullable=False),
    Column("path", Text, nullable=False),
    Column("state", String(8), nullable=False),
    Column("lock_token", String(32), nullable=False),  # the claiming attempt's token
    Column("locked_at", BigInteger, nullable=False),
    Column("status", Integer, nullable=True),
    Column("headers", Text, nullable=True),  # JSON [[name, value], ...]
    Column("body", LargeBinary, nullable=True),
    Column("secret_key_seq", BigInteger, nullable=True),  # API key issued (body redacted)
    Column("created_at", BigInteger, nullable=False),
    Column("expires_at", BigInteger, nullable=False),
    UniqueConstraint("scope", "key_hash", name="uq_idempotency_keys_scope_key"),
    CheckConstraint("state IN ('running', 'done')", name="state"),
)
Index("ix_idempotency_keys_expires", idempotency_keys.c.expires_at)

# --- ledger -------------------------------------------------------------------------
# kind: 'agent' (one per agent), 'escrow' (one per task), 'issuance' (one, id 1).
accounts = Table(
    "accounts",
    metadata,
    Column("account_id", BigSeq, primary_key=True, autoincrement=True),
    Column("kind", String(16), nullable=False),
    Column("agent_id", String(32), ForeignKey("agents.agent_id"), nullable=True, unique=True),
    Column("task_seq", BigInteger, nullable=True, unique=True),
    Column("balance_cents", BigInteger, nullable=False, default=0),
    # Statement counters of an agent account (not ledger balances):
    Column("held_cents", BigInteger, nullable=False, default=0),
    Column("earned_cents", BigInteger, nullable=False, default=0),
    Column("spent_cents", BigInteger, nullable=False, default=0),
    CheckConstraint("kind IN ('agent', 'escrow', 'issuance')", name="kind"),
    CheckConstraint("kind = 'issuance' OR balance_cents >= 0", name="non_negative"),
    CheckConstraint("held_cents >= 0", name="held_non_negative"),
)

ledger_transactions = Table(
    "ledger_transactions",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("type", String(32), nullable=False),
    Column("task_seq", BigInteger, nullable=True),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_ledger_transactions_task", ledger_transactions.c.task_seq)

ledger_entries = Table(
    "ledger_entries",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("tx_seq", BigInteger, ForeignKey("ledger_transactions.seq"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.account_id"), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("balance_after_cents", BigInteger, nullable=False),
)
Index("ix_ledger_entries_tx", ledger_entries.c.tx_seq)
Index("ix_ledger_entries_account", ledger_entries.c.account_id, ledger_entries.c.seq)

# The agent-facing statement (GET /v1/transactions): one line per agent per movement
# as the agent sees it (a settlement shows the publisher -budget with balance unchanged).
statement_lines = Table(
    "statement_lines",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("agent_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("tx_seq", BigInteger, ForeignKey("ledger_transactions.seq"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("amount_cents", BigInteger, nullable=False),
    Column("balance_after_cents", BigInteger, nullable=False),
    Column("task_seq", BigInteger, nullable=True),
    Column("counterparty_id", String(32), nullable=True),
    Column("created_at", BigInteger, nullable=False),
)
Index("ix_statement_agent", statement_lines.c.agent_id, statement_lines.c.seq)
Index(
    "ix_statement_agent_type",
    statement_lines.c.agent_id,
    statement_lines.c.type,
    statement_lines.c.seq,
)
Index(
    "ix_statement_agent_task",
    statement_lines.c.agent_id,
    statement_lines.c.task_seq,
    statement_lines.c.seq,
)

# --- tasks --------------------------------------------------------------------------
tasks = Table(
    "tasks",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("title", String(200), nullable=False),
    Column("description", Text, nullable=False, default=""),
    Column("required_capabilities", Text, nullable=False, default="[]"),  # JSON array
    Column("budget_cents", BigInteger, nullable=False),
    Column("deadline", BigInteger, nullable=True),
    Column("status", String(16), nullable=False),
    Column("publisher_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("assignee_id", String(32), ForeignKey("agents.agent_id"), nullable=True),
    Column("created_at", BigInteger, nullable=False),
    Column("accepted_at", BigInteger, nullable=True),
    Column("completed_at", BigInteger, nullable=True),
    Column("closed_at", BigInteger, nullable=True),
    Column("deliverables", Text, nullable=True),  # JSON object
    Column("quality_notes", Text, nullable=True),
    Column("rated", Boolean, nullable=False, default=False),
    # Pay on approval (migration 0009): the review window chosen at publish (0: complete
    # pays at once), when the work was last submitted and when its review ends, the
    # change rounds used and allowed (AIPOD_MAX_CHANGE_ROUNDS at publish), the dispute,
    # and an operator's resolution (`assignee_share_bp`: the share in 1/10000;
    # `payout_cents`: what the assignee was paid of the budget, the rest refunded).
    Column("review_seconds", Integer, nullable=False, server_default="0"),
    Column("submitted_at", BigInteger, nullable=True),
    Column("review_due", BigInteger, nullable=True),
    Column("change_rounds", Integer, nullable=False, server_default="0"),
    Column("max_change_rounds", Integer, nullable=False, server_default="0"),
    Column("disputed_at", BigInteger, nullable=True),
    Column("dispute_reason", Text, nullable=True),
    Column("resolution", String(8), nullable=True),
    Column("assignee_share_bp", Integer, nullable=True),
    Column("payout_cents", BigInteger, nullable=True),
    # The CHECK on `status` (ck_tasks_status) is derived from the transition table and
    # attached by aipod_api/tasks/flows.py (imported by migrations/env.py).
    CheckConstraint("budget_cents >= 0", name="budget_non_negative"),
)
Index("ix_tasks_status_seq", tasks.c.status, tasks.c.seq)
Index("ix_tasks_status_deadline", tasks.c.status, tasks.c.deadline)
Index("ix_tasks_publisher_seq", tasks.c.publisher_id, tasks.c.seq)
Index("ix_tasks_assignee_seq", tasks.c.assignee_id, tasks.c.seq)
Index(  # migration 0003: the per-publisher expiry probe before wallet reads
    "ix_tasks_publisher_status_deadline", tasks.c.publisher_id, tasks.c.status, tasks.c.deadline
)
# migration 0009: tasks whose review window has ended (the sweep; the assignee's and the
# publisher's probes before wallet reads)
Index("ix_tasks_status_review_due", tasks.c.status, tasks.c.review_due)
Index(
    "ix_tasks_assignee_status_review_due", tasks.c.assignee_id, tasks.c.status, tasks.c.review_due
)
Index(
    "ix_tasks_publisher_status_review_due",
    tasks.c.publisher_id,
    tasks.c.status,
    tasks.c.review_due,
)

# Each transition of a task (migration 0009, written by tasks/flows.py): `role` is who
# took it (publisher, assignee, contractor, operator, clock); `actor_id` is NULL for the
# clock.
task_history = Table(
    "task_history",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("task_seq", BigInteger, ForeignKey("tasks.seq"), nullable=False),
    Column("action", String(32), nullable=False),
    Column("from_status", String(16), nullable=True),
    Column("to_status", String(16), nullable=False),
    Column("actor_id", String(32), nullable=True),
    Column("role", String(16), nullable=False),
    Column("at", BigInteger, nullable=False),
    Column("reason", Text, nullable=True),
)
Index("ix_task_history_task_seq", task_history.c.task_seq, task_history.c.seq)

task_capabilities = Table(
    "task_capabilities",
    metadata,
    Column("task_seq", BigInteger, ForeignKey("tasks.seq"), primary_key=True),
    Column("capability", String(64), primary_key=True),
    Column("position", Integer, nullable=False),
)
Index("ix_task_capabilities_cap", task_capabilities.c.capability, task_capabilities.c.task_seq)

ratings = Table(
    "ratings",
    metadata,
    Column("seq", BigSeq, primary_key=True, autoincrement=True),
    Column("task_seq", BigInteger, ForeignKey("tasks.seq"), nullable=False),
    Column("agent_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("rater_id", String(32), ForeignKey("agents.agent_id"), nullable=False),
    Column("quality_x100", Integer, nullable=False),
    Column("on_time", Boolean, nullable=False),
    Column("comment", Text, nullable=True),
    Column("budget_cents", BigInteger, nullable=False),
    Column("created_at", BigInteger, nullable=False),
    # The rater's standing when it rated (migration 0012; `trust.formula.standing`).
    Column("rater_standing", Float, nullable=False, server_default="1"),
    UniqueConstraint("task_seq", name="uq_ratings_task_seq"),
    CheckConstraint("quality_x100 BETWEEN 100 AND 500", name="quality_range"),
)
Index("ix_ratings_agent_seq", ratings.c.agent_id, ratings.c.seq)

# Task pay per ordered pair (migration 0012; `trust.formula.settle_flow`): what the payer
# paid the payee in total, the part of the net flow credited, the vouched earnings given.
trust_flows = Table(
    "trust_flows",
    metadata,
    Column("payer_id", String(32), ForeignKey("agents.agent_id"), primary_key=True),
    Column("payee_id", String(32), ForeignKey("agents.agent_id"), primary_key=True),
    Column("paid_cents", BigInteger, nullable=False),
    Column("credited_cents", BigInteger, nullable=False),
    Column("vouched_cents", BigInteger, nullable=False),
)

# List totals kept by database triggers (migration 0004): SUM(value) over a name's shards.
counters = Table(
    "counters",
    metadata,
    Column("name", String(200), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
    sqlite_with_rowid=False,
)
