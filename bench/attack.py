#!/usr/bin/env python3
"""Hits under attack: reelcache's cache-hit latency, resident memory and open descriptors while
(1) one address holds many connections and trickles request bodies a byte at a time, and
(2) 200 bad logins for distinct unknown usernames arrive at once, each figure beside the same
server unattacked in the same run. Loopback only (attackers on 127.0.0.2 and behind a trusted
proxy header), bounded in count and time; stops by itself.

usage: bench/attack.py BINARY DEMO_SNAPSHOT   (bench/attack.sh builds and calls it)
"""

import asyncio
import os
import re
import subprocess
import sys
import tempfile
import time

PORT = 18097
HIT = b"GET /api/movies/trending/?time_window=day&page=1 HTTP/1.1\r\nhost: bench\r\n\r\n"
SLOW_CONNECTIONS = 1100
SLOW_SECONDS = 20
LOGINS = 200


def proc_status(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field):
                return int(line.split()[1])
    return 0


def open_fds(pid):
    return len(os.listdir(f"/proc/{pid}/fd"))


async def read_response(reader):
    head = await reader.readuntil(b"\r\n\r\n")
    length = int(re.search(rb"content-length: *(\d+)", head, re.I).group(1))
    await reader.readexactly(length)
    return int(head.split(b" ", 2)[1])


async def hit_latencies(seconds, connections=4):
    """Cache hits over keep-alive connections from 127.0.0.1 for `seconds`: latencies in ms."""
    latencies, failures = [], 0
    deadline = time.monotonic() + seconds

    async def one_connection():
        nonlocal failures
        try:
            reader, writer = await asyncio.wait_for(
                asyncio.open_connection("127.0.0.1", PORT, local_addr=("127.0.0.1", 0)), 5)
        except Exception:
            failures += 1
            return
        while time.monotonic() < deadline:
            started = time.perf_counter()
            try:
                writer.write(HIT)
                status = await asyncio.wait_for(read_response(reader), 5)
            except Exception:
                failures += 1
                return
            if status != 200:
                failures += 1
            latencies.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0.002)
        writer.close()

    await asyncio.gather(*(one_connection() for _ in range(connections)))
    return latencies, failures


def summary(latencies):
    ordered = sorted(latencies) or [float("nan")]
    pick = lambda q: ordered[min(len(ordered) - 1, int(q * len(ordered)))]
    return {"n": len(latencies), "p50": pick(0.50), "p99": pick(0.99), "max": ordered[-1]}


async def sample_server(pid, seconds, every=0.05):
    """Peak resident kB and peak open descriptors over `seconds`."""
    peak_rss, peak_fds = 0, 0
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        peak_rss = max(peak_rss, proc_status(pid, "VmRSS:"))
        peak_fds = max(peak_fds, open_fds(pid))
        await asyncio.sleep(every)
    return peak_rss, peak_fds


async def slow_body_attacker(outcomes):
    """One connection from 127.0.0.2: headers of a login, then its body a byte a second."""
    started = time.monotonic()
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT, local_addr=("127.0.0.2", 0))
    except Exception:
        outcomes["connect failed"] = outcomes.get("connect failed", 0) + 1
        return
    try:
        writer.write(b"POST /api/users/login/ HTTP/1.1\r\nhost: bench\r\n"
                     b"content-type: application/json\r\ncontent-length: 10000\r\n\r\n")
        answer = b""
        while time.monotonic() - started < SLOW_SECONDS:
            writer.write(b" ")
            await writer.drain()
            try:
                chunk = await asyncio.wait_for(reader.read(4096), 1.0)
            except asyncio.TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
        kind = answer.split(b"\r\n", 1)[0].decode(errors="replace") or "closed without an answer"
        if time.monotonic() - started >= SLOW_SECONDS:
            kind = "still held at the end"
    except (ConnectionError, OSError):
        kind = "reset"
    outcomes[kind] = outcomes.get(kind, 0) + 1
    writer.close()


