"""Canned data the local server answers with: models, balance, usage, error types.

Values follow kimi-api.md (§6 models, §7 balance, §8 error table, §11 usage); they are
illustrative, not a copy of any live account. Pure data and tiny helpers, no I/O.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

#: Usage sent when a reply does not give its own (the §11 sample numbers).
DEFAULT_USAGE: Mapping[str, int] = MappingProxyType(
    {"prompt_tokens": 120, "completion_tokens": 42, "total_tokens": 162, "cached_tokens": 64}
)

#: status -> (error.type, typical message), per the kimi-api.md §8 table.
ERROR_TYPES: Mapping[int, tuple[str, str]] = MappingProxyType(
    {
        400: ("invalid_request_error", "Invalid request: the request is malformed"),
        401: ("invalid_authentication_error", "Invalid Authentication"),
        403: ("permission_denied_error", "The API you are accessing is not open"),
        404: ("resource_not_found_error", "Not found the model or Permission denied"),
        429: (
            "rate_limit_reached_error",
            "Your account org-test<ak-test> request reached organization max RPM: 3, "
            "please try again after 1 seconds",
        ),
        500: ("server_error", "Internal server error"),
        502: ("server_error", "Bad gateway"),
        503: (
            "engine_overloaded_error",
            "The engine is currently overloaded, please try again later",
        ),
        504: ("server_error", "Gateway timeout"),
    }
)


#: Every error type of kimi-api.md §8 as (status, typical message), for `Reply.api_error`.
API_ERRORS: Mapping[str, tuple[int, str]] = MappingProxyType(
    {
        "content_filter": (400, "The request was rejected because it was considered high risk"),
        "invalid_request_error": (400, "Invalid request: Your request exceeded model token limit: 262144"),
        "invalid_authentication_error": (401, "Invalid Authentication"),
        "incorrect_api_key_error": (401, "Incorrect API key provided"),
        "permission_denied_error": (403, "The API you are accessing is not open"),
        "resource_not_found_error": (404, "Not found the model kimi-k9 or Permission denied"),
        "engine_overloaded_error": (429, "The engine is currently overloaded, please try again later"),
        "rate_limit_reached_error": (
            429,
            "Your account org-test<ak-test> request reached organization max RPM: 3, please try again after 1 seconds",
        ),
        "exceeded_current_quota_error": (
            429,
            "Your account org-test<ak-test> is suspended, please check your plan and billing details",
        ),
        "server_error": (500, "Failed to extract file: invalid state transition"),
        "unexpected_output": (500, "invalid state transition"),
    }
)


def error_type_for(status: int) -> tuple[str, str]:
    """The Moonshot (type, message) for an HTTP status, with a fallback per class."""
    if status in ERROR_TYPES:
        return ERROR_TYPES[status]
    if status >= 500:
        return ("server_error", f"Server error {status}")
    return ("invalid_request_error", f"Request failed with status {status}")


def _model(
    model_id: str, created: int, context: int, image: bool, video: bool, reasoning: bool
) -> dict[str, Any]:
    return {
        "id": model_id,
        "object": "model",
        "created": created,
        "owned_by": "moonshot",
        "context_length": context,
        "supports_image_in": image,
        "supports_video_in": video,
        "supports_reasoning": reasoning,
    }


def models_body() -> dict[str, Any]:
    """The GET /v1/models answer (§6 shape)."""
    return {
        "object": "list",
        "data": [
            _model("kimi-k2.6", 1776643200, 262144, True, True, True),
            _model("kimi-k2.5", 1769040000, 262144, True, False, True),
            _model("kimi-k2-turbo-preview", 1756944000, 262144, False, False, False),
            _model("kimi-k2-thinking", 1762214400, 262144, False, False, True),
            _model("moonshot-v1-8k", 1712102400, 8192, False, False, False),
            _model("moonshot-v1-32k", 1712102400, 32768, False, False, False),
            _model("moonshot-v1-128k", 1712102400, 131072, False, False, False),
            _model("moonshot-v1-8k-vision-preview", 1736899200, 8192, True, False, False),
        ],
    }


def find_model(model_id: str) -> dict[str, Any] | None:
    """The model object GET /v1/models lists under `model_id`, or None."""
    return next((m for m in models_body()["data"] if m["id"] == model_id), None)


#: The context length taken for a model the list does not hold (kimi-api.md §6: 256K).
DEFAULT_CONTEXT = 262144


@functools.cache
def _context_lengths() -> Mapping[str, int]:
    """Each listed model's context length, made once (every chat request asks)."""
    return MappingProxyType({m["id"]: m["context_length"] for m in models_body()["data"]})


def context_length(model_id: str) -> int:
    """The listed model's ``context_length``, or DEFAULT_CONTEXT for one not listed."""
    return _context_lengths().get(model_id, DEFAULT_CONTEXT)


def model_not_found_message(model_id: str) -> str:
    """The API's 404 message for an unknown model (kimi-api.md §8)."""
    return f"Not found the model {model_id} or Permission denied"


def balance_body() -> dict[str, Any]:
    """The GET /v1/users/me/balance answer (§7 shape)."""
    return {
        "code": 0,
        "data": {
            "available_balance": 49.58894,
            "voucher_balance": 46.58893,
            "cash_balance": 3.00001,
        },
        "scode": "0x0",
        "status": True,
    }
