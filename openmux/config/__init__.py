"""Settings: defaults < config file < .env < environment variables < constructor arguments."""

from openmux.config._settings import (
    ProviderSettings,
    Settings,
    Timeouts,
    load_settings,
)

__all__ = ["ProviderSettings", "Settings", "Timeouts", "load_settings"]
