"""Benchmark: the service's ``/metrics`` body, prometheus_client's generate_latest vs ours.

The same registry (the strategy service's collectors, every per-instrument series declared, some
traffic recorded) is rendered by ``prometheus_client.generate_latest`` (the peer) and by
:class:`pipelines.serving.exposition.TextExposition`, alternately, in one process. The two bodies
must be byte for byte equal (the process CPU series aside, which move between two renders) before
any figure is printed. Prints the time per render, the series, and the ratio.

Run from the repository root:
    python -m benchmarks.bench_metrics [--instruments 20] [--renders 500]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable

from prometheus_client import disable_created_metrics, generate_latest

from pipelines.serving.exposition import TextExposition
from pipelines.serving.metrics import ServiceMetrics


def service(instruments: int, seed: int = 0) -> ServiceMetrics:
    """The service's collectors as a pod exports them after some traffic."""
    metrics = ServiceMetrics("7", (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5))
    names = [f"I{i:03d}" for i in range(instruments)]
    metrics.declare_instruments(names)
    rng = random.Random(seed)  # noqa: S311 - synthetic traffic, not security
    for name in names:
        for _ in range(20):
            metrics.answered(name, 200, rng.uniform(0.001, 0.05))
            metrics.realised(name, [rng.gauss(0.0, 0.01)])
            metrics.signal(name, rng.choice((-1.0, 0.0, 1.0)), rng.random())
    return metrics


def _without_process(body: bytes) -> list[bytes]:
    return [line for line in body.splitlines() if not line.startswith(b"process_")]


def _per_render(render: Callable[[], bytes], renders: int) -> float:
    started = time.perf_counter()
    for _ in range(renders):
        render()
    return (time.perf_counter() - started) / renders


def main(argv: list[str] | None = None) -> int:
    """Run the comparison; exit 1 if the two bodies differ."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instruments", type=int, default=20)
    parser.add_argument("--renders", type=int, default=500)
    args = parser.parse_args(argv)
    disable_created_metrics()  # as `pipelines serve` does
    metrics = service(args.instruments)
    ours = TextExposition(metrics.registry)

    def peer() -> bytes:
        return generate_latest(metrics.registry)

    theirs_body, ours_body = peer(), ours.render()
    if _without_process(theirs_body) != _without_process(ours_body):
        print("the two /metrics bodies differ", file=sys.stderr)  # noqa: T201
        return 1
    series = sum(1 for line in theirs_body.splitlines() if not line.startswith(b"#"))
    peer_s = ours_s = 0.0
    for _ in range(3):  # alternate, so that a busy moment hits both sides
        peer_s += _per_render(peer, args.renders) / 3
        ours_s += _per_render(ours.render, args.renders) / 3
    print(f"/metrics of {args.instruments} instruments: {series} series, {len(ours_body):,} bytes")  # noqa: T201
    print("| renderer | ms per render |\n|---|---|")  # noqa: T201
    print(f"| prometheus_client generate_latest | {peer_s * 1e3:.2f} |")  # noqa: T201
    print(f"| pipelines TextExposition | {ours_s * 1e3:.2f} |")  # noqa: T201
    print(f"ratio (generate_latest / ours): {peer_s / ours_s:.2f}x; bodies equal")  # noqa: T201
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
