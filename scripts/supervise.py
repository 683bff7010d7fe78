"""Run Rasa, the action server and the gateway together; stop them cleanly on Ctrl-C.

`make run` runs this with the gateway's Python. Profiles:
  embedded (default)  one Rasa (trackers in SQLite, endpoints.yml), gateway on SQLite (var/)
  production          SP4ALL_PROFILE=production: PostgreSQL tracker store and gateway
                      database, Redis lock store, RASA_INSTANCES Rasa processes (default 2),
                      the gateway routing each sender to one of them, and GATEWAY_PROCESSES
                      gateway processes (default 2) sharing one port (SO_REUSEPORT: the
                      kernel spreads the webhooks' connections), migrated once before they
                      start (see deploy/README.md)
The embedded profile runs one gateway: SQLite has one writer at a time, and the gateway's
queue and live console events are then in-process.
SUPERVISE_SERVICES may hold a JSON list of {name, cmd, ready_url} to run other processes.
The embedded profile also makes sure the agent console has an admin before the gateway
starts (`python -m bot agent ensure-admin`: a random password, written once to
var/console-admin.txt, readable by this user only).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from types import FrameType

ROOT = Path(__file__).resolve().parent.parent
RASA_BIN = ROOT / ".venv-rasa" / "bin" / "rasa"
TRAINED_MODEL = ROOT / "models" / "sp4all.tar.gz"  # what `make train` writes
# What the retraining tool activated last (bot/training writes it; `make train` removes it,
# since a model trained from the repository's data is newer than any activation).
ACTIVE_FILE = ROOT / "models" / "ACTIVE"
ACTIONS_PORT = 5055
RASA_FIRST_PORT = 5005
GATEWAY_PORT = int(os.environ.get("GATEWAY_PORT", "8080"))
READY_TIMEOUT_S = float(os.environ.get("SUPERVISE_READY_TIMEOUT", "180"))
STOP_TIMEOUT_S = 15.0
POLL_S = 0.5
PRODUCTION = "production"
ADMIN_FILE = ROOT / "var" / "console-admin.txt"
ENSURE_ADMIN_TIMEOUT_S = 120.0
PROD_ENDPOINTS = ROOT / "deploy" / "endpoints.production.yml"
PROD_GATEWAY_DB = "postgresql+asyncpg://postgres@127.0.0.1:5432/sp4all_gateway"
PROD_GATEWAY_PROCESSES = 2
MIGRATE_TIMEOUT_S = 120.0
# Defaults for the ${VARS} in deploy/endpoints.production.yml (this machine's services).
PROD_RASA_ENV = {
    "ACTION_SERVER_URL": f"http://127.0.0.1:{ACTIONS_PORT}/webhook",
    "RASA_DB_HOST": "127.0.0.1",
    "RASA_DB_NAME": "sp4all_rasa",
    "RASA_DB_USER": "postgres",
    "RASA_DB_PASSWORD": "",
    "REDIS_HOST": "127.0.0.1",
    "RASA_LOCK_PREFIX": "sp4all",
}


@dataclass
class Service:
    """One child process and the URL that answers 200 once it is ready."""

    name: str
    cmd: list[str]
    ready_url: str
    env: dict[str, str] = field(default_factory=dict)
    process: subprocess.Popen[bytes] | None = None
    front: bool = False  # started once every other service is ready (the gateways)


def is_ready(url: str) -> bool:
    """GET url answers 200."""
    try:
        with urllib.request.urlopen(url, timeout=2) as response:  # noqa: S310 (loopback)
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def live_model(
    env: dict[str, str], active_file: Path = ACTIVE_FILE, trained: Path = TRAINED_MODEL
) -> Path:
    """SP4ALL_MODEL if set, else the activated model (models/ACTIVE), else make train's."""
    if env.get("SP4ALL_MODEL"):
        return Path(env["SP4ALL_MODEL"])
    try:
        named = active_file.read_text(encoding="utf-8").strip()
    except OSError:
        named = ""
    if named and Path(named).is_file():
        return Path(named)
    return trained


def knowledge_env(env: dict[str, str]) -> dict[str, str]:
    """The action server answers from the gateway's live knowledge revision (issue #14):
    SP4ALL_KNOWLEDGE_URL (default: this gateway's catalogue) and SP4ALL_KNOWLEDGE_POLL_S."""
    url = env.get("SP4ALL_KNOWLEDGE_URL") or (
        f"http://127.0.0.1:{GATEWAY_PORT}/api/knowledge/v1/catalogue"
    )
    found = {"SP4ALL_KNOWLEDGE_URL": url}
    if env.get("SP4ALL_KNOWLEDGE_POLL_S"):
        found["SP4ALL_KNOWLEDGE_POLL_S"] = env["SP4ALL_KNOWLEDGE_POLL_S"]
    return found


