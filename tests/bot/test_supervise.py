"""scripts/supervise.py: readiness waits, banner, clean shutdown of every child on Ctrl-C."""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_starts_waits_prints_address_and_stops_children_on_sigint(tmp_path: Path) -> None:
    ports = [free_port(), free_port()]
    services = [
        {
            "name": f"svc{i}",
            "ready_url": f"http://127.0.0.1:{p}/",
            "cmd": [
                sys.executable,
                "-m",
                "http.server",
                str(p),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(tmp_path),
            ],
        }
        for i, p in enumerate(ports)
    ]
    env = {**os.environ, "SUPERVISE_SERVICES": json.dumps(services), "GATEWAY_PORT": "8099"}
    proc = subprocess.Popen(  # noqa: S603
        [sys.executable, str(ROOT / "scripts" / "supervise.py")],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert proc.stdout is not None
    lines: list[str] = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        lines.append(line)
        if "Stop:" in line:
            break
    output = "".join(lines)
    assert "svc0 is ready" in output
    assert "svc1 is ready" in output
    assert "Web chat:       http://127.0.0.1:8099/chat" in output
    assert "make chat" in output
    pids = [int(line.split("pid ")[1].rstrip(")\n")) for line in lines if "(pid " in line]
    assert len(pids) == 2
    proc.send_signal(signal.SIGINT)
    rest, _ = proc.communicate(timeout=30)
    assert proc.returncode == 0
    assert "stopped svc1" in rest
    assert "stopped svc0" in rest
    assert rest.index("stopped svc1") < rest.index("stopped svc0")  # reverse order
    for pid in pids:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            continue
        raise AssertionError(f"child {pid} still running")


def load_supervise():

    spec = importlib.util.spec_from_file_location("supervise", ROOT / "scripts" / "supervise.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["supervise"] = module  # dataclasses look their module up
    spec.loader.exec_module(module)
    return module


def test_embedded_profile_runs_one_rasa_actions_and_the_gateway() -> None:
    supervise = load_supervise()
    services = supervise.build_services("embedded", {})
    assert [s.name for s in services] == ["actions", "rasa-1", "gateway"]
    rasa = services[1]
    assert rasa.cmd[1:] == [
        "run",
        "--enable-api",
        "--model",
        str(supervise.live_model({})),
        "--port",
        "5005",
    ]
    assert services[0].ready_url == "http://127.0.0.1:5055/health"
    assert rasa.ready_url == "http://127.0.0.1:5005/status"
    assert services[2].env["RASA_URLS"] == "http://127.0.0.1:5005"
    assert "GATEWAY_DATABASE_URL" not in services[2].env  # SQLite default
    # the action server answers from the gateway's live knowledge revision
    assert services[0].env == {
        "SP4ALL_KNOWLEDGE_URL": "http://127.0.0.1:8080/api/knowledge/v1/catalogue"
    }


def test_production_profile_two_rasa_on_postgres_and_redis() -> None:
    supervise = load_supervise()
    services = supervise.build_services("production", {"RASA_DB_NAME": "x"})
    assert [s.name for s in services] == ["actions", "rasa-1", "rasa-2", "gateway-1", "gateway-2"]
    for rasa in services[1:3]:
        assert "--endpoints" in rasa.cmd
        assert rasa.env["RASA_DB_NAME"] == "x"
        assert rasa.env["REDIS_HOST"] == "127.0.0.1"
    gateway = services[3].env
    assert gateway["RASA_URLS"] == "http://127.0.0.1:5005,http://127.0.0.1:5006"
    assert gateway["GATEWAY_DATABASE_URL"].startswith("postgresql+asyncpg://")


def test_production_profile_runs_gateway_processes_on_one_port_and_database() -> None:
    supervise = load_supervise()
    services = supervise.build_services("production", {})
    gateways = [s for s in services if s.front]
    assert [s.name for s in gateways] == ["gateway-1", "gateway-2"]  # default 2
    assert services[-2:] == gateways  # started last, once Rasa and the actions are ready
    three = [
        s for s in supervise.build_services("production", {"GATEWAY_PROCESSES": "3"}) if s.front
    ]
    assert len(three) == 3
    for gateway in three:
        assert gateway.cmd[-2:] == ["serve", "--reuse-port"]
        assert gateway.env["GATEWAY_PORT"] == three[0].env["GATEWAY_PORT"]
        assert gateway.env["GATEWAY_DATABASE_URL"] == three[0].env["GATEWAY_DATABASE_URL"]
        assert gateway.env["GATEWAY_AUTO_MIGRATE"] == "0"  # migrated once, before them


def test_embedded_profile_keeps_one_gateway_whatever_gateway_processes_says() -> None:
    supervise = load_supervise()
    services = supervise.build_services("embedded", {"GATEWAY_PROCESSES": "3"})
    gateways = [s for s in services if s.front]
    assert [s.name for s in gateways] == ["gateway"]
    assert "--reuse-port" not in gateways[0].cmd  # SQLite: one writer


def test_several_front_services_start_together_and_stop_together(tmp_path: Path) -> None:
    """Two "gateways" (the front) after a back end; Ctrl-C stops both fronts, then it."""
    supervise = load_supervise()
    ports = [free_port() for _ in range(3)]
    services = [
        supervise.Service(
            name,
            [
                sys.executable,
                "-m",
                "http.server",
                str(p),
                "--bind",
                "127.0.0.1",
                "--directory",
                str(tmp_path),
            ],
            f"http://127.0.0.1:{p}/",
            front=name.startswith("gateway"),
        )
        for name, p in zip(["backend", "gateway-1", "gateway-2"], ports, strict=True)
    ]
    supervisor = supervise.Supervisor(services)
    try:
        supervisor.start_all()
        assert all(s.process.poll() is None for s in services)
    finally:
        started = time.monotonic()
        supervisor.stop_all()
        took = time.monotonic() - started
    assert all(s.process.poll() is not None for s in services)
    assert took < supervise.STOP_TIMEOUT_S  # SIGTERM ends http.server at once


def test_cli_refuses_reuse_port_on_sqlite(tmp_path: Path) -> None:
    env = {**os.environ, "GATEWAY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path / 'g.db'}"}
    result = subprocess.run(
        [sys.executable, "-m", "bot", "serve", "--reuse-port"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 2
    assert "needs PostgreSQL" in result.stderr


def test_rasa_starts_on_the_activated_model_until_make_train_replaces_it(tmp_path: Path) -> None:
    supervise = load_supervise()
    trained = tmp_path / "sp4all.tar.gz"
    active = tmp_path / "ACTIVE"
    candidate = tmp_path / "registry" / "candidate-3.tar.gz"
    candidate.parent.mkdir()
    candidate.write_bytes(b"model")
    assert supervise.live_model({}, active, trained) == trained  # nothing activated yet
    active.write_text(f"{candidate}\n", encoding="utf-8")
    assert supervise.live_model({}, active, trained) == candidate
    explicit = {"SP4ALL_MODEL": str(tmp_path / "other.tar.gz")}
    assert supervise.live_model(explicit, active, trained) == tmp_path / "other.tar.gz"
    candidate.unlink()  # an activated model that is gone is not started
    assert supervise.live_model({}, active, trained) == trained
