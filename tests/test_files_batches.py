"""Files and the Batch API against kimi.testing over real sockets, sync and async: uploads
of every kind (streamed from disk, checked before sending), content and extract, batches
through each state on a clock the test moves, submit/wait/results joined in input order,
re-attaching after the client is gone, cancel, and the JSONL checks refused before upload.
"""

from __future__ import annotations

import asyncio
import io
import json
import subprocess
import sys
import textwrap

import pytest
from conftest import KEY, MESSAGES, MODEL, PYTHON, subprocess_env

import kimi
from kimi.testing import KimiServer, ManualClock, Reply


@pytest.fixture
def platform():
    """A server of its own whose batches move only when the test moves its clock."""
    clock = ManualClock()
    with KimiServer(api_key=KEY, delay=0, clock=clock, batch_timing=(1.0, 2.0, 1.0)) as srv:
        yield srv


def client_for(server, **options) -> kimi.Kimi:
    return kimi.Kimi(api_key=KEY, base_url=server.base_url, max_retries=0, **options)


def uploads(server) -> list:
    return [r for r in server.requests if r.method == "POST" and r.path == "/v1/files"]


# -- files ---------------------------------------------------------------------


def test_upload_a_path_bytes_a_file_object_and_a_named_pair(platform, tmp_path) -> None:
    client = client_for(platform)
    doc = tmp_path / "notes.txt"
    doc.write_text("The ledger balances.\n")
    by_path = client.files.create(file=doc, purpose="file-extract")
    assert by_path.id.startswith("file-") and by_path.filename == "notes.txt"
    assert by_path.bytes == doc.stat().st_size and by_path.purpose == "file-extract"
    with open(doc, "rb") as fh:
        by_object = client.files.create(file=fh, purpose="file-extract")
    assert by_object.filename == "notes.txt" and by_object.bytes == by_path.bytes
    by_bytes = client.files.create(file=b"raw bytes", purpose="batch")
    assert by_bytes.bytes == 9
    by_pair = client.files.create(file=("named.jsonl", io.BytesIO(b'{"a":1}\n')), purpose="batch")
    assert by_pair.filename == "named.jsonl" and by_pair.bytes == 8
    listed = {f.id for f in client.files.list()}
    assert {by_path.id, by_object.id, by_bytes.id, by_pair.id} <= listed
    assert client.files.retrieve(by_pair.id).filename == "named.jsonl"
    assert client.files.content(by_bytes.id).content == b"raw bytes"
    assert client.files.content(by_pair.id).json() == {"a": 1}
    deleted = client.files.delete(by_bytes.id)
    assert deleted.deleted is True and deleted.id == by_bytes.id
    with pytest.raises(kimi.NotFoundError):
        client.files.retrieve(by_bytes.id)


def test_extract_returns_the_text_and_deletes_the_file(platform, tmp_path) -> None:
    client = client_for(platform)
    doc = tmp_path / "report.txt"
    doc.write_text("Quarterly revenue rose 12%.\n")
    text = client.files.extract(doc)
    assert "Quarterly revenue rose 12%." in text
    assert all(f["filename"] != "report.txt" for f in platform.files.values())
    kept = client.files.extract(doc, keep=True)
    assert kept == text
    assert any(f["filename"] == "report.txt" for f in platform.files.values())


def test_what_the_platform_refuses_is_refused_before_sending(platform, tmp_path) -> None:
    client = client_for(platform)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        client.files.create(file=empty, purpose="file-extract")
    huge = tmp_path / "huge.bin"
    with open(huge, "wb") as fh:
        fh.truncate(100 * 1024 * 1024 + 1)
    with pytest.raises(ValueError, match="100 MB"):
        client.files.create(file=huge, purpose="batch")
    with pytest.raises(ValueError, match="purpose"):
        client.files.create(file=b"x", purpose="assistants")
    with pytest.raises(FileNotFoundError):
        client.files.create(file=tmp_path / "missing.txt", purpose="batch")
    with pytest.raises(TypeError, match="binary"):
        client.files.create(file=io.StringIO("text"), purpose="batch")
    assert uploads(platform) == []


