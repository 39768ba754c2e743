"""Response objects: the API's field names with attribute access.

Objects are built in C straight from the parsed JSON (see ext/python/
convert.c): each JSON object becomes an instance of the class chosen by its
parent's ``_nested`` map, with its members as instance attributes.  Fields
the package does not know are kept; a known field the server left out reads
as None.  ``to_dict()`` gives the plain JSON data back.  A field named like a
method (``to_dict``, ``get``) never hides the method: read it as
``obj["to_dict"]``.  JSON nested deeper than 256 levels is not built (the
client raises a typed error instead), so every object can be printed,
compared and pickled.
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
    "TokenCount",
    "FileObject",
    "FileList",
    "FileDeleted",
    "Batch",
    "BatchList",
    "BatchRequestCounts",
    "BatchError",
    "BatchErrors",
]


class _method:
    """A method that a server field of the same name cannot hide: as a data
    descriptor it wins over the instance ``__dict__`` the fields live in."""

    __slots__ = ("func",)

    def __init__(self, func: Any) -> None:
        self.func = func

    def __get__(self, obj: Any, cls: Any = None) -> Any:
        return self.func if obj is None else self.func.__get__(obj, cls)

    def __set__(self, obj: Any, value: Any) -> None:
        name = self.func.__name__
        raise AttributeError(f"{name!r} is a method; set the field as obj.__dict__[{name!r}]")


class KimiObject:
    """A JSON object with attribute access; unknown fields are kept."""

    __slots__ = ("__dict__", "_response")
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

    @_method
    def get(self, key: str, default: Any = None) -> Any:
        """The field's value, or default when the server did not send it."""
        return self.__dict__.get(key, default)

    @_method
    def to_dict(self) -> dict[str, Any]:
        """The object as plain JSON data (dicts, lists, scalars): the fields the
        server sent."""
        return _plain(self)

    @_method
    def model_dump(self, *, exclude_unset: bool = False, exclude_none: bool = False) -> dict[str, Any]:
        """As openai-python's: plain data, with every field the class declares
        (None when the server left it out) unless ``exclude_unset``; fields that
        are None dropped with ``exclude_none``."""
        return _plain(self, fill=not exclude_unset, drop_none=exclude_none)

    @_method
    def model_dump_json(
        self, *, indent: int | None = None, exclude_unset: bool = False, exclude_none: bool = False
    ) -> str:
        """``model_dump`` as a JSON string (non-ASCII kept as is)."""
        import json

        data = _plain(self, fill=not exclude_unset, drop_none=exclude_none)
        return json.dumps(data, indent=indent, ensure_ascii=False)

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, KimiObject):
            return NotImplemented
        return type(self) is type(other) and self.__dict__ == other.__dict__

    __hash__ = None  # type: ignore[assignment]

    @_method
    def __getstate__(self) -> Any:
        # Defined so every pickle protocol takes the object (0 and 1 refuse a class
        # with __slots__ otherwise), and as a method a field cannot hide.
        kept = getattr(self, "_response", None)
        return self.__dict__ if kept is None else (self.__dict__, {"_response": kept})

    def __repr__(self) -> str:
        inner = ", ".join(f"{k}={v!r}" for k, v in self.__dict__.items())
        return f"{type(self).__name__}({inner})"


def _plain(root: Any, fill: bool = False, drop_none: bool = False) -> Any:
    """Model objects as dicts, all the way down, without recursion (a reply may be
    nested deeper than Python's recursion limit allows).  With fill, a model's
    declared fields the server left out appear as None; with drop_none, no member
    of a model or dict is None."""

    def members(value: Any) -> Any:
        if isinstance(value, KimiObject):
            fields = value.__dict__
            if fill:
                missing = type(value)._fields - fields.keys()
                fields = {**fields, **dict.fromkeys(sorted(missing))}
            pairs = fields.items()
        else:
            pairs = value.items()
        if drop_none:
            return iter([(k, v) for k, v in pairs if v is not None])
        return iter(pairs)

    def shell(value: Any) -> Any:
        if isinstance(value, (KimiObject, dict)):
            return {}, members(value)
        if isinstance(value, list):
            return [], iter(enumerate(value))
        return value, None

    result, items = shell(root)
    stack = [(result, items)] if items is not None else []
    while stack:
        target, items = stack[-1]
        for key, value in items:
            copy, inner = shell(value)
            if isinstance(target, list):
                target.append(copy)
            else:
                target[key] = copy
            if inner is not None:
                stack.append((copy, inner))
                break
        else:
            stack.pop()
    return result


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


def _listed(page: Any) -> list[Any]:
    """A list reply's items of its own class; a ``data`` that is not a list (or
    members that are not objects) give nothing rather than an error or characters."""
    data = page.__dict__.get("data")
    if not isinstance(data, list):
        return []
    item = type(page)._nested["data"]
    return [x for x in data if isinstance(x, item)]


