// Smoke test for the packed @attnkit/memory, run once through import and once through require.
module.exports = async function smoke(memory) {
  if (typeof memory !== 'object' || memory === null) throw new Error('memory smoke: no exports');
};
