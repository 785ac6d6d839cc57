"""The remote-stack app: message → pixel with the stack on another host, over a simulated 20 ms link.

Run: ``.venv/bin/python -m bench.bench_remote_link`` (as root: it adds iptables rules; a Docker engine,
``DOCKER_HOST``; the images are built when missing). Issue 18's target: p99 ≤ 1.5 s.

The issue says to simulate the link with ``tc netem`` (20 ms delay), but kernels without ``sch_netem``
(``tc qdisc add … netem`` → "Specified qdisc kind is unknown") cannot, so the link is made in user space:

* :class:`DelayLink`, a TCP proxy (asyncio, in a process of its own), holds every chunk it reads
  ``--delay-ms`` before writing it on, in order per direction: 20 ms each way, so every round trip
  takes 40 ms longer (as ``netem delay 20ms`` on ``lo`` would: both directions leave through it). A new
  connection's first bytes also wait for a handshake's round trip, as over a real link. No jitter, loss or
  bandwidth limit. It counts the bytes each way. It runs in a child process (:func:`link_process`): in
  the app's process its Python work would compete with the window for the GIL, a cost a real link does
  not have.
* iptables DNAT in ``nat OUTPUT`` sends every connection from 127.0.0.1 to a port the app uses
  (Kafka's host listeners, InfluxDB, the archive's catalog and S3) to the proxy's port for it; the proxy
  connects on from 127.0.0.2, which the rules do not match. Kafka advertises 127.0.0.1:port, so the
  client's connections after a metadata call go through the proxy too, as do other processes' (the
  archive's). The rules carry the comment ``tickerwire-bench-link`` and are removed at the end (stale
  ones at the start).

The proxy must be on the path: Kafka and InfluxDB bytes both ways > 0, and an InfluxDB ``/ping`` on a
kept-alive connection timed with and without the link (the median; the first request opens the connection).

On a bench stack of its own (``twbench``, as :mod:`bench.bench_docker`), the window runs as in
:func:`bench.bench_docker.message_to_pixel_in_stack_mode` — 50 demo symbols at 100× (5,000 second bars a
second), 150 s — after a 30 s warm-up run (discarded: the stack's consumer groups and caches settle), over
the link, then directly, in one run (the machine is shared and noisy).
Prints a table and writes ``bench/results/remote_link.json``.
"""

from __future__ import annotations

import argparse
import asyncio
import http.client
import os
import shlex
import shutil
import statistics
import subprocess
import tempfile
import threading
import time
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlsplit

from bench.bench_docker import make_backend, timed_up
from bench.common import save

COMMENT = "tickerwire-bench-link"
LOCAL, PROXY_SOURCE = "127.0.0.1", "127.0.0.2"


class DelayLink:
    """A TCP proxy on 127.0.0.1 for each upstream port on 127.0.0.1, delaying each chunk by ``delay_s``.

    Attributes:
        listen: Upstream port → the proxy's port for it.
        bytes: Upstream port → [bytes to the stack, bytes from the stack].
    """

    def __init__(self, ports, delay_s: float):
        self.delay_s = delay_s
        self.listen: dict[int, int] = {}
        self.bytes: dict[int, list[int]] = {port: [0, 0] for port in ports}
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="delay-link", daemon=True)
        self._servers: list[asyncio.AbstractServer] = []

    def __enter__(self) -> DelayLink:
        self._thread.start()
        for port in self.bytes:
            server = self._call(asyncio.start_server(lambda r, w, port=port: self._serve(port, r, w), LOCAL, 0))
            self._servers.append(server)
            self.listen[port] = server.sockets[0].getsockname()[1]
        return self

    def __exit__(self, *exc) -> None:
        async def shut() -> None:
            for server in self._servers:
                server.close()
            tasks = asyncio.all_tasks() - {asyncio.current_task()}
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        self._call(shut())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coro):
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    async def _serve(self, port: int, client_r, client_w) -> None:
        # Over a real link the first bytes reach the stack after the handshake's round trip and their own trip.
        first_due = asyncio.get_running_loop().time() + 3 * self.delay_s
        stack_w = None
        try:
            stack_r, stack_w = await asyncio.open_connection(LOCAL, port, local_addr=(PROXY_SOURCE, 0))
            await asyncio.gather(self._pipe(client_r, stack_w, port, 0, first_due),
                                 self._pipe(stack_r, client_w, port, 1, 0.0))
        except (OSError, asyncio.CancelledError):
            pass  # a reset, or the link's end: both ends are closed below
        finally:
            client_w.close()
            if stack_w is not None:
                stack_w.close()

    async def _pipe(self, reader, writer, port: int, way: int, first_due: float) -> None:
        """Copy ``reader`` to ``writer``, each chunk (and the end) ``delay_s`` after it was read, in order."""
        loop = asyncio.get_running_loop()
        chunks: asyncio.Queue = asyncio.Queue()

        async def read() -> None:
            try:
                while data := await reader.read(1 << 16):
                    self.bytes[port][way] += len(data)
                    chunks.put_nowait((max(loop.time() + self.delay_s, first_due), data))
            finally:
                chunks.put_nowait((loop.time() + self.delay_s, b""))

        async def write() -> None:
            while True:
                due, data = await chunks.get()
                await asyncio.sleep(due - loop.time())
                if not data:
                    break
                writer.write(data)
                await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()

        await asyncio.gather(read(), write())


