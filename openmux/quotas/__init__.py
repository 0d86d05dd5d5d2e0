"""Free-tier quotas and usage: the dated limits table, counters shared by every process,
limits learned from providers' answers, and a record of every attempt (`openmux stats`)."""

from openmux.quotas._gate import QuotaGate, Spent, log_over_quota
from openmux.quotas._learn import Exhausted, Reading, exhaustion_from_failure, readings_from_headers
from openmux.quotas._limits import BUILTIN_LIMITS, PROVIDER_WIDE, Limits, next_reset, table_limits
from openmux.quotas._plot import format_count, today_text, usage_svg
from openmux.quotas._prices import LIST_PRICES, list_price
from openmux.quotas._report import parse_since, summarize, usage
from openmux.quotas._store import Blocked, QuotaStore, quota_store
from openmux.quotas._terms import PROVIDER_TERMS, provider_notes
from openmux.quotas._usage import UsageLog, UsageRecord, usage_log

__all__ = [
    "BUILTIN_LIMITS",
    "LIST_PRICES",
    "PROVIDER_TERMS",
    "PROVIDER_WIDE",
    "Blocked",
    "Exhausted",
    "Limits",
    "QuotaGate",
    "QuotaStore",
    "Reading",
    "Spent",
    "UsageLog",
    "UsageRecord",
    "exhaustion_from_failure",
    "format_count",
    "list_price",
    "log_over_quota",
    "next_reset",
    "parse_since",
    "provider_notes",
    "quota_store",
    "readings_from_headers",
    "summarize",
    "table_limits",
    "today_text",
    "usage",
    "usage_log",
    "usage_svg",
]
