"""User-facing messages in Chinese (default) and English (`Accept-Language: en`).

Framework-free: the catalogue and `message(key, english, **params)`, which takes the
language explicitly. The HTTP edge reads it from the request (`aipod_api/http/i18n.py`);
a service never localises (it raises a domain error with a key and its parameters).
"""

from __future__ import annotations

from typing import Any

# key -> (zh, en); both are str.format templates.
MESSAGES: dict[str, tuple[str, str]] = {
    "ok": ("操作成功", "OK"),
    "registered": ("注册成功", "Registered"),
    "logged_in": ("登录成功", "Logged in"),
    "created": ("创建成功", "Created"),
    "deleted": ("删除成功", "Deleted"),
    "updated": ("更新成功", "Updated"),
    # generic HTTP errors
    "bad_request": ("参数错误", "Bad request"),
    "validation_failed": ("参数错误: {detail}", "Invalid request: {detail}"),
    "missing_field": ("缺少必填字段: {field}", "Missing required field: {field}"),
    "unknown_field": ("不支持的字段: {field}", "Unknown field: {field}"),
    "invalid_field": ("字段 {field} 无效: {reason}", "Invalid field {field}: {reason}"),
    "invalid_json": ("请求体不是合法的 JSON", "The request body is not valid JSON"),
    "body_not_object": ("请求体必须是 JSON 对象", "The request body must be a JSON object"),
    "nul_in_string": (
        "字段 {field} 不能包含 U+0000 字符",
        "Field {field} must not contain the U+0000 character",
    ),
    "empty_update": ("请求体至少需要一个可更新字段", "The body must contain at least one field"),
    "unauthorized": ("未提供 API Key 或 Key 无效", "Missing or invalid API key"),
    "forbidden": ("权限不足,无权操作此资源", "You are not allowed to do this"),
    "not_found": ("资源不存在", "Not found"),
    "route_not_found": ("接口不存在: {path}", "No such endpoint: {path}"),
    "method_not_allowed": (
        "不支持的请求方法: {method}",
        "Method {method} is not allowed here",
    ),
    "conflict": ("资源冲突", "Conflict"),
    "too_large": ("请求体过大(上限 {limit} 字节)", "Request body too large (limit {limit} bytes)"),
    "body_incomplete": (
        "请求体不完整或分块格式错误",
        "The request body is incomplete or its chunked framing is broken",
    ),
    "body_timeout": (
        "请求体未在 {seconds} 秒内发送完整",
        "The request body did not arrive within {seconds} s",
    ),
    "rate_limited": (
        "请求过于频繁,请 {retry_after} 秒后重试",
        "Too many requests; retry in {retry_after} s",
    ),
    "too_many_in_flight": (
        "并发请求过多(上限 {limit}),请稍后重试",
        "Too many concurrent requests (limit {limit}); retry shortly",
    ),
    "login_throttled": (
        "登录失败次数过多,请 {retry_after} 秒后重试",
        "Too many failed logins; retry in {retry_after} s",
    ),
    "internal_error": (
        "服务器内部错误 (请求 ID {request_id})",
        "Internal server error (request id {request_id})",
    ),
    "unavailable": ("服务暂不可用", "Service unavailable"),
    "http_error": ("请求错误", "Request error"),
    # idempotency keys (core/idempotency.py)
    "invalid_idempotency_key": (
        "{field} 必须是 1–{max_length} 个可打印 ASCII 字符",
        "{field} must be 1–{max_length} printable ASCII characters",
    ),
    "idempotency_key_reused": (
        "该 Idempotency-Key 已用于另一个请求({method} {path}),新请求请使用新的 Key",
        "This Idempotency-Key was already used for another request ({method} {path}); "
        "use a new key for a new request",
    ),
    "idempotency_key_in_use": (
        "使用该 Idempotency-Key 的请求仍在处理中,请稍后重试",
        "A request with this Idempotency-Key is still being processed; retry shortly",
    ),
    "idempotency_key_secret_used": (
        "该 Idempotency-Key 的请求签发的 API Key 已被使用或撤销,重试不会再签发新的 Key",
        "The API key issued under this Idempotency-Key has been used or revoked since; "
        "a retry does not issue another",
    ),
    # auth
    "username_taken": ("用户名已存在", "Username already exists"),
    "email_taken": ("邮箱已被注册", "Email already registered"),
    "bad_credentials": ("用户名或密码错误", "Wrong username or password"),
    "key_not_found": ("API Key 不存在: {key_id}", "API key not found: {key_id}"),
    "last_key": ("不能撤销最后一个 API Key", "You cannot revoke your last API key"),
    # agents
    "agent_not_found": ("节点不存在: {agent_id}", "Agent not found: {agent_id}"),
    "not_owner": ("只能修改自己的节点信息", "You can only update your own agent"),
    # tasks / wallet / trust / memory (used by their domains)
    "task_not_found": ("任务不存在: {task_id}", "Task not found: {task_id}"),
    "insufficient_funds": ("余额不足", "Insufficient balance"),
    "illegal_transition": (
        "任务状态为 {status},不能{action}",
        "Task is {status}; cannot {action}",
    ),
    "memory_not_found": ("记忆不存在: {memory_id}", "Memory not found: {memory_id}"),
}


def register_messages(messages: dict[str, tuple[str, str]]) -> None:
    """Let a domain add its own message keys (zh, en) without editing this module."""
    for key, pair in messages.items():
        existing = MESSAGES.get(key)
        if existing is not None and existing != pair:
            raise ValueError(f"message key {key!r} already defined differently")
        MESSAGES[key] = pair


def english_header(header: str) -> bool:
    """Whether an `Accept-Language` value asks for English (its first language)."""
    if not header:
        return False
    first = header.split(",", 1)[0].split(";", 1)[0].strip().lower()
    return first.startswith("en")


def message(key: str, english: bool, **params: Any) -> str:
    """The message `key` in English or Chinese, formatted with `params`."""
    zh, en = MESSAGES.get(key, (key, key))
    template = en if english else zh
    try:
        return template.format(**params)
    except (KeyError, IndexError):
        return template