def _nat(*args: str) -> str:
    return subprocess.run(["iptables", "-t", "nat", *args], check=True, capture_output=True, text=True).stdout


def remove_rules() -> int:
    """Delete every ``nat OUTPUT`` rule carrying :data:`COMMENT`; how many there were."""
    mine = [shlex.split(rule)[1:] for rule in _nat("-S", "OUTPUT").splitlines() if COMMENT in rule]
    for rule in mine:
        _nat("-D", *rule)
    return len(mine)


def _run_link(ports, delay_s: float, conn) -> None:
    """The child process: serve the link until told to stop, then send the byte counts."""
    with DelayLink(ports, delay_s) as link:
        conn.send(link.listen)
        conn.recv()
        conn.send(link.bytes)


@contextmanager
def link_process(ports, delay_s: float):
    """A :class:`DelayLink` in a child process; yields it as a stand-in whose ``bytes`` fill in at the end."""
    import multiprocessing

    ours, theirs = multiprocessing.Pipe()
    child = multiprocessing.get_context("spawn").Process(target=_run_link, args=(list(ports), delay_s, theirs),
                                                         name="delay-link", daemon=True)
    child.start()
    link = argparse.Namespace(listen=ours.recv(), bytes={})
    try:
        yield link
    finally:
        ours.send("stop")
        link.bytes = ours.recv()
        child.join(10)


@contextmanager
def remote_link(ports, delay_s: float):
    """The proxy, and the DNAT rules sending the app's connections to ``ports`` through it."""
    with link_process(ports, delay_s) as link:
        remove_rules()
        try:
            for port, proxy in link.listen.items():
                _nat("-I", "OUTPUT", "1", "-p", "tcp", "-s", LOCAL, "-d", LOCAL, "--dport", str(port),
                     "-m", "comment", "--comment", COMMENT, "-j", "DNAT", "--to-destination", f"{LOCAL}:{proxy}")
            yield link
        finally:
            remove_rules()


def stack_ports(endpoints) -> dict[int, str]:
    """The stack's published ports the app connects to, with their service's name."""
    addresses = [("kafka", f"//{a}") for a in endpoints.kafka_bootstrap.split(",")] + [
        ("influxdb", endpoints.influx_url), ("catalog", endpoints.catalog_uri), ("s3", endpoints.s3_endpoint)]
    urls = [(name, urlsplit(a)) for name, a in addresses if a]
    assert all(url.hostname == LOCAL for _, url in urls), urls
    return {url.port: name for name, url in urls}


def ping(influx_url: str, n: int = 20) -> dict:
    """InfluxDB ``/ping`` on one kept-alive connection: the first request (it opens the connection) and the
    median of the next ``n`` (one round trip plus the server's answer), in ms."""
    url = urlsplit(influx_url)
    conn = http.client.HTTPConnection(url.hostname, url.port, timeout=10)
    times = []
    try:
        for _ in range(n + 1):
            started = time.perf_counter()
            conn.request("GET", "/ping")
            conn.getresponse().read()
            times.append((time.perf_counter() - started) * 1000)
    finally:
        conn.close()
    return {"first_request_ms": round(times[0], 2), "round_trip_ms": round(statistics.median(times[1:]), 2)}


