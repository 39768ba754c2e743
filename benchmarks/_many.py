"""Many non-streaming requests in flight at once: each client's way of doing it, and the
process that times one of them.

    python -m benchmarks._many NAME URL --requests N --concurrency C

prints one JSON line: client CPU seconds (``time.process_time()``, the whole process, so
every thread a client starts counts), wall seconds, and how many replies carried each
distinct message content (the harness requires exactly N of the reference), or
``skipped`` with the reason when this tree's kimi lacks the API the contender uses.
Imports, the client, the event loop and one untimed request (lazy imports, first-use
caches, one connection) come before the clock; the N requests, with every connection
they open beyond that, are inside it.

Thread contenders share one client among C threads of a ThreadPoolExecutor. Async
contenders run C worker tasks in one loop, each taking the next request until N were
sent, which bounds concurrency like a semaphore of C without N tasks waiting on it.
``kimi.Kimi(...).chat.completions.map`` and ``AsyncKimi``'s are given the N requests and
``concurrency=C``, in input order, and must yield the results in that order.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sys
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any, Awaitable, Callable

from ._contenders import import_httpx, peak_rss_mb
from ._harness import API_KEY, MESSAGES, MODEL, check_loopback, emit, kimi_origin, raise_nofile

REQUEST = {"model": MODEL, "messages": MESSAGES}
HEADERS = {"Authorization": f"Bearer {API_KEY}"}

#: A sync contender's run(n): the message content of n replies.
SyncRun = Callable[[int], list[str]]
#: An async contender's run(n), awaited in the loop it was prepared in.
AsyncRun = Callable[[int], Awaitable[list[str]]]


class Unavailable(Exception):
    """This contender's API is not in the kimi being measured (yet)."""


async def bounded(one: Callable[[], Awaitable[str]], n: int, concurrency: int) -> list[str]:
    """`n` awaits of `one()`, at most `concurrency` at a time: that many worker tasks,
    each taking the next request until `n` were started."""
    out: list[str] = []
    left = n

    async def worker() -> None:
        nonlocal left
        while left > 0:
            left -= 1
            out.append(await one())

    await asyncio.gather(*(worker() for _ in range(min(n, concurrency))))
    return out


def threaded(call: Callable[[], str], concurrency: int) -> SyncRun:
    """run(n): `n` calls of `call` on a pool of `concurrency` threads."""
    pool = ThreadPoolExecutor(concurrency)

    def run(n: int) -> list[str]:
        return list(pool.map(lambda _: call(), range(n)))

    return run


def _kimi() -> Any:
    import kimi

    return kimi


def _content(result: Any, i: int) -> str:
    """The message content of map result `result`, checked to be input item `i`."""
    if result.error is not None:
        raise RuntimeError(f"map result {result.index}: {result.error!r}")
    if result.index != i:
        raise RuntimeError(f"map yielded index {result.index} at position {i} with ordered=True")
    return str(result.response.choices[0].message.content)


# ---- sync contenders ---------------------------------------------------------------------


def kimi_threads(url: str, concurrency: int) -> SyncRun:
    client = _kimi().Kimi(api_key=API_KEY, base_url=url)
    return threaded(
        lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content,
        concurrency,
    )


def kimi_map(url: str, concurrency: int) -> SyncRun:
    client = _kimi().Kimi(api_key=API_KEY, base_url=url)
    completions = client.chat.completions
    if not hasattr(completions, "map"):
        raise Unavailable("kimi.Kimi(...).chat.completions has no map() in this tree")

    def run(n: int) -> list[str]:
        results = completions.map([REQUEST] * n, concurrency=concurrency, ordered=True, return_exceptions=True)
        return [_content(r, i) for i, r in enumerate(results)]

    return run


def openai_threads(url: str, concurrency: int) -> SyncRun:
    import openai

    client: Any = openai.OpenAI(base_url=url, api_key=API_KEY)
    return threaded(
        lambda: client.chat.completions.create(model=MODEL, messages=MESSAGES).choices[0].message.content,
        concurrency,
    )


# ---- async contenders --------------------------------------------------------------------


async def async_kimi(url: str, concurrency: int) -> AsyncRun:
    kimi = _kimi()
    if not hasattr(kimi, "AsyncKimi"):
        raise Unavailable("kimi has no AsyncKimi in this tree")
    client = kimi.AsyncKimi(api_key=API_KEY, base_url=url)

    async def one() -> str:
        reply = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        return str(reply.choices[0].message.content)

    return lambda n: bounded(one, n, concurrency)


async def async_kimi_map(url: str, concurrency: int) -> AsyncRun:
    kimi = _kimi()
    if not hasattr(kimi, "AsyncKimi"):
        raise Unavailable("kimi has no AsyncKimi in this tree")
    completions = kimi.AsyncKimi(api_key=API_KEY, base_url=url).chat.completions
    if not hasattr(completions, "map"):
        raise Unavailable("kimi.AsyncKimi(...).chat.completions has no map() in this tree")

    async def run(n: int) -> list[str]:
        out: list[str] = []
        results = completions.map([REQUEST] * n, concurrency=concurrency, ordered=True, return_exceptions=True)
        async for result in results:
            out.append(_content(result, len(out)))
        return out

    return run


