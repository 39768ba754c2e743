"""kimi: a fast client for the Kimi (Moonshot AI) API, with a C core.

    import kimi
    client = kimi.Kimi()        # MOONSHOT_API_KEY from the environment
    with client.chat.completions.create(model="kimi-k2.6", messages=[...],
                                        stream=True) as stream:
        for chunk in stream:
            print(chunk.choices[0].delta.content or "", end="")
    print(stream.final().usage)
"""

from ._base_client import Timeout
from ._client import DEFAULT_BASE_URL, Kimi
from ._core import Stream
from ._exceptions import (
    APIConnectionError,
    APIResponseValidationError,
    APIStatusError,
    APITimeoutError,
    AuthenticationError,
    BadRequestError,
    CertificateError,
    InternalServerError,
    KimiError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    StreamError,
)
from ._models import (
    Balance,
    ChatCompletion,
    ChatCompletionChunk,
    ChatCompletionMessage,
    Choice,
    ChoiceDelta,
    ChunkChoice,
    Function,
    KimiObject,
    Model,
    ModelList,
    ToolCall,
    ToolCallDelta,
    Usage,
)
from ._version import __version__

__all__ = [
    "Kimi",
    "Stream",
    "Timeout",
    "DEFAULT_BASE_URL",
    "KimiError",
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
    "StreamError",
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
    "__version__",
]
