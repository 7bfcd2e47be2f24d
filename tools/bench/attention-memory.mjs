// `npm run bench -- attention [--quick] [--json] [--backends=cpu,wasm] [--lengths=256,1024,4096]
//   [--chunk=128] [--forward-only | --backward-only] [--repeats=3] [--no-save]`
// (or `node tools/bench/attention-memory.mjs ...`, where `--key value` works as well).
// @attnkit/attention's memory study: scaledDotProductAttention in its naive form (the whole
// [T, T] weight matrix) against its chunked online-softmax form (chunks of --chunk queries and
// keys, gradient by recomputation), causal, batch 1, 8 heads, d = 64: median time and peak tensor
// memory (tf.profile's high-water mark above what was alive before the run, inputs excluded) of
// the forward pass and of forward + backward (gradients for q, k and v), on each backend.
// Uses the built packages (npm run build). A case that throws (out of memory) is reported, not
// fatal; the exit status is 1 only when a package is built but broken.
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadBackend, useBackend, firstLine } from './lib/backends.mjs';
import { peakTensorBytes, settle, timeStep } from './lib/measure.mjs';
import { REPO_ROOT, importPackage } from './lib/packages.mjs';

const BATCH = 1;
const HEADS = 8;
const HEAD_DIM = 64;
const MiB = 1024 * 1024;

const log = (msg) => process.stderr.write(`${msg}\n`);

function parseOptions(argv) {
  const opts = {
    quick: false,
    json: false,
    save: true,
    backends: ['cpu', 'wasm'],
    lengths: undefined,
    chunk: 128,
    forward: true,
    backward: true,
    repeats: undefined,
  };
  const list = (v) => v.split(',').filter(Boolean);
  for (let i = 0; i < argv.length; i++) {
    const [key, value] = argv[i].split(/=(.*)/s);
    const take = () => value ?? argv[++i];
    switch (key) {
      case '--quick':
        opts.quick = true;
        break;
      case '--json':
        opts.json = true;
        break;
      case '--no-save':
        opts.save = false;
        break;
      case '--forward-only':
        opts.backward = false;
        break;
      case '--backward-only':
        opts.forward = false;
        break;
      case '--backends':
        opts.backends = list(take());
        break;
      case '--lengths':
        opts.lengths = list(take()).map(Number);
        break;
      case '--chunk':
        opts.chunk = Number(take());
        break;
      case '--repeats':
        opts.repeats = Number(take());
        break;
      default:
        throw new Error(`attention-memory: unknown option ${argv[i]}`);
    }
  }
  opts.lengths ??= opts.quick ? [64, 128] : [256, 1024, 4096];
  const bad = [...opts.lengths, opts.chunk].find((n) => !Number.isInteger(n) || n < 1);
  if (bad !== undefined)
    throw new Error(`attention-memory: sizes must be integers >= 1, got ${bad}`);
  return opts;
}

/** One case: time (median of the timed runs) and peak tensor bytes, or the error it threw. */
async function measure(step, T, opts) {
  // A T = 4096 run takes minutes on the JavaScript backends: time it once, without warm-up.
  const large = T >= 2048;
  const repeats = opts.repeats ?? (opts.quick ? 2 : large ? 1 : 3);
  try {
    const timing = await timeStep(step, { warmup: large ? 0 : 1, repeats, budgetMs: 4000 });
    const peak = await peakTensorBytes(step);
    return { ms: timing.medianMs, runs: timing.repeats, peakBytes: peak };
  } catch (err) {
    return { error: firstLine(err) };
  }
}

async function runBackend(name, api, opts) {
  const b = await loadBackend(name, 1);
  if (!b.ok) return { backend: name, skipped: b.reason, rows: [] };
  await useBackend(name);
  log(`backend ${name}: ${b.note}`);
  const rows = [];
  // An aborted wasm module (out of heap) stays broken: later cases there are not measured.
  let aborted;
  for (const T of opts.lengths) {
    const shape = [BATCH, HEADS, T, HEAD_DIM];
    const [q, k, v] = [1, 2, 3].map((seed) => tf.randomNormal(shape, 0, 1, 'float32', seed));
    const passes = [opts.forward && 'forward', opts.backward && 'forward+backward'].filter(Boolean);
    for (const pass of passes) {
      const row = { backend: name, T, pass };
      // Chunked first: if naive exhausts a backend's memory, chunked has been measured already.
      for (const form of ['chunked', 'naive']) {
        if (aborted) {
          row[form] = { error: `not run: ${aborted}` };
          continue;
        }
        const options =
          form === 'naive' ? { causal: true } : { causal: true, chunkSize: opts.chunk };
        const attend = (qq, kk, vv) => api.sdpa(qq, kk, vv, options).output;
        const step =
          pass === 'forward'
            ? () => settle(tf.tidy(() => attend(q, k, v)))
            : () => settle(tf.grads(attend)([q, k, v]));
        const before = tf.memory().numTensors;
        row[form] = await measure(step, T, opts);
        const leaked = tf.memory().numTensors - before;
        if (leaked > 0) row[form].leakedTensors = leaked;
        const r = row[form];
        if (r.error && /abort/i.test(r.error))
          aborted = `${name} aborted in T=${T} ${pass} ${form}`;
        log(
          `  ${name} T=${T} ${pass} ${form}: ${
            r.error
              ? `FAILED: ${r.error}`
              : `${r.ms.toFixed(0)} ms [${r.runs}], peak ${(r.peakBytes / MiB).toFixed(1)} MiB`
          }`,
        );
      }
      rows.push(row);
    }
    try {
      tf.dispose([q, k, v]);
    } catch {
      // the aborted module cannot free them
    }
  }
  return { backend: name, note: b.note, rows };
}

