#!/usr/bin/env node
// Long-context memory benchmark (issue 15): each memory model, and a sliding-window model of the
// same size, trained on context L with the same steps and recipe, then asked passkey retrieval
// (a number hidden at a random depth in filler: Mohtashami & Jaggi 2023, Landmark Attention,
// sec. 4.2) and multi-query associative recall (Arora et al. 2023, Zoology, sec. 3) at 1×, 2×,
// 4× and 8× L. Accuracy on the answer positions of fresh examples, by one forward over the whole
// long input in eval mode (each model's full forward equals its cached decoding; landmark
// attention retrieves its top-k blocks outside training mode).
//
//   npm run build && node tools/bench/memory-context.mjs [--models landmark-lm-tiny,...]
//     [--tasks passkey,mqar] [--length 64] [--factors 1,2,4,8] [--steps 1500] [--batch 32]
//     [--lr 3e-3] [--embed-std 0.125] [--passkey-digits 3] [--vocab 256] [--eval-examples 256]
//     [--backend native] [--jobs 2] [--out bench-results/memory-context.json]
//     [--write packages/memory/README.md] [--src] [--quick]
//
// Each (model, task) trains in its own child process (`--jobs` at a time, one native thread
// each) and is evaluated there at every factor; rows go to --out as they finish, so a long run
// resumes with the same command (finished rows are kept). --write puts the tables between
// <!-- memory-context:start --> and <!-- memory-context:end --> in the given file. --src runs on
// the packages' sources (bundled with esbuild into tools/bench/dist/, no build needed).
//
// Token embeddings are N(0, 0.125²) for every model (EMBED_STD): 1/√dModel at these presets' dModel
// of 64, so the tied output projection starts with logits of about unit spread and the first loss
// near ln(vocab): in the quick run 2.6-4.2 on passkey (ln 17 = 2.8) and 3.4-4.2 on MQAR (ln 32 =
// 3.5), where N(0, 1) gave ~55 and N(0, 0.3²) 7-16. Each row keeps its first and last training loss.
//
// --quick is a smoke run (L 32, 2 steps of batch 4, 4 examples per length, cpu backend; never
// resumed, written to the temp directory unless --out is given) that fails (exit 1) when a model
// crashes or its loss is not finite at some length; CI (.ci/run) runs it with `--models` naming
// landmark, rmt, knn, sliding-window, titans-mac and titans-mag tiny. Measured on the shared 2-core machine under a load average of ~14: 5-8 s of CPU per child
// for landmark, rmt, knn and sliding-window, 11-15 s for the two Titans ones (mostly evaluation
// at 8× L), 106 s of CPU and 7.3 min of wall time for the 12 children at --jobs 2. A preset that
// is not registered is reported as skipped and tried again on the next run.
//
// Time of the published run (L 64, 1500 steps of batch 32, 256 examples per length, native
// backend, one thread per child, --jobs 2; `stepCpuSeconds` etc. in its JSON): CPU seconds per
// training step landmark-lm-tiny 0.79-0.85, titans-mac-tiny 0.71-0.77, knn-lm-tiny 0.32-0.38,
// rmt-lm-tiny 0.33-0.38, sliding-window-tiny 0.10-0.11; 4-108 s of evaluation per child; 2.0 h
// of training CPU for the 10 children, 3.7 h of their wall time on a shared machine (~1.9 h of
// wall time at --jobs 2). Not part of npm test.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const ROOT = path.resolve(HERE, '../..');

/** The models compared: four presets, and the sliding-window model built from rmt-lm-tiny. */
export const DEFAULT_MODELS = [
  'landmark-lm-tiny',
  'titans-mac-tiny',
  'rmt-lm-tiny',
  'knn-lm-tiny',
  'sliding-window-tiny',
];

/** The sliding-window baseline: rmt-lm-tiny's shape with a 16-token window (rmt's segment, knn's). */
export const SLIDING_WINDOW = { base: 'rmt-lm-tiny', window: 16 };

