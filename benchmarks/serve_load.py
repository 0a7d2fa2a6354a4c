"""Load test for `textfit serve`: start the server in another process on loopback, drive it with a
bounded number of concurrent clients for a fixed time, and report throughput, latency and errors.

    .venv/bin/python benchmarks/serve_load.py MODEL_DIR                      # 32 clients for 30 s
    .venv/bin/python benchmarks/serve_load.py MODEL_DIR --clients 1,8,32 --duration 20 --out load.json
    .venv/bin/python benchmarks/serve_load.py MODEL_DIR --duration 300 --rss-every 10      # a 5-minute soak
    .venv/bin/python benchmarks/serve_load.py MODEL_DIR --workers 2                       # serve --workers 2

Each client sends one request at a time (a random message from the embedded sample, or
--texts-per-request of them) and waits for the answer before sending the next: the load is
bounded by the number of clients. Latency is measured per request, from send to full answer.
A few seconds of warm-up at every level are not counted. The server's resident memory (RSS) is
sampled during every level (start, end, largest), so a soak shows whether it leaks; with
--workers, the supervisor's and its workers' together."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import random
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

LOOPBACK = {"127.0.0.1", "localhost", "::1"}


def free_port(host: str) -> int:
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def sample_texts() -> list[str]:
    import csv

    from textfit.data.labeled import SAMPLE_DATA

    with open(SAMPLE_DATA, newline="", encoding="utf-8") as f:
        return [row["text"] for row in csv.DictReader(f)]


def start_server(model_dir: str, host: str, port: int, extra: list[str]) -> subprocess.Popen:
    command = [sys.executable, "-m", "textfit.cli", "serve", model_dir, "--host", host, "--port", str(port), *extra]
    env = {**os.environ, "TOKENIZERS_PARALLELISM": "false"}
    return subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, start_new_session=True)


def wait_until_up(base: str, server: subprocess.Popen, timeout: float = 180, headers: dict | None = None) -> dict:
    import httpx

    deadline = time.time() + timeout
    while time.time() < deadline:
        if server.poll() is not None:
            raise SystemExit(
                f"the server exited with code {server.returncode}:\n{server.stderr.read().decode()[-2000:]}"
            )
        try:
            return httpx.get(f"{base}/model", timeout=2, headers=headers).raise_for_status().json()
        except httpx.HTTPError:
            time.sleep(0.25)
    raise SystemExit(f"the server did not answer within {timeout:.0f} s")


def rss_mb(pid: int) -> float | None:
    """Resident memory of a process and its children (`serve --workers N`), from /proc (Linux); None elsewhere."""
    total = None
    for member in [pid, *children(pid)]:
        try:
            for line in Path(f"/proc/{member}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total = (total or 0) + int(line.split()[1]) / 1024
        except OSError:
            pass
    return None if total is None else round(total, 1)


def children(pid: int) -> list[int]:
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        try:
            found += [int(c) for c in task.read_text().split()]
        except OSError:
            pass
    return found


async def sample_rss(pid: int, every_s: float, samples: list) -> None:
    """Append (seconds since start, RSS MB) every `every_s` seconds until cancelled."""
    start = time.perf_counter()
    while True:
        samples.append((round(time.perf_counter() - start, 1), rss_mb(pid)))
        await asyncio.sleep(every_s)


def percentile(values: list[float], q: float) -> float | None:
    if not values:
        return None
    ordered = sorted(values)
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


async def drive(
    base: str,
    clients: int,
    duration: float,
    warmup: float,
    texts: list[str],
    per_request: int,
    timeout: float,
    seed: int,
    server_pid: int | None = None,
    rss_every: float = 5.0,
    headers: dict | None = None,
) -> dict:
    import httpx

    latencies: list[float] = []
    errors: dict[str, int] = {}
    counted_texts = 0
    start = time.perf_counter()
    measure_from = start + warmup
    stop_at = measure_from + duration
    rng = random.Random(seed)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal counted_texts
        while True:
            sent = time.perf_counter()
            if sent >= stop_at:
                return
            body = {"texts": [rng.choice(texts) for _ in range(per_request)]}
            try:
                response = await http.post("/predict", json=body)
                ok = response.status_code == 200 and len(response.json()["predictions"]) == per_request
                kind = None if ok else f"HTTP {response.status_code}"
            except Exception as exc:  # a refused connection or a timeout is an error, not a crash of the test
                kind = type(exc).__name__
            done = time.perf_counter()
            if sent < measure_from:
                continue
            if kind:
                errors[kind] = errors.get(kind, 0) + 1
            else:
                latencies.append(done - sent)
                counted_texts += per_request

    async def measured_rss() -> None:  # from the end of the warm-up, when the server has its working set
        await asyncio.sleep(warmup)
        await sample_rss(server_pid, rss_every, rss)

    rss: list = []
    sampler = asyncio.create_task(measured_rss()) if server_pid else None
    async with httpx.AsyncClient(base_url=base, limits=limits, timeout=timeout, headers=headers) as http:
        await asyncio.gather(*(client(http) for _ in range(clients)))
    if sampler:
        sampler.cancel()
        rss.append((round(time.perf_counter() - measure_from, 1), rss_mb(server_pid)))
    elapsed = time.perf_counter() - measure_from
    values = [mb for _, mb in rss if mb is not None]
    ms = [1000 * v for v in latencies]
    return {
        "clients": clients,
        "texts_per_request": per_request,
        "duration_s": round(elapsed, 2),
        "requests": len(latencies),
        "errors": sum(errors.values()),
        "error_kinds": errors,
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "texts_per_s": round(counted_texts / elapsed, 1),
        "latency_ms": {
            "p50": _r(percentile(ms, 50)),
            "p90": _r(percentile(ms, 90)),
            "p99": _r(percentile(ms, 99)),
            "max": _r(max(ms) if ms else None),
            "mean": _r(sum(ms) / len(ms) if ms else None),
        },
        "rss_mb": {
            "start": values[0],
            "end": values[-1],
            "max": max(values),
            "growth_pct": round(100 * (values[-1] - values[0]) / values[0], 2),
            "samples": rss,
        }
        if values
        else None,
    }


def _r(value: float | None) -> float | None:
    return None if value is None else round(value, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model_dir", nargs="?", default="textfit-demo-model", help="a trained model folder")
    parser.add_argument(
        "--clients", default="32", help="concurrent clients; a comma list runs one level after another (e.g. 1,8,32)"
    )
    parser.add_argument("--duration", type=float, default=30, help="seconds measured per level")
    parser.add_argument("--warmup", type=float, default=3, help="seconds of load before measuring, per level")
    parser.add_argument("--texts-per-request", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=30, help="seconds before a request counts as an error")
    parser.add_argument("--host", default="127.0.0.1", help="loopback only: 127.0.0.1, ::1 or localhost")
    parser.add_argument("--port", type=int, default=0, help="0 = a free port")
    parser.add_argument("--workers", type=int, default=1, help="`textfit serve --workers N`: processes behind the port")
    parser.add_argument(
        "--server-arg",
        action="append",
        default=[],
        help="extra `textfit serve` option, e.g. --server-arg=--max-batch=32",
    )
    parser.add_argument(
        "--out",
        type=Path,
        default=Path(__file__).parent / "results" / "serve_load.json",
        help="where to write the results as JSON (default: benchmarks/results/serve_load.json)",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--rss-every", type=float, default=5, help="seconds between samples of the server's memory")
    parser.add_argument(
        "--api-key",
        default=os.environ.get("TEXTFIT_API_KEY"),
        help="sent as a bearer token (for a server started with --api-key; default $TEXTFIT_API_KEY)",
    )
    args = parser.parse_args()

    if args.host not in LOOPBACK:
        raise SystemExit(f"refusing to load-test {args.host}: this benchmark drives loopback only")
    if not Path(args.model_dir, "config.json").is_file():
        raise SystemExit(
            f"{args.model_dir} is not a trained model folder; train one with `textfit train` or `make demo`"
        )
    levels = [int(c) for c in str(args.clients).split(",") if c.strip()]
    if not levels or min(levels) < 1 or max(levels) > 1024:
        raise SystemExit("--clients must be between 1 and 1024")

    import httpx

    headers = {"Authorization": f"Bearer {args.api_key}"} if args.api_key else None
    port = args.port or free_port(args.host)
    base = f"http://{'[::1]' if args.host == '::1' else args.host}:{port}"
    server = start_server(args.model_dir, args.host, port, [*args.server_arg, "--workers", str(args.workers)])
    try:
        model = wait_until_up(base, server, headers=headers)
        texts = sample_texts()
        print(
            f"textfit serve {args.model_dir} on {base}: {len(model['labels'])} labels, "
            f"base model {model['base_model']}, "
            f"backend {model['backend']}; {args.workers} worker(s); {os.cpu_count()} CPUs"
        )
        results = []
        for clients in levels:
            before = httpx.get(f"{base}/health").json()["batches"]
            level = asyncio.run(
                drive(
                    base,
                    clients,
                    args.duration,
                    args.warmup,
                    texts,
                    args.texts_per_request,
                    args.timeout,
                    args.seed,
                    server.pid,
                    args.rss_every,
                    headers,
                )
            )
            after = httpx.get(f"{base}/health").json()["batches"]
            # Batch counts are per process: with several workers, /health tells one worker's.
            batches = after["batches"] - before["batches"] if args.workers == 1 else 0
            level["server_batches"] = batches
            level["mean_batch_texts"] = round((after["texts"] - before["texts"]) / batches, 1) if batches else None
            results.append(level)
            lat = level["latency_ms"]
            print(
                f"{clients:>4} clients  {level['requests_per_s']:>8.1f} requests/s  p50 {lat['p50']} ms  "
                f"p99 {lat['p99']} ms  max {lat['max']} ms  errors {level['errors']}  "
                f"(mean batch {level['mean_batch_texts']} texts, "
                f"{level['requests']} requests in {level['duration_s']} s)"
            )
            if level["rss_mb"]:
                memory = level["rss_mb"]
                print(
                    f"      server RSS {memory['start']} MB at the start, {memory['end']} MB at the end "
                    f"({memory['growth_pct']:+.2f} %), largest {memory['max']} MB"
                )
        alive = server.poll() is None
    finally:
        server.send_signal(signal.SIGINT)
        try:
            server.wait(20)
        except subprocess.TimeoutExpired:
            server.kill()
    report = {
        "model_dir": str(Path(args.model_dir).resolve()),
        "base_model": model.get("base_model"),
        "labels": len(model["labels"]),
        "backend": model.get("backend"),
        "host": args.host,
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(), "python": platform.python_version()},
        "server_args": args.server_arg,
        "workers": args.workers,
        "warmup_s": args.warmup,
        "server_alive_after": alive,
        "levels": results,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(report, indent=2))
    print(f"wrote {args.out}")
    if any(level["errors"] for level in results) or not alive:
        sys.exit(1)


if __name__ == "__main__":
    main()
