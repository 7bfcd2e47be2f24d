// Smoke test for the packed @attnkit/memory, run once through import and once through require.
module.exports = async function smoke(memory, tf, { load }) {
  if (typeof memory !== 'object' || memory === null) throw new Error('memory smoke: no exports');
  if (!(await load('@attnkit/core')).isRegistered('landmark-attention'))
    throw new Error('memory smoke: landmark-attention not registered');
};
