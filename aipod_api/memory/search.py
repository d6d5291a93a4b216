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
stops early. Both hold *public* memories only: a search reads public matches from them
and the caller's own private memories from the caller's access index (service.py), so
other agents' private memories cost it nothing.

PostgreSQL: a partial pg_trgm GIN index on `lower(content COLLATE "C")` of public memories
(ASCII-only lower-casing, the same rule) answers `LIKE '%q%'`; see the doc for the 1–2
character plan.
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
    """Candidate memories in `seq` order (newest first when DESC).

    `from_` / `where` / `seq` are SQL fragments using only bound parameters from
    `params`.
    """

    from_: str
    where: str
    seq: str
    params: dict[str, Any] = field(default_factory=dict)


class SearchBackend(Protocol):
    def index(self, conn: Connection, seq: int, content: str, *, public: bool) -> None: ...

    def unindex(self, conn: Connection, seq: int, content: str, *, public: bool) -> None: ...

    def source(self, query: str) -> Source:
        """Public memories matching `query`, from an index holding public ones only."""
        ...

    def condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        """`query` as a probe for one public candidate `seq`."""
        ...

    def member_condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        """`query` as a probe for one of the caller's own private memories."""
        ...

    def lower_sql(self, expr: str) -> str: ...

    def probe(self, subquery: str) -> str:
        """`EXISTS (subquery)`, evaluated once per candidate row (never turned into a join
        that would read the probed table's other rows, private ones included)."""
        ...

    def join_rows(self, seq: str) -> str:
        """A join clause adding the `memories` row `m` of each `seq`, by primary key."""
        ...


class SqliteSearch:
    """FTS5 trigram for 3+ characters, FTS5 gram postings for 1–2 characters; both hold
    public memories only. A private memory is only ever searched by its members, one
    candidate at a time from their access index, so its content is checked directly."""

    @staticmethod
    def documents(content: str) -> tuple[str, str]:
        """(memory_fts body, memory_grams document) for a content — also used by bench."""
        normalized = normalize(content)
        return normalized, gram_text(normalized)

    def index(self, conn: Connection, seq: int, content: str, *, public: bool) -> None:
        if not public:
            return
        body, grams = self.documents(content)
        conn.execute(
            text(f"INSERT INTO {FTS_TABLE} (rowid, body) VALUES (:seq, :body)"),
            {"seq": seq, "body": body},
        )
        conn.execute(
            text(f"INSERT INTO {GRAMS_TABLE} (rowid, grams) VALUES (:seq, :grams)"),
            {"seq": seq, "grams": grams},
        )

    def unindex(self, conn: Connection, seq: int, content: str, *, public: bool) -> None:
        if not public:
            return
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
        return Source(from_=table, where=f"{table} MATCH :fts", seq=seq, params={"fts": match})

    def condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        table, match = self._match(query)
        sql = f"EXISTS (SELECT 1 FROM {table} WHERE {table} MATCH :fts AND {table}.rowid = {seq})"
        return sql, {"fts": match}

    def member_condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        sql = self.probe(
            f"SELECT 1 FROM memories mq WHERE mq.seq = {seq} AND instr(lower(mq.content), :qn) > 0"
        )
        return sql, {"qn": normalize(query)}

    def probe(self, subquery: str) -> str:
        return f"EXISTS ({subquery})"  # SQLite runs a correlated EXISTS per row

    def join_rows(self, seq: str) -> str:
        return f"JOIN memories m ON m.seq = {seq}"  # a nested loop: one rowid lookup each

    def lower_sql(self, expr: str) -> str:
        return f"lower({expr})"  # SQLite's lower() folds ASCII only: same rule


class PostgresSearch:
    """pg_trgm: `lower(content COLLATE "C") LIKE '%q%'` served by a GIN trigram index on
    public memories only (`WHERE visibility = 'public'`, migration 0006)."""

    def index(self, conn: Connection, seq: int, content: str, *, public: bool) -> None:
        return None  # the expression index follows the table

    def unindex(self, conn: Connection, seq: int, content: str, *, public: bool) -> None:
        return None

    def source(self, query: str) -> Source:
        # `visibility = 'public'` spelled as the partial index's predicate, so it is used.
        return Source(
            from_="memories sm",
            where=f"sm.visibility = 'public' AND {self.lower_sql('sm.content')} LIKE :pattern",
            seq="sm.seq",
            params={"pattern": like_pattern(normalize(query))},
        )

    def condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        sql = self.probe(
            f"SELECT 1 FROM memories sq WHERE sq.seq = {seq}"
            f" AND {self.lower_sql('sq.content')} LIKE :pattern"
        )
        return sql, {"pattern": like_pattern(normalize(query))}

    def member_condition(self, query: str, seq: str) -> tuple[str, dict[str, Any]]:
        return self.condition(query, seq)

    def probe(self, subquery: str) -> str:
        # OFFSET 0 keeps the planner from turning the EXISTS into a (hash) semi-join,
        # which would read every row of the probed table matching the filter.
        return f"EXISTS ({subquery} OFFSET 0)"

    def join_rows(self, seq: str) -> str:
        # LATERAL + OFFSET 0: one primary-key lookup per seq, never a hash join that
        # scans the whole table (other agents' private memories included).
        return f"CROSS JOIN LATERAL (SELECT * FROM memories m0 WHERE m0.seq = {seq} OFFSET 0) m"

    def lower_sql(self, expr: str) -> str:
        return f'lower({expr} COLLATE "C")'


def for_dialect(name: str) -> SearchBackend:
    if name == "sqlite":
        return SqliteSearch()
    if name == "postgresql":
        return PostgresSearch()
    raise ValueError(f"no memory search for {name}")
