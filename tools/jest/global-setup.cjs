// tfjs-core ships its gradient registrations only as ES modules inside a CommonJS
// package, which Node (and jest) cannot require. Bundle them once into CJS for the
// specs, the same way core's build inlines them (tools/gradients/tfjs-gradients.cjs: their
// imports of tfjs-core go to its public entry, so there is one engine).
const path = require('node:path');
const fs = require('node:fs');
const crypto = require('node:crypto');

module.exports = async function globalSetup() {
  const out = path.join(__dirname, '../../node_modules/.cache/attnkit/tfjs-gradients-public.cjs');
  const pluginFile = path.join(__dirname, '../gradients/tfjs-gradients.cjs');
  const version = require('@tensorflow/tfjs-core/package.json').version;
  const plugin = crypto.createHash('sha256').update(fs.readFileSync(pluginFile)).digest('hex');
  const stamp = `${out}.${version}.${plugin.slice(0, 12)}`;
  if (fs.existsSync(out) && fs.existsSync(stamp)) return;
  fs.mkdirSync(path.dirname(out), { recursive: true });
  const { tfjsGradientsPlugin } = require(pluginFile);
  // Write next to the final name and rename, so parallel jest runs never read half a file.
  const tmp = `${out}.${process.pid}.tmp`;
  await require('esbuild').build({
    stdin: {
      contents: "import '@tensorflow/tfjs-core/dist/register_all_gradients';",
      resolveDir: __dirname,
      loader: 'js',
    },
    bundle: true,
    format: 'cjs',
    platform: 'node',
    outfile: tmp,
    logLevel: 'error',
    plugins: [tfjsGradientsPlugin()],
  });
  fs.renameSync(tmp, out);
  fs.writeFileSync(stamp, '');
};