/** Token embedding std of every model: 1/√64, the presets' dModel (see the header). */
export const EMBED_STD = 0.125;

/**
 * Task options for `length` = factor × L input tokens (task.seqLen === length). Passkey: the
 * filler grows with the length. MQAR: the same number of pairs (L/16) as in training, the
 * queries spread over a longer gap-filled span (Zoology's layout), so only the distance grows.
 */
export function taskFor(name, L, factor, opts = {}) {
  const length = L * factor;
  const { passkeyDigits = 3, vocab = 256 } = opts;
  switch (name) {
    case 'passkey':
      return { contextLength: length - 2 * passkeyDigits - 1, passkeyLength: passkeyDigits };
    case 'mqar': {
      const numKeys = Math.floor((vocab - 1) / 2);
      const numPairs = Math.max(1, Math.round(L / 16));
      return { numPairs, numKeys, numValues: vocab - 1 - numKeys, totalLength: length + 1 };
    }
    default:
      throw new Error(`memory-context: unknown task ${name}`);
  }
}

/**
 * The model's config for a task: the preset (or the sliding-window baseline), its vocabulary the
 * task's, maxLength the longest evaluation (rotary positions: no table is learned), the token
 * embedding N(0, embedStd²) and `attnkit train`'s Linear init.
 */
export function modelConfig(core, name, vocabSize, maxLength, { embedStd, linearInit }) {
  let config;
  if (name === 'sliding-window-tiny') {
    config = core.getPreset(SLIDING_WINDOW.base);
    const heads = config.block.mixer.numHeads;
    config.block.mixer = { type: 'sliding-window', numHeads: heads, window: SLIDING_WINDOW.window };
  } else {
    config = core.getPreset(name);
  }
  return {
    ...config,
    vocabSize,
    maxLength,
    embeddingInit: { name: 'normal', std: embedStd },
    linearInit: config.linearInit ?? linearInit,
  };
}

// L 32: two segments of rmt and knn (knn-memory's backward fails on a single segment: tfjs's
// split gradient needs two pieces), four landmark blocks.
const QUICK = {
  length: 32,
  steps: 2,
  batch: 4,
  evalExamples: 4,
  passkeyDigits: 2,
  vocab: 32,
};

/** The spec from the command line (`--quick` changes the defaults, not explicit options). */
export function parseSpec(args) {
  const option = (name, fallback) => {
    const i = args.indexOf(`--${name}`);
    return i >= 0 ? args[i + 1] : fallback;
  };
  const list = (name, fallback) => String(option(name, fallback)).split(',').filter(Boolean);
  const quick = args.includes('--quick');
  const d = quick ? QUICK : {};
  const spec = {
    models: list('models', DEFAULT_MODELS.join(',')),
    tasks: list('tasks', 'passkey,mqar'),
    length: Number(option('length', d.length ?? 64)),
    factors: list('factors', '1,2,4,8').map(Number),
    steps: Number(option('steps', d.steps ?? 1500)),
    batch: Number(option('batch', d.batch ?? 32)),
    lr: Number(option('lr', 3e-3)),
    embedStd: Number(option('embed-std', EMBED_STD)),
    passkeyDigits: Number(option('passkey-digits', d.passkeyDigits ?? 3)),
    vocab: Number(option('vocab', d.vocab ?? 256)),
    evalExamples: Number(option('eval-examples', d.evalExamples ?? 256)),
    backend: option('backend', quick ? 'cpu' : 'native'),
  };
  const out =
    option('out') ??
    (quick
      ? path.join(os.tmpdir(), 'memory-context-quick.json')
      : path.join(ROOT, 'bench-results/memory-context.json'));
  return {
    spec,
    out,
    quick,
    src: args.includes('--src'),
    write: option('write'),
    jobs: Number(option('jobs', Math.max(1, os.availableParallelism?.() ?? 2))),
  };
}

