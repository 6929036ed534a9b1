"""/api/v1/strategies/: every registered strategy with its parameter schema, and the presets."""
from __future__ import annotations

from trading.core.strategies import STRATEGIES
from trading.core.strategies.presets import PRESETS

URL = "/api/v1/strategies/"


def test_it_lists_every_registered_strategy_with_its_parameters(world):
    body = world.client_with_key(world.read_key_a).get(URL).json()
    assert [s["key"] for s in body["strategies"]] == sorted(STRATEGIES)
    for described in body["strategies"]:
        strategy = STRATEGIES[described["key"]]
        assert described["name"] == strategy.name and described["description"]
        assert [p["name"] for p in described["params"]] == [p.name for p in strategy.params]
        for param in described["params"]:
            assert {"name", "type", "default", "minimum", "maximum", "choices",
                    "description"} <= set(param)
            assert param["type"] in ("int", "float", "bool", "choice")


def test_the_sma_cross_schema_carries_defaults_and_ranges(world):
    body = world.client_with_key(world.read_key_a).get(URL).json()
    (sma,) = [s for s in body["strategies"] if s["key"] == "sma_cross"]
    fast = next(p for p in sma["params"] if p["name"] == "fast")
    assert (fast["type"], fast["default"], fast["minimum"], fast["maximum"]) == ("int", 10, 1,
                                                                              1000)


def test_it_lists_the_three_presets_with_their_risk_settings(world):
    presets = world.client_for(world.bob).get(URL).json()["presets"]
    assert set(presets) == {"conservative", "balanced", "aggressive"}
    for name, settings in presets.items():
        assert settings == PRESETS[name].to_dict()
        assert {"stake_fraction", "stop_loss_pct", "take_profit_pct",
                "max_open_positions", "max_drawdown_pct"} <= set(settings)
    assert presets["conservative"]["stake_fraction"] < presets["aggressive"]["stake_fraction"]


def test_it_needs_a_credential(db, client):
    assert client.get(URL).status_code == 401
