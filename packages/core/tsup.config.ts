import { defineConfig } from 'tsup';

export default defineConfig({
  entry: ['src/index.ts', 'src/testing.ts'],
  format: ['esm', 'cjs'],
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
  external: [/^@tensorflow\/tfjs-core$/, /^@tensorflow\/tfjs-backend-/, /^@attnkit\//, 'zod'],
  // See src/index.ts: tfjs-core's gradient registrations are ES modules only.
  noExternal: [/register_all_gradients/],
});
