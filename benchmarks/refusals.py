"""How often the router refuses a text request, and how often it still refuses media.

    python benchmarks/refusals.py

Runs the bundled classifier and the routing decision (classify + select, nothing sent)
on sets under tests/integration_tests/data written by people who never saw the
classifier's training data (see TEXT_SETS for how each was used):

- text_intent.tsv: requests a person expects answered with text although they mention
  counting, tokens, pictures, podcasts, songs, voices or video. Target: zero refused.
- media_intent.tsv: requests that clearly ask for non-text output or media work. The
  rate still routed to media (refused here, as no provider makes media) is reported.

Beside each figure, from the same run and the same classifications: the rule before
the output decision (any non-text label at confidence >= 0.5 was refused).

Not a tuning set: read the figures, not the misses.
"""

from __future__ import annotations

from pathlib import Path

from langchain_core.messages import HumanMessage

from openmux.config import load_settings
from openmux.errors import UnsupportedTask
from openmux.routing import Router, RouteRequest, plan

DATA = Path(__file__).resolve().parent.parent / "tests" / "integration_tests" / "data"
NON_TEXT = {"image", "tts", "audio", "other"}
LABEL_ONLY_MIN_CONFIDENCE = 0.5
# Each set by a writer who never saw the training data. How each was used: text set 1's
# misses were read to shape the output decision. Sets 2 and 3 were each first scored once
# the rule and classifier were final: 5 of 374 and 8 of 340 refused; their misses were
# then read and the rule widened, so none of the three is unseen any more.
TEXT_SETS = ["text_intent.tsv", "text_intent_2.tsv", "text_intent_3.tsv"]
MEDIA_SETS = ["media_intent.tsv", "media_intent_2.tsv"]


def load(name: str) -> list[str]:
    """The prompts of a set; for a media set only those asking for non-text output
    (an embeddings row asks for vectors, which a chat provider's config does not refuse)."""
    rows = []
    for line in (DATA / name).read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.startswith("#"):
            label, _, text = line.partition("\t")
            if label in NON_TEXT or label in ("chat", "code"):
                rows.append(text.replace("\\n", "\n"))
    return rows


def score(router: Router, prompts: list[str]) -> tuple[int, int]:
    """(refused now, refused by the label-only rule) over these prompts."""
    refused = label_only = 0
    for text in prompts:
        request = RouteRequest(messages=[HumanMessage(text)])
        try:
            plan(router, request)
        except UnsupportedTask:
            refused += 1
        label = request.classification
        if label and str(label.task) in NON_TEXT and label.confidence >= 0.5:
            label_only += 1
    return refused, label_only


def main() -> None:
    settings = load_settings(
        {
            "router": {"providers": ["chat"]},
            "providers": {"chat": {"protocol": "openai", "base_url": "http://127.0.0.1:9/v1"}},
        }
    )
    router = Router(settings)
    for name in TEXT_SETS:
        prompts = load(name)
        refused, before = score(router, prompts)
        print(f"{name:<18} refused: {refused}/{len(prompts)}  (label-only rule: {before})")
    for name in MEDIA_SETS:
        prompts = load(name)
        refused, before = score(router, prompts)
        print(
            f"{name:<18} still routed to media: {refused}/{len(prompts)} "
            f"= {refused / len(prompts):.1%}  (label-only rule: {before}/{len(prompts)} "
            f"= {before / len(prompts):.1%})"
        )


if __name__ == "__main__":
    main()