def build_services(profile: str, env: dict[str, str]) -> list[Service]:
    """The processes of a profile, in start order (the gateways last)."""
    if env.get("SUPERVISE_SERVICES"):
        listed = [
            Service(s["name"], list(s["cmd"]), s["ready_url"])
            for s in json.loads(env["SUPERVISE_SERVICES"])
        ]
        if listed:
            listed[-1].front = True
        return listed
    instances = int(env.get("RASA_INSTANCES", "2")) if profile == PRODUCTION else 1
    rasa_env: dict[str, str] = {}
    if profile == PRODUCTION:
        rasa_env = {key: env.get(key, default) for key, default in PROD_RASA_ENV.items()}
    services = [
        Service(
            "actions",
            [str(RASA_BIN), "run", "actions", "--actions", "actions", "--port", str(ACTIONS_PORT)],
            f"http://127.0.0.1:{ACTIONS_PORT}/health",
            knowledge_env(env),
        )
    ]
    model = live_model(env)
    rasa_urls = []
    for i in range(instances):
        port = RASA_FIRST_PORT + i
        cmd = [str(RASA_BIN), "run", "--enable-api", "--model", str(model), "--port", str(port)]
        if profile == PRODUCTION:
            cmd += ["--endpoints", str(PROD_ENDPOINTS)]
        services.append(
            Service(f"rasa-{i + 1}", cmd, f"http://127.0.0.1:{port}/status", dict(rasa_env))
        )
        rasa_urls.append(f"http://127.0.0.1:{port}")
    gateway_env = {"RASA_URLS": ",".join(rasa_urls), "GATEWAY_PORT": str(GATEWAY_PORT)}
    return services + gateway_services(profile, env, gateway_env)


def gateway_processes(profile: str, env: dict[str, str]) -> int:
    """GATEWAY_PROCESSES in production (default 2); always 1 on SQLite (one writer)."""
    if profile != PRODUCTION:
        return 1
    count = int(env.get("GATEWAY_PROCESSES", str(PROD_GATEWAY_PROCESSES)))
    if count < 1:
        raise ValueError("GATEWAY_PROCESSES must be at least 1")
    return count


def gateway_services(
    profile: str, env: dict[str, str], gateway_env: dict[str, str]
) -> list[Service]:
    """One gateway, or in production several on one port and one database. The schema is
    migrated once beforehand (see migrate_gateway), so they do not race to migrate it."""
    count = gateway_processes(profile, env)
    cmd = [sys.executable, "-m", "bot", "serve"]
    if profile == PRODUCTION:
        cmd.append("--reuse-port")
        gateway_env = {
            **gateway_env,
            "GATEWAY_DATABASE_URL": env.get("GATEWAY_DATABASE_URL", PROD_GATEWAY_DB),
            "GATEWAY_AUTO_MIGRATE": "0",
        }
    ready = f"http://127.0.0.1:{GATEWAY_PORT}/healthz"
    if count == 1:
        return [Service("gateway", cmd, ready, gateway_env, front=True)]
    # One port: a /healthz may be answered by an older sibling; `watch` still sees one die.
    return [
        Service(f"gateway-{i + 1}", list(cmd), ready, dict(gateway_env), front=True)
        for i in range(count)
    ]


def migrate_gateway(env: dict[str, str]) -> bool:
    """Upgrade the gateway's database once, before several processes start on it."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "migrate"],
        cwd=ROOT,
        env={**os.environ, **env},
        capture_output=True,
        text=True,
        timeout=MIGRATE_TIMEOUT_S,
        check=False,
    )
    for line in (result.stdout + result.stderr).splitlines():
        print(f"[supervise] {line}", flush=True)
    return result.returncode == 0


def ensure_console_admin(env: dict[str, str]) -> bool:
    """Create the console's first admin if there is none (before the gateway starts, on
    the gateway's database); the password goes to ADMIN_FILE, printed once."""
    result = subprocess.run(
        [sys.executable, "-m", "bot", "agent", "ensure-admin"],
        cwd=ROOT,
        env={"GATEWAY_CONSOLE_ADMIN_FILE": str(ADMIN_FILE), **os.environ, **env},
        capture_output=True,
        text=True,
        timeout=ENSURE_ADMIN_TIMEOUT_S,
        check=False,
    )
    for line in (result.stdout + result.stderr).splitlines():
        print(f"[supervise] {line}", flush=True)
    return result.returncode == 0


def console_banner(profile: str) -> str:
    """Where the agent console is and how to log in."""
    url = f"http://127.0.0.1:{GATEWAY_PORT}/console"
    if profile == PRODUCTION:
        return f"  Agent console:  {url}   (first admin: python -m bot agent ensure-admin)\n"
    where = ADMIN_FILE.relative_to(ROOT) if ADMIN_FILE.is_relative_to(ROOT) else ADMIN_FILE
    return f"  Agent console:  {url}   (admin login in {where})\n"


