"""Security and hygiene: the API key stays out of reprs and errors, headers and URLs are
checked, configuration comes from the environment, exports are complete, the core has no
Python.h, clients and objects pickle, nothing leaks over many requests, re-import works.
"""

from __future__ import annotations

import gc
import importlib
import inspect
import pickle
import re
import subprocess
import traceback
import tracemalloc
from pathlib import Path

import pytest
from conftest import KEY, MODEL, PYTHON, REPO, closed_port, create, delta_event, sse, subprocess_env

import kimi
import kimi._exceptions
from kimi.testing import Reply

# -- the API key stays private -------------------------------------------------------------


def _assert_key_absent(exc: BaseException) -> None:
    text = "".join(traceback.format_exception(type(exc), exc, exc.__traceback__))
    for shown in (str(exc), repr(exc), repr(exc.args), text, repr(vars(exc))):
        assert KEY not in shown


def test_key_not_in_client_repr_or_public_attributes(client):
    assert KEY not in repr(client)
    assert KEY not in str(client)
    assert "<hidden>" in repr(client)
    for name, value in vars(client).items():
        if name == "_BaseClient__api_key":
            continue
        assert KEY not in repr(value), name
    for resource in (client.chat, client.chat.completions, client.models, client.users):
        assert KEY not in repr(resource)
        assert KEY not in repr(vars(resource))


def test_key_not_in_any_raised_exception(client, server):
    raised: list[BaseException] = []

    def collect(call) -> None:
        with pytest.raises(kimi.KimiError) as info:
            call()
        raised.append(info.value)

    for status in (400, 401, 403, 404, 429, 500, 503):
        server.script(Reply.error(status))
        collect(lambda: create(client))
    server.script(Reply.error(502))
    collect(lambda: create(client, stream=True))
    server.script(Reply.chat("x", disconnect_after=1))
    collect(lambda: list(create(client, stream=True)))
    server.script(Reply.raw([delta_event(content="x")]))
    collect(lambda: list(create(client, stream=True)))
    server.script(Reply.raw([b'data: {"error":{"type":"server_error","message":"boom"}}\n\n']))
    collect(lambda: list(create(client, stream=True)))
    server.script(Reply.raw([b"data: {oops\n\n"]))
    collect(lambda: list(create(client, stream=True)))
    server.script(Reply.stream("stall", stall_after=1))
    collect(lambda: create(client, timeout=0.2))
    refused = kimi.Kimi(api_key=KEY, base_url=f"http://127.0.0.1:{closed_port()}/v1", max_retries=0)
    collect(refused.models.list)
    assert {type(e) for e in raised} >= {kimi.StreamError, kimi.APIConnectionError, kimi.APITimeoutError,
                                        kimi.RateLimitReachedError, kimi.AuthenticationError}
    for exc in raised:
        _assert_key_absent(exc)


def test_key_echoed_by_the_server_is_redacted_from_the_exception(client, server):
    body = Reply.moonshot_error("incorrect_api_key_error", f"Incorrect API key provided: {KEY}")
    server.script(Reply.error(401, body, headers={"x-echo": KEY}))
    with pytest.raises(kimi.AuthenticationError) as info:
        create(client)
    _assert_key_absent(info.value)
    assert "Incorrect API key provided: <redacted>" in str(info.value)
    assert info.value.body["message"] == "Incorrect API key provided: <redacted>"


def test_key_echoed_in_a_stream_error_event_is_redacted(client, server):
    server.script(Reply.raw([delta_event(content="a"),
                             sse({"error": {"type": "auth_error", "message": f"bad key {KEY}"}})]))
    with pytest.raises(kimi.StreamError) as info:
        list(create(client, stream=True))
    _assert_key_absent(info.value)


def test_key_with_newline_is_refused_without_echoing_it():
    bad = KEY + "\r\nX-Injected: 1"
    with pytest.raises(ValueError) as info:
        kimi.Kimi(api_key=bad, base_url="http://127.0.0.1:1/v1")
    assert KEY not in str(info.value)


# -- headers and URLs ----------------------------------------------------------------------


@pytest.mark.parametrize("value", ["a\r\nX-Evil: 1", "a\nb", "a\rb", "a\0b"])
def test_header_values_with_cr_lf_nul_are_refused(client, server, value):
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        kimi.Kimi(api_key=KEY, base_url=server.base_url, default_headers={"X-Test": value})
    with pytest.raises(ValueError, match="CR, LF or NUL"):
        create(client, extra_headers={"X-Test": value})
    with pytest.raises(ValueError):
        client.models.list(extra_headers={"X-Test": value})
    assert server.requests == []


