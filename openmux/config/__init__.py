"""Settings: defaults < config file < .env < environment variables < constructor arguments."""

from openmux.config._paths import default_state_dir
from openmux.config._secrets import stored_key
from openmux.config._settings import (
    ProviderSettings,
    Settings,
    Timeouts,
    load_settings,
)

__all__ = [
    "ProviderSettings",
    "Settings",
    "Timeouts",
    "default_state_dir",
    "load_settings",
    "stored_key",
]
