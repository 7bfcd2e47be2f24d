#!/usr/bin/env node
// Trains the character models the docs site's demos ship (the attention explorer and generate
// pages) on tinyshakespeare, and writes each as one safetensors file with F16 weights and its
// tokenizer (docs/public/demos/<id>.safetensors, a few hundred KB), plus models.json with how
// each was trained and its held-out loss. The text is read where it lies, never copied in.
//
//   npm run build && node tools/demos/train-demo-models.mjs [--data ../shared/data/tinyshakespeare.txt]
//     [--only moh-char] [--steps 800] [--backend native|wasm|cpu]
//
// Then run tools/demos/precompute.mjs: the pages' precomputed results come from these files.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, initBackend } from '@attnkit/core';
import {
  CharTokenizer,
  TextSource,
  Trainer,
  crossEntropy,
  encodePretrained,
  getPreset,
} from '@attnkit/models';
import { DEMO_MODELS, demoModelConfig } from '../../docs/.vitepress/theme/demos/catalog.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(root, 'docs/public/demos');
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const data = resolve(option('data', join(root, '../shared/data/tinyshakespeare.txt')));
if (!existsSync(data)) {
  console.error(`train-demo-models: ${data} not found; pass --data <path to tinyshakespeare.txt>`);
  process.exit(1);
}
const only = option('only');
const stepsOverride = option('steps');
const choice = await initBackend(option('backend') ?? ['native', 'wasm', 'cpu']);

const text = readFileSync(data, 'utf8');
const tokenizer = CharTokenizer.train(text);
const ids = Int32Array.from(tokenizer.encode(text));
// The last 10% is held out for the loss reported in models.json.
const split = Math.floor(ids.length * 0.9);
const trainIds = ids.subarray(0, split);
const heldIds = ids.subarray(split);

/** Mean next-token cross-entropy over `windows` consecutive windows of the held-out text. */
function heldOutLoss(model, seqLen, windows = 32) {
  const inputs = new Int32Array(windows * seqLen);
  const targets = new Int32Array(windows * seqLen);
  for (let w = 0; w < windows; w++) {
    inputs.set(heldIds.subarray(w * seqLen, (w + 1) * seqLen), w * seqLen);
    targets.set(heldIds.subarray(w * seqLen + 1, (w + 1) * seqLen + 1), w * seqLen);
  }
  return tf.tidy(
    () =>
      crossEntropy(
        model.forward(tf.tensor2d(inputs, [windows, seqLen], 'int32')),
        tf.tensor2d(targets, [windows, seqLen], 'int32'),
      ).dataSync()[0],
  );
}

const manifestPath = join(out, 'models.json');
const manifest = existsSync(manifestPath) ? JSON.parse(readFileSync(manifestPath, 'utf8')) : {};
for (const entry of DEMO_MODELS.filter((m) => !only || m.id === only)) {
  const { batchSize, seqLen, lr, seed } = entry.train;
  const steps = Number(stepsOverride ?? entry.train.steps);
  const rng = new Rng(seed);
  const model = build(demoModelConfig(entry, getPreset(entry.preset), tokenizer.vocabSize), {
    rng,
  });
  const trainer = new Trainer(model, new TextSource(trainIds, seqLen, batchSize, seed), {
    steps,
    lr,
    rngs: [rng],
  });
  const started = Date.now();
  let recent = 0;
  for (let i = 1; i <= steps; i++) {
    recent += trainer.trainStep().loss;
    if (i % 50 === 0 || i === steps) {
      const secs = (Date.now() - started) / 1000;
      console.log(
        `${entry.id}: step ${i}/${steps}, train loss ${(recent / (i % 50 || 50)).toFixed(3)}, ${secs.toFixed(0)} s`,
      );
      recent = 0;
    }
  }
  model.eval();
  const heldOut = heldOutLoss(model, seqLen);
  const bytes = await encodePretrained(model, tokenizer, { dtype: 'F16' });
  writeFileSync(join(out, `${entry.id}.safetensors`), bytes);
  manifest[entry.id] = {
    title: entry.title,
    parameters: [...model.namedParameters().values()].reduce((n, v) => n + v.size, 0),
    steps,
    batchSize,
    seqLen,
    lr,
    heldOutLoss: Number(heldOut.toFixed(4)),
    bytes: bytes.length,
    trainSeconds: Math.round((Date.now() - started) / 1000),
    backend: choice.name,
  };
  console.log(
    `${entry.id}: held-out loss ${heldOut.toFixed(3)}, ${(bytes.length / 1024).toFixed(0)} KB -> docs/public/demos/${entry.id}.safetensors`,
  );
  trainer.dispose();
  model.dispose();
}
writeFileSync(manifestPath, `${JSON.stringify(manifest, null, 2)}\n`);
