"""The deploy files are part of the product: the compose file, the image's ignore list and
.env.example agree with the settings module, and production answers its probes over plain
HTTP while it redirects everything else to HTTPS."""
from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from django.conf import settings

ROOT = Path(settings.BASE_DIR)
COMPOSE = ROOT / "docker" / "compose.yaml"
APP_SERVICES = ("migrate", "web", "ws", "worker", "marketdata", "beat", "telegram", "backup")
SYSTEMD = ROOT / "docker" / "systemd"
PRODUCTION_ENV = {
    "SECRET_KEY": "prod-secret-key-that-is-long-enough-0123456789abcdef",
    "ALLOWED_HOSTS": "trade.example.com",
    "DATABASE_URL": "postgres://aitrader:pw@db.internal:5432/aitrader",
    "REDIS_URL": "redis://redis.internal:6379/0",
    "AITRADER_API_KEY_PEPPERS": "2:" + "k" * 40,
    "AITRADER_VAULT_KEYS": "prod1:" + "a" * 43,
}


@pytest.fixture(scope="module")
def compose() -> dict:
    return yaml.safe_load(COMPOSE.read_text())


def _settings_variables() -> set[str]:
    """Every environment variable the settings modules read."""
    pattern = re.compile(r'env_(?:str|bool|int|list|choice|float)\(\s*"([A-Z0-9_]+)"')
    return {name for path in (ROOT / "aitrader" / "settings").glob("*.py")
            for name in pattern.findall(path.read_text())}


def test_every_app_service_reads_the_repository_env_file_and_waits_for_migrate(compose):
    services = compose["services"]
    for name in APP_SERVICES:
        service = services[name]
        assert service["env_file"] == "../.env", name
        assert "${" not in json.dumps(service), f"{name} interpolates from the shell"
        depends = service["depends_on"]
        assert depends["postgres"]["condition"] == "service_healthy"
        if name != "migrate":
            assert depends["migrate"]["condition"] == "service_completed_successfully", name
        assert service["environment"]["AITRADER_TRUSTED_PROXY_COUNT"] == "1"
        assert "vardata:/var/lib/aitrader" in service["volumes"], name
    assert services["postgres"]["env_file"] == "../.env"
    assert "POSTGRES_PASSWORD" not in services["postgres"]["environment"]
    assert services["caddy"]["env_file"] == "../.env"


def test_the_var_volume_is_where_the_image_keeps_its_state(compose):
    dockerfile = (ROOT / "docker" / "Dockerfile").read_text()
    assert "AITRADER_VAR_DIR=/var/lib/aitrader" in dockerfile
    assert "vardata" in compose["volumes"]


def test_the_telegram_poller_is_restarted_only_on_failure(compose):
    # run_telegram exits 0 only when no token is set; a lost network it waits out itself.
    assert compose["services"]["telegram"]["restart"] == "on-failure"
    unit = (ROOT / "docker" / "systemd" / "aitrader-telegram.service").read_text()
    assert "Restart=on-failure" in unit


def test_the_backup_service_writes_into_its_own_volume(compose):
    backup = compose["services"]["backup"]
    assert "manage.py backup" in " ".join(backup["command"])
    directory = backup["environment"]["AITRADER_BACKUP_DIR"]
    assert f"backups:{directory}" in backup["volumes"] and "backups" in compose["volumes"]
    assert "postgresql-client" in (ROOT / "docker" / "Dockerfile").read_text()  # pg_dump


def test_every_systemd_unit_runs_as_the_app_user_with_the_env_file():
    units = sorted(SYSTEMD.glob("*.service"))
    assert len(units) >= 7
    for unit in units:
        text = unit.read_text()
        assert "User=aitrader" in text and "EnvironmentFile=/etc/aitrader/env" in text, unit
        command = text.split("ExecStart=", 1)[1].split()[1:]  # after the program
        if command[:1] == ["manage.py"]:  # a management command that exists
            assert any(ROOT.glob(f"*/management/commands/{command[1]}.py")), unit


