// `npm run bench [-- <workload...>] [--quick] [--backends cpu,wasm,native] [--json]`
// Times each workload on each tfjs backend and in PyTorch (same shapes, same thread count),
// prints a table with the ratio to PyTorch, writes bench-results/*.json and docs charts.
// Exits 1 when a workload or case crashed; skips (package not built, backend absent) exit 0.
import { spawnSync } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { HELP, UsageError, parseArgs } from './lib/args.mjs';
import { firstLine, loadBackend, useBackend } from './lib/backends.mjs';
import { peakTensorBytes, timeStep } from './lib/measure.mjs';
import { applyMfu, measurePeak, PEAK_N, peakFromMatmul, wantsPeak } from './lib/peak.mjs';
import { missingDists, withDependencies } from './lib/packages.mjs';
import { renderReport } from './lib/report.mjs';
import { saveResults, writeCharts } from './lib/results-files.mjs';
import { runTorch } from './lib/torch.mjs';
import generate from './workloads/generate.mjs';
import matmul from './workloads/matmul.mjs';
import mixers from './workloads/mixers.mjs';
import long from './workloads/long.mjs';
import sdpa from './workloads/sdpa.mjs';
import sparse from './workloads/sparse.mjs';
import train from './workloads/train.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const WORKLOADS = [matmul, sdpa, mixers, train, generate, long, sparse];
// Which built packages each workload imports (for the up-front `npm run build` hint).
const NEEDS = {
  sdpa: ['attention'],
  mixers: ['core', 'attention'],
  long: ['core', 'attention'],
  sparse: ['core', 'attention'],
  train: ['models'],
  generate: ['models'],
};
// A case estimated to take longer than this per run on a backend is skipped there (--no-limit
// runs it): the estimate scales the previous size's time by (size ratio)^growth, the case's
// `growth` (default 2: attention is quadratic in T; linear mixers say 1), or by the ratio of
// model FLOP when both cases give it; a case may lower the limit with `limitMs`.
const SLOW_MS = { quick: 2000, full: 10000 };

const log = (msg) => process.stderr.write(`${msg}\n`);

async function main() {
  let opts;
  try {
    opts = parseArgs(process.argv.slice(2), [...WORKLOADS.map((w) => w.name), 'attention']);
    if (opts.rest.length && !opts.workloads.includes('attention')) {
      throw new UsageError(`unknown option ${opts.rest[0]}`);
    }
  } catch (err) {
    if (!(err instanceof UsageError)) throw err;
    log(`bench: ${err.message}\n\n${HELP}`);
    return 2;
  }
  if (opts.help) {
    console.log(HELP);
    return 0;
  }
  let failed = false;
  if (opts.workloads.includes('attention')) failed = runAttentionMemory(opts) !== 0;
  const selected = opts.workloads.length
    ? WORKLOADS.filter((w) => opts.workloads.includes(w.name))
    : opts.workloads.includes('attention')
      ? []
      : WORKLOADS;
  if (selected.length === 0) return failed ? 1 : 0;

  const needed = selected.flatMap((w) => (NEEDS[w.name] ?? []).flatMap((p) => withDependencies(p)));
  const missing = missingDists([...new Set(needed)]);
  if (missing.length) {
    log(
      `bench: not built: ${missing.map((p) => `packages/${p}/dist`).join(', ')}. ` +
        'Run `npm run build` first; the workloads that need them are skipped.',
    );
  }
  const results = await runWorkloads(selected, opts);
  failed ||= results.failed;
  delete results.failed;

  if (opts.json) console.log(JSON.stringify(results, null, 2));
  else console.log(renderReport(results).join('\n'));
  if (opts.save) log(`results: ${saveResults(results)} and bench-results/latest.json`);
  if (opts.charts) log(`charts: ${writeCharts(results).join(', ') || 'none'}`);
  return failed ? 1 : 0;
}

