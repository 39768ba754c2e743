"""Type stubs for the response objects (kimi._models builds them at run
time from field lists; these describe the same classes to editors and
mypy)."""

from typing import Any, ClassVar, Iterator

class KimiObject:
    _fields: ClassVar[frozenset[str]]
    _nested: ClassVar[dict[str, type]]
    def __init__(self, **fields: Any) -> None: ...
    def __getattr__(self, name: str) -> Any: ...
    def __getitem__(self, key: str) -> Any: ...
    def __contains__(self, key: object) -> bool: ...
    def get(self, key: str, default: Any = ...) -> Any: ...
    def to_dict(self) -> dict[str, Any]: ...
    def model_dump(self, *, exclude_unset: bool = False, exclude_none: bool = False) -> dict[str, Any]: ...
    def model_dump_json(
        self, *, indent: int | None = None, exclude_unset: bool = False, exclude_none: bool = False
    ) -> str: ...

class Usage(KimiObject):
    prompt_tokens: int | None
    completion_tokens: int | None
    total_tokens: int | None
    cached_tokens: int | None
    prompt_tokens_details: dict[str, Any] | None
    completion_tokens_details: dict[str, Any] | None
    cost: float | None

class Function(KimiObject):
    name: str | None
    arguments: str | None

class ToolCall(KimiObject):
    id: str
    type: str
    function: Function

class ToolCallDelta(KimiObject):
    index: int
    id: str | None
    type: str | None
    function: Function | None

class ChatCompletionMessage(KimiObject):
    role: str
    content: str | None
    reasoning_content: str | None
    reasoning: str | None
    tool_calls: list[ToolCall] | None
    name: str | None
    partial: bool | None
    refusal: str | None
    def to_param(self) -> dict[str, Any]: ...

class ChoiceDelta(KimiObject):
    role: str | None
    content: str | None
    reasoning_content: str | None
    reasoning: str | None
    tool_calls: list[ToolCallDelta] | None
    refusal: str | None

class Choice(KimiObject):
    index: int
    message: ChatCompletionMessage
    finish_reason: str | None
    logprobs: Any
    usage: Usage | None

class ChunkChoice(KimiObject):
    index: int
    delta: ChoiceDelta
    finish_reason: str | None
    logprobs: Any
    usage: Usage | None

class ChatCompletion(KimiObject):
    id: str
    object: str
    created: int
    model: str
    choices: list[Choice]
    usage: Usage | None
    system_fingerprint: str | None

    @property
    def cost(self) -> float | None: ...
    @property
    def route(self) -> str | None: ...

class ChatCompletionChunk(KimiObject):
    id: str
    object: str
    created: int
    model: str
    choices: list[ChunkChoice]
    usage: Usage | None
    system_fingerprint: str | None

class Model(KimiObject):
    id: str
    object: str
    created: int
    owned_by: str
    context_length: int | None
    supports_image_in: bool | None
    supports_video_in: bool | None
    supports_reasoning: bool | None

class ModelList(KimiObject):
    object: str
    data: list[Model]
    def __iter__(self) -> Iterator[Model]: ...
    def __len__(self) -> int: ...

class Balance(KimiObject):
    available_balance: float
    voucher_balance: float
    cash_balance: float

class BalanceResponse(KimiObject):
    code: int
    data: Balance
    scode: str
    status: bool

class TokenCount(KimiObject):
    total_tokens: int

class FileObject(KimiObject):
    id: str
    object: str
    bytes: int
    created_at: int
    filename: str
    purpose: str
    status: str | None
    status_details: str | None

class FileList(KimiObject):
    object: str
    data: list[FileObject]
    def __iter__(self) -> Iterator[FileObject]: ...
    def __len__(self) -> int: ...

class FileDeleted(KimiObject):
    id: str
    object: str
    deleted: bool

class BatchRequestCounts(KimiObject):
    total: int
    completed: int
    failed: int

class BatchError(KimiObject):
    code: str | None
    message: str | None
    line: int | None
    param: str | None

class BatchErrors(KimiObject):
    object: str
    data: list[BatchError]

class Batch(KimiObject):
    id: str
    object: str
    endpoint: str
    errors: BatchErrors | None
    input_file_id: str
    completion_window: str
    status: str
    output_file_id: str | None
    error_file_id: str | None
    created_at: int
    in_progress_at: int | None
    expires_at: int | None
    finalizing_at: int | None
    completed_at: int | None
    failed_at: int | None
    expired_at: int | None
    cancelling_at: int | None
    cancelled_at: int | None
    request_counts: BatchRequestCounts | None
    metadata: dict[str, str] | None

class BatchList(KimiObject):
    object: str
    data: list[Batch]
    has_more: bool
    first_id: str | None
    last_id: str | None