def test_the_backup_timer_runs_the_backup_unit_daily():
    timer = (SYSTEMD / "aitrader-backup.timer").read_text()
    assert "OnCalendar=daily" in timer and "Persistent=true" in timer
    assert "manage.py backup" in (SYSTEMD / "aitrader-backup.service").read_text()


def test_the_celery_workers_have_distinct_node_names(compose):
    names = []
    for name in ("worker", "marketdata"):
        command = compose["services"][name]["command"]
        names.append(command[command.index("-n") + 1])
    for unit in ("aitrader-worker.service", "aitrader-marketdata.service"):
        exec_start = (SYSTEMD / unit).read_text().split("ExecStart=", 1)[1].split("\n")[0]
        names.append(exec_start.split(" -n ", 1)[1].split()[0])
    # compose's %h and systemd's %%H both expand to the host; the names before @ must differ.
    assert len({name.split("@")[0] for name in names}) == 2 and len(names) == 4


@pytest.mark.parametrize(("service", "port"), [("web", "8000"), ("ws", "8001")])
def test_web_and_ws_health_checks_probe_readyz_on_their_own_port(compose, service, port):
    command = " ".join(compose["services"][service]["command"])
    probe = " ".join(compose["services"][service]["healthcheck"]["test"])
    assert port in command and f"http://127.0.0.1:{port}/readyz" in probe


def test_env_example_lists_every_variable_the_settings_read():
    listed = set(re.findall(r"^#?\s*([A-Z0-9_]+)=", (ROOT / ".env.example").read_text(), re.M))
    missing = _settings_variables() - listed
    assert not missing, f"add to .env.example: {sorted(missing)}"
    assert {"POSTGRES_PASSWORD", "AITRADER_DOMAIN"} <= listed


def test_the_image_never_takes_local_secrets_state_or_the_virtualenv():
    ignored = set((ROOT / ".dockerignore").read_text().split())
    assert {".env", "var/", ".venv/", ".git/"} <= ignored


def _production(tmp_path, code: str, **overrides) -> dict:
    env = {"PATH": os.environ["PATH"], "DJANGO_SETTINGS_MODULE": "aitrader.settings.production",
           "AITRADER_VAR_DIR": str(tmp_path), **PRODUCTION_ENV, **overrides}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


PROBE = """
import json, django
django.setup()
from django.test import Client
client = Client(HTTP_HOST="trade.example.com")
print(json.dumps({path: [client.get(path).status_code, client.get(path)["Location"]
                         if client.get(path).status_code == 301 else ""]
                  for path in ["/healthz", "/accounts/login/"]}))
"""


def test_production_answers_the_liveness_probe_over_http_and_redirects_the_rest(tmp_path):
    answers = _production(tmp_path, PROBE)
    assert answers["/healthz"][0] == 200
    assert answers["/accounts/login/"] == [301, "https://trade.example.com/accounts/login/"]


def test_production_can_be_tried_without_a_tls_proxy(tmp_path):
    answers = _production(tmp_path, PROBE, AITRADER_SSL_REDIRECT="0")
    assert answers["/accounts/login/"][0] != 301


SHOW = """
import json, django
django.setup()
from django.conf import settings as s
print(json.dumps({"source": s.AITRADER_MARKET_DATA_SOURCE, "exempt": s.SECURE_REDIRECT_EXEMPT,
                  "cache": s.CACHES["default"].get("OPTIONS", {}),
                  "broker": s.CELERY_BROKER_TRANSPORT_OPTIONS,
                  "layer": s.CHANNEL_LAYERS["default"]["CONFIG"]["hosts"][0]}))
"""


def test_production_trades_on_the_exchange_and_bounds_every_redis_wait(tmp_path):
    shown = _production(tmp_path, SHOW)
    assert shown["source"] == "exchange"
    assert {"^healthz$", "^readyz$"} <= set(shown["exempt"])
    assert shown["cache"]["socket_timeout"] <= 1 and shown["cache"]["socket_connect_timeout"] <= 1
    assert shown["broker"]["socket_timeout"] <= 1
    assert shown["layer"]["socket_connect_timeout"] <= 1