async def async_openai(url: str, concurrency: int) -> AsyncRun:
    import openai

    client: Any = openai.AsyncOpenAI(base_url=url, api_key=API_KEY)

    async def one() -> str:
        reply = await client.chat.completions.create(model=MODEL, messages=MESSAGES)
        return str(reply.choices[0].message.content)

    return lambda n: bounded(one, n, concurrency)


async def aiohttp_json(url: str, concurrency: int) -> AsyncRun:
    import aiohttp

    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=concurrency))
    target = url + "/chat/completions"

    async def one() -> str:
        async with session.post(target, json=REQUEST, headers=HEADERS) as response:
            response.raise_for_status()
            body = await response.read()
        return str(json.loads(body)["choices"][0]["message"]["content"])

    return lambda n: bounded(one, n, concurrency)


async def httpx_async(url: str, concurrency: int) -> AsyncRun:
    httpx = import_httpx()
    limits = httpx.Limits(max_connections=concurrency, max_keepalive_connections=concurrency)
    client = httpx.AsyncClient(limits=limits, timeout=60.0)
    target = url + "/chat/completions"

    async def one() -> str:
        response = await client.post(target, json=REQUEST, headers=HEADERS)
        response.raise_for_status()
        return str(json.loads(response.content)["choices"][0]["message"]["content"])

    return lambda n: bounded(one, n, concurrency)


async def litellm_acompletion(url: str, concurrency: int) -> AsyncRun:
    # The model price list ships inside the package; never fetch it.
    os.environ["LITELLM_LOCAL_MODEL_COST_MAP"] = "True"
    import litellm

    litellm.telemetry = False
    litellm.suppress_debug_info = True

    async def one() -> str:
        reply = await litellm.acompletion(
            model=f"openai/{MODEL}", api_base=url, api_key=API_KEY, messages=MESSAGES,
        )
        return str(reply.choices[0].message.content)

    return lambda n: bounded(one, n, concurrency)


SYNC: dict[str, Callable[[str, int], SyncRun]] = {
    "kimi-threads": kimi_threads,
    "kimi-map": kimi_map,
    "openai-threads": openai_threads,
}
ASYNC: dict[str, Callable[[str, int], Awaitable[AsyncRun]]] = {
    "async-kimi": async_kimi,
    "async-kimi-map": async_kimi_map,
    "async-openai": async_openai,
    "aiohttp": aiohttp_json,
    "httpx-async": httpx_async,
    "litellm": litellm_acompletion,
}
#: Third-party modules each contender imports (a missing one skips it).
NEEDS = {"openai-threads": ("openai",), "async-openai": ("openai",), "aiohttp": ("aiohttp",),
         "httpx-async": ("httpx", "httpx2"), "litellm": ("litellm",)}
LABELS = {
    "kimi-threads": "kimi, {c} threads",
    "kimi-map": "`Kimi.map` (concurrency {c})",
    "async-kimi": "`AsyncKimi`, {c} tasks",
    "async-kimi-map": "`AsyncKimi.map` (concurrency {c})",
    "openai-threads": "openai-python, {c} threads",
    "async-openai": "`AsyncOpenAI`, {c} tasks",
    "aiohttp": "aiohttp + json.loads, {c} tasks",
    "httpx-async": "httpx `AsyncClient` + json.loads, {c} tasks",
    "litellm": "litellm `acompletion`, {c} tasks",
}


def label(name: str, concurrency: int) -> str:
    return LABELS[name].format(c=concurrency)


def _timed(run: Callable[[], list[str]]) -> tuple[list[str], float, float]:
    cpu0 = time.process_time()
    wall0 = time.perf_counter()
    contents = run()
    wall = time.perf_counter() - wall0
    return contents, time.process_time() - cpu0, wall


def measure_one(name: str, url: str, n: int, concurrency: int) -> dict[str, Any]:
    """One request untimed, then `n` timed, of contender `name`; the contents counted."""
    raise_nofile()
    try:
        if name in SYNC:
            run = SYNC[name](url, concurrency)
            run(1)
            contents, cpu, wall = _timed(lambda: run(n))
        else:
            loop = asyncio.new_event_loop()
            arun = loop.run_until_complete(ASYNC[name](url, concurrency))
            loop.run_until_complete(arun(1))
            contents, cpu, wall = _timed(lambda: loop.run_until_complete(arun(n)))
    except Unavailable as why:
        return {"name": name, "skipped": str(why)}
    except ModuleNotFoundError as exc:
        if exc.name not in NEEDS.get(name, ()):
            raise
        return {"name": name, "skipped": f"{exc.name} is not installed (`make bench` installs it)"}
    return {
        "name": name, "cpu": cpu, "wall": wall, "requests": n, "concurrency": concurrency,
        "contents": dict(Counter(contents)), "rss_mb": peak_rss_mb(), "kimi_from": kimi_origin(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks._many")
    parser.add_argument("name", choices=[*SYNC, *ASYNC])
    parser.add_argument("url")
    parser.add_argument("--requests", type=int, required=True)
    parser.add_argument("--concurrency", type=int, required=True)
    args = parser.parse_args(argv)
    emit(measure_one(args.name, check_loopback(args.url), args.requests, args.concurrency))
    # Skip interpreter teardown: clients, sessions and loops left open would only
    # print warnings about it.
    sys.stdout.flush()
    os._exit(0)


if __name__ == "__main__":
    sys.exit(main())
