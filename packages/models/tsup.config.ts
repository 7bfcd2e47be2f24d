import { defineConfig } from 'tsup';

export default defineConfig({
  // index: the library (browser-safe); node: + Node file I/O; cli-api: the CLI as functions
  // (`./cli`); cli: the `attnkit` binary.
  entry: {
    index: 'src/index.ts',
    node: 'src/node.ts',
    'cli-api': 'src/cli-api.ts',
    cli: 'src/cli.ts',
  },
  format: ['esm', 'cjs'],
  // Shared chunks in both formats, so importing two entries (ESM or CJS) loads one copy of
  // the library and registers each block once.
  splitting: true,
  dts: true,
  sourcemap: true,
  clean: true,
  target: 'es2022',
  tsconfig: 'tsconfig.build.json',
  external: [/^@tensorflow\//, /^@attnkit\//, /^@huggingface\//, 'zod', 'commander'],
});
