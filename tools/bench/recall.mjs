#!/usr/bin/env node
// Recall study (issues 19 and 13): the same 2-layer decoder trained with each causal mixer on
// MQAR (Zoology's layout: Arora et al. 2023, sec. 3), selective copying (Gu & Dao 2023,
// sec. 3.1) and induction heads (Olsson et al. 2022), with the same step budget; accuracy on
// answer positions of fresh examples, and the decoding state each mixer keeps per sequence.
//
//   npm run build && node tools/bench/recall.mjs [--tasks mqar,selective-copy,induction]
//     [--mixers mha,sliding-window,gla,...] [--d-models 64,128] [--lengths 64,128,256]
//     [--steps 1500] [--batch 32] [--lr 3e-3 | --lr 3e-3,1e-3 (one per width)] [--vocab auto|N] [--embed-std 0.125] [--eval-batches 8]
//     [--symbols 32]
//     [--backend native]
//     [--jobs 2] [--out bench-results/recall.json] [--write packages/attention/README.md]
//     [--marker recall]
//     [--render-only]
//
// Each (task, length, width, mixer) trains in its own child process (`--jobs` at a time, one
// thread each on native); results go to --out as they finish, so a long run can be resumed
// with the same command (finished rows are kept). --write puts the tables between
// <!-- recall:start --> and <!-- recall:end --> (or --marker NAME's pair) in the given file. Not part of npm test.
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { expandMixers, familyOf, mixerFor } from './lib/recall-mixers.mjs';
import {
  buildRecallModel,
  recallModelConfig,
  recallTrainOptions,
  taskFor,
} from './lib/recall-model.mjs';

const HERE = path.dirname(fileURLToPath(import.meta.url));
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const list = (name, fallback) => option(name, fallback).split(',').filter(Boolean);

/**
 * MQAR's vocabulary in a column: `--vocab auto` (the default) takes 2·pairs + 1 tokens, so the
 * keys are exactly the pairs' keys and every key is asked in every example (a fixed-state mixer
 * then has to hold all of them); a number fixes it for every column.
 */
export function vocabOf(spec, pairs) {
  return spec.vocab === 'auto' ? 2 * pairs + 1 : spec.vocab;
}

/** The learning rate of a width: the one --lr, or the entry matching its place in --d-models. */
export function lrOf(spec, dModel) {
  if (spec.lr.length === 1) return spec.lr[0];
  const i = spec.dModels.indexOf(dModel);
  if (spec.lr.length !== spec.dModels.length || i < 0)
    throw new Error(`recall: --lr takes one rate or one per --d-models entry, got ${spec.lr}`);
  return spec.lr[i];
}

/** The default pair count of a task at a length (T/16; induction has none). */
function pairsOf(task, length) {
  return task === 'induction' ? 0 : Math.max(1, Math.round(length / 16));
}

/** The (length, pairs) columns of a task: every length × every `--pairs` count that fits. */
function columnsOf(spec, task) {
  const out = [];
  for (const length of spec.lengths) {
    if (task === 'induction' || !spec.pairs) out.push({ length, pairs: pairsOf(task, length) });
    else
      for (const pairs of spec.pairs)
        if ((task === 'mqar' ? 4 * pairs : 2 * pairs) <= length) out.push({ length, pairs });
  }
  return out;
}

const DEFAULT_MIXERS = '@baselines,@linear,@recurrent,@sparse';