// What makes two rows the same run (a resumed run keeps a finished row with the same values).
const RUN_KEYS = [
  'model',
  'task',
  'length',
  'steps',
  'batch',
  'lr',
  'embedStd',
  'passkeyDigits',
  'vocab',
  'evalExamples',
];
const sameRun = (a, b) => RUN_KEYS.every((k) => a[k] === b[k]);

async function main() {
  const args = process.argv.slice(2);
  if (args.includes('--child')) {
    const i = args.indexOf('--child-spec');
    return child(JSON.parse(args[i + 1]));
  }
  const { spec, out, quick, src, write, jobs } = parseSpec(args);
  const bundle = src ? await bundleSources() : undefined;
  // A smoke run always runs; a real one resumes.
  const resume = !quick && fs.existsSync(out);
  const previous = resume ? JSON.parse(fs.readFileSync(out, 'utf8')) : { rows: [] };
  const rows = previous.rows ?? [];
  const todo = [];
  for (const task of spec.tasks)
    for (const model of spec.models) {
      const run = { model, task, ...pick(spec, RUN_KEYS.slice(2)) };
      const done = rows.find((r) => sameRun(r, run));
      // Kept: finished rows covering the factors asked; errors and skips are tried again.
      if (done && !done.error && !done.skipped && covers(done, spec.factors)) continue;
      todo.push(run);
    }
  process.stderr.write(
    `memory-context: ${todo.length} runs to do (${rows.length} rows in ${out}); token embeddings N(0, ${spec.embedStd}²)\n`,
  );
  const save = () => {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    const meta = { date: new Date().toISOString(), cpu: os.cpus()[0]?.model };
    fs.writeFileSync(out, JSON.stringify({ spec, ...meta, rows }, null, 1));
  };
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const run = todo[next++];
      const row = await runChild({
        ...run,
        factors: spec.factors,
        backend: spec.backend,
        bundle,
      });
      const i = rows.findIndex((r) => sameRun(r, run));
      if (i >= 0) rows.splice(i, 1);
      rows.push(row);
      save();
      process.stderr.write(`  ${run.model} ${run.task}: ${summary(row)}\n`);
    }
  };
  await Promise.all(Array.from({ length: Math.max(1, jobs) }, worker));
  save();
  const tables = renderTables(rows, spec);
  console.log(tables);
  if (write) writeBetweenMarkers(write, tables);
  // A crash, or a loss that is not finite at some length, fails the command (the --quick check).
  const ran = rows.filter((r) => todo.some((t) => sameRun(r, t)));
  return ran.some((r) => r.error || r.evals?.some((e) => e.loss === null)) ? 1 : 0;
}

const pick = (o, keys) => Object.fromEntries(keys.map((k) => [k, o[k]]));
const covers = (row, factors) => factors.every((f) => row.evals?.some((e) => e.factor === f));

function summary(row) {
  if (row.skipped) return `skipped: ${row.skipped}`;
  if (row.error) return `failed: ${row.error}`;
  const accs = row.evals.map((e) => `${e.factor}× ${e.accuracy.toFixed(2)}`).join(', ');
  const losses = `loss ${row.firstLoss?.toFixed(2)} → ${row.trainLoss.toFixed(2)}`;
  return `${accs} (${losses}, train ${row.trainSeconds.toFixed(0)} s, eval ${row.evalSeconds.toFixed(0)} s)`;
}

/** Replaces the text between the memory-context markers of `file` with `tables`. */
export function writeBetweenMarkers(file, tables) {
  const old = fs.readFileSync(file, 'utf8');
  const re = /(<!-- memory-context:start -->)[\s\S]*?(<!-- memory-context:end -->)/;
  if (!re.test(old)) {
    throw new Error(
      `${file}: no <!-- memory-context:start --> … <!-- memory-context:end --> markers`,
    );
  }
  fs.writeFileSync(
    file,
    old.replace(re, (_, a, b) => `${a}\n\n${tables}\n\n${b}`),
  );
}

