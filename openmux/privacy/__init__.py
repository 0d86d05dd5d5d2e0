"""Privacy: an audit log of provider calls and PII scrubbing before remote providers.

Both are off by default and switched on in the `[privacy]` table of openmux.toml::

    [privacy]
    audit_log = "audit.jsonl"   # JSON lines: time, task, provider, model, status,
                                # latency_ms, token counts; no prompt text ...
    audit_prompts = false       # ... unless this is true
    scrub_pii = false           # mask emails, phone numbers, card numbers (Luhn)
                                # and IBANs before a non-loopback provider sees them
    scrub_kinds = ["email", "phone", "card", "iban"]

The router calls `scrub_for_provider` just before sending and `audit_request`
when a request ends. `scrub_text`, `scrub_messages` and the `pii_scrubber()`
Runnable are usable on their own in any chain.
"""

from openmux.config import PII_KINDS, PRIVACY_KEYS, PrivacySettings, parse_privacy, privacy_of
from openmux.privacy._audit import AuditLog, audit_request
from openmux.privacy._pii import find_pii, iban_ok, luhn_ok, scrub_text
from openmux.privacy._scrub import (
    pii_scrubber,
    scrub_for_provider,
    scrub_messages,
    scrub_texts_for_provider,
    scrubs_for,
)

__all__ = [
    "PII_KINDS",
    "PRIVACY_KEYS",
    "AuditLog",
    "PrivacySettings",
    "audit_request",
    "find_pii",
    "iban_ok",
    "luhn_ok",
    "parse_privacy",
    "pii_scrubber",
    "privacy_of",
    "scrub_for_provider",
    "scrub_messages",
    "scrub_text",
    "scrub_texts_for_provider",
    "scrubs_for",
]
