// The browser suite's scenario, bundled twice from the same file: into the page (run on each
// browser backend) and into a Node script (run on the cpu backend, the reference). Builds the
// llama-tiny preset, trains a few steps on MQAR, saves to and loads from one safetensors file
// in memory (a Uint8Array), then computes logits and a greedy generation with the loaded model.
import * as tf from '@tensorflow/tfjs-core';
import { Rng, build, encodeModule, loadModule, saveModule } from '@attnkit/core';
import { MqarTask, TaskSource, Trainer, generate, getPreset } from '@attnkit/models';

export const STEPS = 3;
export const PROMPT = [1, 9, 2, 10, 1];

/** Logits of `model` for PROMPT, as a plain array. */
function logitsOf(model) {
  return tf.tidy(() =>
    Array.from(model.forward(tf.tensor2d([PROMPT], [1, PROMPT.length], 'int32')).dataSync()),
  );
}

/**
 * The scenario on the active backend. `extra` (browser only) also round-trips the trained
 * model through IndexedDB and loads `fetchUrl` (a one-file save written by Node) over fetch.
 */
export async function runScenario({ indexedDb = false, fetchUrl } = {}) {
  const task = new MqarTask({ numPairs: 2, numKeys: 8, numValues: 8 });
  const config = { ...getPreset('llama-tiny'), vocabSize: task.vocabSize, maxLength: 16 };
  const rng = new Rng(0);
  const model = build(config, { rng });
  const trainer = new Trainer(model, new TaskSource(task, 4, 1), { steps: STEPS, rngs: [rng] });
  const losses = [];
  for (let i = 0; i < STEPS; i++) losses.push(trainer.trainStep().loss);
  const bytes = await encodeModule(model);
  const loaded = await loadModule(bytes);
  const result = {
    backend: tf.getBackend(),
    losses,
    trainedLogits: logitsOf(model),
    logits: logitsOf(loaded),
    tokens: await generate(loaded, PROMPT, { maxTokens: 6, temperature: 0 }),
    sampled: await generate(loaded, PROMPT, { maxTokens: 8, temperature: 1, seed: 7 }),
    bytes,
  };
  if (indexedDb) {
    await saveModule('indexeddb://attnkit-browser-suite', loaded, { overwrite: true });
    const back = await loadModule('indexeddb://attnkit-browser-suite');
    result.indexedDbRefusal = await saveModule('indexeddb://attnkit-browser-suite', loaded).then(
      () => 'saved over an existing entry without overwrite',
      (error) => error.message,
    );
    result.indexedDbLogits = logitsOf(back);
    back.dispose();
  }
  if (fetchUrl) {
    const fetched = await loadModule(fetchUrl);
    result.fetchedLogits = logitsOf(fetched);
    fetched.dispose();
  }
  trainer.dispose();
  loaded.dispose();
  result.numTensors = tf.memory().numTensors;
  return result;
}