async function runWorkloads(selected, opts) {
  const cores = os.availableParallelism?.() ?? os.cpus().length;
  // Production mode: no debug checks and no "install tfjs-node" banner.
  tf.env().set('PROD', true);
  await import('@tensorflow/tfjs-backend-cpu');
  const backends = [];
  for (const name of opts.backends) {
    const b = await loadBackend(name, opts.threads);
    backends.push(b);
    log(`backend ${name}: ${b.ok ? b.note : `skipped: ${b.reason}`}`);
  }
  const ctx = { quick: opts.quick, opts };
  let failed = false;

  // Import each workload's packages once and list its cases (the mixers are known only then).
  const workloads = [];
  for (const w of selected) {
    const entry = { name: w.name, title: w.title, cases: [] };
    let loaded;
    try {
      loaded = await w.load(ctx);
    } catch (err) {
      loaded = { error: firstLine(err) };
    }
    if (loaded.error) {
      entry.error = loaded.error;
      failed = true;
    } else if (loaded.skip) {
      entry.skipped = loaded.skip;
    } else {
      entry.notes = loaded.notes ?? [];
      entry.cases = w
        .cases(ctx, loaded.api)
        .filter((c) => !opts.cases || opts.cases.test(c.id))
        .map((c) => ({ ...c, backends: {}, pytorch: {} }));
    }
    log(
      `workload ${w.name}: ${entry.error ? `FAILED: ${entry.error}` : entry.skipped ? `skipped: ${entry.skipped}` : `${entry.cases.length} cases`}`,
    );
    workloads.push({ w, api: loaded.api, entry });
  }

  const entries = workloads.map(({ entry }) => entry);
  const peaks = { backends: {}, pytorch: {} };
  const pytorch = runPytorch(workloads, backends, opts, peaks);
  failed ||= Boolean(pytorch.error) || pytorch.failed;
  delete pytorch.failed;

  for (const b of backends.filter((x) => x.ok)) {
    await useBackend(b.name);
    // A wasm module that aborted (out of its memory) stays dead: later cases are skipped with
    // the case that killed it named, instead of each failing alike.
    let deadAfter;
    for (const { w, api, entry } of workloads) {
      const lastMs = {};
      for (const c of entry.cases) {
        const r = deadAfter
          ? { skipped: `backend ${b.name} aborted at ${deadAfter}; rerun this workload alone` }
          : await runCase(w, api, c, ctx, lastMs[c.series], opts);
        if (r.error) failed = true;
        if (r.error && !deadAfter && !backendAlive()) {
          deadAfter = c.id;
          log(`  ${b.name} is dead after ${c.id} (${r.error}); its later cases are skipped`);
        }
        if (r.medianMs !== undefined) {
          lastMs[c.series] = { ms: r.medianMs, x: c.x, modelFlops: c.modelFlops };
          if (c.flops) r.gflops = c.flops / (r.medianMs / 1e3) / 1e9;
          if (c.tokens) r.tokensPerSec = c.tokens / (r.medianMs / 1e3);
          const torchMs = c.pytorch[b.threads]?.medianMs;
          if (torchMs) r.ratio = r.medianMs / torchMs;
        }
        c.backends[b.name] = r;
        log(
          `  ${b.name} ${c.id}: ${r.error ? `FAILED: ${r.error}` : r.skipped ? `skipped: ${r.skipped}` : `${r.medianMs.toFixed(2)} ms [${r.repeats}]`}`,
        );
      }
    }
    // The MFU peak of this backend, while it is the active one.
    const timed = entries.some((e) =>
      e.cases.some((c) => c.modelFlops && c.backends[b.name]?.medianMs),
    );
    const peak = timed
      ? (peakFromMatmul(entries, (c) => c.backends[b.name]) ??
        (deadAfter ? undefined : await measurePeak(opts)))
      : undefined;
    if (peak) {
      peaks.backends[b.name] = peak;
      log(
        `  ${b.name} matmul peak: ${peak.gflops.toFixed(1)} GFLOP/s (${peak.source}, n=${peak.n})`,
      );
    }
  }
  applyMfu(entries, peaks);

  // The high-water mark of each workload: its largest case's peak, per backend.
  for (const { entry } of workloads) {
    const peaks = {};
    for (const b of backends.filter((x) => x.ok)) {
      const values = entry.cases.map((c) => c.backends[b.name]?.peakBytes).filter((v) => v >= 0);
      if (values.length) peaks[b.name] = Math.max(...values);
    }
    if (Object.keys(peaks).length) entry.peakBytes = peaks;
  }

  return {
    meta: {
      date: new Date().toISOString(),
      command: [
        'npm run bench',
        ...(process.argv.length > 2 ? ['--'] : []),
        ...process.argv.slice(2),
      ].join(' '),
      quick: opts.quick,
      warmup: opts.warmup,
      warmupMs: opts.warmupMs,
      repeats: opts.repeats,
      cpu: os.cpus()[0]?.model.trim() ?? 'unknown CPU',
      cores,
      node: process.version,
      tfjs: tf.version_core,
      platform: `${os.platform()} ${os.arch()}`,
    },
    backends,
    pytorch,
    peaks,
    workloads: workloads.map(({ entry }) => ({
      ...entry,
      cases: entry.cases.map(({ torch: _spec, ...c }) => c),
    })),
    failed,
  };
}

/**
 * Runs every case in PyTorch once per thread count the loaded backends use; fills c.pytorch and
 * peaks.pytorch (the MFU peak per thread count). A case with `paramCount` fails when PyTorch's
 * model has another number of parameters.
 */