def test_the_servers_refusal_is_a_typed_error(tmp_path) -> None:
    with KimiServer(api_key=KEY, delay=0, max_file_bytes=10) as server:
        with pytest.raises(kimi.InvalidRequestError):
            client_for(server).files.create(file=b"more than ten bytes", purpose="batch")


def test_a_100_mb_upload_keeps_the_clients_memory_flat(platform, tmp_path) -> None:
    big = tmp_path / "big.jsonl"
    with open(big, "wb") as fh:
        block = b'{"custom_id":"x","body":{}}\n' * 4096
        while fh.tell() < 100 * 1024 * 1024 - len(block):
            fh.write(block)
    size = big.stat().st_size
    program = textwrap.dedent(
        """
        import resource, sys, kimi
        client = kimi.Kimi(api_key=sys.argv[2], base_url=sys.argv[1], max_retries=0)
        client.models.list()                    # the connection and everything imported
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        uploaded = client.files.create(file=sys.argv[3], purpose="batch")
        after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        print(uploaded.bytes, (after - before) // 1024)
        """
    )
    out = subprocess.run(
        [PYTHON, "-c", program, platform.base_url, KEY, str(big)],
        env=subprocess_env(), capture_output=True, text=True, timeout=120,
    )
    assert out.returncode == 0, out.stderr
    sent, grew_mb = map(int, out.stdout.split())
    assert sent == size
    assert grew_mb < 20, f"the client's peak memory grew {grew_mb} MB for a {size // 2**20} MB upload"


# -- batches: the API's calls ---------------------------------------------------


def batch_lines(n: int, model: str = MODEL) -> bytes:
    return b"".join(
        json.dumps({"custom_id": f"c{i}", "method": "POST", "url": "/v1/chat/completions",
                    "body": {"model": model, "messages": [{"role": "user", "content": f"q{i}"}]}}).encode() + b"\n"
        for i in range(n)
    )


def test_a_batch_moves_through_each_state_on_the_servers_clock(platform) -> None:
    client = client_for(platform)
    uploaded = client.files.create(file=("in.jsonl", batch_lines(3)), purpose="batch")
    batch = client.batches.create(input_file_id=uploaded.id, completion_window="24h", metadata={"job": "demo"})
    assert batch.status == "validating" and batch.metadata == {"job": "demo"}
    seen = [batch.status]
    for _ in range(4):
        platform.clock.advance(1.01)
        status = client.batches.retrieve(batch.id).status
        if status != seen[-1]:
            seen.append(status)
    final = client.batches.retrieve(batch.id)
    assert seen == ["validating", "in_progress", "finalizing", "completed"]
    assert final.request_counts.total == 3 and final.request_counts.completed == 3
    assert final.output_file_id and final.error_file_id is None


def test_create_checks_its_arguments_before_sending(platform) -> None:
    client = client_for(platform)
    with pytest.raises(ValueError, match="completion_window"):
        client.batches.create(input_file_id="file-x", completion_window="1h")
    with pytest.raises(ValueError, match="endpoint"):
        client.batches.create(input_file_id="file-x", endpoint="/v1/embeddings")
    with pytest.raises(ValueError, match="metadata"):
        client.batches.create(input_file_id="file-x", metadata={f"k{i}": "v" for i in range(17)})
    assert not any(r.path.startswith("/v1/batches") for r in platform.requests)
    with pytest.raises(kimi.BadRequestError):
        client.batches.create(input_file_id="file-does-not-exist")


