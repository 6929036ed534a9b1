"""Mail: EMAIL_* from the environment, SMTP with TLS in production, a system check that fails
there when mail would go to the console, and one real delivery to a local SMTP server."""
from __future__ import annotations

import datetime
import ipaddress
import json
import os
import ssl
import subprocess
import sys

import pytest
from aiosmtpd.controller import Controller
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from django.conf import settings
from django.core.checks import Error
from django.test import Client

from tenants.checks import check_production_mail
from tenants.models import Role
from tenants.plans import Plan
from tests.security.conftest import free_port, production_env

SHOW = ("import django, json; django.setup(); from django.conf import settings as s; "
        "print(json.dumps({n: getattr(s, n) for n in ['EMAIL_BACKEND', 'EMAIL_HOST', "
        "'EMAIL_PORT', 'EMAIL_HOST_USER', 'EMAIL_HOST_PASSWORD', 'EMAIL_USE_TLS', "
        "'EMAIL_USE_SSL', 'EMAIL_TIMEOUT', 'DEFAULT_FROM_EMAIL', 'SERVER_EMAIL']}))")
SMTP = "django.core.mail.backends.smtp.EmailBackend"
CONSOLE = "django.core.mail.backends.console.EmailBackend"


def _run(tmp_path, args: list[str], **env) -> subprocess.CompletedProcess:
    environment = {**production_env(tmp_path), **env}
    environment = {name: value for name, value in environment.items() if value is not None}
    return subprocess.run([sys.executable, *args], cwd=settings.BASE_DIR, env=environment,
                          capture_output=True, text=True, timeout=120)


# --- Settings from the environment ------------------------------------------------------------

def test_production_sends_by_smtp_with_tls_from_the_environment(tmp_path):
    result = _run(tmp_path, ["-c", SHOW], EMAIL_HOST="smtp.example.com",
                  EMAIL_HOST_USER="mailer", EMAIL_HOST_PASSWORD="s3cret",
                  DEFAULT_FROM_EMAIL="aitrader <no-reply@trade.example.com>")
    assert result.returncode == 0, result.stderr
    shown = json.loads(result.stdout)
    assert shown == {
        "EMAIL_BACKEND": SMTP, "EMAIL_HOST": "smtp.example.com", "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer", "EMAIL_HOST_PASSWORD": "s3cret", "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False, "EMAIL_TIMEOUT": 10,
        "DEFAULT_FROM_EMAIL": "aitrader <no-reply@trade.example.com>",
        "SERVER_EMAIL": "aitrader <no-reply@trade.example.com>"}


@pytest.mark.parametrize("env,name", [
    ({"EMAIL_PORT": "smtp"}, "EMAIL_PORT"),
    ({"EMAIL_PORT": "70000"}, "EMAIL_PORT"),
    ({"EMAIL_USE_TLS": "maybe"}, "EMAIL_USE_TLS"),
    ({"EMAIL_USE_SSL": "true"}, "EMAIL_USE_SSL"),  # with EMAIL_USE_TLS on by default
])
def test_a_bad_mail_value_stops_the_start_naming_it(tmp_path, env, name):
    result = _run(tmp_path, ["-c", "import django; django.setup()"], **env)
    assert result.returncode != 0
    assert "ImproperlyConfigured" in result.stderr and name in result.stderr


# --- The system check ---------------------------------------------------------------------------

def test_the_check_fails_a_production_start_whose_mail_goes_to_the_console(tmp_path):
    result = _run(tmp_path, ["manage.py", "check"], EMAIL_BACKEND=CONSOLE)
    assert result.returncode != 0
    assert "tenants.E001" in result.stderr
    fine = _run(tmp_path, ["manage.py", "check"], EMAIL_HOST="smtp.example.com")
    assert fine.returncode == 0, fine.stderr


@pytest.mark.parametrize("backend", [CONSOLE, "django.core.mail.backends.dummy.EmailBackend",
                                     "django.core.mail.backends.locmem.EmailBackend",
                                     "django.core.mail.backends.filebased.EmailBackend"])
