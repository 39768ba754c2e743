"""What a reply cost, in US dollars: ``kimi.cost(usage, model)``, ``reply.cost`` and the
price table ``kimi.prices`` that both read.

Kimi bills prompt tokens at two rates (a cache hit and a cache miss) and output tokens
(reasoning included) at a third, each per million tokens.  The table holds the figures
published for the models below; users correct or extend it (``kimi.prices["my-model"] =
kimi.Price(...)``) and every cost read afterwards uses the new figures.  A gateway that
reports its own cost (OpenRouter's ``usage.cost``) is believed over the table.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

__all__ = ["Price", "prices", "cost", "price_of", "tokens_cost"]


class Price:
    """US dollars per 1M tokens: ``cache_hit`` and ``cache_miss`` for prompt tokens
    (served from the context cache or not), ``output`` for completion tokens."""

    __slots__ = ("cache_hit", "cache_miss", "output")

    def __init__(self, cache_hit: float, cache_miss: float, output: float) -> None:
        for name, value in (("cache_hit", cache_hit), ("cache_miss", cache_miss), ("output", output)):
            if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value < float("inf"):
                raise ValueError(f"Price: {name} must be a number of dollars >= 0, got {value!r}")
            object.__setattr__(self, name, float(value))

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Price is immutable; make a new one")

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Price):
            return NotImplemented
        return (self.cache_hit, self.cache_miss, self.output) == (other.cache_hit, other.cache_miss, other.output)

    __hash__ = None  # type: ignore[assignment]

    def __reduce__(self) -> tuple[Any, ...]:
        return (Price, (self.cache_hit, self.cache_miss, self.output))

    def __repr__(self) -> str:
        return f"Price(cache_hit={self.cache_hit}, cache_miss={self.cache_miss}, output={self.output})"


#: Dollars per 1M tokens by model id.  The published figures (2026); Cloudflare bills
#: @cf/moonshotai/kimi-k2.6 at the same three rates.  Other ids are found by their
#: last path segment, without case, with "-" and "." alike, so gateway names such as
#: "moonshotai/kimi-k2.6" or "moonshot/kimi-k2-6" find "kimi-k2.6".
prices: dict[str, Price] = {
    "kimi-k2.6": Price(0.16, 0.95, 4.00),
    "kimi-k2.5": Price(0.10, 0.60, 3.00),
}


def _plain_name(model: str) -> str:
    return model.rsplit("/", 1)[-1].lower().replace(".", "-")


def price_of(model: Any) -> Price | None:
    """The price of model from ``kimi.prices``: its exact id, else the same model
    under a gateway's name; None when the table has no price for it."""
    if not isinstance(model, str) or not model:
        return None
    exact = prices.get(model)
    if exact is not None:
        return exact
    wanted = _plain_name(model)
    for name, price in prices.items():
        if _plain_name(name) == wanted:
            return price
    return None


def _count(usage: Any, name: str) -> int:
    value = usage.get(name) if isinstance(usage, dict) else getattr(usage, name, None)
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def _cached(usage: Any) -> int:
    cached = _count(usage, "cached_tokens")
    if cached:
        return cached
    details = usage.get("prompt_tokens_details") if isinstance(usage, dict) else getattr(usage, "prompt_tokens_details", None)
    return _count(details, "cached_tokens") if isinstance(details, dict) else 0


def tokens_cost(price: Price, prompt: int, cached: int, completion: int) -> float:
    """Dollars for these token counts: cached prompt tokens at the cache-hit rate,
    the other prompt tokens at the cache-miss rate, completion tokens at the output
    rate."""
    cached = min(cached, prompt)
    return (cached * price.cache_hit + (prompt - cached) * price.cache_miss + completion * price.output) / 1e6


def cost(usage: Any, model: str) -> float | None:
    """What a reply with this ``usage`` (a ``Usage`` or a dict) cost on ``model``, in
    US dollars: the gateway's own ``usage.cost`` when it sent one, else the token
    counts priced from ``kimi.prices``.  None when there is no usage; ValueError when
    the table has no price for the model (add one to ``kimi.prices``)."""
    if usage is None:
        return None
    reported = usage.get("cost") if isinstance(usage, dict) else getattr(usage, "cost", None)
    if isinstance(reported, (int, float)) and not isinstance(reported, bool) and reported >= 0:
        return float(reported)
    price = price_of(model)
    if price is None:
        raise ValueError(
            f"kimi.cost: no price for model {model!r}; add one: "
            f"kimi.prices[{model!r}] = kimi.Price(cache_hit=..., cache_miss=..., output=...)"
        )
    return tokens_cost(price, _count(usage, "prompt_tokens"), _cached(usage), _count(usage, "completion_tokens"))


def reply_cost(reply: Any) -> float | None:
    """``reply.cost``: the reply's cost, or None when it has no usage or its model no
    price (AIMLAPI's ``meta.usage.usd_spent`` counts as the gateway's own figure)."""
    meta = reply.__dict__.get("meta")
    if isinstance(meta, dict) and isinstance(meta.get("usage"), dict):
        spent = meta["usage"].get("usd_spent")
        if isinstance(spent, (int, float)) and not isinstance(spent, bool) and spent >= 0:
            return float(spent)
    try:
        return cost(reply.__dict__.get("usage"), reply.__dict__.get("model"))
    except ValueError:
        return None