class ModelList(KimiObject):
    """GET /models: ``data`` holds the models; iterating yields them."""

    _fields = frozenset({"object", "data"})
    _nested = {"data": Model}

    def __iter__(self) -> Iterator[Any]:
        return iter(_listed(self))

    def __len__(self) -> int:
        return len(_listed(self))


Balance = _model("Balance", "available_balance voucher_balance cash_balance")
BalanceResponse = _model("BalanceResponse", "code data scode status", {"data": Balance})


def _reply_cost(self: Any) -> float | None:
    """What this reply cost in US dollars: the gateway's own figure when it sent
    one, else its usage priced from ``kimi.prices``; None when there is no usage
    or no price for its model (see ``kimi.cost``)."""
    from ._cost import reply_cost

    return reply_cost(self)


ChatCompletion.cost = property(_reply_cost)


def _to_param(self: Any) -> dict[str, Any]:
    """The message as the dict to append to ``messages`` for the next turn: role,
    content, tool calls, and the reasoning (``reasoning_content``, also when a
    gateway sent it as ``reasoning``), which thinking models need echoed on tool-call
    turns."""
    fields = self.__dict__
    param: dict[str, Any] = {"role": fields.get("role") or "assistant", "content": fields.get("content") or ""}
    reasoning = fields.get("reasoning_content") or fields.get("reasoning")
    if isinstance(reasoning, str) and reasoning:
        param["reasoning_content"] = reasoning
    calls = fields.get("tool_calls")
    if isinstance(calls, list) and calls:
        param["tool_calls"] = [_plain(call) for call in calls]
    name = fields.get("name")
    if isinstance(name, str) and name:
        param["name"] = name
    return param


_to_param.__name__ = "to_param"
ChatCompletionMessage.to_param = _method(_to_param)


def _response_headers(self: Any) -> Any:
    """The response headers of the call that returned this object (a case-blind
    mapping; empty for objects that did not come from a call)."""
    from ._raw import response_of

    return response_of(self)[1]


def _request_id(self: Any) -> str | None:
    """The request id the server sent with this object, as openai-python's."""
    from ._raw import request_id_of

    return request_id_of(_response_headers(self))


def _rate_limit(self: Any) -> Any:
    """The ``X-RateLimit-*`` headers that came with this object (``RateLimitInfo``)."""
    from ._raw import RateLimitInfo

    return RateLimitInfo(_response_headers(self))


def _route(self: Any) -> str | None:
    """The name of the route (``kimi.providers``) that answered: set by a client with
    a provider or fallbacks; None from a client of the default route alone."""
    kept = getattr(self, "_response", None)
    return kept[2] if kept is not None and len(kept) > 2 else None


ChatCompletion.route = property(_route)
KimiObject._headers = property(_response_headers)
KimiObject._request_id = property(_request_id)
KimiObject._rate_limit = property(_rate_limit)

TokenCount = _model("TokenCount", "total_tokens")
TokenCountResponse = _model("TokenCountResponse", "code data scode status", {"data": TokenCount})

FileObject = _model("FileObject", "id object bytes created_at filename purpose status status_details")
FileDeleted = _model("FileDeleted", "id object deleted")


class FileList(KimiObject):
    """GET /files: ``data`` holds the files; iterating yields them."""

    _fields = frozenset({"object", "data"})
    _nested = {"data": FileObject}

    def __iter__(self) -> Iterator[Any]:
        return iter(_listed(self))

    def __len__(self) -> int:
        return len(_listed(self))


BatchRequestCounts = _model("BatchRequestCounts", "total completed failed")
BatchError = _model("BatchError", "code message line param")
BatchErrors = _model("BatchErrors", "object data", {"data": BatchError})
# metadata stays a plain dict: the user's own keys.
Batch = _model(
    "Batch",
    "id object endpoint errors input_file_id completion_window status output_file_id error_file_id "
    "created_at in_progress_at expires_at finalizing_at completed_at failed_at expired_at "
    "cancelling_at cancelled_at request_counts metadata",
    {"request_counts": BatchRequestCounts, "errors": BatchErrors, "metadata": dict},
)
BatchList = _model("BatchList", "object data has_more first_id last_id", {"data": Batch})

# A line of a batch's output or error file (kimi-api.md §7: its schema is not
# settled; this is OpenAI's, which the platform's documents follow).
BatchOutputResponse = _model("BatchOutputResponse", "status_code request_id body", {"body": ChatCompletion})
BatchOutputLine = _model("BatchOutputLine", "id custom_id response error", {"response": BatchOutputResponse, "error": dict})