def window(stack, args) -> dict:
    """The window on the stack, as :func:`bench.bench_docker.message_to_pixel_in_stack_mode` runs it."""
    from bench.bench_app import message_to_pixel

    before = os.getloadavg()
    result = message_to_pixel(seconds=args.seconds, stack=stack, symbols=args.symbols, speed=args.speed)
    result["load_average"] = {"before": [round(x, 2) for x in before],
                              "after": [round(x, 2) for x in os.getloadavg()]}
    return result


def problem() -> str:
    """Why this benchmark cannot run here ('' when it can)."""
    from stack.engine import docker_problem

    if os.geteuid() != 0 or not shutil.which("iptables"):
        return "needs root and iptables (it steers the app's connections with DNAT rules)"
    return docker_problem()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--delay-ms", type=float, default=20.0, help="one-way delay of the link (each way)")
    parser.add_argument("--seconds", type=float, default=150.0, help="each window's run")
    parser.add_argument("--warm-up", type=float, default=30.0, help="a first, discarded window's run")
    parser.add_argument("--symbols", type=int, default=50, help="demo symbols")
    parser.add_argument("--speed", type=float, default=100.0, help="demo speed (symbols × speed bars a second)")
    args = parser.parse_args()
    from app.stack_mode import connection_from

    print(f"stale link rules removed: {remove_rules()}", flush=True)
    with tempfile.TemporaryDirectory(prefix="bench-remote-link-") as tmp:
        backend = make_backend(Path(tmp))
        backend.stop(delete_data=True)
        try:
            up = timed_up(backend)
            access = backend.access()
            stack, ports = connection_from(access), stack_ports(access.endpoints)
            direct_ping = ping(access.endpoints.influx_url)
            window(stack, argparse.Namespace(**{**vars(args), "seconds": args.warm_up}))
            with remote_link(ports, args.delay_ms / 1000) as link:
                linked_ping = ping(access.endpoints.influx_url)
                linked = window(stack, args)
            through = {f"{name}:{port}": {"to_stack": link.bytes[port][0], "from_stack": link.bytes[port][1]}
                       for port, name in ports.items()}
            direct = window(stack, args)
        finally:
            backend.stop(delete_data=True)
    for name in ("kafka", "influxdb"):
        if not all(b["to_stack"] and b["from_stack"] for key, b in through.items() if key.startswith(name)):
            raise RuntimeError(f"the proxy was not on {name}'s path: {through}")
    pixel = {"link": linked["message_to_pixel"], "direct": direct["message_to_pixel"]}
    rows = [
        ("InfluxDB /ping, kept-alive connection (ms)", linked_ping["round_trip_ms"], direct_ping["round_trip_ms"]),
        ("InfluxDB /ping, first request, new connection (ms)", linked_ping["first_request_ms"],
         direct_ping["first_request_ms"]),
        ("message to pixel p50 (ms)", pixel["link"]["median_ms"], pixel["direct"]["median_ms"]),
        ("message to pixel p95 (ms)", pixel["link"]["p95_ms"], pixel["direct"]["p95_ms"]),
        ("message to pixel p99 (ms), target <= 1500 over the link", pixel["link"]["p99_ms"], pixel["direct"]["p99_ms"]),
        ("samples (live part)", pixel["link"]["n"], pixel["direct"]["n"]),
    ]
    print(f"window on the stack at {linked['offered_second_bars_per_s']} second bars/s, {args.seconds:g} s each, "
          f"link {args.delay_ms:g} ms each way (+{2 * args.delay_ms:g} ms a round trip), after a "
          f"{args.warm_up:g} s warm-up, link run first")
    print(f"{'measure':<58} {'link':>10} {'direct':>10}")
    for name, with_link, without in rows:
        print(f"{name:<58} {with_link:>10} {without:>10}")
    print(f"bytes through the proxy: {through}")
    print(f"load average before/after (1, 5, 15 min), link run: {linked['load_average']}, "
          f"direct run: {direct['load_average']} on {os.cpu_count()} cores")
    path = save("remote_link", {
        "delay_ms_each_way": args.delay_ms, "stack_up": up, "order": ["warm-up (discarded)", "link", "direct"],
        "ping": {"link": linked_ping, "direct": direct_ping}, "bytes_through_proxy": through,
        "with_link": linked, "direct": direct,
        "p99_ratio_link_over_direct": round(pixel["link"]["p99_ms"] / pixel["direct"]["p99_ms"], 2)})
    print(f"results: {path}")


if __name__ == "__main__":
    main()
