"""Settings: defaults < config file < .env < environment variables < constructor arguments.

The lowest layer, the built-in defaults, includes the provider table
(`BUILTIN_PROVIDERS`): one declarative row per built-in provider.
"""

from openmux.config._diagnose import explain_no_candidates
from openmux.config._paths import default_state_dir
from openmux.config._privacy import (
    PII_KINDS,
    PRIVACY_KEYS,
    PrivacySettings,
    parse_privacy,
    privacy_of,
)
from openmux.config._providers import (
    BUILTIN_BY_NAME,
    BUILTIN_PROVIDERS,
    BUNDLED_CHAT_MODEL_ID,
    INSTALL_HINT,
    LOCAL_EMBEDDING_MODEL_ID,
    PROTOCOLS,
    ModelEntry,
    ProviderSpec,
)
from openmux.config._settings import (
    ProviderSettings,
    Settings,
    Timeouts,
    load_settings,
)

__all__ = [
    "BUILTIN_BY_NAME",
    "BUILTIN_PROVIDERS",
    "BUNDLED_CHAT_MODEL_ID",
    "INSTALL_HINT",
    "LOCAL_EMBEDDING_MODEL_ID",
    "PII_KINDS",
    "PRIVACY_KEYS",
    "PROTOCOLS",
    "ModelEntry",
    "PrivacySettings",
    "ProviderSettings",
    "ProviderSpec",
    "Settings",
    "Timeouts",
    "default_state_dir",
    "explain_no_candidates",
    "load_settings",
    "parse_privacy",
    "privacy_of",
]
