// Loads every package's registrations from the sources (no build needed) and returns the
// registry with one more accessor the docs need: the zod schema a type was registered with.
// The sources are bundled once with esbuild; at bundle time `schemaOf(type)` is appended to
// packages/core/src/registry.ts (which keeps its entries private), nothing is written to src/.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
export const root = resolve(here, '../..');

/** Packages whose registrations the docs list (backend-native registers no blocks). */
export const PACKAGES = ['core', 'positional', 'attention', 'routing', 'memory', 'models'];

const registryFile = join(root, 'packages/core/src/registry.ts');

const sourcesPlugin = {
  name: 'attnkit-sources',
  setup(b) {
    b.onResolve({ filter: /^@attnkit\/[a-z-]+$/ }, (args) => ({
      path: join(root, 'packages', args.path.slice('@attnkit/'.length), 'src', 'index.ts'),
      // The sources register on import: the dist-only `sideEffects` lists must not drop them.
      sideEffects: true,
    }));
    // Gradient registrations (a side-effect import of a tfjs-core file) are not needed to list
    // blocks, and tfjs's dist files are ESM that Node cannot require one by one.
    b.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\// }, () => ({
      path: 'unused',
      namespace: 'empty',
    }));
    b.onLoad({ filter: /.*/, namespace: 'empty' }, () => ({ contents: '' }));
    // Each source file notes its path when it starts evaluating, so a registration knows the
    // file (and so the family directory) it came from.
    b.onLoad({ filter: /packages[\\/][a-z-]+[\\/]src[\\/].*\.ts$/ }, (args) => {
      let source = readFileSync(args.path, 'utf8');
      const file = relative(root, args.path).split(sep).join('/');
      if (resolve(args.path) === registryFile) {
        if (!source.includes('entries.set(type, {')) {
          throw new Error('load-registry: registry.ts no longer stores entries as expected');
        }
        source = source.replace(
          'entries.set(type, {',
          'entries.set(type, { sourceFile: (globalThis as any).__attnkitDocsFile,',
        );
        source += [
          '',
          '/** Docs only: the schema and source file of a registered type. */',
          'export function docsEntry(type: string): { schema: z.ZodType; sourceFile?: string } | undefined {',
          '  return entries.get(type) as never;',
          '}',
          '',
        ].join('\n');
      }
      // Imports are hoisted above this line, so it runs after them and before the file's own code.
      source += `\n;(globalThis as any).__attnkitDocsFile = undefined;\n`;
      return {
        contents: `(globalThis as any).__attnkitDocsFile = ${JSON.stringify(file)};\n${source}`,
        loader: 'ts',
      };
    });
  },
};

/**
 * Imports the packages' sources and resolves to `{ core, z, docsEntry }`: core's exports
 * (registeredTypes, registryInfo, validateConfig, ...), zod, and `docsEntry(type)`: the
 * schema a type was registered with and the source file that registered it.
 */
export async function loadRegistry() {
  const entry = [
    `export * as core from '@attnkit/core';`,
    `export { docsEntry } from ${JSON.stringify(registryFile)};`,
    `export { z } from 'zod';`,
    ...PACKAGES.filter((p) => p !== 'core').map((p) => `import '@attnkit/${p}';`),
  ].join('\n');
  // Inside the repository, so the bundle's externals resolve from node_modules.
  const cache = join(root, 'docs/.vitepress/cache');
  mkdirSync(cache, { recursive: true });
  const dir = mkdtempSync(join(cache, 'registry-'));
  try {
    const outfile = join(dir, 'registry.cjs');
    await build({
      stdin: { contents: entry, resolveDir: root, loader: 'ts' },
      bundle: true,
      platform: 'node',
      format: 'cjs',
      outfile,
      logLevel: 'error',
      // The sources register on import; the packages' `sideEffects` lists name dist files only.
      ignoreAnnotations: true,
      plugins: [sourcesPlugin],
      // One copy of tfjs and zod, resolved from node_modules as the packages would be.
      external: ['@tensorflow/tfjs-core', 'zod', '@huggingface/*', 'commander'],
    });
    return createRequire(import.meta.url)(outfile);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