@pytest.mark.parametrize("name", ["Bad Name", "X:Y", "X\r\nY", ""])
def test_invalid_header_names_are_refused(client, name):
    with pytest.raises(ValueError, match="header name"):
        create(client, extra_headers={name: "v"})


def test_plain_http_to_non_loopback_host_is_refused():
    for url in ("http://api.moonshot.ai/v1", "http://10.0.0.5:8080/v1", "http://example.com"):
        with pytest.raises(ValueError, match="allow_http"):
            kimi.Kimi(api_key=KEY, base_url=url)
    client = kimi.Kimi(api_key=KEY, base_url="http://example.com/v1", allow_http=True)
    assert client.base_url == "http://example.com/v1"


@pytest.mark.parametrize("url", ["http://localhost:9/v1", "http://127.0.0.1:9/v1", "http://[::1]:9/v1",
                                 "https://api.moonshot.ai/v1"])
def test_loopback_http_and_https_are_accepted(url):
    assert kimi.Kimi(api_key=KEY, base_url=url).base_url == url


@pytest.mark.parametrize("url", ["ftp://example.com/v1", "file:///etc/passwd", "api.moonshot.ai/v1", "https://"])
def test_non_http_base_urls_are_refused(url):
    with pytest.raises(ValueError, match="base_url"):
        kimi.Kimi(api_key=KEY, base_url=url)


def test_https_is_the_default_base_url(monkeypatch):
    monkeypatch.delenv("KIMI_BASE_URL", raising=False)
    client = kimi.Kimi(api_key=KEY)
    assert client.base_url == kimi.DEFAULT_BASE_URL == "https://api.moonshot.ai/v1"


# -- configuration from the environment ---------------------------------------------------


def test_missing_api_key_names_moonshot_api_key(monkeypatch):
    monkeypatch.delenv("MOONSHOT_API_KEY", raising=False)
    with pytest.raises(kimi.KimiError, match="MOONSHOT_API_KEY"):
        kimi.Kimi()
    with pytest.raises(kimi.KimiError, match="MOONSHOT_API_KEY"):
        kimi.Kimi(api_key="")


def test_environment_key_and_base_url_are_honoured(monkeypatch, server):
    monkeypatch.setenv("MOONSHOT_API_KEY", KEY)
    monkeypatch.setenv("KIMI_BASE_URL", server.base_url)
    client = kimi.Kimi(max_retries=0)
    assert client.base_url == server.base_url
    assert len(client.models.list()) == 8
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_explicit_arguments_beat_the_environment(monkeypatch, server):
    monkeypatch.setenv("MOONSHOT_API_KEY", "sk-from-env")
    monkeypatch.setenv("KIMI_BASE_URL", "https://unused.example/v1")
    client = kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=0)
    client.users.balance()
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


@pytest.mark.parametrize("kwargs", [{"timeout": 0}, {"timeout": -2}, {"timeout": True}, {"max_retries": -1},
                                    {"max_retries": 1.5}, {"max_event_bytes": 0}, {"max_body_bytes": -5}])
def test_bad_client_settings_are_refused(kwargs):
    with pytest.raises(ValueError):
        kimi.Kimi(api_key=KEY, base_url="http://127.0.0.1:9/v1", **kwargs)


# -- exports and layout -------------------------------------------------------------------


def test_all_names_exist():
    for name in kimi.__all__:
        assert hasattr(kimi, name), name
    assert len(set(kimi.__all__)) == len(kimi.__all__)


def test_every_exception_class_is_exported():
    classes = [obj for _, obj in inspect.getmembers(kimi._exceptions, inspect.isclass)
               if issubclass(obj, kimi.KimiError) and obj.__module__ == "kimi._exceptions"]
    assert len(classes) == 28
    for cls in classes:
        assert cls.__name__ in kimi.__all__
        assert getattr(kimi, cls.__name__) is cls


def test_every_public_model_class_is_exported():
    import kimi._models

    for name in kimi._models.__all__:
        if name == "BalanceResponse":  # the balance envelope; users.balance() returns its data
            continue
        assert name in kimi.__all__, name


def test_core_sources_never_include_python_h():
    core = REPO / "ext" / "core"
    files = sorted(p for p in core.iterdir() if p.suffix in (".c", ".h"))
    assert len(files) >= 10
    for path in files:
        text = path.read_text(encoding="utf-8")
        assert "Python.h" not in text, path.name
        assert not re.search(r"#\s*include\s*[<\"]Py", text), path.name


def test_version_is_a_string():
    assert re.fullmatch(r"\d+\.\d+\.\d+.*", kimi.__version__)


# -- pickling -------------------------------------------------------------------------------