/**
 * Bundles the packages' sources into one ES module (one registry, as the built packages share
 * one), with every npm dependency left to node_modules; returns its path.
 */
async function bundleSources() {
  const { build } = await import('esbuild');
  const file = path.join(HERE, 'dist', 'memory-context-src.mjs');
  const sources = {
    name: 'attnkit-sources',
    setup(b) {
      // core's gradient registrations are ES modules only: inlined, as core's build does.
      b.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\/register_all_gradients$/ }, () => ({
        path: path.join(ROOT, 'node_modules/@tensorflow/tfjs-core/dist/register_all_gradients.js'),
      }));
      b.onResolve({ filter: /^@attnkit\// }, (a) => {
        if (a.path === '@attnkit/backend-native') return { external: true };
        // The recipe alone (the CLI entry would pull in its argument parser).
        if (a.path === '@attnkit/models/cli')
          return { path: path.join(ROOT, 'packages/models/src/cli/train-plan.ts') };
        if (a.path === '@attnkit/core/testing')
          return { path: path.join(ROOT, 'packages/core/src/testing.ts') };
        const pkg = a.path.slice('@attnkit/'.length);
        if (pkg.includes('/')) return undefined;
        return { path: path.join(ROOT, 'packages', pkg, 'src', 'index.ts') };
      });
    },
  };
  await build({
    stdin: {
      contents: [
        "export * as core from '@attnkit/core';",
        "export * as models from '@attnkit/models';",
        "export * as memory from '@attnkit/memory';",
        "export { TRAIN_DEFAULTS } from '@attnkit/models/cli';",
      ].join('\n'),
      resolveDir: ROOT,
      loader: 'js',
    },
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    outfile: file,
    logLevel: 'error',
    // Sources are not what the packages' `sideEffects` lists (dist files): keep them whole.
    ignoreAnnotations: true,
    plugins: [sources],
  });
  return file;
}

/** @attnkit's core, models and TRAIN_DEFAULTS: from the sources' bundle, or the built packages. */
async function loadAttnkit(bundle) {
  if (bundle) return import(pathToFileURL(bundle).href);
  const core = await import('@attnkit/core');
  await import('@attnkit/memory');
  const models = await import('@attnkit/models');
  const { TRAIN_DEFAULTS } = await import('@attnkit/models/cli');
  return { core, models, TRAIN_DEFAULTS };
}

function runChild(run) {
  return new Promise((resolve) => {
    const proc = spawn(
      process.execPath,
      [fileURLToPath(import.meta.url), '--child', '--child-spec', JSON.stringify(run)],
      { env: { ...process.env, ATTNKIT_NATIVE_THREADS: '1' }, stdio: ['ignore', 'pipe', 'pipe'] },
    );
    let stdout = '';
    let stderr = '';
    proc.stdout.on('data', (d) => (stdout += d));
    proc.stderr.on('data', (d) => (stderr += d));
    proc.on('close', (code) => {
      const { bundle: _, ...kept } = run;
      const line = stdout.trim().split('\n').pop();
      try {
        resolve({ ...kept, ...JSON.parse(line) });
      } catch {
        // The error's message, not its stack.
        const lines = stderr.trim().split('\n');
        const message = lines.find((l) => /Error\b/.test(l)) ?? lines.at(-1);
        resolve({ ...kept, error: `exit ${code}: ${message?.trim()}` });
      }
    });
  });
}

