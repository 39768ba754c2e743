"""kimi.Limits: the account's four limits, kept by the client itself.

The platform limits an organisation's concurrency, requests per minute (RPM), tokens per
minute (TPM) and tokens per day (TPD).  A client given ``Limits`` waits before sending
rather than collecting 429s, and refuses a request the day's tokens can no longer admit.
The windows live in the C core (ext/core/limit.c), one per client, shared by its threads,
tasks and maps; this module only checks the numbers and says what a request counts.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, Mapping

__all__ = ["Limits", "LimitsState", "completion_budget"]

# What the platform assumes a request may produce when it names no cap: its
# chat documentation calls the default "a reasonable integer such as 1024".
DEFAULT_COMPLETION_BUDGET = 1024

# The platform's published tiers (cumulative top-up), as (concurrency, rpm,
# tpm, tpd); None is "no limit".
_TIERS: dict[int, tuple[int, int, int, int | None]] = {
    0: (1, 3, 500_000, 1_500_000),
    1: (50, 200, 2_000_000, None),
    2: (100, 500, 3_000_000, None),
    3: (200, 5_000, 3_000_000, None),
    4: (400, 5_000, 4_000_000, None),
    5: (1_000, 10_000, 5_000_000, None),
}


class Limits:
    """What one client may send: ``concurrency`` requests in flight at once, ``rpm``
    requests started in any 60 s, ``tpm`` tokens in any 60 s, ``tpd`` tokens in any
    24 h (each an int >= 1, or None for no limit).

    A request counts its estimated prompt tokens plus its completion budget
    (``max_completion_tokens``, else ``max_tokens``, else 1024, times ``n``) when it
    starts, as the platform's gateway counts it; the reply's usage then replaces the
    estimate.  ``Limits.tier(1)`` gives the limits of a published tier.
    """

    __slots__ = ("concurrency", "rpm", "tpm", "tpd")

    def __init__(
        self,
        concurrency: int | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        tpd: int | None = None,
    ) -> None:
        for name, value in (("concurrency", concurrency), ("rpm", rpm), ("tpm", tpm), ("tpd", tpd)):
            if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
                raise ValueError(f"Limits: {name} must be an int >= 1 or None, got {value!r}")
            if value is not None and value > 2**62:
                raise ValueError(f"Limits: {name} is too large: {value!r}")
            object.__setattr__(self, name, value)

    @classmethod
    def tier(cls, number: int) -> "Limits":
        """The limits of the platform's tier ``number`` (0 to 5) on api.moonshot.ai."""
        if number not in _TIERS:
            raise ValueError(f"Limits.tier: tiers are 0 to 5, got {number!r}")
        return cls(*_TIERS[number])

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError("Limits is immutable; make a new one")

    def _state(self) -> tuple[int | None, int | None, int | None, int | None]:
        return (self.concurrency, self.rpm, self.tpm, self.tpd)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Limits):
            return NotImplemented
        return self._state() == other._state()

    def __hash__(self) -> int:
        return hash(self._state())

    def __reduce__(self) -> tuple[Any, ...]:
        return (Limits, self._state())

    def __repr__(self) -> str:
        return f"Limits(concurrency={self.concurrency!r}, rpm={self.rpm!r}, tpm={self.tpm!r}, tpd={self.tpd!r})"


class LimitsState:
    """A snapshot of a client's limits (``client.limits``): the configured ``limits``;
    ``in_flight`` requests; ``requests_minute``, ``tokens_minute`` and ``tokens_day``
    counted in the last 60 s and 24 h (``tokens_day`` only when ``tpd`` is set);
    ``paused``, the seconds every sender still waits after a rate-limit 429; and
    ``waited``, the total seconds callers were asked to wait so far."""

    __slots__ = ("limits", "in_flight", "requests_minute", "tokens_minute", "tokens_day", "paused", "waited")

    def __init__(self, limits: Limits, snapshot: tuple[int, int, int, int, float, float]) -> None:
        self.limits = limits
        (
            self.in_flight,
            self.requests_minute,
            self.tokens_minute,
            self.tokens_day,
            self.paused,
            self.waited,
        ) = snapshot

    def __repr__(self) -> str:
        return (
            f"LimitsState(in_flight={self.in_flight}, requests_minute={self.requests_minute}, "
            f"tokens_minute={self.tokens_minute}, tokens_day={self.tokens_day}, "
            f"paused={self.paused:.3f}, waited={self.waited:.3f}, limits={self.limits!r})"
        )


def completion_budget(body: Mapping[str, Any] | None) -> int:
    """The completion tokens a chat request may produce, as the limits count them."""
    if body is None or "messages" not in body:
        return 0
    n = body.get("n")
    choices = n if isinstance(n, int) and not isinstance(n, bool) and n > 0 else 1
    for key in ("max_completion_tokens", "max_tokens"):
        cap = body.get(key)
        if isinstance(cap, int) and not isinstance(cap, bool) and cap >= 0:
            return min(cap * choices, 2**62)
    return DEFAULT_COMPLETION_BUDGET * choices
