"""Setting a workspace up from a shell alone: create_tenant with a paper account,
exchange_account, set_credentials (secrets from stdin or the environment, never argv),
create_bot, member and telegram_unlink; each through the service the settings page calls."""
from __future__ import annotations

import io

import pytest
from django.core.management import CommandError, call_command, load_command_class

from notifications.models import TelegramLink
from tenants.models import AuditEvent, Invitation, Membership, Role, Tenant
from tenants.plans import Plan
from tests.base import make_user
from tests.fakes.binance import DEFAULT_API_KEY, DEFAULT_SECRET
from tests.trading.markets import SteppingMarket
from trading.core import money
from trading.engine import run_tick
from trading.exchanges.factory import reset_market_sources, set_market_source
from trading.marketdata import forget_local_memo
from trading.models import Bot, ExchangeAccount, PaperBalance, Thought

STRONG = "granite-harbour-puzzle-8"


@pytest.fixture
def market():
    forget_local_memo()
    stepping = SteppingMarket.sample()
    set_market_source("binance", stepping)
    yield stepping
    reset_market_sources()
    forget_local_memo()


def _run(*args: str, stdin: str | None = None) -> str:
    out = io.StringIO()
    extra = {"stdin": io.StringIO(stdin)} if stdin is not None else {}
    call_command(*args, stdout=out, **extra)
    return out.getvalue().strip()


def _fresh_tenant(plan: str = Plan.FREE, *flags: str) -> tuple[Tenant, str]:
    output = _run("create_tenant", "--slug", "acme", "--owner-email", "ops@example.com",
                  "--password", STRONG, "--plan", plan, *flags)
    return Tenant.objects.get(slug="acme"), output


@pytest.mark.django_db
def test_a_fresh_tenant_runs_a_paper_bot_from_the_cli_alone(market):
    tenant, output = _fresh_tenant(Plan.FREE, "--paper-account", "--paper-balance", "5000")
    account = ExchangeAccount.objects.for_tenant(tenant).get()
    assert f"paper account {account.pk}" in output
    assert account.mode == "paper"
    assert PaperBalance.objects.get(account=account).free == 5000
    bot_id = _run("create_bot", "--tenant", "acme", "--account", str(account.pk),
                  "--name", "sma", "--symbol", "btc/usdt", "--strategy", "sma_cross",
                  "--preset", "aggressive", "--param", "fast=3", "--param", "slow=8")
    bot = Bot.objects.for_tenant(tenant).get(pk=int(bot_id))
    assert (bot.symbol, bot.parameters["fast"], bot.status) == ("BTC/USDT", 3, "running")
    for _ in range(3):
        market.step()
        run_tick(tenant_id=tenant.pk, bot_id=bot.pk)
    assert Thought.objects.for_tenant(tenant).filter(bot=bot).exists()
    actions = set(AuditEvent.objects.for_tenant(tenant).values_list("action", flat=True))
    assert {"exchange_account.create", "bot.create"} <= actions


@pytest.mark.django_db
def test_without_the_flag_create_tenant_makes_no_account():
    tenant, _output = _fresh_tenant()
    assert not ExchangeAccount.objects.for_tenant(tenant).exists()


@pytest.mark.django_db
def test_exchange_account_creates_and_lists_accounts():
    _fresh_tenant(Plan.PRO)
    account_id = _run("exchange_account", "--tenant", "acme", "create", "--label", "desk",
                      "--exchange", "binance", "--mode", "paper", "--balance", "2500",
                      "--quote", "usdt")
    account = ExchangeAccount.objects.get(pk=int(account_id))
    assert (account.label, account.quote_currency) == ("desk", "USDT")
    listed = _run("exchange_account", "--tenant", "acme", "list")
    assert f"{account.pk}\tdesk\tbinance\tpaper\tno credentials" in listed


