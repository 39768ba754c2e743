"""``client.usage``: running totals of what a client's replies counted and cost.

The counting is the C core's (ext/core/meter.c): every reply is noted where its
transfer settles, in the sync calls, streams, async tasks and maps alike, under one lock
per client.  This module reads those rows and prices them with ``kimi.prices`` at the
moment they are read, so a price added later applies to what was already counted.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

from ._cost import price_of, tokens_cost

__all__ = ["UsageTotals", "ModelUsage"]


class ModelUsage:
    """The totals of one model: ``requests`` (replies), ``prompt_tokens``,
    ``cached_tokens``, ``completion_tokens``, ``reasoning_tokens`` (where the reply
    said), ``cost`` in US dollars (None when neither the gateway nor ``kimi.prices``
    gave a price for some of its tokens)."""

    __slots__ = ("model", "requests", "prompt_tokens", "cached_tokens", "completion_tokens", "reasoning_tokens", "cost")

    def __init__(self, row: tuple[Any, ...]) -> None:
        (self.model, self.requests, self.prompt_tokens, self.cached_tokens, self.completion_tokens,
         self.reasoning_tokens, priced_prompt, priced_cached, priced_completion, reported) = row
        self.cost: float | None = reported
        if priced_prompt or priced_completion:
            price = price_of(self.model)
            if price is None:
                self.cost = None
            else:
                self.cost = reported + tokens_cost(price, priced_prompt, priced_cached, priced_completion)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __repr__(self) -> str:
        return (
            f"ModelUsage(model={self.model!r}, requests={self.requests}, prompt_tokens={self.prompt_tokens}, "
            f"cached_tokens={self.cached_tokens}, completion_tokens={self.completion_tokens}, "
            f"reasoning_tokens={self.reasoning_tokens}, cost={self.cost!r})"
        )


class UsageTotals:
    """A snapshot of a client's totals: the fields of ``ModelUsage`` summed over
    every model, and ``by_model`` (model id -> ``ModelUsage``).  ``cost`` sums the
    models that have a price; ``unpriced_models`` names the others."""

    def __init__(self, rows: list[tuple[Any, ...]]) -> None:
        merged: dict[str, list[Any]] = {}
        for row in rows:
            # The core's overflow row shares the name "" with replies that named no model.
            into = merged.get(row[0])
            merged[row[0]] = list(row) if into is None else [into[0]] + [a + b for a, b in zip(into[1:], row[1:])]
        self.by_model = {name: ModelUsage(tuple(row)) for name, row in merged.items()}
        models = self.by_model.values()
        self.requests = sum(m.requests for m in models)
        self.prompt_tokens = sum(m.prompt_tokens for m in models)
        self.cached_tokens = sum(m.cached_tokens for m in models)
        self.completion_tokens = sum(m.completion_tokens for m in models)
        self.reasoning_tokens = sum(m.reasoning_tokens for m in models)
        self.cost = sum(m.cost for m in models if m.cost is not None)
        self.unpriced_models = sorted(m.model for m in models if m.cost is None)

    @property
    def total_tokens(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    def __repr__(self) -> str:
        return (
            f"UsageTotals(requests={self.requests}, prompt_tokens={self.prompt_tokens}, "
            f"cached_tokens={self.cached_tokens}, completion_tokens={self.completion_tokens}, "
            f"reasoning_tokens={self.reasoning_tokens}, cost={self.cost:.6f})"
        )
