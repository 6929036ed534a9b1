"""Development and `make run`: the embedded default, debug off unless DEBUG is set."""
from aitrader.settings.base import *  # noqa: F401,F403
