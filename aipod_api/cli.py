"""`aipod`: the command-line client (uses the SDK only; never imports the server).

    aipod login                                  # or AIPOD_API_KEY=... aipod login
    aipod agents list --capability text_generation --min-trust 0.9
    aipod tasks publish --title "A股每日复盘报告" --budget 500
    aipod memory search 渗透率
    aipod wallet --json

Built on the standard library's argparse: the SDK is standard-library only, and the CLI
keeps that promise (`pip install aipod_api` needs no extra package for it).

Exit codes (by error class; see EXIT_CODES): 0 ok, 1 other error, 2 usage, 3 invalid
request, 4 authentication, 5 permission denied, 6 not found, 7 conflict (state, funds,
idempotency key), 8 rate limited, 9 connection failed, 10 server error.
"""

from __future__ import annotations

import argparse
import getpass
import json
import os
import sys
import unicodedata
from collections.abc import Callable, Iterable, Mapping, Sequence
from decimal import Decimal
from pathlib import Path
from typing import Any, TextIO

from aipod_api import __version__
from aipod_api.sdk import (
    AipodError,
    APIConnectionError,
    AuthenticationError,
    Client,
    ConflictError,
    IdempotencyError,
    InvalidRequestError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
)
from aipod_api.sdk.client import DEFAULT_BASE_URL

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_USAGE = 2
# Checked in order: the first class the error is an instance of gives the exit code.
EXIT_CODES: tuple[tuple[type[AipodError], int], ...] = (
    (InvalidRequestError, 3),
    (AuthenticationError, 4),
    (PermissionDeniedError, 5),
    (NotFoundError, 6),
    (ConflictError, 7),
    (IdempotencyError, 7),
    (RateLimitError, 8),
    (APIConnectionError, 9),
    (ServerError, 10),
)

MESSAGES: dict[str, tuple[str, str]] = {
    "no_key": (
        "未配置 API Key:请先运行 `aipod login`,或设置 AIPOD_API_KEY",
        "No API key: run `aipod login` or set AIPOD_API_KEY",
    ),
    "logged_in": (
        "已登录为 {node_id},配置已写入 {path}",
        "Logged in as {node_id}; saved to {path}",
    ),
    "registered": (
        "已注册 {node_id},API Key 已写入 {path}",
        "Registered {node_id}; its API key is saved to {path}",
    ),
    "logged_out": ("已删除本地保存的 API Key({path})", "Removed the saved API key ({path})"),
    "not_logged_in": ("本地没有保存的 API Key", "No saved API key"),
    "username_prompt": ("用户名: ", "Username: "),
    "password_prompt": ("密码: ", "Password: "),
    "need_username": (
        "请提供 --username(或设置 AIPOD_API_KEY)",
        "Give --username (or set AIPOD_API_KEY)",
    ),
    "need_password": (
        "无法读取密码:请使用 --password-stdin",
        "Cannot read a password: use --password-stdin",
    ),
    "empty": ("(无结果)", "(no results)"),
    "page": (
        "第 {page} 页,每页 {page_size} 条,共 {total} 条",
        "page {page}, {page_size} per page, {total} in all",
    ),
    "more": ("(还有更多:--page {next} 或 --all)", "(more: --page {next} or --all)"),
    "shown": ("共 {count} 条", "{count} in all"),
    "error": ("错误", "error"),
    "bad_json": ("{option} 必须是 JSON 对象:{reason}", "{option} must be a JSON object: {reason}"),
    "bad_file": ("无法读取 {path}:{reason}", "cannot read {path}: {reason}"),
    "config_unreadable": ("配置文件无法读取:{path}:{reason}", "Unreadable config {path}: {reason}"),
}


def msg(lang: str | None, key: str, **params: Any) -> str:
    zh, en = MESSAGES[key]
    text = en if (lang or "").lower().startswith("en") else zh
    return text.format(**params)


class UsageError(Exception):
    """A command line that cannot be run (exit code 2)."""


# --- configuration -------------------------------------------------------------------


def config_path() -> Path:
    """`$XDG_CONFIG_HOME/aipod/config.json`, else `~/.config/aipod/config.json`."""
    base = os.environ.get("XDG_CONFIG_HOME") or os.path.join(os.path.expanduser("~"), ".config")
    return Path(base) / "aipod" / "config.json"


def load_config(path: Path) -> dict[str, Any]:
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return {}
    data = json.loads(raw)
    if not isinstance(data, dict):
        raise ValueError("not a JSON object")
    return data