class Supervisor:
    """Starts services, waits for readiness, stops them in reverse order."""

    def __init__(self, services: list[Service]) -> None:
        self.services = services
        self.stopping = False

    def start(self, service: Service) -> None:
        # Rasa's telemetry would only retry against the network and clutter the output.
        env = {"RASA_TELEMETRY_ENABLED": "false", **os.environ, **service.env}
        # A session of its own: Ctrl-C reaches only us, and we stop children in order.
        service.process = subprocess.Popen(service.cmd, cwd=ROOT, env=env, start_new_session=True)
        print(f"[supervise] started {service.name} (pid {service.process.pid})", flush=True)

    def wait_ready(self, services: list[Service], timeout_s: float = READY_TIMEOUT_S) -> None:
        deadline = time.monotonic() + timeout_s
        pending = list(services)
        while pending:
            if self.stopping:
                raise KeyboardInterrupt
            for service in list(pending):
                if service.process is None:
                    raise RuntimeError(f"{service.name} was never started")
                if service.process.poll() is not None:
                    raise RuntimeError(f"{service.name} exited with {service.process.returncode}")
                if is_ready(service.ready_url):
                    print(f"[supervise] {service.name} is ready", flush=True)
                    pending.remove(service)
            if time.monotonic() > deadline:
                raise RuntimeError("not ready in time: " + ", ".join(s.name for s in pending))
            time.sleep(POLL_S)

    def start_all(self) -> None:
        """The back ends in parallel, then the front services (the gateways) together."""
        backends = [s for s in self.services if not s.front]
        fronts = [s for s in self.services if s.front]
        for service in backends:
            self.start(service)
        self.wait_ready(backends)
        for service in fronts:
            self.start(service)
        self.wait_ready(fronts)

    def watch(self) -> str:
        """Block until a signal arrives or a child dies; return why."""
        while not self.stopping:
            for service in self.services:
                if service.process is not None and service.process.poll() is not None:
                    return f"{service.name} exited with {service.process.returncode}"
            time.sleep(POLL_S)
        return "stop requested"

    def stop_all(self) -> None:
        """SIGTERM the gateways together, then the back ends in reverse start order;
        SIGKILL what has not ended after a grace period."""
        self._stop_together([s for s in self.services if s.front])
        for service in reversed([s for s in self.services if not s.front]):
            self._stop_together([service])

    @staticmethod
    def _stop_together(services: list[Service]) -> None:
        running = [
            (s.name, s.process)
            for s in services
            if s.process is not None and s.process.poll() is None
        ]
        for _name, proc in running:
            proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT_S
        for name, proc in running:
            try:
                proc.wait(timeout=max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
            print(f"[supervise] stopped {name}", flush=True)

    def request_stop(self, signum: int, _frame: FrameType | None) -> None:
        self.stopping = True


def main() -> int:
    profile = os.environ.get("SP4ALL_PROFILE", "embedded")
    services = build_services(profile, dict(os.environ))
    model = live_model(dict(os.environ))
    if not os.environ.get("SUPERVISE_SERVICES") and not model.exists():
        print(f"[supervise] no model at {model}: run `make train` first", file=sys.stderr)
        return 1
    if profile != PRODUCTION and not os.environ.get("SUPERVISE_SERVICES"):
        gateway_env = services[-1].env
        if not ensure_console_admin(gateway_env):
            print("[supervise] could not check the console admin (see above)", file=sys.stderr)
    migrating = profile == PRODUCTION and not os.environ.get("SUPERVISE_SERVICES")
    if migrating and not migrate_gateway(services[-1].env):
        print("[supervise] could not migrate the gateway database", file=sys.stderr)
        return 1
    supervisor = Supervisor(services)
    signal.signal(signal.SIGINT, supervisor.request_stop)
    signal.signal(signal.SIGTERM, supervisor.request_stop)
    code = 0
    try:
        supervisor.start_all()
        print(
            "\n  SP4ALL Assistant is running"
            f" ({profile} profile).\n"
            f"  Web chat:       http://127.0.0.1:{GATEWAY_PORT}/chat\n"
            + console_banner(profile)
            + "  Terminal chat:  make chat   (in another terminal)\n"
            "  Stop:           Ctrl-C\n",
            flush=True,
        )
        reason = supervisor.watch()
        print(f"[supervise] {reason}; shutting down", flush=True)
        code = 0 if supervisor.stopping else 1
    except KeyboardInterrupt:
        print("[supervise] interrupted while starting; shutting down", flush=True)
    except RuntimeError as exc:
        print(f"[supervise] {exc}; shutting down", file=sys.stderr, flush=True)
        code = 1
    finally:
        supervisor.stop_all()
    return code


if __name__ == "__main__":
    sys.exit(main())
