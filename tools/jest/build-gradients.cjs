// Child process of global-setup.cjs: bundles tfjs-core's gradient registrations into `argv[2]`
// (written to `argv[3]` first, then renamed). It runs apart from jest because the plugin loads
// tfjs-core, and a tfjs-core loaded in jest's own process leaks its platform and engine into
// specs run in band (a second engine: tensors and variables of another class).
const fs = require('node:fs');
const path = require('node:path');
const { tfjsGradientsPlugin } = require('../gradients/tfjs-gradients.cjs');

const [out, tmp] = process.argv.slice(2);
require('esbuild')
  .build({
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
  })
  .then(() => fs.renameSync(tmp, out))
  .catch((error) => {
    console.error(`build-gradients: ${error.message} (writing ${path.basename(out)})`);
    process.exit(1);
  });
