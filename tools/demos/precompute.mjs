#!/usr/bin/env node
// Computes what the docs site's demos show before anyone presses "Run live", on Node's cpu
// backend with the same code the page's worker runs (docs/.vitepress/theme/demos/*.mjs) and
// the same model files, and writes docs/public/demos/{explorer,generate,train}.json. The
// browser suite (tools/browser/site.mjs) runs each demo live and compares it with these.
//
//   npm run build && node tools/demos/precompute.mjs [--only explorer,generate,train]
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { initBackend } from '@attnkit/core';
import { fromPretrained } from '@attnkit/models';
import { EXPLORER, GENERATE, TRAIN } from '../../docs/.vitepress/theme/demos/catalog.mjs';
import { explore } from '../../docs/.vitepress/theme/demos/explorer.mjs';
import { continueText, promptLogits } from '../../docs/.vitepress/theme/demos/generate.mjs';
import { trainRun } from '../../docs/.vitepress/theme/demos/train.mjs';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const out = join(root, 'docs/public/demos');
const onlyArg = process.argv.indexOf('--only');
const only =
  onlyArg >= 0 ? process.argv[onlyArg + 1].split(',') : ['explorer', 'generate', 'train'];
await initBackend('cpu', { log: () => {} });

/** Numbers kept to 7 significant digits (well inside every tolerance the pages state). */
const compact = (value) =>
  JSON.parse(
    JSON.stringify(value, (_, v) => (typeof v === 'number' ? Number(v.toPrecision(7)) : v)),
  );
const write = (name, value) => {
  const text = JSON.stringify({
    generatedBy: 'tools/demos/precompute.mjs',
    backend: 'cpu (Node)',
    ...compact(value),
  });
  writeFileSync(join(out, `${name}.json`), `${text}\n`);
  console.log(`precompute: docs/public/demos/${name}.json (${(text.length / 1024).toFixed(0)} KB)`);
};
const load = (id) => fromPretrained(new Uint8Array(readFileSync(join(out, `${id}.safetensors`))));

if (only.includes('explorer')) {
  const models = {};
  for (const id of EXPLORER.models) {
    const { model, tokenizer } = await load(id);
    models[id] = explore(model, tokenizer, EXPLORER.sentence);
    model.dispose();
  }
  write('explorer', { sentence: EXPLORER.sentence, models });
}

if (only.includes('generate')) {
  const { model, tokenizer } = await load(GENERATE.model);
  let text = '';
  for await (const piece of continueText(model, tokenizer, GENERATE)) text += piece;
  const logits = promptLogits(model, tokenizer, GENERATE.prompt);
  model.dispose();
  const { prompt, maxTokens, temperature, topK, seed } = GENERATE;
  write('generate', { settings: { prompt, maxTokens, temperature, topK, seed }, text, logits });
}

if (only.includes('train')) {
  const runs = {};
  for (const mixer of TRAIN.mixers) {
    for (const task of TRAIN.tasks) {
      const started = Date.now();
      let last;
      for (const report of trainRun(mixer.id, task.id)) last = report;
      runs[`${mixer.id}/${task.id}`] = last;
      const accuracy = last.accuracy.at(-1).value;
      console.log(
        `precompute: train ${mixer.id} on ${task.id}: loss ${last.losses[0].toFixed(3)} -> ${last.losses.at(-1).toFixed(3)}, accuracy ${accuracy.toFixed(2)}, ${((Date.now() - started) / 1000).toFixed(0)} s`,
      );
    }
  }
  write('train', { steps: TRAIN.steps, runs });
}
