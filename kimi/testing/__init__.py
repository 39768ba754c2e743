"""kimi.testing: a local Kimi-compatible HTTP server for tests, demos and benchmarks.

`KimiServer` serves the chat, models (the list and one by id), balance, token estimate,
files and batches endpoints on a loopback port; `Reply` scripts what it answers (streams,
errors, raw bytes, bulk streams); a `ManualClock` walks batches through their lifecycle.
The builtin ``$web_search`` is answered as the platform does (`_web_search.py`).
Chat answers follow the request's ``n`` and ``stream_options.include_usage`` as the API
does. One thread runs an asyncio loop that holds thousands of connections at once;
`latency` and the in-flight counters serve concurrency tests. Standard library only: it
imports and serves without kimi's compiled extension.
"""

from ._clock import ManualClock
from ._replies import Reply, ToolCall
from ._server import KimiServer
from ._state import RecordedRequest

__all__ = ["KimiServer", "ManualClock", "RecordedRequest", "Reply", "ToolCall"]