async def bad_login(i, outcomes):
    body = ('{"username": "nobody%d", "password": "wrong-password"}' % i).encode()
    request = (b"POST /api/users/login/ HTTP/1.1\r\nhost: bench\r\nconnection: close\r\n"
               b"content-type: application/json\r\nx-forwarded-for: 10.9.%d.%d\r\n"
               b"content-length: %d\r\n\r\n" % (i // 250, i % 250 + 1, len(body))) + body
    try:
        reader, writer = await asyncio.open_connection("127.0.0.1", PORT)
        writer.write(request)
        status = await asyncio.wait_for(read_response(reader), 30)
        writer.close()
    except Exception:
        status = "error"
    outcomes[status] = outcomes.get(status, 0) + 1


def line(name, base, under):
    return (f"  {name:<38} p50 {under['p50']:6.2f} ms (unattacked {base['p50']:.2f}, x{under['p50'] / base['p50']:.2f})"
            f"   p99 {under['p99']:6.2f} ms (unattacked {base['p99']:.2f}, x{under['p99'] / base['p99']:.2f}, "
            f"+{under['p99'] - base['p99']:.2f} ms)   max {under['max']:.1f} ms   n={under['n']}")


async def main(binary, snapshot):
    data = tempfile.mkdtemp(prefix="rc-attack.")
    env = dict(os.environ, RUST_LOG="warn", REELCACHE_OFFLINE="true",
               REELCACHE_SEED_SNAPSHOT=os.path.abspath(snapshot),
               REELCACHE_TRUSTED_PROXIES="127.0.0.1", REELCACHE_CLIENT_RPS="0")
    server = subprocess.Popen([binary, "serve", "--listen", f"127.0.0.1:{PORT}", "--data-dir", data],
                              env=env, stdout=subprocess.PIPE, stderr=open(data + ".log", "w"))
    try:
        server.stdout.readline()
        pid = server.pid
        await hit_latencies(1.0)  # warm the hot tier and the connection path
        idle_rss, idle_fds = proc_status(pid, "VmRSS:"), open_fds(pid)
        base, base_failures = await hit_latencies(5.0)
        base = summary(base)
        print(f"unattacked: hits p50 {base['p50']:.2f} ms, p99 {base['p99']:.2f} ms (n={base['n']}, "
              f"{base_failures} failed); resident {idle_rss / 1024:.1f} MB; {idle_fds} descriptors open")

        # 1. Slow bodies from one address.
        outcomes = {}
        attackers = [asyncio.create_task(slow_body_attacker(outcomes)) for _ in range(SLOW_CONNECTIONS)]
        await asyncio.sleep(1.0)
        sampler = asyncio.create_task(sample_server(pid, 8.0))
        under, failures = await hit_latencies(8.0)
        peak_rss, peak_fds = await sampler
        await asyncio.gather(*attackers)
        print(f"slow-body attack: {SLOW_CONNECTIONS} connections from 127.0.0.2 trickling a login body")
        print(line("hits during the attack", base, summary(under)) + f"   failed {failures}")
        print(f"  server descriptors open at most {peak_fds} (idle {idle_fds}); resident at most "
              f"{peak_rss / 1024:.1f} MB (x{peak_rss / idle_rss:.2f} idle)")
        print("  attacker connections ended: " + ", ".join(f"{v} {k}" for k, v in sorted(outcomes.items(), key=str)))

        # 2. A burst of bad logins for unknown usernames from distinct addresses.
        idle_rss = proc_status(pid, "VmRSS:")
        outcomes = {}
        sampler = asyncio.create_task(sample_server(pid, 6.0, every=0.02))
        hits = asyncio.create_task(hit_latencies(6.0))
        await asyncio.sleep(0.2)
        started = time.monotonic()
        await asyncio.gather(*(bad_login(i, outcomes) for i in range(LOGINS)))
        burst_s = time.monotonic() - started
        (under, failures), (peak_rss, _) = await hits, await sampler
        print(f"login burst: {LOGINS} bad logins at once for distinct unknown usernames, answered in {burst_s:.1f} s: "
              + ", ".join(f"{v}x {k}" for k, v in sorted(outcomes.items(), key=str)))
        print(line("hits during the burst", base, summary(under)) + f"   failed {failures}")
        print(f"  resident at most {peak_rss / 1024:.1f} MB, +{(peak_rss - idle_rss) / 1024:.1f} MB over "
              f"idle {idle_rss / 1024:.1f} MB")
    finally:
        server.terminate()
        server.wait(timeout=20)


if __name__ == "__main__":
    asyncio.run(main(sys.argv[1], sys.argv[2]))
