"""SSRF rules: what a webhook URL may name, at creation and at delivery time."""

from __future__ import annotations

import socket
from typing import Any

import pytest
from webhook_receiver import Receiver, Reply

from aipod_api.webhooks import sender

REFUSED_ALWAYS = [
    "http://169.254.169.254/latest/meta-data",  # cloud metadata (link-local)
    "https://169.254.169.254/",
    "https://[fe80::1]/",
    "https://0.0.0.0/",
    "https://224.0.0.1/",  # multicast
    "https://[ff02::1]/",
    "https://192.0.2.1/",  # documentation
    "https://240.0.0.1/",  # reserved
    "https://[::ffff:169.254.169.254]/",
]
PRIVATE = [
    "https://127.0.0.1/",
    "https://127.1/",  # short form
    "https://2130706433/",  # decimal
    "https://0177.0.0.1/",  # octal
    "https://0x7f.0.0.1/",  # hex
    "https://[::1]/",
    "https://[::ffff:127.0.0.1]/",  # IPv4-mapped IPv6
    "https://[::ffff:7f00:1]/",
    "https://10.1.2.3/",
    "https://172.16.0.1/",
    "https://192.168.1.1/",
    "https://[fd00::1]/",
    "https://localhost/",
    "https://LOCALHOST./x",
    "https://api.localhost/",
]


@pytest.mark.parametrize("url", REFUSED_ALWAYS)
@pytest.mark.parametrize("allow_private", [False, True])
def test_refused_always(url: str, allow_private: bool) -> None:
    with pytest.raises(sender.UrlRefused) as info:
        sender.check_url(url, allow_private=allow_private)
    plain_http = url.startswith("http:") and not allow_private
    assert info.value.reason == ("scheme" if plain_http else "forbidden_address")


@pytest.mark.parametrize("url", PRIVATE)
def test_private_refused_unless_allowed(url: str) -> None:
    with pytest.raises(sender.UrlRefused) as info:
        sender.check_url(url, allow_private=False)
    assert info.value.reason == "private_address"
    sender.check_url(url, allow_private=True)


@pytest.mark.parametrize(
    ("url", "reason"),
    [
        ("http://example.com/hook", "scheme"),
        ("ftp://example.com/", "scheme"),
        ("javascript:alert(1)", "scheme"),
        ("https://user:pw@example.com/", "credentials"),
        ("https://example.com@127.0.0.1/", "credentials"),
        ("https:///nohost", "malformed"),
        ("https://exa mple.com/", "malformed"),
        ("https://example.com:99999/", "malformed"),
        ("https://example.com/#frag", "malformed"),
        ("https://example.com/" + "a" * 2100, "malformed"),
    ],
)
def test_malformed_or_wrong_scheme(url: str, reason: str) -> None:
    with pytest.raises(sender.UrlRefused) as info:
        sender.check_url(url, allow_private=False)
    assert info.value.reason == reason


def test_http_only_to_private_addresses() -> None:
    sender.check_url("https://example.com/hook?x=1", allow_private=False)
    sender.check_url("http://127.0.0.1:8080/hook", allow_private=True)
    with pytest.raises(sender.UrlRefused) as info:
        sender.check_url("http://8.8.8.8/hook", allow_private=True)
    assert info.value.reason == "http_public"


def _fake_dns(monkeypatch: pytest.MonkeyPatch, answers: list[list[str]]) -> list[str]:
    """getaddrinfo answers `answers[i]` on its i-th call (a rebinding resolver)."""
    calls: list[str] = []
    real = socket.getaddrinfo

    def fake(host: str, port: Any, *args: Any, **kwargs: Any) -> list[Any]:
        if sender.literal_address(host) is not None:
            return real(host, port, *args, **kwargs)  # connecting to an address
        calls.append(host)
        addresses = answers[min(len(calls) - 1, len(answers) - 1)]
        family = socket.AF_INET
        return [(family, socket.SOCK_STREAM, 6, "", (a, port)) for a in addresses]

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return calls


def test_a_name_resolving_to_a_private_address_is_refused_at_delivery(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    receiver = Receiver()
    try:
        # Looks public at creation (a name), resolves to loopback when delivering.
        sender.check_url(f"https://hooks.example.com:{receiver.port}/", allow_private=False)
        _fake_dns(monkeypatch, [["127.0.0.1"]])
        outcome = sender.post(
            f"http://hooks.example.com:{receiver.port}/hook",
            b"{}",
            {},
            allow_private=False,
            connect_timeout_s=2,
            timeout_s=2,
        )
        assert outcome.status is None and outcome.error is not None
        assert "private_address" in outcome.error
        # One public and one private answer: refused too.
        _fake_dns(monkeypatch, [["93.184.216.34", "10.0.0.1"]])
        outcome = sender.post(
            "https://hooks.example.com/hook",
            b"{}",
            {},
            allow_private=False,
            connect_timeout_s=2,
            timeout_s=2,
        )
        assert outcome.error is not None and "private_address" in outcome.error
        assert receiver.snapshot() == []
    finally:
        receiver.close()


def test_connects_to_the_checked_address_with_the_host_name(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The address checked is the address connected to: the resolver is asked once per
    attempt (a second answer could not redirect the connection), and the request still
    names the host."""
    receiver = Receiver()
    try:
        calls = _fake_dns(monkeypatch, [["127.0.0.1"], ["169.254.169.254"]])
        outcome = sender.post(
            f"http://hooks.internal:{receiver.port}/hook",
            b'{"a":1}',
            {"webhook-id": "evt_1"},
            allow_private=True,
            connect_timeout_s=2,
            timeout_s=5,
        )
        assert outcome.ok, outcome
        assert calls == ["hooks.internal"]
        (got,) = receiver.snapshot()
        assert got.headers["host"] == f"hooks.internal:{receiver.port}"
        assert got.body == b'{"a":1}' and got.headers["webhook-id"] == "evt_1"
    finally:
        receiver.close()


def test_redirects_are_not_followed_and_errors_are_outcomes() -> None:
    receiver = Receiver(lambda _d, _n: Reply(302, {"Location": "http://169.254.169.254/"}))
    try:
        outcome = sender.post(
            receiver.url, b"{}", {}, allow_private=True, connect_timeout_s=2, timeout_s=5
        )
        assert outcome.status == 302 and not outcome.ok
        assert len(receiver.snapshot()) == 1
    finally:
        receiver.close()
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    outcome = sender.post(
        f"http://127.0.0.1:{port}/", b"{}", {}, allow_private=True, connect_timeout_s=2, timeout_s=5
    )
    assert outcome.status is None and outcome.error and "Refused" in outcome.error


def test_a_receiver_that_never_answers_is_cut_at_the_timeout() -> None:

    receiver = Receiver(lambda _d, _n: Reply(sleep_s=30))
    try:
        outcome = sender.post(
            receiver.url, b"{}", {}, allow_private=True, connect_timeout_s=2, timeout_s=0.5
        )
        assert outcome.status is None and outcome.error and "timeout" in outcome.error
    finally:
        receiver.close()


def test_retry_after_header_forms() -> None:
    assert sender.parse_retry_after("120", now=0) == 120
    assert sender.parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT", now=1445412470) == 10
    assert sender.parse_retry_after("soon", now=0) is None
    assert sender.parse_retry_after(None, now=0) is None
