#!/usr/bin/env python3
"""Bounded load test of `imp serve`: C concurrent clients send R chat requests in all (each with an image,
greedy, max_tokens M) and the run reports throughput and p50/p99 latency. With --compare-sequential a second
server with --max-batch 1 answers the same load, giving the speedup of batched over sequential serving.
--check fails (exit 1) on any error or a request that takes longer than --timeout. The server's CPU seconds
(user + system, from /proc) per request are reported too: on a machine shared with other jobs they vary far
less than wall-clock throughput.

    python3 bench/serve_load.py --imp build/src/imp --model DIR [--image IMG] [--prompt TEXT] [--clients 64]
        [--requests 256] [--max-tokens 32] [--max-batch 16] [--compare-sequential] [--check]
"""
import argparse
import base64
import concurrent.futures
import json
import os
import platform
import sys
import threading
import time
import urllib.error
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "tests", "serve"))
from serve_harness import Server  # noqa: E402


def one_request(url, body, timeout):
    t0 = time.perf_counter()
    req = urllib.request.Request(url + "/v1/chat/completions", data=body, method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            j = json.loads(r.read())
            return time.perf_counter() - t0, j["usage"]["completion_tokens"], None
    except urllib.error.HTTPError as e:
        return time.perf_counter() - t0, 0, f"HTTP {e.code}: {e.read()[:200]!r}"
    except Exception as e:  # noqa: BLE001 - every failure is counted
        return time.perf_counter() - t0, 0, repr(e)


def cpu_seconds(pid):
    """User + system CPU seconds of a process so far (Linux /proc; None elsewhere)."""
    try:
        fields = open(f"/proc/{pid}/stat").read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def run_load(url, args, image):
    content = [{"type": "text", "text": args.prompt}]
    if image:
        content.insert(0, {"type": "image_url", "image_url": {"url": image}})
    body = json.dumps({"model": "m", "max_tokens": args.max_tokens, "temperature": 0,
                       "messages": [{"role": "user", "content": content}]}).encode()
    counter = iter(range(args.requests))
    lock = threading.Lock()
    results = []

    def client():
        while True:
            with lock:
                if next(counter, None) is None:
                    return
            res = one_request(url, body, args.timeout)
            with lock:
                results.append(res)

    t0 = time.perf_counter()
    with concurrent.futures.ThreadPoolExecutor(args.clients) as pool:
        for f in [pool.submit(client) for _ in range(args.clients)]:
            f.result()
    wall = time.perf_counter() - t0
    lat = sorted(r[0] for r in results)
    errors = [r[2] for r in results if r[2]]
    tokens = sum(r[1] for r in results)

    def pct(p):
        return lat[min(len(lat) - 1, int(p / 100 * len(lat)))]
    return {"requests": len(results), "errors": len(errors), "first_errors": errors[:3], "wall_s": wall,
            "requests_per_s": len(results) / wall, "tokens_per_s": tokens / wall, "completion_tokens": tokens,
            "p50_s": pct(50), "p99_s": pct(99), "max_s": lat[-1]}


def main():
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--imp", required=True)
    ap.add_argument("--model", required=True)
    ap.add_argument("--image", help="image sent with every request (omit for text-only requests)")
    ap.add_argument("--prompt", default="What colour is the shape?")
    ap.add_argument("--clients", type=int, default=64)
    ap.add_argument("--requests", type=int, default=256)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--max-batch", type=int, default=16)
    ap.add_argument("--timeout", type=float, default=600)
    ap.add_argument("--compare-sequential", action="store_true")
    ap.add_argument("--check", action="store_true")
    ap.add_argument("--extra", default="", help="more imp serve flags, e.g. '--dtype bfloat16'")
    args = ap.parse_args()
    image = "data:image/png;base64," + base64.b64encode(open(args.image, "rb").read()).decode() if args.image else None
    cpu = next((l.split(":", 1)[1].strip() for l in open("/proc/cpuinfo") if l.startswith("model name")), "?")
    amx = "amx_tile" in open("/proc/cpuinfo").read()
    print(f"# {cpu} ({os.cpu_count()} cores, AMX {'yes' if amx else 'no'}), {platform.python_version()}; "
          f"{args.clients} clients, {args.requests} requests, max_tokens {args.max_tokens}, "
          f"{'image + ' if image else ''}{args.prompt!r}", flush=True)
    runs = [("batched", args.max_batch)] + ([("sequential", 1)] if args.compare_sequential else [])
    out = {}
    for name, batch in runs:
        flags = ["--max-batch", str(batch), "--max-concurrent", str(args.clients), *args.extra.split()]
        with Server(args.imp, args.model, *flags) as srv:
            one_request(srv.url, json.dumps({"messages": [{"role": "user", "content": "warm up"}],
                                             "max_tokens": 2}).encode(), 120)
            cpu0 = cpu_seconds(srv.proc.pid)
            r = run_load(srv.url, args, image)
            cpu1 = cpu_seconds(srv.proc.pid)
            code = srv.stop()
        r["server_cpu_s_per_request"] = (cpu1 - cpu0) / r["requests"] if cpu0 is not None and cpu1 is not None else None
        r["exit_code"] = code
        out[name] = r
        print(f"{name:10s} (--max-batch {batch:2d}): {r['requests']} requests in {r['wall_s']:.2f} s, "
              f"{r['requests_per_s']:.2f} req/s, {r['tokens_per_s']:.1f} tokens/s, p50 {r['p50_s']:.2f} s, "
              f"p99 {r['p99_s']:.2f} s, server CPU {1000 * (r['server_cpu_s_per_request'] or 0):.1f} ms/request, "
              f"errors {r['errors']} {r['first_errors']}", flush=True)
    if "sequential" in out:
        b, s = out["batched"], out["sequential"]
        cpu = (f", server CPU per request {s['server_cpu_s_per_request'] / b['server_cpu_s_per_request']:.2f}x less"
               if b["server_cpu_s_per_request"] and s["server_cpu_s_per_request"] else "")
        print(f"speedup batched / sequential: {b['requests_per_s'] / s['requests_per_s']:.2f}x{cpu}")
    print(json.dumps(out))
    if args.check:
        bad = [n for n, r in out.items() if r["errors"] or r["requests"] != args.requests or r["exit_code"] != 0
               or r["max_s"] > args.timeout]
        if bad:
            print("FAILED: " + ", ".join(bad))
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