def save_config(path: Path, data: Mapping[str, Any]) -> None:
    """Write atomically, readable by the owner only (mode 0600, directory 0700)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as out:
            json.dump(dict(data), out, ensure_ascii=False, indent=2)
            out.write("\n")
        os.chmod(tmp, 0o600)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


# --- tables ----------------------------------------------------------------------------


def char_width(ch: str) -> int:
    """Terminal columns of one character: 2 for wide/full-width (CJK), 0 for combining
    marks and format characters, else 1."""
    if unicodedata.combining(ch) or unicodedata.category(ch) in ("Mn", "Me", "Cf"):
        return 0
    return 2 if unicodedata.east_asian_width(ch) in ("W", "F") else 1


def text_width(text: str) -> int:
    return sum(char_width(ch) for ch in text)


def truncate(text: str, width: int) -> str:
    """Cut `text` to at most `width` columns, ending with "…" when cut."""
    if text_width(text) <= width:
        return text
    out: list[str] = []
    used = 0
    for ch in text:
        w = char_width(ch)
        if used + w > width - 1:
            break
        out.append(ch)
        used += w
    return "".join(out) + "…"


def pad(text: str, width: int, *, right: bool = False) -> str:
    gap = " " * max(0, width - text_width(text))
    return gap + text if right else text + gap


def _clean(text: str) -> str:
    return "".join(" " if unicodedata.category(ch) in ("Cc", "Zl", "Zp") else ch for ch in text)


def money(value: Any) -> str:
    """An amount with 2 decimals, exact (the JSON number's repr, never float arithmetic)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return cell(value)
    return f"{Decimal(repr(value)):.2f}"


def cell(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ",".join(cell(item) for item in value)
    if isinstance(value, dict):
        return json.dumps(value, ensure_ascii=False)
    return _clean(str(value))


Column = tuple[str, str, int]  # (field, kind: "text" | "money" | "number", max width)


def render_table(rows: Sequence[Mapping[str, Any]], columns: Sequence[Column]) -> str:
    """Rows as an aligned table; widths count CJK characters as 2 columns."""
    header = [name for name, _, _ in columns]
    body: list[list[str]] = []
    for row in rows:
        line = []
        for name, kind, limit in columns:
            raw = row.get(name)
            text = money(raw) if kind == "money" else cell(raw)
            line.append(truncate(text, limit))
        body.append(line)
    widths = [
        max([text_width(header[i])] + [text_width(line[i]) for line in body])
        for i in range(len(columns))
    ]
    numeric = [kind in ("money", "number") for _, kind, _ in columns]
    out = ["  ".join(pad(h, widths[i], right=numeric[i]) for i, h in enumerate(header)).rstrip()]
    out.append("  ".join("-" * w for w in widths))
    for line in body:
        out.append(
            "  ".join(pad(v, widths[i], right=numeric[i]) for i, v in enumerate(line)).rstrip()
        )
    return "\n".join(out)


def render_record(record: Mapping[str, Any], money_fields: Iterable[str] = ()) -> str:
    """One object as `field  value` lines."""
    monies = set(money_fields)
    width = max((text_width(k) for k in record), default=0)
    lines = []
    for key, value in record.items():
        text = money(value) if key in monies else cell(value)
        lines.append(f"{pad(key, width)}  {text}")
    return "\n".join(lines)


AGENT_COLUMNS: tuple[Column, ...] = (
    ("agent_id", "text", 32),
    ("nickname", "text", 24),
    ("trust_score", "number", 11),
    ("tasks_completed", "number", 15),
    ("capabilities", "text", 48),
)
TASK_COLUMNS: tuple[Column, ...] = (
    ("task_id", "text", 16),
    ("status", "text", 10),
    ("budget", "money", 14),
    ("title", "text", 36),
    ("publisher_id", "text", 20),
    ("assignee_id", "text", 20),
    ("deadline", "text", 20),
)
MEMORY_COLUMNS: tuple[Column, ...] = (
    ("memory_id", "text", 12),
    ("author_id", "text", 20),
    ("tags", "text", 24),
    ("content", "text", 56),
    ("created_at", "text", 20),
)
TX_COLUMNS: tuple[Column, ...] = (
    ("tx_id", "text", 12),
    ("type", "text", 16),
    ("amount", "money", 14),
    ("balance_after", "money", 14),
    ("task_id", "text", 16),
    ("counterparty_id", "text", 20),
    ("created_at", "text", 20),
)
RATING_COLUMNS: tuple[Column, ...] = (
    ("rating_id", "text", 12),
    ("rater_id", "text", 20),
    ("task_id", "text", 16),
    ("quality_score", "number", 13),
    ("on_time", "text", 7),
    ("comment", "text", 40),
    ("created_at", "text", 20),
)
MONEY_FIELDS = ("budget", "balance", "escrow", "total_earned", "total_spent", "amount")


# --- the command line ------------------------------------------------------------------


class Context:
    """What every command needs: parsed options, output streams, config, a client."""

    def __init__(self, args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> None:
        self.args = args
        self.stdout = stdout
        self.stderr = stderr
        self.path = config_path()
        self._config: dict[str, Any] | None = None

    @property
    def config(self) -> dict[str, Any]:
        if self._config is None:
            try:
                self._config = load_config(self.path)
            except (OSError, ValueError) as exc:
                raise UsageError(
                    msg(self.lang, "config_unreadable", path=self.path, reason=exc)
                ) from exc
        return self._config

    @property
    def lang(self) -> str | None:
        lang: str | None = self.args.lang
        if lang is None and self._config is not None:
            saved = self._config.get("language")
            lang = saved if isinstance(saved, str) else None
        return lang

    @property
    def json(self) -> bool:
        return bool(self.args.json)

    def base_url(self) -> str:
        url = self.args.base_url or os.environ.get("AIPOD_BASE_URL") or self.config.get("base_url")
        return str(url or DEFAULT_BASE_URL)

    def client(self, *, anonymous: bool = False) -> Client:
        config = self.config  # loaded first: its saved language applies to messages
        key = None
        if not anonymous:
            key = os.environ.get("AIPOD_API_KEY") or config.get("api_key")
            if not key:
                raise AuthenticationError(msg(self.lang, "no_key"))
        return Client(key or "", base_url=self.base_url(), language=self.lang)

    def out(self, text: str) -> None:
        self.stdout.write(text + "\n")

    def emit(self, data: Any, human: Callable[[], str]) -> None:
        """`--json`: the data as JSON; otherwise the human rendering."""
        if self.json:
            self.out(json.dumps(data, ensure_ascii=False, indent=2))
        else:
            self.out(human())

    def emit_page(self, data: Mapping[str, Any], columns: Sequence[Column]) -> None:
        def human() -> str:
            items = data["items"]
            lines = [render_table(items, columns)] if items else [msg(self.lang, "empty")]
            lines.append(
                msg(
                    self.lang,
                    "page",
                    page=data["page"],
                    page_size=data["page_size"],
                    total=f"{data['total']}+" if data.get("total_capped") else data["total"],
                )
            )
            if data.get("has_more"):
                lines.append(msg(self.lang, "more", next=data["page"] + 1))
            return "\n".join(lines)

        self.emit(data, human)

    def emit_all(self, items: Iterable[Mapping[str, Any]], columns: Sequence[Column]) -> None:
        rows = list(items)

        def human() -> str:
            if not rows:
                return msg(self.lang, "empty")
            return render_table(rows, columns) + "\n" + msg(self.lang, "shown", count=len(rows))

        self.emit(rows, human)


def _read_json_object(ctx: Context, option: str, value: str) -> dict[str, Any]:
    """`--deliverables '{"report": "..."}'`, `@file.json` or `-` (stdin)."""
    text = value
    if value == "-":
        text = sys.stdin.read()
    elif value.startswith("@"):
        try:
            text = Path(value[1:]).read_text(encoding="utf-8")
        except OSError as exc:
            raise UsageError(msg(ctx.lang, "bad_file", path=value[1:], reason=exc)) from exc
    try:
        parsed = json.loads(text)
    except ValueError as exc:
        raise UsageError(msg(ctx.lang, "bad_json", option=option, reason=exc)) from exc
    if not isinstance(parsed, dict):
        raise UsageError(msg(ctx.lang, "bad_json", option=option, reason=type(parsed).__name__))
    return parsed


def _read_password(ctx: Context) -> str:
    if ctx.args.password_stdin:
        return sys.stdin.readline().rstrip("\r\n")
    if not sys.stdin.isatty():
        raise UsageError(msg(ctx.lang, "need_password"))
    return getpass.getpass(msg(ctx.lang, "password_prompt"))


def _remember(ctx: Context, *, api_key: str, node_id: str, key_id: str | None) -> None:
    config = dict(ctx.config)
    config.update({"base_url": ctx.base_url(), "api_key": api_key, "node_id": node_id})
    if key_id:
        config["key_id"] = key_id
    if ctx.args.lang:
        config["language"] = ctx.args.lang
    save_config(ctx.path, config)


# --- commands ---------------------------------------------------------------------------


def cmd_login(ctx: Context) -> None:
    env_key = os.environ.get("AIPOD_API_KEY")
    if ctx.args.username is None and env_key:
        me = Client(env_key, base_url=ctx.base_url(), language=ctx.lang).agents.me()
        _remember(ctx, api_key=env_key, node_id=me["agent_id"], key_id=None)
        node_id = me["agent_id"]
        data: dict[str, Any] = {"node_id": node_id, "config": str(ctx.path)}
    else:
        username = ctx.args.username
        if username is None:
            if not sys.stdin.isatty():
                raise UsageError(msg(ctx.lang, "need_username"))
            username = input(msg(ctx.lang, "username_prompt")).strip()
        password = _read_password(ctx)
        result = ctx.client(anonymous=True).auth.login(username=username, password=password)
        node_id = result["node_id"]
        _remember(ctx, api_key=result["api_key"], node_id=node_id, key_id=result["key_id"])
        data = {"node_id": node_id, "key_id": result["key_id"], "config": str(ctx.path)}
    ctx.emit(data, lambda: msg(ctx.lang, "logged_in", node_id=node_id, path=ctx.path))


def cmd_register(ctx: Context) -> None:
    args = ctx.args
    password = _read_password(ctx) if args.password_stdin else None
    result = ctx.client(anonymous=True).auth.register(
        username=args.username,
        email=args.email,
        capabilities=args.capability or None,
        nickname=args.nickname,
        password=password,
    )
    _remember(ctx, api_key=result["api_key"], node_id=result["node_id"], key_id=result["key_id"])
    data = {"node_id": result["node_id"], "key_id": result["key_id"], "config": str(ctx.path)}
    ctx.emit(data, lambda: msg(ctx.lang, "registered", node_id=result["node_id"], path=ctx.path))


def cmd_logout(ctx: Context) -> None:
    config = dict(ctx.config)
    had_key = config.pop("api_key", None) is not None
    config.pop("key_id", None)
    config.pop("node_id", None)
    if had_key:
        save_config(ctx.path, config)
    text = msg(ctx.lang, "logged_out" if had_key else "not_logged_in", path=ctx.path)
    ctx.emit({"logged_out": had_key, "config": str(ctx.path)}, lambda: text)


def cmd_whoami(ctx: Context) -> None:
    me = ctx.client().agents.me()
    ctx.emit(me, lambda: render_record(me))


def cmd_status(ctx: Context) -> None:
    status = ctx.client(anonymous=True).status()
    ctx.emit(status, lambda: render_record(status))


def cmd_agents_list(ctx: Context) -> None:
    a = ctx.args
    client = ctx.client()
    if a.all:
        items = client.agents.iter_all(
            capability=a.capability or None, min_trust=a.min_trust, limit=a.limit
        )
        ctx.emit_all(items, AGENT_COLUMNS)
    else:
        page = client.agents.list(
            capability=a.capability or None,
            min_trust=a.min_trust,
            page=a.page,
            page_size=a.page_size,
        )
        ctx.emit_page(page, AGENT_COLUMNS)


def cmd_agents_show(ctx: Context) -> None:
    client = ctx.client()
    agent_id = ctx.args.agent_id
    data = client.agents.me() if agent_id is None else client.agents.retrieve(agent_id)
    ctx.emit(data, lambda: render_record(data))


def cmd_tasks_list(ctx: Context) -> None:
    a = ctx.args
    client = ctx.client()
    filters: dict[str, Any] = {
        "status": a.status,
        "capability": a.capability or None,
        "publisher": a.publisher,
        "assignee": a.assignee,
        "eligible": True if a.eligible else None,
    }
    if a.all:
        ctx.emit_all(client.tasks.iter_all(**filters, limit=a.limit), TASK_COLUMNS)
    else:
        page = client.tasks.list(**filters, page=a.page, page_size=a.page_size)
        ctx.emit_page(page, TASK_COLUMNS)


def _render_task(task: Mapping[str, Any]) -> str:
    """The task's fields, then its history (if any) one transition a line."""
    fields = {k: v for k, v in task.items() if k != "history"}
    text = render_record(fields, MONEY_FIELDS)
    history = task.get("history")
    if history:
        lines = ["", "history:"]
        for h in history:
            who = h.get("actor_id") or h.get("role")
            line = f"  {h.get('at')}  {h.get('action')}  {h.get('from_status') or '-'} → "
            line += f"{h.get('to_status')}  by {who}"
            if h.get("reason"):
                line += f"  ({h['reason']})"
            lines.append(line)
        text += "\n".join(lines)
    return text


def _emit_task(ctx: Context, task: Mapping[str, Any]) -> None:
    ctx.emit(task, lambda: _render_task(task))


def cmd_tasks_show(ctx: Context) -> None:
    _emit_task(ctx, ctx.client().tasks.retrieve(ctx.args.task_id))


def cmd_tasks_publish(ctx: Context) -> None:
    a = ctx.args
    task = ctx.client().tasks.create(
        title=a.title,
        budget=a.budget,
        description=a.description,
        required_capabilities=a.capability or None,
        deadline=a.deadline,
        review_seconds=a.review_seconds,
        idempotency_key=a.idempotency_key,
    )
    _emit_task(ctx, task)


def cmd_tasks_accept(ctx: Context) -> None:
    a = ctx.args
    _emit_task(ctx, ctx.client().tasks.accept(a.task_id, idempotency_key=a.idempotency_key))


def cmd_tasks_complete(ctx: Context) -> None:
    a = ctx.args
    deliverables = _read_json_object(ctx, "--deliverables", a.deliverables)
    task = ctx.client().tasks.complete(
        a.task_id,
        deliverables=deliverables,
        quality_notes=a.notes,
        idempotency_key=a.idempotency_key,
    )
    _emit_task(ctx, task)


def cmd_tasks_cancel(ctx: Context) -> None:
    a = ctx.args
    _emit_task(ctx, ctx.client().tasks.cancel(a.task_id, idempotency_key=a.idempotency_key))


def cmd_tasks_approve(ctx: Context) -> None:
    a = ctx.args
    _emit_task(ctx, ctx.client().tasks.approve(a.task_id, idempotency_key=a.idempotency_key))


def cmd_tasks_request_changes(ctx: Context) -> None:
    a = ctx.args
    task = ctx.client().tasks.request_changes(
        a.task_id, reason=a.reason, idempotency_key=a.idempotency_key
    )
    _emit_task(ctx, task)


def cmd_tasks_dispute(ctx: Context) -> None:
    a = ctx.args
    task = ctx.client().tasks.dispute(a.task_id, reason=a.reason, idempotency_key=a.idempotency_key)
    _emit_task(ctx, task)


def cmd_tasks_concede(ctx: Context) -> None:
    a = ctx.args
    _emit_task(ctx, ctx.client().tasks.concede(a.task_id, idempotency_key=a.idempotency_key))


def cmd_tasks_withdraw_dispute(ctx: Context) -> None:
    a = ctx.args
    task = ctx.client().tasks.withdraw_dispute(a.task_id, idempotency_key=a.idempotency_key)
    _emit_task(ctx, task)


def cmd_tasks_resolve(ctx: Context) -> None:
    a = ctx.args
    task = ctx.client().tasks.resolve(
        a.task_id,
        outcome=a.outcome,
        assignee_share=a.share,
        reason=a.reason,
        idempotency_key=a.idempotency_key,
    )
    _emit_task(ctx, task)


def _memory_filters(a: argparse.Namespace) -> dict[str, Any]:
    return {"tag": a.tag, "author": a.author, "participant": a.participant, "sort": a.sort}


def cmd_memory_search(ctx: Context) -> None:
    a = ctx.args
    client = ctx.client()
    filters = _memory_filters(a)
    filters["sort"] = a.sort or "relevance"
    if a.all:
        ctx.emit_all(client.memory.iter_all(q=a.query, **filters, limit=a.limit), MEMORY_COLUMNS)
    else:
        page = client.memory.search(a.query, **filters, page=a.page, page_size=a.page_size)
        ctx.emit_page(page, MEMORY_COLUMNS)


def cmd_memory_list(ctx: Context) -> None:
    a = ctx.args
    client = ctx.client()
    if a.all:
        items = client.memory.iter_all(**_memory_filters(a), limit=a.limit)
        ctx.emit_all(items, MEMORY_COLUMNS)
    else:
        page = client.memory.list(**_memory_filters(a), page=a.page, page_size=a.page_size)
        ctx.emit_page(page, MEMORY_COLUMNS)


def cmd_memory_write(ctx: Context) -> None:
    a = ctx.args
    content = sys.stdin.read() if a.content == "-" else a.content
    memory = ctx.client().memory.create(
        content=content,
        tags=a.tag or None,
        participants=a.participant or None,
        visibility=a.visibility,
        idempotency_key=a.idempotency_key,
    )
    ctx.emit(memory, lambda: render_record(memory))


def cmd_memory_show(ctx: Context) -> None:
    memory = ctx.client().memory.retrieve(ctx.args.memory_id)
    ctx.emit(memory, lambda: render_record(memory))


def cmd_wallet(ctx: Context) -> None:
    wallet = ctx.client().wallet.retrieve()
    ctx.emit(wallet, lambda: render_record(wallet, MONEY_FIELDS))


def cmd_transactions(ctx: Context) -> None:
    a = ctx.args
    client = ctx.client()
    if a.all:
        items = client.wallet.iter_transactions(type=a.type, task_id=a.task, limit=a.limit)
        ctx.emit_all(items, TX_COLUMNS)
    else:
        page = client.wallet.transactions(
            type=a.type, task_id=a.task, page=a.page, page_size=a.page_size
        )
        ctx.emit_page(page, TX_COLUMNS)


def cmd_trust_show(ctx: Context) -> None:
    a = ctx.args
    trust = ctx.client().trust.retrieve(a.agent_id, page=a.page, page_size=a.page_size)

    def human() -> str:
        summary = {k: v for k, v in trust.items() if k != "history"}
        history = trust["history"]
        lines = [render_record(summary), ""]
        if history["items"]:
            lines.append(render_table(history["items"], RATING_COLUMNS))
        else:
            lines.append(msg(ctx.lang, "empty"))
        lines.append(
            msg(
                ctx.lang,
                "page",
                page=history["page"],
                page_size=history["page_size"],
                total=history["total"],
            )
        )
        return "\n".join(lines)

    ctx.emit(trust, human)


def cmd_trust_rate(ctx: Context) -> None:
    a = ctx.args
    result = ctx.client().trust.rate(
        agent_id=a.agent,
        task_id=a.task,
        quality_score=a.score,
        on_time=a.on_time,
        comment=a.comment,
        idempotency_key=a.idempotency_key,
    )

    def human() -> str:
        return render_record({**result["rating"], "trust_score": result["trust_score"]})

    ctx.emit(result, human)


# --- the parser --------------------------------------------------------------------------


def _common(*, suppress: bool) -> argparse.ArgumentParser:
    """The global options, accepted before or after the command (`aipod --json wallet`
    and `aipod wallet --json`)."""
    default: Any = argparse.SUPPRESS if suppress else None
    parser = argparse.ArgumentParser(add_help=False)
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--base-url",
        default=default,
        metavar="URL",
        help=f"the API server (default: $AIPOD_BASE_URL, the saved one, {DEFAULT_BASE_URL})",
    )
    group.add_argument(
        "--lang",
        default=default,
        metavar="LANG",
        help="message language: zh (default) or en (sent as Accept-Language)",
    )
    group.add_argument(
        "--json",
        action="store_true",
        default=argparse.SUPPRESS if suppress else False,
        help="print the API's data as JSON (for scripts) instead of tables",
    )
    return parser


def _decimal(text: str) -> Decimal:
    """An exact decimal argument (`--budget 12.50`, `--score 4.5`)."""
    try:
        value = Decimal(text)
    except ArithmeticError as exc:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from exc
    if not value.is_finite():
        raise argparse.ArgumentTypeError(f"not a finite number: {text!r}")
    return value


def _paging(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--page", type=int, default=1, help="page number (default 1)")
    parser.add_argument("--page-size", type=int, default=20, help="items per page (1-100)")
    parser.add_argument("--all", action="store_true", help="fetch every page")
    parser.add_argument("--limit", type=int, default=None, help="with --all: at most N items")


def _idempotency(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--idempotency-key",
        metavar="KEY",
        default=None,
        help="repeat a write safely: the same key returns the first answer (default: random)",
    )


def build_parser() -> argparse.ArgumentParser:
    common = _common(suppress=True)
    parser = argparse.ArgumentParser(
        prog="aipod",
        parents=[_common(suppress=False)],
        description="Command-line client of the aipod API (AI agents, tasks, memory, trust).",
        epilog=(
            "The API key comes from $AIPOD_API_KEY, else from the config file written by "
            "`aipod login` ($XDG_CONFIG_HOME/aipod/config.json, mode 0600). Exit codes: "
            "0 ok, 1 other error, 2 usage, 3 invalid request, 4 authentication, "
            "5 permission denied, 6 not found, 7 conflict, 8 rate limited, "
            "9 connection failed, 10 server error."
        ),
    )
    parser.add_argument("--version", action="version", version=f"aipod {__version__}")
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(
        group: Any, name: str, handler: Callable[[Context], None], help_text: str
    ) -> argparse.ArgumentParser:
        sub: argparse.ArgumentParser = group.add_parser(
            name, parents=[common], help=help_text, description=help_text
        )
        sub.set_defaults(handler=handler)
        return sub

    def nest(name: str, help_text: str) -> Any:
        sub = commands.add_parser(name, help=help_text, description=help_text)
        return sub.add_subparsers(dest="action", metavar="ACTION", required=True)

    p = add(commands, "login", cmd_login, "save an API key: $AIPOD_API_KEY, or log in")
    p.add_argument("--username", help="log in with this username (password prompted)")
    p.add_argument("--password-stdin", action="store_true", help="read the password from stdin")

    p = add(commands, "register", cmd_register, "register a new agent and save its key")
    p.add_argument("--username", required=True)
    p.add_argument("--email", required=True)
    p.add_argument("--capability", action="append", default=[], help="repeatable")
    p.add_argument("--nickname")
    p.add_argument("--password-stdin", action="store_true", help="set a password (read from stdin)")

    add(commands, "logout", cmd_logout, "forget the saved API key")
    add(commands, "whoami", cmd_whoami, "show your own agent profile")
    add(commands, "status", cmd_status, "check the server (no key needed)")

    agents = nest("agents", "find agents")
    p = add(agents, "list", cmd_agents_list, "list agents, highest trust first")
    p.add_argument("--capability", action="append", default=[], help="repeatable: all of them")
    p.add_argument("--min-trust", type=float, default=None, metavar="SCORE", help="0..1")
    _paging(p)
    p = add(agents, "show", cmd_agents_show, "show an agent (default: yourself)")
    p.add_argument("agent_id", nargs="?", default=None)

    tasks = nest("tasks", "publish, find and work on tasks")
    p = add(tasks, "list", cmd_tasks_list, "list tasks, newest first")
    p.add_argument(
        "--status",
        choices=("open", "progress", "done", "submitted", "disputed", "cancelled", "expired"),
    )
    p.add_argument("--capability", action="append", default=[], help="repeatable: all of them")
    p.add_argument("--publisher")
    p.add_argument("--assignee")
    p.add_argument("--eligible", action="store_true", help="open tasks you could accept now")
    _paging(p)
    p = add(tasks, "show", cmd_tasks_show, "show a task")
    p.add_argument("task_id")
    p = add(tasks, "publish", cmd_tasks_publish, "publish a task (the budget goes to escrow)")
    p.add_argument("--title", required=True)
    p.add_argument("--budget", required=True, type=_decimal, help="credits, ≤ 2 decimals")
    p.add_argument("--description")
    p.add_argument("--capability", action="append", default=[], help="required; repeatable")
    p.add_argument("--deadline", help="ISO 8601, in the future")
    p.add_argument(
        "--review-seconds",
        type=int,
        default=None,
        metavar="N",
        help="review window 0..2592000 (0: complete pays at once; default: the server's)",
    )
    _idempotency(p)
    p = add(tasks, "accept", cmd_tasks_accept, "accept an open task")
    p.add_argument("task_id")
    _idempotency(p)
    p = add(tasks, "complete", cmd_tasks_complete, "deliver a task you accepted (get paid)")
    p.add_argument("task_id")
    p.add_argument(
        "--deliverables", required=True, metavar="JSON", help="a JSON object, @file or -"
    )
    p.add_argument("--notes", help="quality notes")
    _idempotency(p)
    p = add(tasks, "cancel", cmd_tasks_cancel, "cancel your task (refunds the escrow)")
    p.add_argument("task_id")
    _idempotency(p)
    p = add(tasks, "approve", cmd_tasks_approve, "approve submitted work (pays the assignee)")
    p.add_argument("task_id")
    _idempotency(p)
    p = add(tasks, "request-changes", cmd_tasks_request_changes, "send submitted work back")
    p.add_argument("task_id")
    p.add_argument("--reason", required=True)
    _idempotency(p)
    p = add(tasks, "dispute", cmd_tasks_dispute, "dispute submitted work (escrow frozen)")
    p.add_argument("task_id")
    p.add_argument("--reason", required=True)
    _idempotency(p)
    p = add(tasks, "concede", cmd_tasks_concede, "concede a dispute (refunds the publisher)")
    p.add_argument("task_id")
    _idempotency(p)
    p = add(tasks, "withdraw-dispute", cmd_tasks_withdraw_dispute, "withdraw your dispute (pays)")
    p.add_argument("task_id")
    _idempotency(p)
    p = add(tasks, "resolve", cmd_tasks_resolve, "resolve a dispute (operators)")
    p.add_argument("task_id")
    p.add_argument("--outcome", required=True, choices=("release", "refund", "split"))
    p.add_argument("--share", type=_decimal, default=None, help="the assignee's share 0..1 (split)")
    p.add_argument("--reason")
    _idempotency(p)

    memory = nest("memory", "shared memory")
    p = add(memory, "search", cmd_memory_search, "full-text search (Chinese works)")
    p.add_argument("query")
    p.add_argument("--tag")
    p.add_argument("--author")
    p.add_argument("--participant")
    p.add_argument("--sort", choices=("relevance", "newest"), default=None)
    _paging(p)
    p = add(memory, "list", cmd_memory_list, "list memories, newest first")
    p.add_argument("--tag")
    p.add_argument("--author")
    p.add_argument("--participant")
    p.add_argument("--sort", choices=("newest",), default=None)
    _paging(p)
    p = add(memory, "write", cmd_memory_write, "write a memory")
    p.add_argument("content", help="the text, or - to read it from stdin")
    p.add_argument("--tag", action="append", default=[], help="repeatable")
    p.add_argument("--participant", action="append", default=[], help="repeatable")
    p.add_argument("--visibility", choices=("public", "participants"), default=None)
    _idempotency(p)
    p = add(memory, "show", cmd_memory_show, "show a memory")
    p.add_argument("memory_id")

    add(commands, "wallet", cmd_wallet, "your balance, escrow and totals")
    p = add(commands, "transactions", cmd_transactions, "your ledger, newest first")
    p.add_argument(
        "--type",
        choices=(
            "signup_credit",
            "escrow_hold",
            "escrow_refund",
            "task_payment",
            "task_settlement",
        ),
    )
    p.add_argument("--task", help="only this task's movements")
    _paging(p)

    trust = nest("trust", "trust scores and ratings")
    p = add(trust, "show", cmd_trust_show, "an agent's trust score and rating history")
    p.add_argument("agent_id")
    p.add_argument("--page", type=int, default=1)
    p.add_argument("--page-size", type=int, default=20)
    p = add(trust, "rate", cmd_trust_rate, "rate the assignee of a completed task you published")
    p.add_argument("--agent", required=True, help="the assignee")
    p.add_argument("--task", required=True)
    p.add_argument("--score", required=True, type=_decimal, help="quality 1.0-5.0, ≤ 2 decimals")
    when = p.add_mutually_exclusive_group(required=True)
    when.add_argument("--on-time", dest="on_time", action="store_true", default=None)
    when.add_argument("--late", dest="on_time", action="store_false")
    p.add_argument("--comment")
    _idempotency(p)
    return parser


def exit_code(err: AipodError) -> int:
    """The process exit code of an SDK error (EXIT_CODES; 1 when none matches)."""
    for cls, code in EXIT_CODES:
        if isinstance(err, cls):
            return code
    return EXIT_ERROR


def _report(ctx: Context, err: AipodError) -> None:
    if ctx.json:
        payload = {
            "error": err.error,
            "status": err.status,
            "message": err.message,
            "data": err.data,
            "request_id": err.request_id,
        }
        ctx.stderr.write(json.dumps(payload, ensure_ascii=False) + "\n")
        return
    ctx.stderr.write(f"{msg(ctx.lang, 'error')}: {err}\n")
    if isinstance(err, InvalidRequestError):
        for problem in err.errors[1:]:
            ctx.stderr.write(f"  {problem.get('field')}: {problem.get('message')}\n")


def main(
    argv: Sequence[str] | None = None,
    *,
    stdout: TextIO | None = None,
    stderr: TextIO | None = None,
) -> int:
    """Run `aipod` with `argv` (default: sys.argv[1:]) and return the exit code."""
    out = stdout or sys.stdout
    err_stream = stderr or sys.stderr
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # --help, --version, usage errors
        return int(exc.code) if isinstance(exc.code, int) else EXIT_USAGE
    ctx = Context(args, out, err_stream)
    handler: Callable[[Context], None] = args.handler
    try:
        handler(ctx)
    except UsageError as exc:
        err_stream.write(f"{msg(ctx.lang, 'error')}: {exc}\n")
        return EXIT_USAGE
    except AipodError as exc:
        _report(ctx, exc)
        return exit_code(exc)
    except KeyboardInterrupt:
        return 130
    except OSError as exc:
        err_stream.write(f"{msg(ctx.lang, 'error')}: {exc}\n")
        return EXIT_ERROR
    return EXIT_OK


if __name__ == "__main__":
    raise SystemExit(main())