def test_pickled_client_round_trips_to_a_working_client(make_client, server):
    client = make_client(timeout=12.5, default_headers={"X-Team": "data"})
    create(client)  # live connections exist and must not be pickled
    data = pickle.dumps(client)
    clone = pickle.loads(data)
    assert clone is not client
    assert (clone.base_url, clone.timeout, clone.max_retries, clone.default_headers) == (
        client.base_url, kimi.Timeout(12.5), 0, {"X-Team": "data"})
    assert clone._core_client is None
    server.script(Reply.chat("from the clone"))
    assert create(clone).choices[0].message.content == "from the clone"
    assert server.requests[-1].headers["x-team"] == "data"
    assert server.requests[-1].headers["authorization"] == f"Bearer {KEY}"


def test_response_objects_pickle(client, server):
    server.script(Reply.chat("pickled", reasoning="r", tool_calls=[{"id": "t:0", "name": "t", "arguments": "{}"}]))
    completion = create(client)
    server.script(Reply.chat("streamed"))
    stream = create(client, stream=True)
    chunks = list(stream)
    objects = [completion, stream.final(), *chunks, client.models.list(), client.users.balance()]
    for obj in objects:
        clone = pickle.loads(pickle.dumps(obj))
        assert type(clone) is type(obj)
        assert clone == obj
        assert clone.to_dict() == obj.to_dict()
    models = pickle.loads(pickle.dumps(client.models.list()))
    assert [m.id for m in models][0] == "kimi-k2.6"


def test_status_errors_survive_pickling(client, server):
    server.script(Reply.error(429, headers={"x-request-id": "req-p"}))
    with pytest.raises(kimi.RateLimitError) as info:
        create(client)
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is kimi.RateLimitReachedError
    assert (clone.status_code, clone.type, clone.request_id) == (429, "rate_limit_reached_error", "req-p")
    assert str(clone) == str(info.value)


def test_stream_and_connection_errors_survive_pickling(client, server):
    server.script(Reply.raw([b'data: {"error":{"type":"server_error","message":"boom"}}\n\n']))
    with pytest.raises(kimi.StreamError) as info:
        list(create(client, stream=True))
    clone = pickle.loads(pickle.dumps(info.value))
    assert type(clone) is kimi.StreamError
    assert clone.body == {"type": "server_error", "message": "boom"}
    assert clone.type == "server_error"
    assert str(clone) == str(info.value)


# -- leaks ----------------------------------------------------------------------------------


# Only allocations made from the client's code and these tests count: the local server runs
# in this process too, and its http.server threads allocate as they please.
CLIENT_FILTERS = [
    tracemalloc.Filter(True, str(REPO / "kimi" / "*")),
    tracemalloc.Filter(True, str(REPO / "tests" / "*")),
    tracemalloc.Filter(False, str(REPO / "kimi" / "testing" / "*")),
]


def _client_bytes() -> int:
    gc.collect()
    snapshot = tracemalloc.take_snapshot().filter_traces(CLIENT_FILTERS)
    return sum(stat.size for stat in snapshot.statistics("filename"))


def _stream_many(client, server, n: int) -> None:
    for _ in range(n):
        stream = create(client, stream=True)
        for _chunk in stream:
            pass
        stream.final()
    del server.requests[:]  # the server's own records would look like a leak


def _assert_no_growth(run, warm_up: int, settle: int, measured: int) -> None:
    """run(n) after a warm-up leaves no traced memory or gc objects behind."""
    run(warm_up)  # key cache, lanes, allocator pools
    tracemalloc.start()
    try:
        run(settle)
        before = _client_bytes()
        objects_before = len(gc.get_objects())
        run(measured)
        after = _client_bytes()
        objects_after = len(gc.get_objects())
    finally:
        tracemalloc.stop()
    # One leaked chunk object per stream alone would exceed both bounds (a stream's
    # chunks are ~2 KB of Python objects).
    assert after - before < 16 * 1024, after - before
    assert objects_after - objects_before < 100, objects_after - objects_before


def test_no_memory_growth_over_200_streams(client, server):
    server.default = Reply.chat("hello there " * 10, reasoning="r" * 40, chunk_size=6)
    _assert_no_growth(lambda n: _stream_many(client, server, n), 40, 20, 200)


def test_no_memory_growth_over_error_paths(client, server):
    def failing_calls(n: int) -> None:
        for _ in range(n):
            server.script(Reply.error(429), Reply.raw([delta_event(content="a"), b"data: {bad\n\n"]),
                          Reply.raw([delta_event(content="x")]))
            with pytest.raises(kimi.RateLimitError):
                create(client)
            for _attempt in range(2):
                with pytest.raises(kimi.StreamError):
                    list(create(client, stream=True))
        del server.requests[:]

    _assert_no_growth(failing_calls, 20, 10, 60)


