"""Timing shared by the PyTorch workloads: medians after warm-up, like tools/bench/lib/measure.mjs."""
import statistics
import time


MAX_WARMUP = 200


def time_step(step, warmup, repeats, budget_ms=4000.0, warmup_ms=0.0):
    """Warms `step` up (at least `warmup` runs and at least `warmup_ms`, as measure.mjs does),
    then up to `repeats` timed runs (at least 3; fewer than `repeats` once the timed runs exceed
    `budget_ms`). Returns the median and the counts."""
    warmed = 0
    start = time.perf_counter()
    while warmed < warmup or (
        (time.perf_counter() - start) * 1000.0 < warmup_ms and warmed < MAX_WARMUP
    ):
        t0 = time.perf_counter()
        step()
        warmed += 1
        # A run that takes a large part of the budget ends the warm-up.
        if (time.perf_counter() - t0) * 1000.0 > budget_ms / 4:
            break
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        step()
        times.append((time.perf_counter() - t0) * 1000.0)
        if len(times) >= 3 and sum(times) > budget_ms:
            break
    return {
        "medianMs": statistics.median(times),
        "minMs": min(times),
        "repeats": len(times),
        "warmup": warmed,
    }