function renderTable(results, meta) {
  const fmtMs = (r) =>
    r.error ? `failed (${r.error.slice(0, 40)})` : `${Math.round(r.ms)} [${r.runs}]`;
  const fmtMiB = (r) => (r.error ? '–' : (r.peakBytes / MiB).toFixed(1));
  const lines = [
    `Command: ${meta.command} — ${meta.date}, ${meta.cpu}, ${meta.cores} cores, load average ` +
      `${meta.loadBefore} before / ${meta.loadAfter} after, Node ${meta.node}, tfjs ${meta.tfjs}.`,
    `scaledDotProductAttention, causal, batch ${BATCH}, ${HEADS} heads, d=${HEAD_DIM}; chunked: ` +
      `chunkSize ${meta.chunk}. Time: median ms [timed runs]; memory: peak tensor MiB above the inputs.`,
    '',
    '| backend | T | pass | naive ms | chunked ms | naive peak MiB | chunked peak MiB | memory naive / chunked |',
    '| --- | --: | --- | --: | --: | --: | --: | --: |',
  ];
  for (const b of results) {
    if (b.skipped) {
      lines.push(`| ${b.backend} | – | skipped: ${b.skipped} | | | | | |`);
      continue;
    }
    for (const r of b.rows) {
      const ratio =
        r.naive.error || r.chunked.error || !r.chunked.peakBytes
          ? '–'
          : `${(r.naive.peakBytes / r.chunked.peakBytes).toFixed(1)}×`;
      lines.push(
        `| ${b.backend} | ${r.T} | ${r.pass} | ${fmtMs(r.naive)} | ${fmtMs(r.chunked)} | ` +
          `${fmtMiB(r.naive)} | ${fmtMiB(r.chunked)} | ${ratio} |`,
      );
    }
  }
  return lines.join('\n');
}

async function main() {
  let opts;
  try {
    opts = parseOptions(process.argv.slice(2));
  } catch (err) {
    log(err.message);
    return 2;
  }
  tf.env().set('PROD', true);
  await import('@tensorflow/tfjs-backend-cpu');
  // Importing core registers tfjs' gradient functions.
  for (const pkg of ['core', 'attention']) {
    const r = await importPackage(pkg);
    if (r.skip) {
      log(`attention: skipped: ${r.skip}`);
      return 0;
    }
    if (r.error) {
      log(`attention: ${r.error}`);
      return 1;
    }
    if (pkg === 'attention') opts.api = { sdpa: r.mod.scaledDotProductAttention };
  }
  const loadBefore = os.loadavg()[0].toFixed(1);
  const results = [];
  for (const name of opts.backends) results.push(await runBackend(name, opts.api, opts));
  const tfjsVersion = JSON.parse(
    fs.readFileSync(
      path.join(REPO_ROOT, 'node_modules/@tensorflow/tfjs-core/package.json'),
      'utf8',
    ),
  ).version;
  const meta = {
    // The same run as `npm run bench -- attention <args>`.
    command: `node tools/bench/attention-memory.mjs ${process.argv.slice(2).join(' ')}`.trim(),
    date: new Date().toISOString(),
    cpu: os.cpus()[0]?.model ?? 'unknown CPU',
    cores: os.availableParallelism?.() ?? os.cpus().length,
    loadBefore,
    loadAfter: os.loadavg()[0].toFixed(1),
    node: process.version,
    tfjs: tfjsVersion,
    chunk: opts.chunk,
    batch: BATCH,
    heads: HEADS,
    headDim: HEAD_DIM,
  };
  const table = renderTable(results, meta);
  if (opts.json) console.log(JSON.stringify({ meta, results }, null, 2));
  else console.log(table);
  if (opts.save) {
    const dir = path.join(REPO_ROOT, 'bench-results');
    fs.mkdirSync(dir, { recursive: true });
    const stamp = meta.date.replace(/[:.]/g, '-');
    const text = `${JSON.stringify({ meta, results, table }, null, 2)}\n`;
    const file = path.join(dir, `attention-memory-${stamp}${opts.quick ? '-quick' : ''}.json`);
    fs.writeFileSync(file, text);
    log(`results: ${path.relative(REPO_ROOT, file)}`);
  }
  return 0;
}

process.exitCode = await main();
