// Browser bundle check: bundles the main entry of every package except backend-native with
// esbuild for the browser, as a user's bundler would (the `browser` and `import` export
// conditions, no shims, no externals), and fails on any Node built-in the bundle pulls in.
// Then it runs each bundle in a bare JavaScript context (no `process`, no `require`, no
// `Buffer`), so a Node global touched while the modules load fails too, and checks that the
// Node-only subpaths (`@attnkit/models/node`, `/cli`) refuse to resolve for the browser.
//
//   node tools/browser/bundle-check.mjs          the built packages (dist/, after npm run build)
//   node tools/browser/bundle-check.mjs --src    the sources (no build needed)
/* global URLSearchParams, setInterval, clearInterval, queueMicrotask, structuredClone, atob, btoa */
import { builtinModules } from 'node:module';
import { readdirSync, readFileSync, existsSync } from 'node:fs';
import { join, resolve, dirname } from 'node:path';
import { fileURLToPath } from 'node:url';
import vm from 'node:vm';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const fromSource = process.argv.includes('--src');
const NODE_ONLY_PACKAGES = new Set(['@attnkit/backend-native']);
const NODE_ONLY_SUBPATHS = ['@attnkit/models/node', '@attnkit/models/cli'];
const builtins = new Set(builtinModules.flatMap((m) => [m, `node:${m}`]));

const packages = readdirSync(join(root, 'packages'))
  .map((dir) => join(root, 'packages', dir))
  .filter((dir) => existsSync(join(dir, 'package.json')))
  .map((dir) => ({ dir, name: JSON.parse(readFileSync(join(dir, 'package.json'), 'utf8')).name }))
  .filter(({ name }) => !NODE_ONLY_PACKAGES.has(name));

/** With --src, @attnkit/<pkg> resolves to packages/<pkg>/src/index.ts (as jest and tsc do). */
const sourcePlugin = {
  name: 'attnkit-sources',
  setup(b) {
    b.onResolve({ filter: /^@attnkit\/[a-z-]+$/ }, (args) => ({
      path: join(root, 'packages', args.path.slice('@attnkit/'.length), 'src', 'index.ts'),
    }));
  },
};

/** Records every Node built-in an import resolves to, with the file that imports it. */
function builtinTrap(found) {
  return {
    name: 'node-builtins',
    setup(b) {
      // A package's own `browser` field may map a built-in away (tfjs-core: util, crypto):
      // that needs no shim from the user, so only an import that fails to resolve counts.
      b.onEnd((result) => {
        for (const error of result.errors) {
          const m = /Could not resolve "([^"]+)"/.exec(error.text);
          if (m && builtins.has(m[1])) {
            found.push(`${m[1]} (imported by ${error.location?.file ?? '?'})`);
          }
        }
      });
    },
  };
}

async function bundle(entry, found) {
  return build({
    stdin: { contents: `export * from '${entry}';`, resolveDir: root, loader: 'js' },
    bundle: true,
    platform: 'browser',
    format: 'iife',
    globalName: 'attnkitBundle',
    write: false,
    metafile: true,
    logLevel: 'silent',
    target: 'es2022',
    // Only the packages' own files and exports decide: the repo's tsconfig `paths` (sources)
    // must not apply to dist files.
    tsconfigRaw: fromSource ? undefined : {},
    // Sources are not what `sideEffects` in package.json lists (dist files): keep them whole.
    ignoreAnnotations: fromSource,
    plugins: [...(fromSource ? [sourcePlugin] : []), builtinTrap(found)],
  });
}

/** A context with what a browser page offers a script, and none of Node's globals. */
function bareContext() {
  const context = {
    console,
    TextEncoder,
    TextDecoder,
    URL,
    URLSearchParams,
    setTimeout,
    clearTimeout,
    setInterval,
    clearInterval,
    queueMicrotask,
    performance,
    crypto: globalThis.crypto,
    structuredClone,
    atob,
    btoa,
    navigator: { userAgent: 'attnkit-bundle-check', hardwareConcurrency: 2 },
    location: { search: '', href: 'http://localhost/' },
  };
  context.self = context;
  context.window = context;
  return vm.createContext(context);
}

let failed = false;
const fail = (line) => {
  console.error(`FAIL ${line}`);
  failed = true;
};

for (const { name } of packages) {
  const found = [];
  let result;
  try {
    result = await bundle(name, found);
  } catch (error) {
    const messages = (error.errors ?? []).map((e) => `${e.text} (${e.location?.file ?? '?'})`);
    const detail = found.length
      ? `Node built-ins ${[...new Set(found)].join(', ')}`
      : messages.join('; ') || error.message;
    fail(`${name}: does not bundle for the browser: ${detail}`);
    continue;
  }
  const code = result.outputFiles[0].text;
  const inputs = Object.keys(result.metafile.inputs);
  const ours = inputs.filter((f) => f.startsWith('packages/')).length;
  const context = bareContext();
  try {
    vm.runInContext(code, context, { filename: `${name}.browser.js` });
  } catch (error) {
    fail(`${name}: the browser bundle throws while loading: ${error.message}`);
    continue;
  }
  const exported = Object.keys(context.attnkitBundle ?? {}).length; // memory: a scaffold, 0
  const kb = (code.length / 1024).toFixed(0);
  console.log(
    `ok   ${name}: ${kb} KB, ${inputs.length} modules (${ours} of attnkit), ${exported} exports, no Node built-ins`,
  );
}

for (const subpath of fromSource ? [] : NODE_ONLY_SUBPATHS) {
  try {
    await bundle(subpath, []);
    fail(
      `${subpath}: bundles for the browser, but its exports should refuse the browser condition`,
    );
  } catch {
    console.log(`ok   ${subpath}: refused for the browser (Node only)`);
  }
}

if (failed) {
  console.error('bundle-check: failed');
  process.exit(1);
}
console.log(`bundle-check: ${packages.length} package(s) bundle for the browser`);
