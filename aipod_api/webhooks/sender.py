"""One delivery attempt over HTTP, safe against server-side request forgery.

URL rules (`check_url`, at creation, and `resolve`, at every attempt):

- `https` only. `http` only when `AIPOD_WEBHOOK_ALLOW_PRIVATE=1`, and then only to
  loopback and private addresses (a receiver on the same machine or network).
- The host is resolved at delivery time and *every* address it resolves to is checked;
  the connection goes to the checked address itself (TLS still verifies the host name),
  so a DNS answer that changes between the check and the connection (rebinding) cannot
  redirect it. An IP literal in any form the resolver accepts (decimal `2130706433`,
  octal `0177.0.0.1`, hex, short `127.1`, IPv4-mapped IPv6 `::ffff:127.0.0.1`) is the
  address it denotes.
- Refused always: link-local (169.254.0.0/16 — cloud metadata —, fe80::/10),
  multicast, unspecified, reserved/documentation and other non-global ranges.
  Loopback and private (10/8, 172.16/12, 192.168/16, 100.64/10, fc00::/7) only with
  `AIPOD_WEBHOOK_ALLOW_PRIVATE=1`.
- Redirects are never followed (a 3xx is a failed attempt); the response body is not
  read beyond a small bound; connect and whole-attempt timeouts (a watchdog closes the
  socket at the deadline, so a receiver dripping a byte at a time cannot hold the
  attempt open).
"""

from __future__ import annotations

import contextlib
import http.client
import ipaddress
import socket
import ssl
import threading
import time
from dataclasses import dataclass
from urllib.parse import urlsplit

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

MAX_URL = 2048
MAX_ERROR = 300
BODY_READ_LIMIT = 4096
USER_AGENT = "aipod-webhooks/1"


class UrlRefused(ValueError):
    """The URL or the address it resolves to may not be called. `reason` is a key of
    REASONS (worded for users in the views' message catalogue)."""

    def __init__(self, reason: str, detail: str = "") -> None:
        super().__init__(f"{reason}: {detail}" if detail else reason)
        self.reason = reason
        self.detail = detail


REASONS = (
    "malformed",
    "scheme",
    "credentials",
    "http_public",
    "private_address",
    "forbidden_address",
    "unresolvable",
)


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str  # as written (lower-cased), without brackets
    port: int
    path: str  # path + query


def parse_url(url: str) -> Target:
    """The syntactic rules; no name resolution."""
    if not isinstance(url, str) or not url or len(url) > MAX_URL:
        raise UrlRefused("malformed")
    if any(ch.isspace() or ord(ch) < 0x21 or ord(ch) == 0x7F for ch in url):
        raise UrlRefused("malformed")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UrlRefused("malformed") from exc
    scheme = parts.scheme.lower()
    if scheme not in ("https", "http"):
        raise UrlRefused("scheme")
    if parts.username is not None or parts.password is not None or "@" in parts.netloc:
        raise UrlRefused("credentials")
    host = (parts.hostname or "").lower().rstrip(".")
    if not host:
        raise UrlRefused("malformed")
    try:
        host.encode("ascii")
    except UnicodeEncodeError:
        try:
            host = host.encode("idna").decode("ascii")
        except UnicodeError as exc:
            raise UrlRefused("malformed") from exc
    if parts.fragment:
        raise UrlRefused("malformed")
    path = parts.path or "/"
    if parts.query:
        path += "?" + parts.query
    return Target(scheme, host, port or (443 if scheme == "https" else 80), path)


def literal_address(host: str) -> IPAddress | None:
    """The address an IP-literal host denotes, in every spelling `inet_aton` accepts."""
    try:
        return ipaddress.ip_address(host)
    except ValueError:
        pass
    if all(c in "0123456789abcdefx." for c in host):
        try:
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def classify(address: IPAddress) -> str:
    """`public`, `private` (loopback or a private network) or `forbidden`."""
    if isinstance(address, ipaddress.IPv6Address):
        mapped = address.ipv4_mapped or address.sixtofour
        if mapped is not None:
            return classify(mapped)
        if address.teredo is not None:
            return "forbidden"
    if address.is_unspecified or address.is_multicast or address.is_link_local:
        return "forbidden"
    if address.is_loopback:
        return "private"
    if isinstance(address, ipaddress.IPv4Address) and address in _SHARED:
        return "private"
    if address.is_private:
        # Python's is_private also covers documentation and reserved ranges; only real
        # private networks count as private here.
        if any(address in net for net in _PRIVATE):
            return "private"
        return "forbidden"
    if address.is_global and not address.is_reserved:
        return "public"
    return "forbidden"


_SHARED = ipaddress.IPv4Network("100.64.0.0/10")
_PRIVATE = (
    ipaddress.IPv4Network("10.0.0.0/8"),
    ipaddress.IPv4Network("172.16.0.0/12"),
    ipaddress.IPv4Network("192.168.0.0/16"),
    ipaddress.IPv6Network("fc00::/7"),
)


def allowed(kind: str, *, scheme: str, allow_private: bool) -> str | None:
    """None when an address of this kind may be called over `scheme`, else the reason."""
    if kind == "forbidden":
        return "forbidden_address"
    if kind == "private":
        return None if allow_private else "private_address"
    return None if scheme == "https" else "http_public"


