"""The endpoint paths the local server answers, and how an id is read out of one.

Names only; which answer a path gets is `_routes.py` (and the file and batch routes).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TypeVar
from urllib.parse import unquote

Route = TypeVar("Route")

CHAT_PATH = "/v1/chat/completions"
MODELS_PATH = "/v1/models"
BALANCE_PATH = "/v1/users/me/balance"
ESTIMATE_PATH = "/v1/tokenizers/estimate-token-count"
FILES_PATH = "/v1/files"
BATCHES_PATH = "/v1/batches"


def member(path: str, collection: str) -> tuple[str, str] | None:
    """(the id, what follows it) of a path below `collection`, e.g. ``("file-x",
    "content")`` for ``/v1/files/file-x/content`` (the id percent-decoded, "" when
    nothing follows); None for a path not below it."""
    if not path.startswith(collection + "/"):
        return None
    quoted, _, tail = path[len(collection) + 1 :].partition("/")
    return unquote(quoted), tail


def member_route(
    path: str, collection: str, method: str, routes: Mapping[tuple[str, str], Route]
) -> tuple[Route, str] | None:
    """(the route, the id) for `method` on a path below `collection`, where `routes` is
    keyed by (method, what follows the id); None when it holds no such route."""
    found = member(path, collection)
    if found is None:
        return None
    route = routes.get((method, found[1]))
    return None if route is None else (route, found[0])
