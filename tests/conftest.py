"""Every test runs offline: a connection to anything but this machine fails the test.

Standard library only: this file is loaded by the Rasa side's tests (Python 3.10) as well as
the gateway's (3.11). Loopback (127.0.0.0/8, ::1, localhost), the unspecified address and
unix sockets stay open: the fakes, PostgreSQL and Redis all listen there. Anything else is
refused with :class:`NetworkBlocked` (an OSError, so the code under test takes its ordinary
"unreachable" path), and the attempt is recorded, so the test fails at its end even if that
code swallowed the error.
"""

from __future__ import annotations

import ipaddress
import socket
import threading
from collections.abc import Iterator
from typing import Any

import pytest

__all__ = ["NetworkBlocked", "blocked_network"]

LOOPBACK_NAMES = {"localhost", "localhost.localdomain", "ip6-localhost", "ip6-loopback"}

_real_connect = socket.socket.connect
_real_connect_ex = socket.socket.connect_ex
_real_getaddrinfo = socket.getaddrinfo
_real_create_connection = socket.create_connection
_attempts: list[str] = []
_lock = threading.Lock()


class NetworkBlocked(OSError):
    """A test tried to reach a host that is not this machine."""


def _is_local(host: Any) -> bool:
    """True for loopback names and addresses, the unspecified address, and no host at all."""
    if host is None:
        return True
    if isinstance(host, (bytes, bytearray)):
        host = bytes(host).decode("ascii", "replace")
    name = str(host).strip("[]").lower().rstrip(".")
    if name in ("", *LOOPBACK_NAMES) or name.endswith(".localhost"):
        return True
    try:
        address = ipaddress.ip_address(name.split("%", 1)[0])
    except ValueError:
        return False  # a name other than localhost: resolving it is already the network
    mapped = getattr(address, "ipv4_mapped", None)
    if mapped is not None:
        address = mapped
    return address.is_loopback or address.is_unspecified


def _refuse(host: Any, port: Any) -> NetworkBlocked:
    where = f"{host}:{port}"
    with _lock:
        _attempts.append(where)
    return NetworkBlocked(f"tests run offline: refused to reach {where}")


def _check_address(sock: socket.socket, address: Any) -> None:
    inet = sock.family in (socket.AF_INET, socket.AF_INET6) and isinstance(address, tuple)
    if inet and not _is_local(address[0]):
        raise _refuse(address[0], address[1] if len(address) > 1 else "?")


def _connect(self: socket.socket, address: Any) -> None:
    _check_address(self, address)
    _real_connect(self, address)


def _connect_ex(self: socket.socket, address: Any) -> int:
    _check_address(self, address)
    return _real_connect_ex(self, address)


def _getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
    if not _is_local(host):
        raise _refuse(host, port)
    return _real_getaddrinfo(host, port, *args, **kwargs)


def _create_connection(address: Any, *args: Any, **kwargs: Any) -> socket.socket:
    if not _is_local(address[0]):
        raise _refuse(address[0], address[1])
    return _real_create_connection(address, *args, **kwargs)


socket.socket.connect = _connect  # type: ignore[method-assign]
socket.socket.connect_ex = _connect_ex  # type: ignore[method-assign]
socket.getaddrinfo = _getaddrinfo
socket.create_connection = _create_connection


@pytest.fixture(autouse=True)
def blocked_network() -> Iterator[list[str]]:
    """The hosts this test tried to reach; a test that expects some clears the list."""
    with _lock:
        _attempts.clear()
    yield _attempts
    with _lock:
        tried = list(_attempts)
        _attempts.clear()
    if tried:
        pytest.fail(f"the test tried to reach the network: {', '.join(tried)}", pytrace=False)