def test_list_follows_the_pages_by_itself(platform) -> None:
    client = client_for(platform)
    uploaded = client.files.create(file=("in.jsonl", batch_lines(1)), purpose="batch")
    made = [client.batches.create(input_file_id=uploaded.id).id for _ in range(7)]
    listed = [b.id for b in client.batches.list(limit=3)]
    assert listed == list(reversed(made))
    pages = [r for r in platform.requests if r.path.startswith("/v1/batches?")]
    assert len(pages) == 3
    with pytest.raises(ValueError):
        client.batches.list(limit=0)


def test_cancel_goes_through_cancelling_to_cancelled(platform) -> None:
    client = client_for(platform)
    job = client.batches.submit([{"model": MODEL, "messages": MESSAGES}] * 4)
    platform.clock.advance(1.5)                 # in progress
    assert job.cancel().status == "cancelling"
    platform.clock.advance(1.5)
    assert job.refresh().status == "cancelled"
    results = list(job.results())
    assert len(results) == 4
    # A quarter of the way through its run: what ran has its reply, the rest was cancelled.
    ran = [r for r in results if r.error is None]
    assert len(ran) == job.batch.request_counts.completed and 0 < len(ran) < 4
    assert all(isinstance(r.response, kimi.ChatCompletion) for r in ran)
    skipped = [r for r in results if r.error is not None]
    assert all(isinstance(r.error, kimi.BatchRequestError) and r.error.code == "batch_cancelled" for r in skipped)
    assert [r.index for r in results] == [0, 1, 2, 3]
    with pytest.raises(kimi.BadRequestError):
        job.cancel()                            # nothing left to cancel


# -- batches: the whole job ------------------------------------------------------


def test_ten_thousand_requests_submitted_completed_and_joined_in_input_order() -> None:
    with KimiServer(api_key=KEY, delay=0, batch_timing=(0.01, 0.05, 0.01)) as server:
        client = client_for(server)
        requests = []
        for i in range(10_000):
            request = {"model": MODEL, "messages": [{"role": "user", "content": f"question {i}"}]}
            if i % 1000 == 7:
                request["max_completion_tokens"] = 10**6     # over the model's limit: refused
            requests.append(request)
        job = client.batches.submit(requests, metadata={"run": "10k"})
        final = job.wait(poll_interval=0.05, timeout=60)
        assert final.status == "completed"
        assert final.request_counts.total == 10_000 and final.request_counts.failed == 10
        results = list(job.results())
    assert [r.index for r in results] == list(range(10_000))
    assert [r.custom_id for r in results] == [f"request-{i}" for i in range(10_000)]
    for i, result in enumerate(results):
        if i % 1000 == 7:
            assert isinstance(result.error, kimi.InvalidRequestError), result
            assert result.error.status_code == 400 and result.response is None
        else:
            assert result.error is None
            assert isinstance(result.response, kimi.ChatCompletion)
            assert result.response.choices[0].message.content == f"question {i}"


def test_re_attaching_after_the_client_is_gone_loses_nothing() -> None:
    with KimiServer(api_key=KEY, delay=0, batch_timing=(0.01, 0.02, 0.01)) as server:
        program = textwrap.dedent(
            """
            import sys, kimi
            client = kimi.Kimi(api_key=sys.argv[2], base_url=sys.argv[1])
            job = client.batches.submit([(f"id-{i}", {"model": "kimi-k2.6",
                                          "messages": [{"role": "user", "content": f"m{i}"}]}) for i in range(50)])
            print(job.id)
            """
        )
        out = subprocess.run([PYTHON, "-c", program, server.base_url, KEY], env=subprocess_env(),
                             capture_output=True, text=True, timeout=60)
        assert out.returncode == 0, out.stderr
        batch_id = out.stdout.strip()
        job = client_for(server).batches.job(batch_id)
        job.wait(poll_interval=0.02, timeout=30)
        results = list(job.results())
    assert [r.custom_id for r in results] == [f"id-{i}" for i in range(50)]
    assert [r.response.choices[0].message.content for r in results] == [f"m{i}" for i in range(50)]


