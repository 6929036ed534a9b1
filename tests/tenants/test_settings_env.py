"""The environment helper every setting is read through: good values in, bad values refused."""
from __future__ import annotations

import pytest
from django.core.exceptions import ImproperlyConfigured

from aitrader.settings.env import env_bool, env_choice, env_int, env_list, env_str

VAR = "AITRADER_TEST_SETTING"


@pytest.fixture(autouse=True)
def _unset(monkeypatch):
    monkeypatch.delenv(VAR, raising=False)


def _refused(monkeypatch, raw: str, read) -> str:
    monkeypatch.setenv(VAR, raw)
    with pytest.raises(ImproperlyConfigured) as refused:
        read()
    message = str(refused.value)
    assert VAR in message
    return message


# --- env_str ------------------------------------------------------------------------------

def test_it_reads_a_string(monkeypatch):
    monkeypatch.setenv(VAR, "  hello  ")
    assert env_str(VAR) == "hello"


def test_it_returns_the_default_when_unset_or_empty(monkeypatch):
    assert env_str(VAR, "fallback") == "fallback"
    monkeypatch.setenv(VAR, "")
    assert env_str(VAR, "fallback") == "fallback"


def test_it_refuses_a_missing_required_value_naming_it():
    with pytest.raises(ImproperlyConfigured) as refused:
        env_str(VAR)
    assert f"{VAR} is required" in str(refused.value)


def test_it_treats_an_empty_required_value_as_missing(monkeypatch):
    monkeypatch.setenv(VAR, "")
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_str(VAR)


# --- env_bool -----------------------------------------------------------------------------

@pytest.mark.parametrize("raw,value", [
    ("1", True), ("true", True), ("TRUE", True), ("yes", True), ("On", True),
    ("0", False), ("false", False), ("no", False), ("OFF", False), (" false ", False),
])
def test_it_reads_booleans(monkeypatch, raw, value):
    monkeypatch.setenv(VAR, raw)
    assert env_bool(VAR) is value


@pytest.mark.parametrize("raw", ["maybe", "2", "truthy", "y es"])
def test_it_refuses_a_bad_boolean(monkeypatch, raw):
    message = _refused(monkeypatch, raw, lambda: env_bool(VAR, False))
    assert raw in message
    assert "true/false" in message


def test_it_returns_the_boolean_default():
    assert env_bool(VAR, True) is True


# --- env_int ------------------------------------------------------------------------------

def test_it_reads_an_integer(monkeypatch):
    monkeypatch.setenv(VAR, " 42 ")
    assert env_int(VAR, 1) == 42


def test_it_accepts_the_bounds_themselves(monkeypatch):
    monkeypatch.setenv(VAR, "5")
    assert env_int(VAR, 1, minimum=5, maximum=5) == 5


@pytest.mark.parametrize("raw", ["abc", "1.5", "ten", "0x10"])
def test_it_refuses_a_non_integer(monkeypatch, raw):
    assert "an integer" in _refused(monkeypatch, raw, lambda: env_int(VAR, 1))


def test_it_refuses_an_integer_below_the_minimum(monkeypatch):
    assert ">= 1" in _refused(monkeypatch, "0", lambda: env_int(VAR, 5, minimum=1))


def test_it_refuses_an_integer_above_the_maximum(monkeypatch):
    assert "<= 365" in _refused(monkeypatch, "400", lambda: env_int(VAR, 5, maximum=365))


def test_it_returns_the_integer_default():
    assert env_int(VAR, 90) == 90


# --- env_list -----------------------------------------------------------------------------

def test_it_reads_a_comma_separated_list_dropping_blanks(monkeypatch):
    monkeypatch.setenv(VAR, " a.example , b.example,, ,c ")
    assert env_list(VAR) == ["a.example", "b.example", "c"]


def test_it_returns_the_list_default():
    assert env_list(VAR, ["x"]) == ["x"]


def test_it_refuses_a_missing_required_list():
    with pytest.raises(ImproperlyConfigured, match=VAR):
        env_list(VAR)


# --- env_choice ---------------------------------------------------------------------------

def test_it_reads_one_of_the_choices(monkeypatch):
    monkeypatch.setenv(VAR, "replay")
    assert env_choice(VAR, ["live", "replay"], "live") == "replay"


def test_it_refuses_a_value_outside_the_choices(monkeypatch):
    message = _refused(monkeypatch, "moon", lambda: env_choice(VAR, ["live", "replay"], "live"))
    assert "live, replay" in message


def test_it_is_case_sensitive_about_choices(monkeypatch):
    _refused(monkeypatch, "LIVE", lambda: env_choice(VAR, ["live", "replay"], "live"))


def test_it_returns_the_choice_default():
    assert env_choice(VAR, ["live", "replay"], "live") == "live"
