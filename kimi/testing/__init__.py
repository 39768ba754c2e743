"""kimi.testing: a local Kimi-compatible HTTP server for tests, demos and benchmarks.

`KimiServer` serves the chat, models and balance endpoints on a loopback port; `Reply`
scripts what it answers (streams, errors, raw bytes, bulk streams). Standard library only.
"""

from ._replies import Reply, ToolCall
from ._server import KimiServer
from ._state import RecordedRequest

__all__ = ["KimiServer", "RecordedRequest", "Reply", "ToolCall"]