@pytest.mark.django_db
@pytest.mark.parametrize(("args", "message"), [
    (("--balance", "lots"), "balance"),
    (("--balance", str(money.PAPER_BALANCE.maximum * 10)), "paper balance"),
    (("--exchange", "mtgox"), "Unsupported exchange"),
    (("--mode", "live"), "Pro"),
])
def test_exchange_account_refuses_bad_input_with_the_services_message(args, message):
    _fresh_tenant()
    with pytest.raises(CommandError, match=message):
        _run("exchange_account", "--tenant", "acme", "create", "--label", "desk", *args)
    assert not ExchangeAccount.objects.exists()


@pytest.mark.django_db
def test_set_credentials_reads_the_secret_from_stdin_and_never_prints_it(binance_live):
    tenant, _output = _fresh_tenant(Plan.PRO)
    account_id = _run("exchange_account", "--tenant", "acme", "create", "--label", "live",
                      "--mode", "live")
    output = _run("set_credentials", "--tenant", "acme", "--account", account_id,
                  stdin=f"{DEFAULT_API_KEY}\n{DEFAULT_SECRET}\n")
    account = ExchangeAccount.objects.get(pk=int(account_id))
    assert account.has_credentials
    assert DEFAULT_SECRET not in output and DEFAULT_API_KEY not in output
    event = AuditEvent.objects.for_tenant(tenant).get(action="exchange_account.credentials_set")
    assert event.details["api_key_hint"] == f"…{DEFAULT_API_KEY[-4:]}"
    _run("set_credentials", "--tenant", "acme", "--account", account_id, "--remove")
    account.refresh_from_db()
    assert not account.has_credentials


@pytest.mark.django_db
def test_set_credentials_reads_the_environment_when_asked(binance_live, monkeypatch):
    _fresh_tenant(Plan.PRO)
    account_id = _run("exchange_account", "--tenant", "acme", "create", "--label", "live",
                      "--mode", "live")
    monkeypatch.setenv("AITRADER_EXCHANGE_API_KEY", DEFAULT_API_KEY)
    monkeypatch.setenv("AITRADER_EXCHANGE_SECRET", DEFAULT_SECRET)
    _run("set_credentials", "--tenant", "acme", "--account", account_id, "--from-env")
    assert ExchangeAccount.objects.get(pk=int(account_id)).has_credentials


@pytest.mark.django_db
def test_set_credentials_refuses_empty_stdin_and_keys_on_the_command_line(binance_live):
    _fresh_tenant(Plan.PRO)
    account_id = _run("exchange_account", "--tenant", "acme", "create", "--label", "live",
                      "--mode", "live")
    with pytest.raises(CommandError, match="API key"):
        _run("set_credentials", "--tenant", "acme", "--account", account_id, stdin="")
    parser = load_command_class("trading", "set_credentials").create_parser("manage.py",
                                                                           "set_credentials")
    options = {option for action in parser._actions for option in action.option_strings}
    assert not {"--secret", "--api-key", "--key"} & options
    assert not ExchangeAccount.objects.get(pk=int(account_id)).has_credentials


@pytest.mark.django_db
def test_another_tenants_account_is_not_found_by_the_commands():
    _fresh_tenant(Plan.PRO, "--paper-account")
    other = _run("create_tenant", "--slug", "other", "--owner-email", "o@example.com",
                 "--password", STRONG, "--paper-account")
    theirs = ExchangeAccount.objects.for_tenant(Tenant.objects.get(slug="other")).get()
    assert str(theirs.pk) in other
    with pytest.raises(CommandError, match="No such exchange account"):
        _run("create_bot", "--tenant", "acme", "--account", str(theirs.pk), "--name", "x",
             "--symbol", "BTC/USDT", "--strategy", "sma_cross")
    with pytest.raises(CommandError, match="No such exchange account"):
        _run("set_credentials", "--tenant", "acme", "--account", str(theirs.pk), "--remove")


