"""The root conftest's guard: tests reach loopback only, and a test that tries more fails."""

from __future__ import annotations

import asyncio
import shutil
import socket
import subprocess
import sys
from pathlib import Path

import aiohttp
import pytest

ROOT_CONFTEST = Path(__file__).resolve().parents[1] / "conftest.py"
TEST_NET = "192.0.2.1"  # RFC 5737 TEST-NET-1: documentation only, never routed


def test_a_connection_outside_loopback_is_refused_and_recorded(blocked_network) -> None:
    with pytest.raises(OSError, match="offline"):
        socket.create_connection((TEST_NET, 80), timeout=0.1)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        with pytest.raises(OSError, match="offline"):
            sock.connect((TEST_NET, 443))
        with pytest.raises(OSError, match="offline"):
            sock.connect_ex((TEST_NET, 443))
    with pytest.raises(OSError, match="offline"):
        socket.getaddrinfo("example.com", 443)
    assert blocked_network == [
        f"{TEST_NET}:80",
        f"{TEST_NET}:443",
        f"{TEST_NET}:443",
        "example.com:443",
    ]
    blocked_network.clear()  # expected here; any other test would fail at its end


async def test_an_http_client_cannot_leave_the_machine(blocked_network) -> None:
    async with aiohttp.ClientSession() as session:
        with pytest.raises(aiohttp.ClientError):
            await session.get(f"http://{TEST_NET}:8080/", timeout=aiohttp.ClientTimeout(total=2))
    assert blocked_network == [f"{TEST_NET}:8080"]
    blocked_network.clear()


async def test_loopback_and_unix_sockets_stay_open(tmp_path: Path, blocked_network) -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(await reader.readline())
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    unix = await asyncio.start_unix_server(answer, str(tmp_path / "s.sock"))
    async with server, unix:
        for opened in (
            asyncio.open_connection("127.0.0.1", port),
            asyncio.open_connection("localhost", port),
            asyncio.open_unix_connection(str(tmp_path / "s.sock")),
        ):
            reader, writer = await opened
            writer.write(b"ping\n")
            assert await reader.readline() == b"ping\n"
            writer.close()
    assert blocked_network == []


def test_a_test_that_swallows_the_error_still_fails(tmp_path: Path) -> None:
    """Run pytest on a test that catches the refusal: the guard fails it anyway."""
    shutil.copy(ROOT_CONFTEST, tmp_path / "conftest.py")
    (tmp_path / "test_sneaky.py").write_text(
        "import socket\n\n"
        "def test_sneaky():\n"
        "    try:\n"
        f"        socket.create_connection(({TEST_NET!r}, 80), timeout=0.1)\n"
        "    except OSError:\n"
        "        pass\n"
    )
    run = subprocess.run(  # noqa: S603 (our own interpreter on our own file)
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(tmp_path)],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert run.returncode != 0
    assert f"the test tried to reach the network: {TEST_NET}:80" in run.stdout
