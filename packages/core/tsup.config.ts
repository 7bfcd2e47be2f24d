import { createRequire } from 'node:module';
import { defineConfig, type Options } from 'tsup';

type Plugin = NonNullable<Options['esbuildPlugins']>[number];
const require = createRequire(import.meta.url);
const { tfjsGradientsPlugin } = require('../../tools/gradients/tfjs-gradients.cjs') as {
  tfjsGradientsPlugin: () => Plugin;
};

export default defineConfig({
  entry: ['src/index.ts', 'src/testing.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
  external: [/^@tensorflow\/tfjs-core$/, /^@tensorflow\/tfjs-backend-/, /^@attnkit\//, 'zod'],
  // See src/index.ts: tfjs-core's gradient registrations are ES modules only. They are inlined,
  // with their imports of tfjs-core redirected to its public entry (no second engine).
  noExternal: [/register_all_gradients/],
  esbuildPlugins: [tfjsGradientsPlugin()],
});
