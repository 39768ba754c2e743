"""Benchmarks of kimi against openai-python, httpx, a stdlib loop and curl.

`python -m benchmarks` (`make bench`) runs every scenario and rewrites
`benchmarks/README.md`. Each scenario is one ``bench_<scenario>.py``; each
contender runs in its own subprocess against a local `kimi.testing` server
that runs in a subprocess of its own. Nothing here contacts the real API.
"""