def test_an_expired_job_names_the_requests_it_never_ran(platform) -> None:
    client = client_for(platform)
    job = client.batches.submit([{"model": MODEL, "messages": MESSAGES}] * 3, completion_window="24h")
    platform.clock.advance(25 * 3600)
    assert job.refresh().status == "expired"
    results = list(job.results())
    assert [r.error.code for r in results] == ["batch_expired"] * 3
    assert "request-0" in str(results[0].error)


def test_a_job_failed_as_a_whole_raises_with_its_lines(platform) -> None:
    client = client_for(platform)
    bad = batch_lines(2) + b"not json\n"
    uploaded = client.files.create(file=("bad.jsonl", bad), purpose="batch")
    job = client.batches.job(client.batches.create(input_file_id=uploaded.id).id)
    platform.clock.advance(1.5)
    assert job.refresh().status == "failed"
    with pytest.raises(kimi.BatchFailedError) as caught:
        list(job.results())
    assert "line 3" in str(caught.value)
    assert caught.value.errors[0].line == 3


def test_the_jsonl_checks_refuse_before_upload(platform) -> None:
    client = client_for(platform)
    with pytest.raises(ValueError, match="duplicate custom_id"):
        client.batches.submit([("same", {"model": MODEL, "messages": MESSAGES})] * 2)
    with pytest.raises(ValueError, match="one model"):
        client.batches.submit([{"model": MODEL, "messages": MESSAGES}, {"model": "kimi-k2.5", "messages": MESSAGES}])
    long_text = "x" * (1024 * 1024)
    oversized = ({"model": MODEL, "messages": [{"role": "user", "content": long_text}]} for _ in range(101))
    with pytest.raises(ValueError, match="104,857,600 bytes"):
        client.batches.submit(oversized)
    with pytest.raises(ValueError, match="request 1"):
        client.batches.submit([{"model": MODEL, "messages": MESSAGES}, {"model": MODEL, "messages": []}])
    with pytest.raises(ValueError, match="stream"):
        client.batches.submit([{"model": MODEL, "messages": MESSAGES, "stream": True}])
    assert uploads(platform) == []


def test_check_models_refuses_a_batch_of_an_unknown_model_before_upload(platform) -> None:
    client = client_for(platform, check_models=True)
    with pytest.raises(kimi.ModelNotFoundError):
        client.batches.submit([{"model": "kimi-k2-6", "messages": MESSAGES}])
    assert uploads(platform) == []
    assert client.batches.submit([{"model": MODEL, "messages": MESSAGES}]).status == "validating"


def test_submit_starts_from_the_routes_defaults(platform) -> None:
    route = client_for(platform).with_options(defaults={"max_completion_tokens": 256})
    job = route.batches.submit([{"model": MODEL, "messages": MESSAGES}])
    content = route.files.content(job.batch.input_file_id).content
    assert json.loads(content)["body"]["max_completion_tokens"] == 256


def test_wait_shows_progress_and_logs_each_status(caplog, capsys) -> None:
    import logging

    with KimiServer(api_key=KEY, delay=0, batch_timing=(0.02, 0.05, 0.02)) as server:
        job = client_for(server).batches.submit([{"model": MODEL, "messages": MESSAGES}] * 5)
        with caplog.at_level(logging.INFO, logger="kimi"):
            job.wait(progress=True, poll_interval=0.01, timeout=30)
    said = [r.getMessage() for r in caplog.records if r.name == "kimi" and "batch" in r.getMessage()]
    assert said[0].endswith("validating") and said[-1].endswith("completed")
    assert "5/5" in capsys.readouterr().err


