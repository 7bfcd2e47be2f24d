"""Timing shared by the PyTorch workloads: medians after warm-up, like tools/bench/lib/measure.mjs."""
import statistics
import time


def time_step(step, warmup, repeats, budget_ms=4000.0):
    """Runs `step` `warmup` times untimed, then up to `repeats` timed runs (at least 3; fewer
    than `repeats` once the timed runs exceed `budget_ms`). Returns the median and the count."""
    warmed = 0
    while warmed < warmup:
        t0 = time.perf_counter()
        step()
        warmed += 1
        # One warm-up is enough for a case that takes a large part of the budget.
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
