"""The README's claim: code written for openai-python ports to kimi by changing the import
and the client class.  One program, run twice against kimi.testing — as written for the
OpenAI SDK, then with only its import line changed — must print the same.
"""

from __future__ import annotations

import subprocess

import pytest
from conftest import KEY, PYTHON, subprocess_env

from kimi.testing import Reply

pytest.importorskip("openai", reason="the port test runs the real openai-python")

PROGRAM = '''
import sys
from openai import OpenAI

client = OpenAI(api_key=sys.argv[2], base_url=sys.argv[1], max_retries=0, timeout=30)
messages = [{"role": "user", "content": "hello there"}]

reply = client.chat.completions.create(model="kimi-k2.6", messages=messages, max_completion_tokens=64,
                                       extra_body={"thinking": {"type": "disabled"}},
                                       extra_headers={"X-Trace": "port"})
print("reply:", reply.choices[0].message.content, reply.choices[0].finish_reason, reply.usage.total_tokens)

stream = client.chat.completions.create(model="kimi-k2.6", messages=messages, stream=True,
                                        stream_options={"include_usage": True})
text = []
usage = None
for chunk in stream:
    if chunk.choices and chunk.choices[0].delta.content:
        text.append(chunk.choices[0].delta.content)
    if chunk.usage is not None:
        usage = chunk.usage.total_tokens
print("stream:", "".join(text), usage)

print("models:", [m.id for m in client.models.list()])
two = client.chat.completions.create(model="moonshot-v1-8k", messages=messages, n=2)
print("n:", [c.index for c in two.choices])
'''


def run(program: str, server) -> str:
    out = subprocess.run([PYTHON, "-c", program, server.base_url, KEY], env=subprocess_env(),
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    return out.stdout


def test_a_program_for_openai_python_runs_on_kimi_by_changing_the_import(server):
    server.default = Reply.chat("Ported answer.", reasoning="Think first.")
    with_openai = run(PROGRAM, server)
    ported = PROGRAM.replace("from openai import OpenAI", "from kimi import Kimi as OpenAI")
    assert ported != PROGRAM
    with_kimi = run(ported, server)
    assert with_kimi == with_openai
    assert "reply: Ported answer. stop" in with_kimi
    assert "stream: Ported answer." in with_kimi
    headers = [r.headers.get("x-trace") for r in server.requests if r.path.endswith("/chat/completions")]
    assert headers.count("port") == 2  # extra_headers reached the server from both clients


PLATFORM_PROGRAM = '''
import json, os, sys, tempfile
import openai

client = openai.OpenAI(api_key=sys.argv[2], base_url=sys.argv[1], max_retries=0)
messages = [{"role": "user", "content": "port the platform"}]

raw = client.chat.completions.with_raw_response.create(model="kimi-k2.6", messages=messages)
print("raw:", raw.headers.get("x-request-id"), raw.parse().choices[0].message.content)

reply = client.chat.completions.create(model="kimi-k2.6", messages=messages)
dumped = json.loads(reply.model_dump_json(exclude_unset=True))
print("dump:", sorted(dumped), dumped["choices"][0]["message"]["content"])
print("model:", client.models.retrieve("kimi-k2.6").id)
try:
    client.models.retrieve("kimi-k9")
except openai.NotFoundError as exc:
    print("error:", exc.status_code, exc.body)
try:
    client.chat.completions.create(model="kimi-k2.6", messages=messages, max_completion_tokens=10**7)
except openai.BadRequestError as exc:
    print("error:", exc.status_code, exc.body["type"])

path = os.path.join(tempfile.mkdtemp(), "notes.txt")
with open(path, "w") as fh:
    fh.write("Ported notes.")
with open(path, "rb") as fh:
    uploaded = client.files.create(file=fh, purpose="file-extract")
print("file:", uploaded.filename, uploaded.bytes, uploaded.purpose)
print("content:", json.loads(client.files.content(uploaded.id).text)["content"])
print("deleted:", client.files.delete(uploaded.id).deleted)

line = {"custom_id": "one", "method": "POST", "url": "/v1/chat/completions",
        "body": {"model": "kimi-k2.6", "messages": messages}}
batch_file = client.files.create(file=("in.jsonl", (json.dumps(line) + "\\n").encode()), purpose="batch")
batch = client.batches.create(input_file_id=batch_file.id, endpoint="/v1/chat/completions",
                              completion_window="24h")
print("batch:", batch.status, batch.endpoint, client.batches.retrieve(batch.id).id == batch.id)
print("cancel:", client.batches.cancel(batch.id).status)
'''


def test_a_platform_program_ports_by_changing_the_import_and_the_class_name(server):
    server.default = Reply.chat("Platform answer.", headers={"x-request-id": "req-port"})
    with_openai = run(PLATFORM_PROGRAM, server)
    ported = PLATFORM_PROGRAM.replace("import openai", "import kimi").replace("openai.OpenAI", "kimi.Kimi")
    ported = ported.replace("openai.", "kimi.")
    assert "openai" not in ported
    with_kimi = run(ported, server)
    assert with_kimi == with_openai
    assert "raw: req-port Platform answer." in with_kimi
    assert "error: 404 {'type': 'resource_not_found_error'" in with_kimi
    assert "content: Ported notes." in with_kimi
    assert "batch: validating /v1/chat/completions True" in with_kimi