def test_async_files_and_batches(platform, tmp_path) -> None:
    doc = tmp_path / "a.txt"
    doc.write_text("async text")

    async def main() -> None:
        client = kimi.AsyncKimi(api_key=KEY, base_url=platform.base_url, max_retries=0)
        uploaded = await client.files.create(file=doc, purpose="file-extract")
        assert (await client.files.retrieve(uploaded.id)).bytes == 10
        assert "async text" in await client.files.extract(doc)
        job = await client.batches.submit([{"model": MODEL, "messages": [{"role": "user", "content": "hey"}]}] * 3)
        for _ in range(4):
            platform.clock.advance(1.01)
        final = await job.wait(poll_interval=0.01, timeout=10)
        assert final.status == "completed"
        results = [r async for r in job.results()]
        assert [r.response.choices[0].message.content for r in results] == ["hey"] * 3
        listed = [b.id async for b in client.batches.list(limit=1)]
        assert job.id in listed
        again = await client.batches.job(job.id)
        assert [r.custom_id async for r in again.results()] == ["request-0", "request-1", "request-2"]
        await client.close()

    asyncio.run(main())


def test_tokenizers_count_as_the_platform(platform) -> None:
    client = client_for(platform)
    # "Hello" (5 ASCII bytes -> 2 tokens) + 4 per message = 6, as kimi.testing counts.
    count = client.tokenizers.estimate_token_count(model=MODEL, messages=MESSAGES)
    assert count.total_tokens == 6
    image = [{"role": "user", "content": [{"type": "text", "text": "Hello"},
                                          {"type": "image_url", "image_url": {"url": "data:image/png;base64,AA=="}}]}]
    assert client.tokenizers.estimate_token_count(model=MODEL, messages=image).total_tokens == 6 + 1024

    async def main() -> int:
        aclient = kimi.AsyncKimi(api_key=KEY, base_url=platform.base_url)
        count = await aclient.tokenizers.estimate_token_count(model=MODEL, messages=MESSAGES)
        await aclient.close()
        return count.total_tokens

    assert asyncio.run(main()) == 6


def test_async_every_files_and_batches_call(platform) -> None:
    async def main() -> None:
        client = kimi.AsyncKimi(api_key=KEY, base_url=platform.base_url, max_retries=0)
        uploaded = await client.files.create(file=("in.jsonl", batch_lines(2)), purpose="batch")
        assert uploaded.id in {f.id for f in await client.files.list()}
        assert (await client.files.content(uploaded.id)).content == batch_lines(2)
        batch = await client.batches.create(input_file_id=uploaded.id, completion_window="3d")
        assert (await client.batches.retrieve(batch.id)).status == "validating"
        assert (await client.batches.cancel(batch.id)).status == "cancelling"
        raw = await client.batches.with_raw_response.retrieve(batch.id)
        assert raw.status_code == 200 and raw.parse().id == batch.id
        deleted = await client.files.delete(uploaded.id)
        assert deleted.deleted is True
        with pytest.raises(kimi.NotFoundError):
            await client.files.retrieve(uploaded.id)
        await client.close()

    asyncio.run(main())


def test_a_hostile_output_file_gives_typed_results_not_a_crash() -> None:
    from kimi._batches import join_results

    output = b"\n".join([
        b"not json at all",
        b'{"custom_id": ["a list"], "response": {"status_code": 200}}',
        b'{"custom_id": "a", "response": "a string", "error": 7}',
        b'{"custom_id": "b", "response": {"status_code": 200, "body": [1, 2]}}',
        b'{"custom_id": "c", "response": {"status_code": 4000000000, "body": {"error": {"type": "x"}}}}',
        b'{"custom_id": "d", "response": {"status_code": 429, "request_id": "r-1",'
        b' "body": {"error": {"type": "rate_limit_reached_error", "message": "slow down"}}}}',
        b'{"custom_id": "e", "response": {"status_code": 200, "body": {"id": "x", "choices": []}}}',
    ])
    results = list(join_results(["a", "b", "c", "d", "e", "f"], output, b"[[[[", "completed"))
    assert [r.custom_id for r in results] == ["a", "b", "c", "d", "e", "f"]
    assert isinstance(results[0].error, kimi.BatchRequestError)
    assert isinstance(results[1].error, kimi.BatchRequestError)
    assert isinstance(results[2].error, kimi.APIStatusError)
    assert isinstance(results[3].error, kimi.RateLimitReachedError) and results[3].error.request_id == "r-1"
    assert isinstance(results[4].response, kimi.ChatCompletion) and results[4].error is None
    assert results[5].error.code == "missing" and "3 line(s)" in str(results[5].error)


