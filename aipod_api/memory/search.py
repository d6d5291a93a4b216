"""Full-text search of memory content, per storage backend (docs/memory-search.md).

Semantics, identical on every backend: a memory matches `q` when the query (trimmed)
is a substring of the content, ignoring the case of ASCII letters. Chinese, mixed
Chinese/English and queries of any length from 1 character work.

SQLite (FTS5, both tables contentless, written in the request's transaction):

- `memory_fts` — trigram tokenizer over the ASCII-lower-cased content. A query of 3+
  characters is one FTS5 phrase (its consecutive trigrams), which is exactly "substring
  of", with no check against the base table.
- `memory_grams` — for queries of 1–2 characters, which a trigram index cannot answer:
  each memory's *distinct* 1- and 2-character grams, one token each, `detail=none`
  (rowids only, a compact posting list per gram). A 1–2 character query is a single-term
  lookup.

Both give rowids (= `memories.seq`) in descending order, so "newest first" with a LIMIT
stops early.

PostgreSQL: a pg_trgm GIN index on `lower(content COLLATE "C")` (ASCII-only lower-casing,
the same rule) answers `LIKE '%q%'`; see the doc for the 1–2 character plan.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from sqlalchemy import Connection, text

_ASCII_LOWER = str.maketrans("ABCDEFGHIJKLMNOPQRSTUVWXYZ", "abcdefghijklmnopqrstuvwxyz")

FTS_TABLE = "memory_fts"
GRAMS_TABLE = "memory_grams"


def normalize(value: str) -> str:
    """The case rule of search: ASCII letters lower-cased, nothing else touched.

    Deliberately not `str.lower()`: it is stable across Python/Unicode versions (the
    contentless FTS5 tables need the exact indexed text again to delete it) and keeps
    lengths unchanged; it is what SQLite's `lower()` and PostgreSQL's
    `lower(x COLLATE "C")` do too.
    """
    return value.translate(_ASCII_LOWER)


def _token_char(ch: str) -> bool:
    # FTS5's `ascii` tokenizer: every non-ASCII character and ASCII [0-9A-Za-z] belong to
    # tokens; other ASCII characters separate them.
    return ord(ch) > 127 or ch.isalnum()


def gram_token(gram: str) -> str:
    """One FTS5 token for a 1–2 character gram.

    Grams made of token characters are their own token ("能", "能源", "q1"); others
    (spaces, ASCII punctuation) are spelled in hex behind a `zz` prefix, which is at
    least 8 characters long and so never equals a 1–2 character gram.
    """
    if all(_token_char(c) for c in gram):
        return gram
    return "zz" + "".join(f"{ord(c):06x}" for c in gram)


def gram_text(normalized: str) -> str:
    """The `memory_grams` document: the distinct 1- and 2-character grams, as tokens."""
    grams = dict.fromkeys(normalized)
    grams.update(dict.fromkeys(normalized[i : i + 2] for i in range(len(normalized) - 1)))
    return " ".join(gram_token(g) for g in grams)


def fts_string(value: str) -> str:
    """An FTS5 string literal (a phrase): double quotes, inner quotes doubled."""
    return '"' + value.replace('"', '""') + '"'


def like_pattern(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_")
    return f"%{escaped}%"


@dataclass
class Source:
    """Candidate memories for one query, in `seq` order (newest first when DESC).

    `from_` / `where` / `seq` are SQL fragments using only bound parameters from
    `params`; `visible` is the visibility rule for a row of this source (uses `:me`).
    """

    from_: str
    where: str
    seq: str
    visible: str
    params: dict[str, Any] = field(default_factory=dict)


def member_rule(seq: str) -> str:
    """The caller (`:me`) is the author or a participant of a "participants" memory."""
    return (
        f"EXISTS (SELECT 1 FROM memory_access va WHERE va.memory_seq = {seq} AND va.agent_id = :me)"
    )


def private_rule(seq: str) -> str:
    """Visibility when only the seq is at hand: public (no access rows) or a member."""
    return (
        f"(NOT EXISTS (SELECT 1 FROM memory_access vp WHERE vp.memory_seq = {seq})"
        f" OR {member_rule(seq)})"
    )


class SearchBackend(Protocol):
    def index(self, conn: Connection, seq: int, content: str) -> None: ...

    def unindex(self, conn: Connection, seq: int, content: str) -> None: ...

    def source(self, query: str) -> Source: ...

    def condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]: ...

    def lower_sql(self, expr: str) -> str: ...


class SqliteSearch:
    """FTS5 trigram for 3+ characters, FTS5 gram postings for 1–2 characters."""

    @staticmethod
    def documents(content: str) -> tuple[str, str]:
        """(memory_fts body, memory_grams document) for a content — also used by bench."""
        normalized = normalize(content)
        return normalized, gram_text(normalized)

    def index(self, conn: Connection, seq: int, content: str) -> None:
        body, grams = self.documents(content)
        conn.execute(
            text(f"INSERT INTO {FTS_TABLE} (rowid, body) VALUES (:seq, :body)"),
            {"seq": seq, "body": body},
        )
        conn.execute(
            text(f"INSERT INTO {GRAMS_TABLE} (rowid, grams) VALUES (:seq, :grams)"),
            {"seq": seq, "grams": grams},
        )

    def unindex(self, conn: Connection, seq: int, content: str) -> None:
        # Contentless tables: a delete names the exact values that were indexed.
        body, grams = self.documents(content)
        conn.execute(
            text(
                f"INSERT INTO {FTS_TABLE} ({FTS_TABLE}, rowid, body) VALUES ('delete', :seq, :body)"
            ),
            {"seq": seq, "body": body},
        )
        conn.execute(
            text(
                f"INSERT INTO {GRAMS_TABLE} ({GRAMS_TABLE}, rowid, grams) "
                "VALUES ('delete', :seq, :grams)"
            ),
            {"seq": seq, "grams": grams},
        )

    @staticmethod
    def _match(query: str) -> tuple[str, str]:
        normalized = normalize(query)
        if len(normalized) >= 3:
            return FTS_TABLE, fts_string(normalized)
        return GRAMS_TABLE, fts_string(gram_token(normalized))

    def source(self, query: str) -> Source:
        table, match = self._match(query)
        seq = f"{table}.rowid"
        return Source(
            from_=table,
            where=f"{table} MATCH :fts",
            seq=seq,
            visible=private_rule(seq),
            params={"fts": match},
        )

    def condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        table, match = self._match(query)
        sql = f"EXISTS (SELECT 1 FROM {table} WHERE {table} MATCH :fts AND {table}.rowid = {seq})"
        return sql, {"fts": match}

    def lower_sql(self, expr: str) -> str:
        return f"lower({expr})"  # SQLite's lower() folds ASCII only: same rule


class PostgresSearch:
    """pg_trgm: `lower(content COLLATE "C") LIKE '%q%'` served by a GIN trigram index."""

    def index(self, conn: Connection, seq: int, content: str) -> None:
        return None  # the expression index follows the table

    def unindex(self, conn: Connection, seq: int, content: str) -> None:
        return None

    def source(self, query: str) -> Source:
        return Source(
            from_="memories sm",
            where=f"{self.lower_sql('sm.content')} LIKE :pattern",
            seq="sm.seq",
            visible=f"(sm.visibility = 'public' OR {member_rule('sm.seq')})",
            params={"pattern": like_pattern(normalize(query))},
        )

    def condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        sql = (
            "EXISTS (SELECT 1 FROM memories sq WHERE sq.seq = "
            f"{seq} AND {self.lower_sql('sq.content')} LIKE :pattern)"
        )
        return sql, {"pattern": like_pattern(normalize(query))}

    def lower_sql(self, expr: str) -> str:
        return f'lower({expr} COLLATE "C")'


def for_dialect(name: str) -> SearchBackend:
    if name == "sqlite":
        return SqliteSearch()
    if name == "postgresql":
        return PostgresSearch()
    raise ValueError(f"no memory search for {name}")
