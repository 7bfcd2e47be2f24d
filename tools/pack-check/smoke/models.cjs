// Smoke test for the packed @attnkit/models, run once through import and once through require.
module.exports = async function smoke(models, tf, { load }) {
  const tok = models.BpeTokenizer.train('hello hello world 👋', 260);
  const text = 'hello 👋 there';
  if (tok.decode(tok.encode(text)) !== text) throw new Error('BPE round trip failed');
  const { listPresets, getPreset, createTask, makeBatch } = models;
  if (!listPresets().includes('llama-tiny')) throw new Error('llama-tiny preset missing');
  if (getPreset('llama-tiny').type !== 'decoder-lm') throw new Error('bad preset');
  const core = await load('@attnkit/core');
  const batch = makeBatch(createTask('mqar'), new core.Rng(0), 2);
  if (batch.inputs.length !== 2 * batch.seqLen) throw new Error('bad MQAR batch');
};