async function child(run) {
  const tf = await import('@tensorflow/tfjs-core');
  tf.env().set('PROD', true);
  await import('@tensorflow/tfjs-backend-cpu');
  if (run.backend === 'native') await import('@attnkit/backend-native');
  if (run.backend === 'wasm') await import('@tensorflow/tfjs-backend-wasm');
  await tf.setBackend(run.backend);
  const { core, models, TRAIN_DEFAULTS } = await loadAttnkit(run.bundle);
  const needed = run.model === 'sliding-window-tiny' ? SLIDING_WINDOW.base : run.model;
  if (!core.listPresets().includes(needed)) {
    console.log(JSON.stringify({ skipped: `preset ${needed} is not registered (not landed yet)` }));
    return 0;
  }
  const options = { passkeyDigits: run.passkeyDigits, vocab: run.vocab };
  const taskAt = (f) => models.createTask(run.task, taskFor(run.task, run.length, f, options));
  const train = taskAt(1);
  const longest = Math.max(...run.factors) * run.length;
  const config = modelConfig(core, run.model, train.vocabSize, longest, {
    embedStd: run.embedStd,
    linearInit: TRAIN_DEFAULTS.linearInit,
  });
  const model = core.build(config, { rng: new core.Rng(TRAIN_DEFAULTS.seed) });
  const trainer = new models.Trainer(
    model,
    new models.TaskSource(train, run.batch, TRAIN_DEFAULTS.seed + 1),
    {
      steps: run.steps,
      lr: run.lr,
      weightDecay: TRAIN_DEFAULTS.weightDecay,
      schedule: TRAIN_DEFAULTS.schedule,
      warmupSteps: Math.min(TRAIN_DEFAULTS.warmup, Math.floor(run.steps / 10)),
    },
  );
  // Wall and CPU seconds (the CPU figure is what a loaded machine does not inflate).
  const cpu = () => {
    const { user, system } = process.cpuUsage();
    return (user + system) / 1e6;
  };
  let [start, cpuStart] = [performance.now(), cpu()];
  let [loss, half, firstLoss] = [NaN, 0, NaN];
  for (let i = 0; i < run.steps; i++) {
    if (i === Math.floor(run.steps / 2)) half = cpu();
    loss = trainer.trainStep().loss;
    if (i === 0) firstLoss = loss; // at the initial weights: about ln(vocab) (EMBED_STD)
  }
  const trainSeconds = (performance.now() - start) / 1e3;
  const trainCpuSeconds = cpu() - cpuStart;
  // CPU per step over the second half, after V8's warm-up: what the time of a run scales by.
  const stepCpuSeconds = (cpu() - half) / (run.steps - Math.floor(run.steps / 2));
  trainer.dispose();
  [start, cpuStart] = [performance.now(), cpu()];
  const evals = run.factors.map((factor) => ({
    factor,
    length: factor * run.length,
    ...evaluate(tf, models, model, taskAt(factor), run.evalExamples, 1_000_003 + factor),
  }));
  const evalSeconds = (performance.now() - start) / 1e3;
  const evalCpuSeconds = cpu() - cpuStart;
  const parameters = model.numParams();
  model.dispose();
  const result = {
    parameters,
    firstLoss,
    trainLoss: loss,
    trainSeconds,
    trainCpuSeconds,
    stepCpuSeconds,
    evalSeconds,
    evalCpuSeconds,
    evals,
  };
  console.log(JSON.stringify(result));
  return 0;
}

/**
 * Accuracy on the answer positions of `examples` fresh examples (and the share of examples with
 * every answer right), one forward per batch over the whole input in eval mode. Batches hold
 * about 4096 tokens, so 8× L costs no more memory than 1×.
 */