# -- a hostile server -------------------------------------------------------------


def test_a_batch_without_a_status_is_refused_not_polled_forever(server) -> None:
    server.script_for("/v1/batches/b", *[Reply.json({"id": "b"})] * 3)
    with pytest.raises(kimi.APIResponseValidationError, match="no status"):
        client_for(server).batches.job("b").wait(poll_interval=0.01)
    server.script_for("/v1/batches/b", Reply.json({"id": "b", "status": ["completed"]}))
    with pytest.raises(kimi.APIResponseValidationError):
        client_for(server).batches.job("b")
    server.script_for("/v1/batches/b", Reply.json([1, 2]))
    with pytest.raises(kimi.APIResponseValidationError):
        client_for(server).batches.job("b")


def test_a_list_whose_cursor_does_not_move_is_refused(server) -> None:
    page = {"object": "list", "data": [{"id": "batch_1", "status": "completed"}], "has_more": True,
            "last_id": "batch_1"}
    server.script_for("/v1/batches", *[Reply.json(page)] * 5)
    with pytest.raises(kimi.APIResponseValidationError, match="cursor"):
        list(client_for(server).batches.list())
    server.reset()
    server.script_for("/v1/batches", Reply.json({"object": "list", "data": "abc", "has_more": False}))
    with pytest.raises(kimi.APIResponseValidationError, match="not a list"):
        list(client_for(server).batches.list())


def test_odd_batch_fields_give_typed_errors_or_nothing(server) -> None:
    odd = {"id": "b", "status": "failed", "errors": "x", "request_counts": "lots", "input_file_id": None}
    server.script_for("/v1/batches/b", Reply.json(odd))
    job = client_for(server).batches.job("b")
    assert job.wait(progress=True, poll_interval=0.01).status == "failed"
    with pytest.raises(kimi.BatchFailedError, match="no reason given"):
        list(job.results())
    odd = {"id": "b", "status": "completed", "input_file_id": None, "output_file_id": 12345}
    server.script_for("/v1/batches/b", Reply.json(odd))
    with pytest.raises(kimi.APIResponseValidationError, match="no input file"):
        list(client_for(server).batches.job("b").results())


def test_a_re_attached_job_with_a_hostile_input_file(server) -> None:
    batch = {"id": "b", "status": "completed", "input_file_id": "file-in", "output_file_id": None}
    for content in (b"not json\n", b"[1, 2]\n", b'{"custom_id": ["x"]}\n', b'{"custom_id": "a"}\n{"custom_id": "a"}\n'):
        server.script_for("/v1/batches/b", Reply.json(batch))
        server.script_for("/v1/files/file-in/content", Reply.raw([content], content_type="application/octet-stream"))
        with pytest.raises(kimi.APIResponseValidationError):
            list(client_for(server).batches.job("b").results())


def test_a_batch_log_record_never_holds_the_key(caplog, server) -> None:
    import logging

    key = "sk-abcdefghijklmnopqrstuvwxyz0123456789"
    leaky = KimiServer(api_key=key, delay=0)
    with leaky:
        leaky.script_for("/v1/batches/b", Reply.json({"id": "b-abcdefghijklmnopq", "status": "in_progress abcdefghijklmnopq"}),
                         Reply.json({"id": "b-abcdefghijklmnopq", "status": "completed"}))
        client = kimi.Kimi(api_key=key, base_url=leaky.base_url, max_retries=0)
        with caplog.at_level(logging.DEBUG, logger="kimi"):
            client.batches.job("b").wait(poll_interval=0.01)
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "abcdefghijklmnopq" not in text and "an unknown status" in text


