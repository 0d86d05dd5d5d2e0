"""Settings: defaults < config file < .env < environment variables < constructor arguments.

The lowest layer, the built-in defaults, includes the provider table
(`BUILTIN_PROVIDERS`): one declarative row per built-in provider.
"""

from openmux.config._cache import CACHE_MODES, DEFAULT_SIMILARITY, CacheMode, CacheSettings
from openmux.config._constructor import (
    SETTING_ARGUMENTS,
    answer_fingerprint,
    argument_overrides,
    check_arguments,
)
from openmux.config._diagnose import explain_no_candidates
from openmux.config._paths import default_state_dir
from openmux.config._privacy import (
    PII_KINDS,
    PRIVACY_KEYS,
    PrivacySettings,
    parse_privacy,
    privacy_of,
)
from openmux.config._provider_tables import LIMIT_KEYS
from openmux.config._providers import (
    BUILTIN_BY_NAME,
    BUILTIN_PROVIDERS,
    BUNDLED_CHAT_MODEL_ID,
    DEFAULT_MEDIA_WIRES,
    INSTALL_HINT,
    LOCAL_EMBEDDING_MODEL_ID,
    LOCAL_IMAGE_MODEL_ID,
    LOCAL_TRANSCRIPTION_MODEL_ID,
    MEDIA_KINDS,
    MODEL_INSTALL_COMMAND,
    PROTOCOLS,
    RETIRED_PROVIDERS,
    MediaKind,
    MediaModel,
    ModelEntry,
    ProviderSpec,
)
from openmux.config._secret_text import (
    write_private,
)
from openmux.config._secrets import (
    PASSPHRASE_ENV,
    SecretsError,
    key_locations,
    keyfile_path,
    keyring_status,
    mask,
    stored_key,
    validate_key_text,
)
from openmux.config._settings import (
    ProviderSettings,
    Settings,
    Timeouts,
    load_settings,
)
from openmux.config._toml import (
    CONFIG_FILE_NAME,
    is_loopback_host,
    is_loopback_url,
    user_config_dir,
)

__all__ = [
    "BUILTIN_BY_NAME",
    "BUILTIN_PROVIDERS",
    "BUNDLED_CHAT_MODEL_ID",
    "CACHE_MODES",
    "CONFIG_FILE_NAME",
    "DEFAULT_MEDIA_WIRES",
    "DEFAULT_SIMILARITY",
    "INSTALL_HINT",
    "LIMIT_KEYS",
    "LOCAL_EMBEDDING_MODEL_ID",
    "LOCAL_IMAGE_MODEL_ID",
    "LOCAL_TRANSCRIPTION_MODEL_ID",
    "MEDIA_KINDS",
    "MODEL_INSTALL_COMMAND",
    "PASSPHRASE_ENV",
    "PII_KINDS",
    "PRIVACY_KEYS",
    "PROTOCOLS",
    "RETIRED_PROVIDERS",
    "SETTING_ARGUMENTS",
    "CacheMode",
    "CacheSettings",
    "MediaKind",
    "MediaModel",
    "ModelEntry",
    "PrivacySettings",
    "ProviderSettings",
    "ProviderSpec",
    "SecretsError",
    "Settings",
    "Timeouts",
    "answer_fingerprint",
    "argument_overrides",
    "check_arguments",
    "default_state_dir",
    "explain_no_candidates",
    "is_loopback_host",
    "is_loopback_url",
    "key_locations",
    "keyfile_path",
    "keyring_status",
    "load_settings",
    "mask",
    "parse_privacy",
    "privacy_of",
    "stored_key",
    "user_config_dir",
    "validate_key_text",
    "write_private",
]
