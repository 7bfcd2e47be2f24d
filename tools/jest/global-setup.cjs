// tfjs-core ships its gradient registrations only as ES modules inside a CommonJS
// package, which Node (and jest) cannot require. Bundle them once into CJS for the
// specs, the same way core's build inlines them (tools/gradients/tfjs-gradients.cjs: their
// imports of tfjs-core go to its public entry, so there is one engine).
const path = require('node:path');
const fs = require('node:fs');
const crypto = require('node:crypto');
const { execFileSync } = require('node:child_process');

module.exports = function globalSetup() {
  const out = path.join(__dirname, '../../node_modules/.cache/attnkit/tfjs-gradients-public.cjs');
  const pluginFile = path.join(__dirname, '../gradients/tfjs-gradients.cjs');
  const version = require('@tensorflow/tfjs-core/package.json').version;
  const plugin = crypto.createHash('sha256').update(fs.readFileSync(pluginFile)).digest('hex');
  const stamp = `${out}.${version}.${plugin.slice(0, 12)}`;
  if (fs.existsSync(out) && fs.existsSync(stamp)) return;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  // In a child process: the bundler's plugin loads tfjs-core, which must not load in this one.
  // Written next to the final name and renamed, so parallel jest runs never read half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  execFileSync(process.execPath, [path.join(__dirname, 'build-gradients.cjs'), out, tmp], {
    stdio: 'inherit',
  });
  fs.writeFileSync(stamp, '');
};
