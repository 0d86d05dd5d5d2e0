"""Pick the next token from logits: greedy, or sampled with llama.cpp's usual filters.

The order follows llama.cpp's default chain: repetition penalty, top-k,
top-p, temperature, then a draw. The penalty applies to the recently
generated tokens only, never to the prompt: a chat prompt is full of the
end-of-turn marker, and penalising it makes a small model ramble past the
end of its answer.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from openmux.local._generation import Sampling

__all__ = ["PENALTY_WINDOW", "TokenSampler"]

PENALTY_WINDOW = 64  # generated tokens the repetition penalty looks back over


class TokenSampler:
    """Applies one request's `Sampling` settings; seeded, so a seed repeats a reply."""

    def __init__(self, sampling: Sampling, *, exempt: frozenset[int] = frozenset()) -> None:
        self.sampling = sampling
        self._exempt = exempt
        self._rng = np.random.default_rng(sampling.seed)

    def _penalise(self, logits: np.ndarray, recent: Sequence[int]) -> np.ndarray:
        penalty = self.sampling.repeat_penalty
        seen = np.fromiter(
            {t for t in recent[-PENALTY_WINDOW:] if t not in self._exempt}, dtype=np.int64
        )
        if penalty == 1.0 or seen.size == 0:
            return logits
        logits = logits.copy()
        values = logits[seen]
        logits[seen] = np.where(values > 0, values / penalty, values * penalty)
        return logits

    def pick(self, logits: np.ndarray, recent: Sequence[int]) -> int:
        """The next token, given the logits and the tokens generated so far."""
        logits = self._penalise(logits, recent)
        s = self.sampling
        if s.temperature <= 0:
            return int(np.argmax(logits))
        candidates = np.argsort(-logits)
        if s.top_k > 0:
            candidates = candidates[: s.top_k]
        chosen = logits[candidates].astype(np.float64)
        probs = np.exp(chosen - chosen[0])
        probs /= probs.sum()
        if 0 < s.top_p < 1:
            keep = int(np.searchsorted(np.cumsum(probs), s.top_p)) + 1
            candidates, chosen = candidates[:keep], chosen[:keep]
        probs = np.exp((chosen - chosen[0]) / s.temperature)
        probs /= probs.sum()
        return int(candidates[self._rng.choice(len(candidates), p=probs)])
