// Smoke test for the packed @attnkit/memory, run once through import and once through require.
module.exports = async function smoke(memory) {
  if (typeof memory !== 'object' || memory === null) throw new Error('memory smoke: no exports');
  const core = await arguments[2].load('@attnkit/core'); // retrieval: knn-memory registers on import
  for (const t of ['knn-memory', 'retrieval-attention'])
    if (!core.isRegistered(t)) throw new Error(`memory smoke: ${t} not registered`);
};