def test_lanes_do_not_pile_up(client, server):
    for _ in range(30):
        stream = create(client, stream=True)
        next(stream)
        stream.close()
        create(client)
    assert client._core_client.idle_lanes == 1


# -- re-import ------------------------------------------------------------------------------

REIMPORT_CHILD = r"""
import sys, kimi
from kimi.testing import KimiServer, Reply

old = kimi
old_core = sys.modules["kimi._core"]
for name in [m for m in sys.modules if m == "kimi" or m.startswith("kimi.")]:
    del sys.modules[name]
import kimi as new
import kimi.testing

assert new is not old
assert sys.modules["kimi._core"] is not old_core
assert new.KimiError is not old.KimiError
with kimi.testing.KimiServer(api_key="k", delay=0) as server:
    server.script(kimi.testing.Reply.error(429), kimi.testing.Reply.chat("fresh"))
    client = new.Kimi(api_key="k", base_url=server.base_url, max_retries=0)
    try:
        client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    except new.RateLimitError:
        pass
    else:
        raise SystemExit("no RateLimitError from the fresh module")
    reply = client.chat.completions.create(model="m", messages=[{"role": "user", "content": "x"}])
    assert type(reply) is new.ChatCompletion, type(reply)
    assert reply.choices[0].message.content == "fresh"
    stale = old.Kimi(api_key="k", base_url=server.base_url, max_retries=0)
    assert len(stale.models.list()) == 8
print("ok")
"""


def test_reimport_gives_a_fresh_working_module():
    done = subprocess.run([PYTHON, "-c", REIMPORT_CHILD], env=subprocess_env(), capture_output=True,
                          text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_importlib_reload_keeps_the_package_working(server):
    reloaded = importlib.reload(kimi)
    assert reloaded is kimi
    client = kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=0)
    assert client.models.list().data[0].id == "kimi-k2.6"
    assert create(client, model=MODEL).object == "chat.completion"


def test_import_kimi_does_not_import_the_testing_server():
    code = "import sys, kimi; print('kimi.testing' in sys.modules, 'http.server' in sys.modules)"
    done = subprocess.run([PYTHON, "-c", code], env=subprocess_env(), capture_output=True, text=True,
                          timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "False"]


def test_package_ships_type_information():
    package = Path(kimi.__file__).parent
    assert (package / "py.typed").exists()
    assert (package / "_core.pyi").exists()


def test_loopback_never_goes_through_a_configured_proxy(client, server, monkeypatch):
    # A proxy that refuses every connection: a request sent to it would fail.
    dead_proxy = f"http://127.0.0.1:{closed_port()}"
    for name in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "ALL_PROXY", "all_proxy"):
        monkeypatch.setenv(name, dead_proxy)
    for name in ("no_proxy", "NO_PROXY"):
        monkeypatch.delenv(name, raising=False)
    server.script(Reply.chat("direct"))
    reply = create(client)
    assert reply.choices[0].message.content == "direct"


def _stub_classes(path: Path) -> dict[str, dict[str, str]]:
    """Class name -> {attribute: annotation source} from a .pyi file."""
    import ast

    tree = ast.parse(path.read_text())
    classes: dict[str, dict[str, str]] = {}
    for node in tree.body:
        if isinstance(node, ast.ClassDef):
            classes[node.name] = {
                item.target.id: ast.unparse(item.annotation)
                for item in node.body
                if isinstance(item, ast.AnnAssign) and isinstance(item.target, ast.Name)
            }
    return classes


def test_model_stubs_list_exactly_the_runtime_fields_and_nested_classes():
    stubs = _stub_classes(REPO / "kimi" / "_models.pyi")
    runtime = {name: getattr(kimi._models, name) for name in kimi._models.__all__}
    assert set(stubs) == set(runtime)
    for name, cls in runtime.items():
        if cls is kimi.KimiObject:
            continue
        fields = {f for f in stubs[name] if not f.startswith("_")}
        assert fields == set(cls._fields), name
        for member, nested in cls._nested.items():
            annotation = stubs[name][member]
            shown = "dict" if nested is dict else nested.__name__
            assert shown in annotation, f"{name}.{member}: {annotation} vs {shown}"


def test_core_stub_names_exist_in_the_extension_and_back():
    import ast

    tree = ast.parse((REPO / "kimi" / "_core.pyi").read_text())
    stubbed = set()
    for node in tree.body:
        if isinstance(node, (ast.ClassDef, ast.FunctionDef)):
            stubbed.add(node.name)
        elif isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name):
            stubbed.add(node.target.id)
    public = {n for n in dir(kimi._core) if not n.startswith("_")}
    assert stubbed == public
