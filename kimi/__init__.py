"""kimi: a fast client for the Kimi (Moonshot AI) API, with a C core.

    import kimi
    client = kimi.Kimi()        # MOONSHOT_API_KEY from the environment
    with client.chat.completions.create(model="kimi-k2.6", messages=[...],
                                        stream=True) as stream:
        for chunk in stream:
            print(chunk.choices[0].delta.content or "", end="")
    print(stream.final().usage)

In a checkout whose C extension is not built, ``import kimi`` (and so
``kimi.testing``, which is standard library only) still works; the first use
of a client name such as ``kimi.Kimi`` raises ImportError saying how to build.
"""

from ._version import __version__

try:
    from ._core import Stream
except ImportError as _exc:
    _core_failure: ImportError | None = _exc
else:
    _core_failure = None
    from ._async_client import AsyncKimi, AsyncStream
    from ._base_client import Timeout
    from ._client import DEFAULT_BASE_URL, Kimi
    from ._limits import Limits, LimitsState
    from ._map import MapResult
    from ._exceptions import (
        APIConnectionError,
        APIError,
        APIResponseValidationError,
        APIStatusError,
        APITimeoutError,
        AuthenticationError,
        BadRequestError,
        BatchFailedError,
        BatchRequestError,
        CertificateError,
        ConflictError,
        ContentFilterError,
        EngineOverloadedError,
        InternalServerError,
        InvalidRequestError,
        KimiError,
        LimitExceededError,
        ModelNotFoundError,
        NotFoundError,
        PermissionDeniedError,
        QuotaExceededError,
        RateLimitError,
        RateLimitReachedError,
        ResourceNotFoundError,
        ServerError,
        StreamError,
        TruncatedWarning,
        ToolLoopError,
        UnprocessableEntityError,
    )
    from ._models import (
        Balance,
        Batch,
        BatchError,
        BatchErrors,
        BatchList,
        BatchRequestCounts,
        ChatCompletion,
        ChatCompletionChunk,
        ChatCompletionMessage,
        Choice,
        ChoiceDelta,
        ChunkChoice,
        FileDeleted,
        FileList,
        FileObject,
        Function,
        KimiObject,
        Model,
        ModelList,
        TokenCount,
        ToolCall,
        ToolCallDelta,
        Usage,
    )

__all__ = [
    "Kimi",
    "AsyncKimi",
    "Stream",
    "AsyncStream",
    "Timeout",
    "Limits",
    "LimitsState",
    "MapResult",
    "Price",
    "prices",
    "cost",
    "UsageTotals",
    "ModelUsage",
    "Headers",
    "RateLimitInfo",
    "RawResponse",
    "image",
    "video",
    "model_rules",
    "ModelRules",
    "tool",
    "builtin",
    "Tool",
    "ToolRun",
    "ToolRecord",
    "PendingCall",
    "ToolStream",
    "AsyncToolStream",
    "providers",
    "Provider",
    "DEFAULT_BASE_URL",
    "KimiError",
    "APIError",
    "APIConnectionError",
    "APITimeoutError",
    "CertificateError",
    "APIResponseValidationError",
    "APIStatusError",
    "BadRequestError",
    "AuthenticationError",
    "PermissionDeniedError",
    "NotFoundError",
    "RateLimitError",
    "InternalServerError",
    "ConflictError",
    "UnprocessableEntityError",
    "InvalidRequestError",
    "ContentFilterError",
    "ResourceNotFoundError",
    "ModelNotFoundError",
    "EngineOverloadedError",
    "RateLimitReachedError",
    "QuotaExceededError",
    "ServerError",
    "StreamError",
    "TruncatedWarning",
    "LimitExceededError",
    "BatchFailedError",
    "BatchRequestError",
    "ToolLoopError",
    "KimiObject",
    "ChatCompletion",
    "ChatCompletionChunk",
    "ChatCompletionMessage",
    "Choice",
    "ChunkChoice",
    "ChoiceDelta",
    "ToolCall",
    "ToolCallDelta",
    "Function",
    "Usage",
    "Model",
    "ModelList",
    "Balance",
    "TokenCount",
    "FileObject",
    "FileList",
    "FileDeleted",
    "Batch",
    "BatchList",
    "BatchRequestCounts",
    "BatchError",
    "BatchErrors",
    "__version__",
]


_BUILD_HINT = (
    "build it in place with `make build` (from a checkout), or install the package with "
    "`pip install .`; both need the system packages libcurl4-openssl-dev libcjson-dev "
    "pkg-config, a C compiler and the Python headers "
    "(sudo apt-get install libcurl4-openssl-dev libcjson-dev pkg-config gcc python3-dev)"
)


def _unbuilt_error(failure: ImportError) -> ImportError:
    """The ImportError a client name raises when kimi._core is missing or does not load."""
    if isinstance(failure, ModuleNotFoundError) and failure.name == "kimi._core":
        reason = "the C extension kimi._core is not built"
    else:
        reason = f"the C extension kimi._core does not load ({failure})"
    return ImportError(f"kimi: {reason}: {_BUILD_HINT}", name="kimi._core")


# Names whose modules load on first use: most programs never price a reply or read
# raw headers, and import time is part of what kimi is for.
_LAZY = {
    "Price": "_cost",
    "prices": "_cost",
    "cost": "_cost",
    "UsageTotals": "_usage",
    "ModelUsage": "_usage",
    "Headers": "_raw",
    "RateLimitInfo": "_raw",
    "RawResponse": "_raw",
    "image": "_media",
    "video": "_media",
    "model_rules": "_rules",
    "ModelRules": "_rules",
    "tool": "_tools",
    "builtin": "_tools",
    "Tool": "_tools",
    "ToolRun": "_tools",
    "ToolRecord": "_tools",
    "PendingCall": "_tools",
    "ToolStream": "_tools",
    "AsyncToolStream": "_tools",
    "providers": "_providers",
    "Provider": "_providers",
}


def __getattr__(name: str) -> object:
    """The lazily loaded names; in an unbuilt checkout, client names explain how to
    build."""
    if _core_failure is not None and name in __all__ and name != "__version__":
        raise _unbuilt_error(_core_failure) from _core_failure
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'kimi' has no attribute {name!r}")
    import importlib

    value = getattr(importlib.import_module(f"kimi.{module}"), name)
    globals()[name] = value
    return value
