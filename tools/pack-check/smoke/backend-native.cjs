// Smoke test for the packed @attnkit/backend-native, run once through import and once through
// require. The pack check installs with --ignore-scripts, so this proves the prebuilt binary
// shipped in the tarball loads without any build step.
const fs = require('node:fs');
const path = require('node:path');

module.exports = async function smoke(native, tf) {
  const root = path.dirname(
    require.resolve('@attnkit/backend-native/package.json', { paths: [process.cwd()] }),
  );
  if (fs.existsSync(path.join(root, 'build')))
    throw new Error('expected no local build in the installed package');
  const prebuilds = path.join(root, 'prebuilds', `${process.platform}-${process.arch}`);
  if (!fs.existsSync(prebuilds) || fs.readdirSync(prebuilds).length === 0) {
    throw new Error(`no prebuilt binary in ${prebuilds}`);
  }
  if (!tf.findBackendFactory('native')) throw new Error("no backend named 'native' registered");
  const info = native.nativeInfo();
  if (!(info.threads >= 1) || typeof info.gemm !== 'string') throw new Error('nativeInfo broken');
  const a = tf.randomNormal([33, 17], 0, 1, 'float32', 1);
  const b = tf.randomNormal([17, 9], 0, 1, 'float32', 2);
  const want = tf.matMul(a, b).dataSync();
  if (!(await tf.setBackend('native'))) throw new Error("tf.setBackend('native') failed");
  const got = tf.matMul(a, b).dataSync();
  for (let i = 0; i < want.length; i++) {
    if (Math.abs(want[i] - got[i]) > 1e-4)
      throw new Error(`matmul differs at ${i}: ${got[i]} vs ${want[i]}`);
  }
  if (!tf.getKernel(native.FUSED_ATTENTION, 'native'))
    throw new Error('fused attention kernel missing');
  await tf.setBackend('cpu');
};
