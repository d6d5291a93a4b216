"""The `aipod` CLI: main(argv) against a live server, the console script as a
subprocess, tables (CJK width), the config file, exit codes."""

from __future__ import annotations

import io
import json
import os
import socket
import stat
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from helpers import DEMO_KEY, LiveServer

from aipod_api import cli
from aipod_api.sdk import ServerError


@dataclass
class Run:
    code: int
    out: str
    err: str

    @property
    def json(self) -> Any:
        return json.loads(self.out)


@pytest.fixture
def home(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    config_home = tmp_path / "xdg"
    monkeypatch.setenv("XDG_CONFIG_HOME", str(config_home))
    monkeypatch.delenv("AIPOD_API_KEY", raising=False)
    monkeypatch.delenv("AIPOD_BASE_URL", raising=False)
    return config_home


@pytest.fixture
def aipod(live: LiveServer, home: Path, monkeypatch: pytest.MonkeyPatch) -> Callable[..., Run]:
    def run(*argv: str, stdin: str = "", key: str | None = None, url: bool = True) -> Run:
        monkeypatch.setattr(sys, "stdin", io.StringIO(stdin))
        if key is None:
            monkeypatch.delenv("AIPOD_API_KEY", raising=False)
        else:
            monkeypatch.setenv("AIPOD_API_KEY", key)
        out, err = io.StringIO(), io.StringIO()
        args = [*argv, "--base-url", live.base_url] if url else list(argv)
        code = cli.main(args, stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    return run


def test_login_writes_a_private_config_and_commands_use_it(
    aipod: Callable[..., Run], home: Path, live: LiveServer
) -> None:
    r = aipod("whoami")
    assert r.code == 4 and "aipod login" in r.err
    r = aipod("login", "--username", "demo", "--password-stdin", stdin="demo\n")
    assert r.code == 0, r.err
    assert "demo" in r.out
    path = home / "aipod" / "config.json"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    saved = json.loads(path.read_text())
    assert saved["node_id"] == "demo" and saved["base_url"] == live.base_url
    assert saved["api_key"].startswith("fg_live_") and saved["api_key"] != DEMO_KEY
    # the saved base URL and key are used without flags
    r = aipod("whoami", "--json", url=False)
    assert r.code == 0 and r.json["agent_id"] == "demo"
    # AIPOD_API_KEY wins over the saved key
    other = live.api.register("cli_env_agent")
    r = aipod("--json", "whoami", key=other, url=False)
    assert r.json["agent_id"] == "cli_env_agent"
    # and `aipod login` with AIPOD_API_KEY set saves that key
    r = aipod("login", "--json", key=other)
    assert r.code == 0 and r.json["node_id"] == "cli_env_agent"
    assert json.loads(path.read_text())["api_key"] == other
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    r = aipod("logout")
    assert r.code == 0 and "api_key" not in json.loads(path.read_text())
    assert aipod("wallet", url=False).code == 4
    r = aipod("login", "--username", "demo", "--password-stdin", stdin="wrong-password\n")
    assert r.code == 4 and "invalid_credentials" in r.err


def test_agents_tables_and_json(aipod: Callable[..., Run]) -> None:
    r = aipod(
        "agents", "list", "--capability", "text_generation", "--min-trust", "0.9", key=DEMO_KEY
    )
    assert r.code == 0, r.err
    lines = r.out.splitlines()
    assert lines[0].split() == [
        "agent_id",
        "nickname",
        "trust_score",
        "tasks_completed",
        "capabilities",
    ]
    assert lines[2].startswith("ai_analyst_001") and "A股分析师" in lines[2]
    assert len([line for line in lines if line.startswith("ai_")]) == 1
    r = aipod("agents", "list", "--json", "--page-size", "2", key=DEMO_KEY)
    page = r.json
    assert page["page_size"] == 2 and page["has_more"] is True and len(page["items"]) == 2
    r = aipod("agents", "list", "--all", "--page-size", "2", "--json", key=DEMO_KEY)
    assert len(r.json) == page["total"]
    r = aipod("agents", "list", "--page-size", "2", key=DEMO_KEY)
    assert "--page 2" in r.out
    r = aipod("agents", "show", "ai_analyst_001", "--json", key=DEMO_KEY)
    assert r.json["agent_id"] == "ai_analyst_001"
    r = aipod("agents", "show", key=DEMO_KEY)
    assert "email" in r.out and "demo" in r.out
    r = aipod("agents", "show", "nobody_here", key=DEMO_KEY)
    assert r.code == 6 and "agent_not_found" in r.err


def test_tasks_memory_trust_wallet_end_to_end(aipod: Callable[..., Run], live: LiveServer) -> None:
    worker = live.api.register("cli_worker", capabilities=["stock_analysis"])
    deadline = (datetime.now(UTC) + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    r = aipod(
        "tasks",
        "publish",
        "--title",
        "A股每日复盘报告",
        "--budget",
        "12.50",
        "--capability",
        "stock_analysis",
        "--deadline",
        deadline,
        "--description",
        "对今日A股市场进行技术分析",
        "--json",
        key=DEMO_KEY,
    )
    assert r.code == 0, r.err
    task = r.json
    assert task["budget"] == 12.5 and task["required_capabilities"] == ["stock_analysis"]
    task_id = task["task_id"]
    r = aipod("tasks", "list", "--status", "open", "--publisher", "demo", key=DEMO_KEY)
    assert task_id in r.out and "12.50" in r.out and "A股每日复盘报告" in r.out
    r = aipod("tasks", "list", "--eligible", "--json", key=worker)
    assert task_id in [t["task_id"] for t in r.json["items"]]
    r = aipod("tasks", "accept", task_id, key=DEMO_KEY)
    assert r.code == 5 and "own_task" in r.err
    r = aipod("tasks", "accept", task_id, "--json", key=worker)
    assert r.code == 0 and r.json["status"] == "progress"
    r = aipod("tasks", "complete", task_id, "--deliverables", "not json", key=worker)
    assert r.code == 2 and "--deliverables" in r.err
    r = aipod(
        "tasks",
        "complete",
        task_id,
        "--deliverables",
        "-",
        "--notes",
        "好",
        stdin='{"report": "复盘报告内容"}',
        key=worker,
    )
    assert r.code == 0, r.err
    assert "done" in r.out and "复盘报告内容" in r.out
    r = aipod("tasks", "show", task_id, "--json", key=DEMO_KEY)
    assert r.json["status"] == "done" and r.json["quality_notes"] == "好"
    r = aipod("tasks", "accept", task_id, key=worker)
    assert r.code == 7 and "task_not_acceptable" in r.err

    r = aipod(
        "trust",
        "rate",
        "--agent",
        "cli_worker",
        "--task",
        task_id,
        "--score",
        "4.5",
        "--on-time",
        "--comment",
        "专业",
        "--json",
        key=DEMO_KEY,
    )
    assert r.code == 0, r.err
    assert r.json["rating"]["quality_score"] == 4.5 and r.json["rating"]["on_time"] is True
    r = aipod(
        "trust",
        "rate",
        "--agent",
        "cli_worker",
        "--task",
        task_id,
        "--score",
        "4",
        "--late",
        key=DEMO_KEY,
    )
    assert r.code == 7 and "already_rated" in r.err
    r = aipod("trust", "show", "cli_worker", key=DEMO_KEY)
    assert r.code == 0 and "ratings_count" in r.out and "专业" in r.out

    r = aipod("wallet", "--json", key=worker)
    assert r.json["balance"] == 1012.5
    r = aipod("wallet", key=worker)
    assert "1012.50" in r.out
    r = aipod("transactions", "--all", "--json", key=worker)
    assert [t["type"] for t in r.json] == ["task_payment", "signup_credit"]
    r = aipod("transactions", "--type", "escrow_hold", key=DEMO_KEY)
    assert "-12.50" in r.out and task_id in r.out

    r = aipod("tasks", "publish", "--title", "取消", "--budget", "1", "--json", key=DEMO_KEY)
    second = r.json["task_id"]
    r = aipod("tasks", "cancel", second, "--json", key=DEMO_KEY)
    assert r.json["status"] == "cancelled"
    r = aipod("tasks", "publish", "--title", "贵", "--budget", "100000", key=DEMO_KEY)
    assert r.code == 7 and "insufficient_funds" in r.err
    r = aipod("tasks", "publish", "--title", "x", "--budget", "1.234", key=DEMO_KEY)
    assert r.code == 3 and "budget" in r.err
    r = aipod("tasks", "publish", "--title", "x", "--budget", "lots", key=DEMO_KEY)
    assert r.code == 2

    r = aipod(
        "memory",
        "write",
        "2026年Q1新能源渗透率超过40%,比亚迪领先",
        "--tag",
        "新能源",
        "--participant",
        "cli_worker",
        "--json",
        key=DEMO_KEY,
    )
    assert r.code == 0, r.err
    memory_id = r.json["memory_id"]
    r = aipod("memory", "search", "渗透率", key=DEMO_KEY)
    assert memory_id in r.out and "渗透率" in r.out
    r = aipod("memory", "search", "渗透率", "--json", "--all", key=worker)
    assert memory_id in [m["memory_id"] for m in r.json]
    r = aipod("memory", "list", "--tag", "新能源", "--author", "demo", "--json", key=DEMO_KEY)
    assert [m["memory_id"] for m in r.json["items"]] == [memory_id]
    r = aipod("memory", "show", memory_id, key=worker)
    assert "比亚迪" in r.out
    r = aipod("memory", "write", "-", "--json", stdin="从标准输入写入", key=DEMO_KEY)
    assert r.json["content"] == "从标准输入写入"


def test_errors_as_json_and_in_english(aipod: Callable[..., Run]) -> None:
    r = aipod("tasks", "show", "task_999", "--json", key=DEMO_KEY)
    assert r.code == 6 and r.out == ""
    problem = json.loads(r.err)
    assert problem["error"] == "task_not_found" and problem["status"] == 404
    assert problem["request_id"] and problem["message"] == "任务不存在: task_999"
    r = aipod("--lang", "en", "tasks", "show", "task_999", key=DEMO_KEY)
    assert r.err.startswith("error: 404 Task not found: task_999 [task_not_found]")
    r = aipod("tasks", "show", "task_999", key=DEMO_KEY)
    assert r.err.startswith("错误: 404 任务不存在")
    r = aipod("wallet", key="fg_live_" + "x" * 32)
    assert r.code == 4 and "invalid_api_key" in r.err
    r = aipod("--lang", "en", "wallet")
    assert r.code == 4 and "No API key" in r.err
    r = aipod("tasks", "nonsense", key=DEMO_KEY)
    assert r.code == 2


def test_connection_and_rate_limit_exit_codes(
    home: Path, start_server: Callable[..., LiveServer], monkeypatch: pytest.MonkeyPatch
) -> None:
    with socket.create_server(("127.0.0.1", 0)) as probe:
        port = probe.getsockname()[1]
    monkeypatch.setenv("AIPOD_API_KEY", DEMO_KEY)
    err = io.StringIO()
    code = cli.main(["wallet", "--base-url", f"http://127.0.0.1:{port}"], stderr=err)
    assert code == 9 and "127.0.0.1" in err.getvalue()

    server = start_server(fast_limits=False, env={"AIPOD_RATE_LIMIT": "2/hour"})
    key = server.api.register("cli_limited")
    monkeypatch.setenv("AIPOD_API_KEY", key)
    codes = [
        cli.main(
            ["wallet", "--base-url", server.base_url, "--json"], stdout=io.StringIO(), stderr=err
        )
        for _ in range(3)
    ]
    assert codes == [0, 0, 8] and '"rate_limited"' in err.getvalue()


def test_exit_codes_by_error_class() -> None:
    from aipod_api.sdk import errors

    assert cli.exit_code(ServerError("x", status=500)) == 10
    assert cli.exit_code(errors.TaskStateError("x")) == 7
    assert cli.exit_code(errors.InsufficientFunds("x")) == 7
    assert cli.exit_code(errors.IdempotencyError("x")) == 7
    assert cli.exit_code(errors.InvalidRequestError("x")) == 3
    assert cli.exit_code(errors.RateLimitError("x")) == 8
    assert cli.exit_code(errors.APIConnectionError("x")) == 9
    assert cli.exit_code(errors.AipodError("x")) == 1
    codes = [code for _, code in cli.EXIT_CODES]
    assert set(codes) == set(range(3, 11))


def test_tables_align_by_display_width() -> None:
    rows = [
        {"id": "a", "name": "A股分析师", "n": 1},
        {"id": "bbbb", "name": "abc", "n": 12345},
        {"id": "c", "name": "ｆｕｌｌ－ｗｉｄｔｈ", "n": 3},
        {"id": "d", "name": "e\u0301te\u0301", "n": None},
        {"id": "e", "name": "很长的名字" * 10, "n": 7},
    ]
    table = cli.render_table(rows, [("id", "text", 10), ("name", "text", 12), ("n", "number", 6)])
    lines = table.splitlines()
    assert lines[0].split() == ["id", "name", "n"]
    # every row's last column ends at the same display column; wide characters count 2
    ends = {cli.text_width(line) for line in lines}
    assert len(ends) == 1, table
    assert cli.text_width("A股分析师") == 9 and cli.text_width("ｆｕｌｌ") == 8
    assert cli.text_width("e\u0301") == 1
    long_cell = lines[-1]
    assert "…" in long_cell and cli.text_width(cli.truncate("很长的名字" * 10, 12)) <= 12
    assert cli.truncate("短", 12) == "短"
    assert cli.money(12.5) == "12.50" and cli.money(500) == "500.00"
    assert cli.money(999999999.99) == "999999999.99" and cli.cell(None) == "-"
    assert cli.cell("line\nbreak") == "line break"


def test_console_script_runs(live: LiveServer, tmp_path: Path) -> None:
    exe = Path(sys.executable).parent / "aipod"
    assert exe.exists(), "pip install -e . installs the aipod console script"
    env = {
        **os.environ,
        "XDG_CONFIG_HOME": str(tmp_path),
        "AIPOD_API_KEY": DEMO_KEY,
        "AIPOD_BASE_URL": live.base_url,
    }
    out = subprocess.run(
        [str(exe), "wallet", "--json"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 0, out.stderr
    assert json.loads(out.stdout)["agent_id"] == "demo"
    out = subprocess.run(
        [str(exe), "tasks", "show", "task_999"], env=env, capture_output=True, text=True, timeout=60
    )
    assert out.returncode == 6 and "task_not_found" in out.stderr
    out = subprocess.run(
        [sys.executable, "-m", "aipod_api.cli", "--version"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert out.returncode == 0 and out.stdout.startswith("aipod ")
    out = subprocess.run([str(exe), "--help"], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0 and "Exit codes" in out.stdout


def test_tasks_review_dispute_and_resolve(
    start_server: Callable[..., LiveServer], home: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = start_server(env={"AIPOD_OPERATORS": "cli_judge"})

    def run(*argv: str, key: str) -> Run:
        monkeypatch.setenv("AIPOD_API_KEY", key)
        out, err = io.StringIO(), io.StringIO()
        code = cli.main([*argv, "--base-url", server.base_url], stdout=out, stderr=err)
        return Run(code, out.getvalue(), err.getvalue())

    pub, worker = server.api.register("cli_pub"), server.api.register("cli_rv_worker")
    judge = server.api.register("cli_judge")
    r = run(
        "tasks", "publish", "--title", "审阅", "--budget", "80", "--review-seconds", "600",
        "--json", key=pub,
    )  # fmt: skip
    assert r.code == 0, r.err
    task_id = r.json["task_id"]
    assert r.json["review_seconds"] == 600
    assert run("tasks", "accept", task_id, key=worker).code == 0
    r = run("tasks", "complete", task_id, "--deliverables", '{"v": 1}', "--json", key=worker)
    assert r.code == 0 and r.json["status"] == "submitted", r.err
    r = run("tasks", "request-changes", task_id, "--reason", "表格缺一列", "--json", key=pub)
    assert r.code == 0 and r.json["status"] == "progress", r.err
    assert run("tasks", "complete", task_id, "--deliverables", "{}", key=worker).code == 0
    r = run("tasks", "approve", task_id, key=worker)
    assert r.code == 5 and "not_publisher" in r.err
    r = run("tasks", "dispute", task_id, "--reason", "还是不对", "--json", key=pub)
    assert r.code == 0 and r.json["status"] == "disputed", r.err
    r = run("tasks", "resolve", task_id, "--outcome", "split", "--share", "0.25", key=pub)
    assert r.code == 5 and "not_operator" in r.err
    r = run(
        "tasks", "resolve", task_id, "--outcome", "split", "--share", "0.25", "--json",
        key=judge,
    )  # fmt: skip
    assert r.code == 0 and r.json["status"] == "done" and r.json["payout"] == 20, r.err
    r = run("tasks", "show", task_id, key=pub)
    assert r.code == 0 and "history:" in r.out
    assert "request_changes" in r.out and "表格缺一列" in r.out and "by cli_judge" in r.out
    r = run("tasks", "concede", task_id, key=worker)
    assert r.code != 0 and "task_not_disputed" in r.err
    r = run("agents", "show", "cli_pub", "--json", key=worker)
    assert r.json["publisher_record"]["disputes_opened"] == 1
