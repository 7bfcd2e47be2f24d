// Smoke test for the packed @attnkit/memory, run once through import and once through require.
module.exports = async function smoke(memory, tf, { load }) {
  if (typeof memory !== 'object' || memory === null) throw new Error('memory smoke: no exports');
  if (typeof memory.MemoryTokens !== 'function' || typeof memory.RecurrentMemory !== 'function')
    throw new Error('memory smoke: MemoryTokens / RecurrentMemory not exported');
  if (!memory.rmtPresets?.['rmt-lm-tiny'])
    throw new Error('memory smoke: rmt-lm-tiny preset missing');
  if (!(await load('@attnkit/core')).isRegistered('landmark-attention'))
    throw new Error('memory smoke: landmark-attention not registered');
  if (!memory.landmarkPresets?.['landmark-lm-tiny'])
    throw new Error('memory smoke: landmark-lm-tiny preset missing');
  if (typeof memory.KnnStore !== 'function' || !memory.knnPresets?.['knn-lm-tiny'])
    throw new Error('memory smoke: KnnStore / knn-lm-tiny preset missing');
  if (typeof memory.neuralMemory !== 'function' || !memory.titansPresets?.['titans-mac-tiny'])
    throw new Error('memory smoke: neuralMemory / titans-mac-tiny not exported');
};