def check_url(url: str, *, allow_private: bool) -> Target:
    """The rules that need no network: at creation. A host name is checked again, with
    its addresses, at every attempt (`resolve`)."""
    target = parse_url(url)
    if target.scheme == "http" and not allow_private:
        raise UrlRefused("scheme")
    address = literal_address(target.host)
    if address is not None:
        reason = allowed(classify(address), scheme=target.scheme, allow_private=allow_private)
        if reason:
            raise UrlRefused(reason, str(address))
    elif not allow_private and (target.host == "localhost" or target.host.endswith(".localhost")):
        raise UrlRefused("private_address", target.host)
    return target


def resolve(target: Target, *, allow_private: bool) -> IPAddress:
    """The address to connect to: every address of the host must be allowed."""
    literal = literal_address(target.host)
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            infos = socket.getaddrinfo(target.host, target.port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            raise UrlRefused("unresolvable", target.host) from exc
        addresses = []
        for info in infos:
            text = str(info[4][0]).split("%", 1)[0]
            try:
                addresses.append(ipaddress.ip_address(text))
            except ValueError:
                continue
        if not addresses:
            raise UrlRefused("unresolvable", target.host)
    for address in addresses:
        reason = allowed(classify(address), scheme=target.scheme, allow_private=allow_private)
        if reason:
            raise UrlRefused(reason, str(address))
    first = addresses[0]
    if isinstance(first, ipaddress.IPv6Address) and first.ipv4_mapped is not None:
        return first.ipv4_mapped
    return first


@dataclass(frozen=True)
class Outcome:
    """What one attempt gave: an HTTP status (or None when none arrived), the time it
    took, a short error text, and the receiver's Retry-After in seconds if any."""

    status: int | None
    latency_ms: int
    error: str | None = None
    retry_after_s: float | None = None

    @property
    def ok(self) -> bool:
        return self.status is not None and 200 <= self.status < 300


class _PinnedHTTP(http.client.HTTPConnection):
    def __init__(self, host: str, port: int, *, address: str, timeout: float) -> None:
        super().__init__(host, port, timeout=timeout)
        self._address = address

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class _PinnedHTTPS(http.client.HTTPSConnection):
    def __init__(
        self, host: str, port: int, *, address: str, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(host, port, timeout=timeout, context=context)
        self._address = address
        self._tls = context

    def connect(self) -> None:
        sock = socket.create_connection((self._address, self.port), self.timeout)
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock = self._tls.wrap_socket(sock, server_hostname=self.host)


_TLS: ssl.SSLContext | None = None


def _tls_context() -> ssl.SSLContext:
    global _TLS
    if _TLS is None:
        _TLS = ssl.create_default_context()
    return _TLS


def parse_retry_after(value: str | None, *, now: float) -> float | None:
    """Seconds from a Retry-After header: delta-seconds or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(min(int(value), 10**9))
    from email.utils import parsedate_to_datetime

    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, when.timestamp() - now)


def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    allow_private: bool,
    connect_timeout_s: float,
    timeout_s: float,
) -> Outcome:
    """POST `body` once. Never raises for network trouble: the outcome says what
    happened."""
    started = time.monotonic()

    def took() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        target = parse_url(url)
        address = str(resolve(target, allow_private=allow_private))
    except UrlRefused as exc:
        return Outcome(None, took(), f"refused: {exc}"[:MAX_ERROR])
    conn: http.client.HTTPConnection
    if target.scheme == "https":
        conn = _PinnedHTTPS(
            target.host,
            target.port,
            address=address,
            timeout=connect_timeout_s,
            context=_tls_context(),
        )
    else:
        conn = _PinnedHTTP(target.host, target.port, address=address, timeout=connect_timeout_s)
    expired = threading.Event()

    def watchdog() -> None:
        expired.set()
        sock = conn.sock
        if sock is not None:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    timer = threading.Timer(timeout_s, watchdog)
    timer.daemon = True
    timer.start()
    try:
        conn.connect()
        if conn.sock is not None:
            conn.sock.settimeout(max(0.001, timeout_s - (time.monotonic() - started)))
        all_headers = {
            "Content-Type": "application/json",
            "User-Agent": USER_AGENT,
            "Content-Length": str(len(body)),
            **headers,
        }
        conn.request("POST", target.path, body=body, headers=all_headers)
        response = conn.getresponse()
        response.read(BODY_READ_LIMIT)
        retry_after = None
        if response.status in (429, 503) or 300 <= response.status < 400:
            retry_after = parse_retry_after(response.getheader("Retry-After"), now=time.time())
        error = None if 200 <= response.status < 300 else f"HTTP {response.status}"
        return Outcome(response.status, took(), error, retry_after)
    except (OSError, http.client.HTTPException, ValueError) as exc:
        if expired.is_set():
            return Outcome(None, took(), f"timeout after {timeout_s:g} s")
        if isinstance(exc, TimeoutError | socket.timeout):
            return Outcome(None, took(), "timeout")
        text = f"{type(exc).__name__}: {exc}" if str(exc) else type(exc).__name__
        return Outcome(None, took(), text[:MAX_ERROR])
    finally:
        timer.cancel()
        conn.close()
