"""Cost of one ``RateLimiter.check`` (key + IP, one script call) against a private local Redis.

Run: ``.venv/bin/python -m tests.ratelimit.bench_check [--checks 2000]``. Prints median and p99 in µs for
requests that are admitted (a generous limit) and for a subject held at its limit (mostly refused), and
the script's own time inside Redis (``INFO commandstats``), which the machine's other load disturbs less.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import tempfile
import time
import uuid
from pathlib import Path

from gateway.ratelimit import Limit, RateLimiter
from gateway.redis_client import connect_redis
from infra.stack.processes import pick_free_ports
from infra.stack.redis import RedisService


async def _timings(url: str, limits: list[Limit], checks: int) -> tuple[list[float], int, float]:
    redis = connect_redis(url)
    try:
        limiter = RateLimiter(redis)
        for _ in range(50):  # warm up: connection, script load
            await limiter.check([Limit(f"warm:{uuid.uuid4().hex}", 10)])
        await redis.config_resetstat()
        timings, admitted = [], 0
        for _ in range(checks):
            started = time.perf_counter_ns()
            decision = await limiter.check(limits)
            timings.append((time.perf_counter_ns() - started) / 1000)
            admitted += decision.allowed
            assert decision.shared, "Redis did not answer"
        in_redis = (await redis.info("commandstats"))["cmdstat_evalsha"]["usec_per_call"]
        return timings, admitted, float(in_redis)
    finally:
        await redis.aclose()


def _report(name: str, timings: list[float], admitted: int, in_redis: float) -> None:
    ordered = sorted(timings)
    p99 = ordered[min(len(ordered) - 1, round(0.99 * len(ordered)))]
    print(
        f"{name:<28} median {statistics.median(ordered):7.1f} µs   p99 {p99:7.1f} µs   "
        f"in Redis {in_redis:5.1f} µs   admitted {admitted}/{len(ordered)}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--checks", type=int, default=2000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as root:
        service = RedisService(Path(root) / "data", Path(root) / "logs", pick_free_ports(1)[0])
        service.prepare()
        service.start()
        try:
            for name, key_limit, ip_limit in (
                ("admitted (limit 100000)", 100_000, 100_000),
                ("at the limit (60 / 100)", 60, 100),
            ):
                subject = uuid.uuid4().hex
                limits = [Limit(f"key:{subject}", key_limit), Limit(f"ip:{subject}", ip_limit)]
                _report(name, *asyncio.run(_timings(service.url, limits, args.checks)))
        finally:
            service.stop()


if __name__ == "__main__":
    main()