export function evaluate(tf, models, model, task, examples, seed) {
  const perBatch = Math.max(1, Math.min(examples, Math.floor(4096 / task.seqLen)));
  const source = new models.TaskSource(task, perBatch, seed);
  model.eval();
  let [right, total, exact, seen, lossSum, finite] = [0, 0, 0, 0, 0, true];
  const started = performance.now();
  while (seen < examples) {
    const batch = source.next();
    const n = Math.min(perBatch, examples - seen);
    const [loss, predicted] = tf.tidy(() => {
      const { ids, targets, weights } = models.batchTensors(batch);
      const logits = model.forward(ids);
      const loss = models.crossEntropy(logits, targets, weights);
      return [loss.dataSync()[0], tf.argMax(logits, -1).dataSync()];
    });
    finite &&= Number.isFinite(loss);
    lossSum += loss * n;
    const T = batch.seqLen;
    for (let b = 0; b < n; b++) {
      let all = true;
      for (let t = 0; t < T; t++) {
        const i = b * T + t;
        if (batch.weights[i] === 0) continue;
        total++;
        if (predicted[i] === batch.targets[i]) right++;
        else all = false;
      }
      if (all) exact++;
    }
    seen += n;
  }
  model.train();
  return {
    accuracy: total ? right / total : 0,
    exact: exact / examples,
    loss: finite ? lossSum / examples : null,
    seconds: (performance.now() - started) / 1e3,
  };
}

const TASK_TITLES = {
  passkey: 'Passkey retrieval',
  mqar: 'Multi-query associative recall',
};

/** Markdown: one table per task, a row per model, accuracy at each factor of L. */
export function renderTables(rows, spec) {
  const same = (r) => RUN_KEYS.slice(2).every((k) => r[k] === spec[k]);
  const mine = rows.filter(same);
  const out = [];
  const cmd =
    `node tools/bench/memory-context.mjs --length ${spec.length} --steps ${spec.steps} ` +
    `--batch ${spec.batch} --lr ${spec.lr} --embed-std ${spec.embedStd} --passkey-digits ${spec.passkeyDigits} ` +
    `--vocab ${spec.vocab} --eval-examples ${spec.evalExamples}`;
  out.push(
    `Command: \`${cmd}\`. Each model trained on ${spec.length}-token inputs (${spec.steps} steps of batch ${spec.batch}, lr ${spec.lr}, the recipe of \`attnkit train\`, token embeddings N(0, ${spec.embedStd}²) for every model, whose tied output logits then start near unit scale), then evaluated by one forward over inputs of ${spec.factors.map((f) => `${f}×`).join(', ')} that length in eval mode; accuracy on the answer tokens of ${spec.evalExamples} fresh examples per length (in brackets: examples with every answer right). \`sliding-window-tiny\` is rmt-lm-tiny's shape with \`sliding-window\` mixers of window ${SLIDING_WINDOW.window}.`,
  );
  for (const task of spec.tasks) {
    const sample = taskFor(task, spec.length, 1, spec);
    const opts = JSON.stringify(sample).replace(/"/g, '');
    out.push('', `#### ${TASK_TITLES[task] ?? task} (${task}, ${opts} at 1×)`, '');
    const cols = spec.factors.map((f) => `${f}× (${f * spec.length})`);
    out.push(
      `| model | parameters | ${cols.join(' | ')} |`,
      `| --- | --- | ${cols.map(() => '---').join(' | ')} |`,
    );
    const notes = [];
    for (const model of spec.models) {
      const r = mine.find((x) => x.model === model && x.task === task);
      if (!r) continue;
      if (r.skipped || r.error) {
        notes.push(`- \`${model}\`: ${r.skipped ? `skipped: ${r.skipped}` : `failed: ${r.error}`}`);
        out.push(`| \`${model}\` | — | ${spec.factors.map(() => '—').join(' | ')} |`);
        continue;
      }
      const cells = spec.factors.map((f) => {
        const e = r.evals.find((x) => x.factor === f);
        return e ? `${e.accuracy.toFixed(2)} (${e.exact.toFixed(2)})` : '—';
      });
      const diverged = r.evals.filter((e) => e.loss === null).map((e) => `${e.factor}×`);
      if (diverged.length) notes.push(`- \`${model}\`: loss not finite at ${diverged.join(', ')}`);
      out.push(`| \`${model}\` | ${r.parameters} | ${cells.join(' | ')} |`);
    }
    if (notes.length) out.push('', ...notes);
  }
  return out.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().then(
    (code) => process.exit(code ?? 0),
    (err) => {
      console.error(err);
      process.exit(1);
    },
  );
}
