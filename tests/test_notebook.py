"""A real notebook, run by nbclient on an ipykernel kernel as Jupyter runs it: top-level
``await`` on an AsyncKimi stream inside the kernel's running loop, then the sync map in
the same kernel."""

from __future__ import annotations

import nbformat
from nbclient import NotebookClient

CELLS = [
    """
import kimi
from kimi.testing import KimiServer
server = KimiServer(api_key="sk-nb", delay=0.001).start()
client = kimi.AsyncKimi(api_key="sk-nb", base_url=server.base_url)
""",
    """
stream = await client.chat.completions.create(
    model="kimi-k2.6", messages=[{"role": "user", "content": "from a notebook"}], stream=True)
text = "".join([t async for t in stream.text()])
final = await stream.final()
print(repr(text == final.choices[0].message.content), "from a notebook" in text)
""",
    """
sync = kimi.Kimi(api_key="sk-nb", base_url=server.base_url)
rows = [{"model": "kimi-k2.6", "messages": [{"role": "user", "content": f"row {i}"}]} for i in range(20)]
results = list(sync.chat.completions.map(rows, concurrency=5))
print([r.index for r in results] == list(range(20)), all(r.error is None for r in results))
""",
    """
await client.close()
server.close()
print("closed")
""",
]


def test_a_notebook_awaits_a_stream_and_runs_the_sync_map():
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source.strip()) for source in CELLS]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    outputs = ["".join(o.get("text", "") for o in cell.outputs) for cell in nb.cells]
    errors = [o for cell in nb.cells for o in cell.outputs if o.output_type == "error"]
    assert errors == []
    assert outputs[1].strip() == "True True"
    assert outputs[2].strip() == "True True"
    assert outputs[3].strip() == "closed"
