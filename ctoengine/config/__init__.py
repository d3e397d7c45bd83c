"""The routing file: models, validation with line numbers, and the entry plan of a call."""

from ctoengine.config.load import ConfigError, ConfigIssue, check_main, load_routing
from ctoengine.config.plan import EntryPlan, IntroPrompt, entry_plan, is_open
from ctoengine.config.routing import RoutingConfig

__all__ = [
    "ConfigError",
    "ConfigIssue",
    "EntryPlan",
    "IntroPrompt",
    "RoutingConfig",
    "check_main",
    "entry_plan",
    "is_open",
    "load_routing",
]
