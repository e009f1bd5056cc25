"""SMTP load: concurrent sessions sending unsubscribe requests, and when each becomes visible.

A lean client (plain asyncio streams, no library) so that the load generator is not what
limits the measurement.
"""

import asyncio
import multiprocessing
import time

import aiohttp

RECIPIENT = "PLUSinfo@plusnxt.com"


def request_message(sender: str) -> bytes:
    return (
        f"From: <{sender}>\r\nTo: {RECIPIENT}\r\nSubject: unsubscribe\r\n"
        f"Message-ID: <{sender}.bench>\r\n\r\nPlease unsubscribe me.\r\n"
    ).encode()


async def _reply(reader: asyncio.StreamReader) -> int:
    while True:
        line = await reader.readline()
        if not line:
            raise ConnectionError("the server closed the session")
        if line[3:4] != b"-":
            return int(line[:3])


async def _session(port: int, senders: list[str], acked: dict[str, float]) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    await _reply(reader)
    writer.write(b"EHLO bench.example\r\n")
    await _reply(reader)
    for sender in senders:
        for command, wanted in ((f"MAIL FROM:<{sender}>", 250), (f"RCPT TO:<{RECIPIENT}>", 250), ("DATA", 354)):
            writer.write(command.encode() + b"\r\n")
            code = await _reply(reader)
            if code != wanted:
                raise RuntimeError(f"{command}: {code}")
        writer.write(request_message(sender) + b".\r\n")
        if await _reply(reader) != 250:
            raise RuntimeError(f"message from {sender} refused")
        acked[sender] = time.monotonic()
    writer.write(b"QUIT\r\n")
    await _reply(reader)
    writer.close()


async def send_requests(port: int, clients: int, per_client: int, prefix: str) -> tuple[float, dict[str, float]]:
    """Send clients × per_client messages; return messages a second and each 250's time."""
    acked: dict[str, float] = {}
    groups = [[f"{prefix}{c}.{n}@bench.example" for n in range(per_client)] for c in range(clients)]
    started = time.monotonic()
    await asyncio.gather(*(_session(port, group, acked) for group in groups))
    return len(acked) / (time.monotonic() - started), acked


async def watch_changes(base_url: str, key: str, seen: dict[str, float], stop: asyncio.Event, cursor: str) -> None:
    """Follow the change feed from `cursor`, noting when each address first appears in it."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set():
            async with http.get(f"{base_url}/v1/changes?after={cursor}&limit=10000") as answer:
                body = await answer.json()
            now = time.monotonic()
            for change in body["changes"]:
                seen.setdefault(change["email"], now)
            cursor = body["next"]
            if not body["changes"]:
                await asyncio.sleep(0.01)


async def intake_with_visibility(port: int, base_url: str, key: str, clients: int, per_client: int, cursor: str,
                                 drain_seconds: float = 30.0, check_every: bool = False):
    """Intake rate, the delays from each 250 to its suppression showing in the API, and (with
    `check_every`) how long a single check every 10 ms took meanwhile.

    `cursor` is the end of the change log before the run: the feed is read from there. What has
    not shown `drain_seconds` after the last 250 counts as never (inf). The feed and the checks
    are followed by a process of their own: in the SMTP client's, reading the feed's JSON made its
    sessions slower than the sink's, whose client does nothing else.
    """
    ours, theirs = _PROCESSES.Pipe()
    observer = _PROCESSES.Process(target=_observe, args=(base_url, key, cursor, check_every, theirs), daemon=True)
    observer.start()
    theirs.close()
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, ours.recv)  # ready: following the feed
    # New addresses each run: an address suppressed by an earlier run would change nothing.
    rate, acked = await send_requests(port, clients, per_client, f"svc{time.time_ns()}.")
    ours.send((list(acked), drain_seconds))
    seen, took = await loop.run_in_executor(None, ours.recv)
    observer.join()
    delays = sorted(seen.get(s, float("inf")) - t for s, t in acked.items())
    return rate, delays, sorted(took)


_PROCESSES = multiprocessing.get_context("spawn")  # the bench's own loop runs: not a fork of it


def _observe(base_url: str, key: str, cursor: str, check_every: bool, pipe) -> None:
    asyncio.run(_observing(base_url, key, cursor, check_every, pipe))


async def _observing(base_url: str, key: str, cursor: str, check_every: bool, pipe) -> None:
    """Follow the feed (and check every 10 ms) until the addresses the parent sends have all shown,
    or its drain time has passed; send back (when each showed, how long each check took)."""
    seen: dict[str, float] = {}
    took: list[float] = []
    stop = asyncio.Event()
    following = [asyncio.create_task(watch_changes(base_url, key, seen, stop, cursor))]
    if check_every:
        following.append(asyncio.create_task(_check_every(base_url, key, took, stop)))
    loop = asyncio.get_running_loop()
    pipe.send("ready")
    acked, drain_seconds = await loop.run_in_executor(None, pipe.recv)
    for _ in range(int(drain_seconds * 100)):  # bounded: the last ones get drain_seconds to show
        if all(sender in seen for sender in acked):
            break
        await asyncio.sleep(0.01)
    stop.set()
    await asyncio.gather(*following)
    pipe.send((seen, took))


async def _check_every(base_url: str, key: str, took: list[float], stop: asyncio.Event) -> None:
    """A check every 10 ms: how long each took (a client checking flat out would load the
    machine's two cores, and so the sink's comparison)."""
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {key}"}) as http:
        while not stop.is_set():
            started = time.monotonic()
            async with http.get(f"{base_url}/v1/suppressions/nobody@example.org") as answer:
                await answer.read()
            took.append(time.monotonic() - started)
            await asyncio.sleep(0.01)