function runPytorch(workloads, backends, opts, peaks) {
  const entries = workloads.map(({ entry }) => entry);
  const cases = entries.flatMap((e) => e.cases.filter((c) => c.torch && !c.skip));
  const withMatmul = cases.some((c) => c.torch.kind === 'matmul');
  const inlinePeak = wantsPeak(entries) && !withMatmul ? PEAK_N : undefined;
  // The thread count of every backend, plus all cores for reference (not with --quick).
  const counts = backends.filter((b) => b.ok).map((b) => b.threads);
  if (!opts.quick) counts.push(opts.threads);
  // The goals compare with PyTorch's best at no more than a backend's threads, and on 2 cores
  // one thread is often PyTorch's fastest (llama-small: 0.76 s against 1.42 s on two): always
  // time it, also when only multi-threaded backends run (`--backends native`).
  counts.push(1);
  const threads = [...new Set(counts)].sort((a, b) => a - b);
  if (!opts.torch) return { skipped: '--no-torch' };
  if (cases.length === 0 || threads.length === 0) return { skipped: 'nothing to compare' };
  const summary = { threads, failed: false };
  for (const t of threads) {
    const distinct = new Set(cases.map((c) => JSON.stringify(c.torch))).size;
    log(`PyTorch: ${cases.length} cases (${distinct} distinct) with ${t} thread(s)…`);
    const out = runTorch(cases, {
      threads: t,
      warmup: opts.warmup,
      warmupMs: opts.warmupMs,
      repeats: opts.repeats,
      limitMs: opts.limit ? SLOW_MS[opts.quick ? 'quick' : 'full'] : Infinity,
      matmulPeak: inlinePeak,
    });
    if (out.skipped) return { skipped: out.skipped };
    if (out.error) return { error: out.error };
    summary.version = out.torch;
    summary.python = out.python;
    summary.blas = out.blas;
    for (const c of cases) {
      let r = out.results[c.id];
      if (c.paramCount !== undefined && r?.medianMs !== undefined && r.params !== c.paramCount) {
        r = {
          error: `${c.id}: PyTorch's model has ${r.params} parameters, attnkit's ${c.paramCount}`,
        };
      }
      c.pytorch[t] = r;
      if (r?.error) summary.failed = true;
    }
    const peak = peakFromMatmul(entries, (c) => c.pytorch[t]) ?? out.matmulPeak;
    if (peak) peaks.pytorch[t] = peak;
  }
  for (const c of cases.filter((x) => x.paramCount !== undefined)) {
    const torchParams = [...new Set(Object.values(c.pytorch).map((r) => r?.params))];
    log(`  parameters ${c.id}: attnkit ${c.paramCount}, PyTorch ${torchParams.join(', ')}`);
  }
  return summary;
}

async function runCase(w, api, c, ctx, previous, opts) {
  if (c.skip) return { skipped: c.skip };
  const slow = Math.min(SLOW_MS[opts.quick ? 'quick' : 'full'], c.limitMs ?? Infinity);
  // Cases that give their model FLOP (train) scale by it: llama-small follows llama-tiny.
  const estimate = !previous
    ? 0
    : c.modelFlops && previous.modelFlops
      ? previous.ms * (c.modelFlops / previous.modelFlops)
      : previous.ms * (c.x / previous.x) ** (c.growth ?? 2);
  if (opts.limit && estimate > slow) {
    return {
      skipped: `estimated ≥ ${(estimate / 1e3).toFixed(0)} s per run on this backend (--no-limit runs it)`,
    };
  }
  const tensorsBefore = tf.memory().numTensors;
  let prepared;
  try {
    prepared = await w.prepare(ctx, api, c);
    if (prepared.skip) return { skipped: prepared.skip };
    const timing = await timeStep(prepared.step, {
      warmup: opts.warmup,
      warmupMs: opts.warmupMs,
      repeats: opts.repeats,
      budgetMs: 4000,
    });
    const peakBytes = await peakTensorBytes(prepared.step);
    return { ...timing, peakBytes };
  } catch (err) {
    return { error: firstLine(err) };
  } finally {
    try {
      prepared?.dispose?.();
    } catch {
      // a failing dispose is reported as a leak below
    }
    const leaked = tf.memory().numTensors - tensorsBefore;
    if (leaked > 0 && prepared) log(`  warning: ${c.id} left ${leaked} tensors alive`);
  }
}

/** Whether the active backend still computes 1 + 2 (an aborted wasm module throws). */
function backendAlive() {
  try {
    return tf.tidy(() => tf.add(tf.scalar(1), tf.scalar(2)).dataSync()[0]) === 3;
  } catch {
    return false;
  }
}

/** `npm run bench -- attention`: the attention engineer's memory benchmark. */
function runAttentionMemory(opts) {
  const script = path.join(HERE, 'attention-memory.mjs');
  if (!fs.existsSync(script)) {
    log('attention: skipped: tools/bench/attention-memory.mjs is absent (not written yet)');
    return 0;
  }
  const args = [...(opts.quick ? ['--quick'] : []), ...(opts.json ? ['--json'] : []), ...opts.rest];
  const child = spawnSync(process.execPath, [script, ...args], { stdio: 'inherit' });
  if (child.status !== 0)
    log(`attention: attention-memory.mjs exited with ${child.status ?? child.signal}`);
  return child.status ?? 1;
}

main().then(
  (code) => process.exit(code),
  (err) => {
    log(`bench: crashed: ${err instanceof Error ? err.stack : err}`);
    process.exit(1);
  },
);
