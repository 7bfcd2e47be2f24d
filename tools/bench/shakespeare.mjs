#!/usr/bin/env node
// Benchmark: a gpt-tiny character model on tinyshakespeare, trained through `attnkit train`,
// then scored on the held-out last 10% of the text (the split `attnkit train` leaves out):
// mean cross-entropy over every position of consecutive, non-overlapping windows.
//
//   npm run build && node tools/bench/shakespeare.mjs [--steps 3000] [--lr 3e-3] [--batch-size 32]
//     [--seq-len 128] [--backend wasm] [--data ../shared/data/tinyshakespeare.txt] [--out runs]
//
// Prints progress lines, then one JSON line { valLoss, trainSeconds, ... }. Not part of npm test.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadModule } from '@attnkit/core';
import { crossEntropy, tokenizerFromJSON } from '@attnkit/models';
import { processIo, trainCommand } from '@attnkit/models/cli';

const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const data = option('data', path.resolve('../shared/data/tinyshakespeare.txt'));
const steps = Number(option('steps', 3000));
const lr = Number(option('lr', 3e-3));
const batchSize = Number(option('batch-size', 32));
const seqLen = Number(option('seq-len', 128));
const out = option('out', 'runs');
const name = option('name', 'bench-gpt-tiny-shakespeare');
if (!fs.existsSync(data)) {
  console.error(`shakespeare bench: ${data} not found; pass --data <path to tinyshakespeare.txt>`);
  process.exit(1);
}

const result = await trainCommand(
  {
    preset: 'gpt-tiny',
    data,
    steps,
    lr,
    batchSize,
    seqLen,
    name,
    out,
    overwrite: true,
    backend: option('backend'),
  },
  processIo,
);

// Held-out score: the last 10% of the token stream, cut into consecutive windows.
const tokenizer = tokenizerFromJSON(
  JSON.parse(fs.readFileSync(path.join(result.runDir, 'tokenizer.json'), 'utf8')),
);
const ids = Int32Array.from(tokenizer.encode(fs.readFileSync(data, 'utf8')));
const held = ids.subarray(Math.floor(ids.length * 0.9));
const model = await loadModule(result.runDir);
model.eval();
const windows = Math.floor((held.length - 1) / seqLen);
let total = 0;
const chunk = 64;
for (let w = 0; w < windows; w += chunk) {
  const n = Math.min(chunk, windows - w);
  const inputs = new Int32Array(n * seqLen);
  const targets = new Int32Array(n * seqLen);
  for (let b = 0; b < n; b++) {
    const start = (w + b) * seqLen;
    inputs.set(held.subarray(start, start + seqLen), b * seqLen);
    targets.set(held.subarray(start + 1, start + seqLen + 1), b * seqLen);
  }
  total +=
    tf.tidy(
      () =>
        crossEntropy(
          model.forward(tf.tensor2d(inputs, [n, seqLen], 'int32')),
          tf.tensor2d(targets, [n, seqLen], 'int32'),
        ).dataSync()[0],
    ) * n;
}
model.dispose();
const summary = {
  bench: 'gpt-tiny char model, tinyshakespeare',
  valLoss: Number((total / windows).toFixed(4)),
  valTokens: windows * seqLen,
  steps: result.steps,
  batchSize,
  seqLen,
  lr,
  trainSeconds: Number(result.trainSeconds.toFixed(1)),
  backend: result.backend,
  runDir: result.runDir,
};
console.log(JSON.stringify(summary));