async function main() {
  if (args.includes('--child')) return child(JSON.parse(option('child-spec')));
  const out = option('out', path.join(HERE, '../../bench-results/recall.json'));
  const spec = {
    tasks: list('tasks', 'mqar,selective-copy,induction'),
    mixers: expandMixers(list('mixers', DEFAULT_MIXERS)),
    // Pair counts per example (MQAR) / data tokens (selective copying); default T/16.
    pairs: option('pairs') ? list('pairs').map(Number) : null,
    dModels: list('d-models', '64,128').map(Number),
    lengths: list('lengths', '64,128,256').map(Number),
    steps: Number(option('steps', 1500)),
    batch: Number(option('batch', 32)),
    // One rate for every width, or one per --d-models entry (AdamW at a fixed rate grows
    // unstable with width: mha learns MQAR at d 128 with 1e-3, not 3e-3; recall-d128-calib.json).
    lr: list('lr', '3e-3').map(Number),
    evalBatches: Number(option('eval-batches', 8)),
    backend: option('backend', 'native'),
    vocab: option('vocab', 'auto') === 'auto' ? 'auto' : Number(option('vocab')),
    embedStd: Number(option('embed-std', 0.125)),
    // Induction's alphabet (other tasks ignore it).
    symbols: Number(option('symbols', 32)),
  };
  const jobs = Number(option('jobs', Math.max(1, (os.availableParallelism?.() ?? 2) - 0)));
  const previous = fs.existsSync(out) ? JSON.parse(fs.readFileSync(out, 'utf8')) : { rows: [] };
  const same = (a, b) =>
    [
      'task',
      'length',
      'pairs',
      'dModel',
      'mixer',
      'steps',
      'batch',
      'lr',
      'vocab',
      'embedStd',
      'symbols',
    ].every((k) => a[k] === b[k]) &&
    // The mixer's options (rows from before they were recorded match any).
    (!a.mixerConfig ||
      !b.mixerConfig ||
      JSON.stringify(a.mixerConfig) === JSON.stringify(b.mixerConfig));
  const rows = (previous.rows ?? []).map((r) => ({
    ...r,
    pairs: r.pairs ?? pairsOf(r.task, r.length),
  }));
  const todo = [];
  for (const task of spec.tasks)
    for (const { length, pairs } of columnsOf(spec, task))
      for (const dModel of spec.dModels)
        for (const mixer of spec.mixers) {
          const run = {
            task,
            length,
            pairs,
            dModel,
            mixer,
            steps: spec.steps,
            batch: spec.batch,
            lr: lrOf(spec, dModel),
            vocab: vocabOf(spec, pairs),
            embedStd: spec.embedStd,
            ...(task === 'induction' ? { symbols: spec.symbols } : {}),
            mixerConfig: mixerFor(mixer, dModel),
          };
          if (!rows.some((r) => same(r, run) && !r.error)) todo.push(run);
        }
  // --render-only: the tables from the rows already in --out, training nothing.
  if (args.includes('--render-only')) todo.length = 0;
  process.stderr.write(`recall: ${todo.length} runs to do (${rows.length} kept from ${out})\n`);
  const save = () => {
    fs.mkdirSync(path.dirname(out), { recursive: true });
    fs.writeFileSync(
      out,
      JSON.stringify(
        { spec, date: new Date().toISOString(), cpu: os.cpus()[0]?.model, rows },
        null,
        1,
      ),
    );
  };
  let next = 0;
  const worker = async () => {
    while (next < todo.length) {
      const run = todo[next++];
      const row = await runChild({ ...run, evalBatches: spec.evalBatches, backend: spec.backend });
      const i = rows.findIndex((r) => same(r, run));
      if (i >= 0) rows.splice(i, 1);
      rows.push(row);
      save();
      process.stderr.write(
        `  ${run.task} T=${run.length} pairs=${run.pairs} d=${run.dModel} ${run.mixer}: ${row.error ? `failed: ${row.error}` : `acc ${row.accuracy.toFixed(3)} (${row.seconds.toFixed(0)} s)`}\n`,
      );
    }
  };
  await Promise.all(Array.from({ length: jobs }, worker));
  if (!args.includes('--render-only')) save(); // rendering leaves --out as it was
  const tables = renderTables(rows, spec);
  console.log(tables);
  const doc = option('write');
  if (doc) {
    const old = fs.readFileSync(doc, 'utf8');
    // One table set per marker pair: the MQAR grid and the other tasks live in separate JSONs.
    const marker = option('marker', 'recall');
    if (!/^[a-z][a-z0-9-]*$/.test(marker))
      throw new Error(`recall: --marker takes a name like recall-tasks, got ${marker}`);
    const re = new RegExp(`(<!-- ${marker}:start -->)[\\s\\S]*?(<!-- ${marker}:end -->)`);
    if (!re.test(old))
      throw new Error(`${doc}: no <!-- ${marker}:start --> … <!-- ${marker}:end --> markers`);
    fs.writeFileSync(
      doc,
      old.replace(re, (_, a, b) => `${a}\n\n${tables}\n\n${b}`),
    );
  }
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
      const line = stdout.trim().split('\n').pop();
      try {
        resolve({ ...run, ...JSON.parse(line) });
      } catch {
        resolve({
          ...run,
          error: `exit ${code}: ${stderr.trim().split('\n').slice(-2).join(' ')}`,
        });
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
  const core = await import('@attnkit/core');
  await import('@attnkit/attention');
  const models = await import('@attnkit/models');
  const task = models.createTask(
    run.task,
    taskFor(run.task, run.length, run.vocab, run.pairs, run.symbols),
  );
  const config = recallModelConfig(core, run.mixer, run.dModel, task);
  const probe = core.build({ ...config.block.mixer, dModel: run.dModel }, { rng: new core.Rng(0) });
  const stateBytes = decodingStateBytes(tf, probe, run.dModel, task.seqLen);
  probe.dispose();
  const model = buildRecallModel(core, config, run.embedStd);
  const trainer = new models.Trainer(
    model,
    new models.TaskSource(task, run.batch, 2),
    recallTrainOptions(run.steps, run.lr),
  );
  const start = performance.now();
  for (let i = 0; i < run.steps; i++) trainer.trainStep();
  const seconds = (performance.now() - start) / 1e3;
  const ev = trainer.evaluate(new models.TaskSource(task, 64, 999), run.evalBatches);
  trainer.dispose();
  model.dispose();
  console.log(
    JSON.stringify({
      accuracy: ev.accuracy,
      loss: ev.loss,
      seconds,
      parameters: core.estimateConfig(config)?.parameters,
      stateBytes: stateBytes * 2,
    }),
  );
}

/** Bytes of one layer's decoding state after reading `length` tokens (batch 1). */
function decodingStateBytes(tf, mixer, dModel, length) {
  if (!mixer.initState) return null;
  const state = mixer.initState(1);
  const x = tf.randomNormal([1, length, dModel]);
  tf.dispose(mixer.forward(x, { state, causal: true }));
  const bytes = state.bytes;
  x.dispose();
  state.dispose?.();
  return bytes;
}

export function renderTables(rows, spec) {
  // Only the rows trained with this spec's budget and recipe (a JSON may hold older runs).
  const budget = ['steps', 'batch', 'embedStd'];
  const trained = (r) =>
    budget.every((k) => r[k] === spec[k]) &&
    r.lr === lrOf(spec, r.dModel) &&
    r.vocab === vocabOf(spec, r.pairs) &&
    (r.task !== 'induction' || (r.symbols ?? 32) === spec.symbols);
  const ok = rows.filter((r) => !r.error && trained(r));
  const out = [];
  const pairsFlag = spec.pairs ? ` --pairs ${spec.pairs.join(',')}` : '';
  out.push(
    `Command: \`node tools/bench/recall.mjs --tasks ${spec.tasks.join(',')} --lengths ${spec.lengths.join(',')}${pairsFlag} --d-models ${spec.dModels.join(',')} --steps ${spec.steps} --batch ${spec.batch} --lr ${spec.lr.join(',')} --vocab ${spec.vocab} --embed-std ${spec.embedStd}${spec.tasks.includes('induction') ? ` --symbols ${spec.symbols}` : ''}\` (${spec.steps} steps of batch ${spec.batch}, lr ${spec.lr.length === 1 ? spec.lr[0] : spec.dModels.map((d) => `${lrOf(spec, d)} at d ${d}`).join(', ')}, the recipe of \`attnkit train\`, token embeddings N(0, ${spec.embedStd}²)${spec.vocab === 'auto' && spec.tasks.includes('mqar') ? '; MQAR vocabulary 2·pairs + 1, so every example asks every key' : ''}); accuracy on the answer positions of ${spec.evalBatches * 64} fresh examples; state: bytes of decoding state per sequence (2 layers) after the whole example, at the last column's length.`,
  );
  for (const task of spec.tasks) {
    const mine = ok.filter((r) => r.task === task);
    if (!mine.length) continue;
    // Only the columns that have trained rows (a grid may be filled one column at a time).
    const cols = [];
    for (const dModel of spec.dModels)
      for (const c of columnsOf(spec, task))
        if (mine.some((r) => r.dModel === dModel && r.length === c.length && r.pairs === c.pairs))
          cols.push({ dModel, ...c });
    const sample = taskFor(
      task,
      cols[0].length,
      vocabOf(spec, cols[0].pairs),
      cols[0].pairs,
      spec.symbols,
    );
    out.push(
      '',
      `#### ${task} (${JSON.stringify(sample).replace(/"/g, '')} in the first column)`,
      '',
    );
    const head = (c) =>
      `d ${c.dModel}, T ${c.length}${task === 'induction' ? '' : `, ${c.pairs} ${task === 'mqar' ? 'pairs' : 'tokens'}`}`;
    const last = cols.filter((c) => c.dModel === spec.dModels[0]).at(-1);
    out.push(
      `| family | mixer | ${cols.map(head).join(' | ')} | state |`,
      `| --- | --- | ${cols.map(() => '---:').join(' | ')} | ---: |`,
    );
    const find = (mixer, c) =>
      mine.find(
        (x) =>
          x.mixer === mixer &&
          x.dModel === c.dModel &&
          x.length === c.length &&
          x.pairs === c.pairs,
      );
    for (const mixer of spec.mixers) {
      const cells = cols.map((c) => find(mixer, c)?.accuracy.toFixed(2) ?? '—');
      const bytes = find(mixer, last)?.stateBytes;
      const state = bytes ? `${(bytes / 1024).toFixed(1)} KiB` : '—';
      out.push(`| ${familyOf(mixer)} | \`${mixer}\` | ${cells.join(' | ')} | ${state} |`);
    }
  }
  // A failure stays listed until the same cell has trained since, or the mixer's options for
  // it have changed (a failure of an old config is no longer what the command would run).
  const cell = (r) => [r.task, r.length, r.pairs, r.dModel, r.mixer].join('|');
  const done = new Set(ok.map(cell));
  const current = (r) =>
    !r.mixerConfig || JSON.stringify(r.mixerConfig) === JSON.stringify(mixerFor(r.mixer, r.dModel));
  const failed = rows.filter((r) => r.error && trained(r) && current(r) && !done.has(cell(r)));
  if (failed.length)
    out.push(
      '',
      ...failed.map(
        (r) =>
          `- ${r.task} T=${r.length} pairs=${r.pairs} d=${r.dModel} ${r.mixer} failed: ${r.error}`,
      ),
    );
  return out.join('\n');
}

main().catch((err) => {
  console.error(err);
  process.exit(1);
});