@pytest.mark.django_db
def test_create_bot_holds_the_plan_limit_and_the_shared_bounds():
    tenant, _output = _fresh_tenant(Plan.FREE, "--paper-account")
    account = str(ExchangeAccount.objects.for_tenant(tenant).get().pk)
    common = ("create_bot", "--tenant", "acme", "--account", account, "--symbol", "BTC/USDT",
              "--strategy", "sma_cross")
    with pytest.raises(CommandError, match="Capital"):
        _run(*common, "--name", "huge", "--capital", str(money.CAPITAL.maximum * 10))
    with pytest.raises(CommandError, match="fast"):
        _run(*common, "--name", "odd", "--param", "fast")
    _run(*common, "--name", "one")
    with pytest.raises(CommandError, match="Pro"):
        _run(*common, "--name", "two")
    assert Bot.objects.for_tenant(tenant).count() == 1


@pytest.mark.django_db
def test_member_invites_changes_a_role_and_removes_within_the_plan():
    tenant, _output = _fresh_tenant(Plan.TEAM)
    link = _run("member", "--tenant", "acme", "invite", "--email", "Dan@Example.com",
                "--role", "trader", "--site-url", "https://trade.example.com")
    assert link.startswith("https://trade.example.com/") and "/invitations/" in link
    assert Invitation.objects.for_tenant(tenant).get().email == "dan@example.com"
    dan = make_user("dan@example.com")
    Membership.objects.create(tenant=tenant, user=dan, role=Role.TRADER)
    _run("member", "--tenant", "acme", "role", "--email", "dan@example.com", "--role", "admin")
    assert Membership.objects.for_tenant(tenant).get(user=dan).role == Role.ADMIN
    listed = _run("member", "--tenant", "acme", "list")
    assert "dan@example.com\tadmin" in listed and "ops@example.com\towner" in listed
    _run("member", "--tenant", "acme", "remove", "--email", "dan@example.com")
    assert not Membership.objects.for_tenant(tenant).filter(user=dan).exists()
    actions = set(AuditEvent.objects.for_tenant(tenant).values_list("action", flat=True))
    assert {"member.invite", "member.role_change", "member.remove"} <= actions


@pytest.mark.django_db
def test_member_refuses_past_the_plan_and_the_last_owner():
    _fresh_tenant(Plan.FREE)
    with pytest.raises(CommandError, match="Team"):
        _run("member", "--tenant", "acme", "invite", "--email", "dan@example.com")
    with pytest.raises(CommandError, match="at least one owner"):
        _run("member", "--tenant", "acme", "remove", "--email", "ops@example.com")
    with pytest.raises(CommandError, match="not a member"):
        _run("member", "--tenant", "acme", "role", "--email", "x@example.com", "--role", "admin")


@pytest.mark.django_db
def test_telegram_codes_and_unlinking_from_the_cli():
    tenant, _output = _fresh_tenant()
    code = _run("telegram_link_code", "--tenant", "acme", "--user", "ops@example.com")
    assert len(code) >= 16
    owner = Membership.objects.for_tenant(tenant).get().user
    link = TelegramLink.objects.create(tenant=tenant, chat_id=42, user=owner)
    _run("telegram_unlink", "--tenant", "acme", "--link", str(link.pk))
    link.refresh_from_db()
    assert not link.active
    with pytest.raises(CommandError, match="No such linked chat"):
        _run("telegram_unlink", "--tenant", "acme", "--link", str(link.pk))


@pytest.mark.django_db
def test_an_unknown_tenant_is_a_clear_error():
    with pytest.raises(CommandError, match="No tenant with slug 'nope'"):
        _run("exchange_account", "--tenant", "nope", "list")


@pytest.mark.django_db
def test_create_tenant_reads_a_new_owners_password_from_stdin():
    _run("create_tenant", "--slug", "acme", "--owner-email", "ops@example.com",
         stdin=f"{STRONG}\n")
    owner = Membership.objects.get(tenant__slug="acme").user
    assert owner.check_password(STRONG)


@pytest.mark.django_db
def test_create_tenant_refuses_an_empty_or_weak_password():
    for given in ("", "short"):
        with pytest.raises(CommandError, match="password"):
            _run("create_tenant", "--slug", "acme", "--owner-email", "ops@example.com",
                 stdin=f"{given}\n")
    assert not Tenant.objects.exists()