def test_the_check_refuses_every_backend_that_keeps_mail_local(settings, backend):
    settings.AITRADER_PRODUCTION = True
    settings.EMAIL_BACKEND = backend
    [error] = check_production_mail(None)
    assert isinstance(error, Error) and error.id == "tenants.E001"


def test_the_check_refuses_smtp_without_tls_to_another_host(settings):
    settings.AITRADER_PRODUCTION = True
    settings.EMAIL_BACKEND = SMTP
    settings.EMAIL_HOST, settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL = "smtp.example.com", \
        False, False
    assert [e.id for e in check_production_mail(None)] == ["tenants.E002"]
    settings.EMAIL_HOST = "127.0.0.1"  # a relay on the same machine needs no TLS
    assert check_production_mail(None) == []
    settings.EMAIL_HOST, settings.EMAIL_USE_SSL = "smtp.example.com", True
    assert check_production_mail(None) == []


def test_the_check_leaves_development_alone(settings):
    settings.AITRADER_PRODUCTION = False
    settings.EMAIL_BACKEND = CONSOLE
    assert check_production_mail(None) == []


# --- One real delivery: SMTP with STARTTLS to a local server ------------------------------------

def _self_signed(tmp_path) -> tuple[str, str]:
    """A certificate for localhost / 127.0.0.1 and its key, as PEM files."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "localhost")])
    now = datetime.datetime.now(datetime.UTC)
    cert = (x509.CertificateBuilder().subject_name(name).issuer_name(name)
            .public_key(key.public_key()).serial_number(x509.random_serial_number())
            .not_valid_before(now - datetime.timedelta(minutes=5))
            .not_valid_after(now + datetime.timedelta(days=1))
            .add_extension(x509.SubjectAlternativeName([
                x509.DNSName("localhost"), x509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                critical=False)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(key, hashes.SHA256()))
    cert_path, key_path = tmp_path / "smtp.crt", tmp_path / "smtp.key"
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM,
                                           serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    return str(cert_path), str(key_path)


class Inbox:
    """aiosmtpd handler: keeps each message with whether its session was encrypted."""

    def __init__(self) -> None:
        self.messages: list[dict] = []

    async def handle_DATA(self, server, session, envelope):
        self.messages.append({"to": envelope.rcpt_tos, "tls": session.ssl is not None,
                              "data": envelope.content.decode()})
        return "250 OK"


@pytest.fixture
def smtp_server(tmp_path, monkeypatch):
    cert, key = _self_signed(tmp_path)
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    inbox = Inbox()
    port = free_port()
    controller = Controller(inbox, hostname="127.0.0.1", port=port, tls_context=context,
                            require_starttls=True)
    controller.start()
    # The client trusts this server's certificate as a deployment trusts its CA bundle.
    monkeypatch.setenv("SSL_CERT_FILE", cert)
    yield inbox, port
    controller.stop()
    os.environ.pop("SSL_CERT_FILE", None)


def test_an_invitation_really_leaves_by_smtp_over_tls(world, settings, smtp_server,
                                                      django_capture_on_commit_callbacks):
    inbox, port = smtp_server
    settings.EMAIL_BACKEND = SMTP
    settings.EMAIL_HOST, settings.EMAIL_PORT = "localhost", port
    settings.EMAIL_USE_TLS, settings.EMAIL_USE_SSL, settings.EMAIL_TIMEOUT = True, False, 10
    world.tenant_a.plan = Plan.TEAM
    world.tenant_a.save(update_fields=["plan"])
    client = Client()
    client.force_login(world.alice)
    with django_capture_on_commit_callbacks(execute=True):
        client.post("/accounts/members/", {"email": "gina@example.com", "role": Role.VIEWER})
    [message] = inbox.messages
    assert message["to"] == ["gina@example.com"] and message["tls"] is True
    assert "http://testserver/accounts/invitations/" in message["data"]