def test_with_raw_response_refuses_calls_without_one_reply(make_client) -> None:
    client = make_client()
    for resource, name in ((client.batches, "list"), (client.batches, "submit"), (client.files, "extract"),
                           (client.chat.completions, "map"), (client.models, "check")):
        with pytest.raises(AttributeError, match="no raw response"):
            getattr(resource.with_raw_response, name)


def test_odd_lists_and_counts_never_crash(make_client, server) -> None:
    client = make_client()
    server.script_for("/v1/files", Reply.json({"object": "list", "data": 5}))
    listed = client.files.list()
    assert list(listed) == [] and len(listed) == 0
    server.script_for("/v1/models", Reply.json({"object": "list", "data": ["kimi-k2.6"]}))
    with pytest.raises(kimi.ModelNotFoundError):
        client.models.check("kimi-k2.6")
    for body in ({"data": "x"}, {"data": {"total_tokens": True}}, {"data": {"total_tokens": -4}}):
        server.script_for("/v1/tokenizers/estimate-token-count", Reply.json(body))
        with pytest.raises(kimi.APIResponseValidationError):
            client.tokenizers.estimate_token_count(model=MODEL, messages=MESSAGES)


def test_hostile_rate_limit_headers_read_as_none(make_client, server) -> None:
    for reset in ("1.2.3s", "..s", "1e309", "inf", "nan", "-5", "12x"):
        server.script(Reply.chat("x", headers={"X-RateLimit-Reset": reset, "X-RateLimit-Remaining": "1_000"}))
        info = make_client().chat.completions.create(model=MODEL, messages=MESSAGES)._rate_limit
        assert info.reset is None and info.remaining is None, reset


def test_wait_bounds_a_slow_retrieve_by_its_timeout(server) -> None:
    import json as _json
    import time as _time

    running = _json.dumps({"id": "b", "status": "in_progress"}).encode()
    server.script_for("/v1/batches/b", Reply.json({"id": "b", "status": "in_progress"}),
                      Reply.raw([running[:10], running[10:]], delay=6, content_type="application/json"))
    job = client_for(server).batches.job("b")
    began = _time.monotonic()
    with pytest.raises((TimeoutError, kimi.APITimeoutError)):
        job.wait(poll_interval=0.1, timeout=1)
    assert _time.monotonic() - began < 4
    with pytest.raises(ValueError, match="poll_interval"):
        job.wait(poll_interval=0)


def test_a_refused_batch_leaves_no_file_behind_and_an_odd_upload_reply_is_typed(platform) -> None:
    client = client_for(platform)
    platform.script_for("/v1/batches", Reply.api_error("exceeded_current_quota_error"))
    with pytest.raises(kimi.QuotaExceededError):
        client.batches.submit([{"model": MODEL, "messages": MESSAGES}])
    assert [f for f in platform.files.values() if f["purpose"] == "batch"] == []
    platform.script_for("/v1/files", Reply.json({"id": None, "object": "file"}))
    with pytest.raises(kimi.APIResponseValidationError, match="no file id"):
        client.batches.submit([{"model": MODEL, "messages": MESSAGES}])


def test_extract_keeps_the_first_failure_when_the_clean_up_fails_too(platform, tmp_path) -> None:
    doc = tmp_path / "d.txt"
    doc.write_text("text")
    client = client_for(platform)
    uploaded = client.files.create(file=doc, purpose="file-extract")
    platform.script_for(f"/v1/files/{uploaded.id}", Reply.api_error("server_error"))
    platform.script_for("/v1/files", Reply.json(uploaded.to_dict()))
    platform.script_for(f"/v1/files/{uploaded.id}/content", Reply.api_error("content_filter"))
    with pytest.raises(kimi.ContentFilterError):
        client.files.extract(doc)
