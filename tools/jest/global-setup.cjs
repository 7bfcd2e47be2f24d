// tfjs-core ships its gradient registrations only as ES modules inside a CommonJS
// package, which Node (and jest) cannot require. Bundle them once into CJS for the
// specs, the same way the packages' own builds inline them (see packages/core/src/index.ts).
const path = require('node:path');
const fs = require('node:fs');

module.exports = async function globalSetup() {
  const out = path.join(__dirname, '../../node_modules/.cache/attnkit/tfjs-gradients.cjs');
  const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
  const version = require('@tensorflow/tfjs-core/package.json').version;
  const stamp = `${out}.${version}`;
  if (fs.existsSync(out) && fs.existsSync(stamp)) return;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  await require('esbuild').build({
    entryPoints: [entry],
    bundle: true,
    format: 'cjs',
    platform: 'node',
    outfile: out,
    logLevel: 'error',
  });
  fs.writeFileSync(stamp, '');
};
