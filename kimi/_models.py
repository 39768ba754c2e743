"""Response objects: the API's field names with attribute access.

Objects are built in C straight from the parsed JSON (see ext/python/
convert.c): each JSON object becomes an instance of the class chosen by its
parent's ``_nested`` map, with its members as instance attributes.  Fields
the package does not know are kept; a known field the server left out reads
as None.  ``to_dict()`` gives the plain JSON data back.
"""

from __future__ import annotations

# typing is only for type checkers: importing it would double kimi's import
# time.
TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any, ClassVar, Iterator

__all__ = [
    "KimiObject",
    "ChatCompletion",
    "ChatCompletionChunk",
    "Choice",
    "ChunkChoice",
    "ChatCompletionMessage",
    "ChoiceDelta",
    "ToolCall",
    "ToolCallDelta",
    "Function",
    "Usage",
    "Model",
    "ModelList",
    "Balance",
    "BalanceResponse",
]


class KimiObject:
    """A JSON object with attribute access; unknown fields are kept."""

    _fields: ClassVar[frozenset[str]] = frozenset()
    _nested: ClassVar[dict[str, type]] = {}

    def __init__(self, **fields: Any) -> None:
        self.__dict__.update(fields)

    def __getattr__(self, name: str) -> Any:
        # Only called when the attribute is missing.
        if name in type(self)._fields:
            return None
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    def __getitem__(self, key: str) -> Any:
        return self.__dict__[key]

    def __contains__(self, key: object) -> bool:
        return key in self.__dict__

    def get(self, key: str, default: Any = None) -> Any:
        return self.__dict__.get(key, default)

    def to_dict(self) -> dict[str, Any]:
        """The object as plain JSON data (dicts, lists, scalars)."""
        return {k: _plain(v) for k, v in self.__dict__.items()}

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KimiObject):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({inner})"


def _plain(value: Any) -> Any:
    if isinstance(value, KimiObject):
        return value.to_dict()
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _model(name: str, fields: str, nested: dict[str, type] | None = None) -> type:
    cls = type(name, (KimiObject,), {"_fields": frozenset(fields.split()), "_nested": nested or {}})
    cls.__module__ = __name__
    return cls


# Free-form members stay plain dicts (JSON schemas, metadata).
Usage = _model(
    "Usage",
    "prompt_tokens completion_tokens total_tokens cached_tokens prompt_tokens_details completion_tokens_details cost",
    {"prompt_tokens_details": dict, "completion_tokens_details": dict},
)
Function = _model("Function", "name arguments")
ToolCall = _model("ToolCall", "id type function", {"function": Function})
ToolCallDelta = _model("ToolCallDelta", "index id type function", {"function": Function})
ChatCompletionMessage = _model(
    "ChatCompletionMessage",
    "role content reasoning_content reasoning tool_calls name partial refusal",
    {"tool_calls": ToolCall},
)
ChoiceDelta = _model(
    "ChoiceDelta",
    "role content reasoning_content reasoning tool_calls refusal",
    {"tool_calls": ToolCallDelta},
)
Choice = _model(
    "Choice", "index message finish_reason logprobs usage", {"message": ChatCompletionMessage, "usage": Usage}
)
ChunkChoice = _model(
    "ChunkChoice", "index delta finish_reason logprobs usage", {"delta": ChoiceDelta, "usage": Usage}
)
ChatCompletion = _model(
    "ChatCompletion",
    "id object created model choices usage system_fingerprint",
    {"choices": Choice, "usage": Usage},
)
ChatCompletionChunk = _model(
    "ChatCompletionChunk",
    "id object created model choices usage system_fingerprint",
    {"choices": ChunkChoice, "usage": Usage},
)
Model = _model(
    "Model",
    "id object created owned_by context_length supports_image_in supports_video_in supports_reasoning",
)


class ModelList(KimiObject):
    """GET /models: ``data`` holds the models; iterating yields them."""

    _fields = frozenset({"object", "data"})
    _nested = {"data": Model}

    def __iter__(self) -> Iterator[Any]:
        return iter(self.__dict__.get("data") or [])

    def __len__(self) -> int:
        return len(self.__dict__.get("data") or [])


Balance = _model("Balance", "available_balance voucher_balance cash_balance")
BalanceResponse = _model("BalanceResponse", "code data scode status", {"data": Balance})
