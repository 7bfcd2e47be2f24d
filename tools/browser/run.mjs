// Browser test suite: runs attnkit in Debian's Chromium (headless, driven by playwright-core)
// on the cpu, wasm and webgl backends (webgl on the CPU through SwiftShader; webgpu is tried
// and reported), and compares each with the Node cpu backend running the same scenario
// (scenario.mjs: build llama-tiny, train, save to and load from a Uint8Array safetensors file,
// generate). Also checks initBackend's default choice in a browser, an IndexedDB round trip, a
// Node-written file loaded over fetch, and that the page logs no errors.
//
//   node tools/browser/run.mjs [--src] [--backends cpu,wasm,webgl,webgpu]
//
// Needs /usr/bin/chromium (apt-get install chromium), playwright-core and the tfjs webgl and
// webgpu backends (root devDependencies; NODE_PATH is honoured for them), and, without --src,
// the built packages (npm run build).
/* global window */ // (inside page.evaluate callbacks)
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const require = createRequire(import.meta.url);
const args = process.argv.slice(2);
const fromSource = args.includes('--src');
const backendsArg = args[args.indexOf('--backends') + 1];
const BACKENDS = args.includes('--backends') ? backendsArg.split(',') : ['cpu', 'wasm', 'webgl'];
const OPTIONAL = new Set(['webgpu']); // reported when it cannot start, not failed
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
/** Max |browser - Node cpu| per backend: losses and logits after STEPS AdamW steps. */
const TOLERANCE = { cpu: 1e-5, wasm: 1e-4, webgl: 2e-3, webgpu: 2e-3 };
// Packages found through NODE_PATH resolve their own imports (tfjs-core) from the repo's.
const nodePaths = [
  ...(process.env.NODE_PATH ?? '').split(delimiter).filter(Boolean),
  join(root, 'node_modules'),
];

// What the suite needs besides the repo's own packages, with the version it was written for.
const NEEDS = {
  'playwright-core': '1.65.1',
  '@tensorflow/tfjs-backend-webgl': '4.22.0',
  '@tensorflow/tfjs-backend-webgpu': '4.22.0',
};
const missing = Object.keys(NEEDS).filter((name) => {
  try {
    require.resolve(`${name}/package.json`, { paths: [root, ...nodePaths] });
    return false;
  } catch {
    return true;
  }
});
if (missing.length || !existsSync(CHROMIUM)) {
  console.error(
    `browser suite: missing ${[...missing, ...(existsSync(CHROMIUM) ? [] : [CHROMIUM])].join(', ')}` +
      ` (npm install -D ${missing.map((n) => `${n}@${NEEDS[n]}`).join(' ') || '…'}; apt-get install chromium)`,
  );
  process.exit(1);
}

let failed = false;
const fail = (line) => {
  console.error(`FAIL ${line}`);
  failed = true;
};

/** With --src, @attnkit/<pkg> resolves to its sources (as jest does); else to dist/. */
const sourcePlugin = {
  name: 'attnkit-sources',
  setup(b) {
    b.onResolve({ filter: /^@attnkit\/[a-z-]+$/ }, (a) => ({
      path: join(root, 'packages', a.path.slice('@attnkit/'.length), 'src', 'index.ts'),
    }));
  },
};

async function bundle(options) {
  await build({
    bundle: true,
    logLevel: 'error',
    target: 'es2022',
    nodePaths,
    tsconfigRaw: fromSource ? undefined : {},
    // Sources are not what `sideEffects` in package.json lists (dist files): keep them whole.
    ignoreAnnotations: fromSource,
    plugins: fromSource ? [sourcePlugin] : [],
    ...options,
  });
}

const work = mkdtempSync(join(tmpdir(), 'attnkit-browser-'));
let server;
let browser;
try {
  // 1. The page bundle and the Node bundle of the same scenario.
  await bundle({
    entryPoints: [join(here, 'page.mjs')],
    platform: 'browser',
    format: 'iife',
    outfile: join(work, 'page.js'),
  });
  await bundle({
    stdin: {
      contents: `import * as tf from '@tensorflow/tfjs-core'; import '@tensorflow/tfjs-backend-cpu';
export { tf }; export * from './scenario.mjs';`,
      resolveDir: here,
      loader: 'js',
    },
    platform: 'node',
    format: 'cjs',
    // tfjs' ES modules only, as in the page: one tfjs-core, with its gradients.
    mainFields: ['module', 'main'],
    outfile: join(work, 'node-scenario.cjs'),
  });

  // 2. The reference: the scenario on Node's cpu backend.
  const scenario = require(join(work, 'node-scenario.cjs'));
  await scenario.tf.setBackend('cpu');
  scenario.tf.backend().firstUse = false;
  const reference = await scenario.runScenario();
  console.log(
    `node cpu: losses ${reference.losses.map((l) => l.toFixed(5)).join(' ')}, greedy ${reference.tokens.join(' ')}, sampled ${reference.sampled.join(' ')}`,
  );

  // 3. A static server: the page, its bundle, the wasm binaries, Node's saved model.
  const wasmDir = dirname(require.resolve('@tensorflow/tfjs-backend-wasm/package.json'));
  const files = {
    '/': ['text/html', '<!doctype html><meta charset="utf-8"><script src="/page.js"></script>'],
    '/page.js': ['text/javascript', readFileSync(join(work, 'page.js'))],
    '/node-model.safetensors': ['application/octet-stream', reference.bytes],
    '/favicon.ico': ['image/x-icon', ''],
  };
  for (const f of [
    'tfjs-backend-wasm.wasm',
    'tfjs-backend-wasm-simd.wasm',
    'tfjs-backend-wasm-threaded-simd.wasm',
  ]) {
    const file = join(wasmDir, 'dist', f);
    if (existsSync(file)) files[`/wasm/${f}`] = ['application/wasm', readFileSync(file)];
  }
  server = createServer((req, res) => {
    const found = files[new URL(req.url, 'http://x').pathname];
    res.writeHead(found ? 200 : 404, { 'content-type': found ? found[0] : 'text/plain' });
    res.end(found ? found[1] : 'not found');
  });
  await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
  const origin = `http://127.0.0.1:${server.address().port}`;

  // 4. Chromium.
  const { chromium } = require(require.resolve('playwright-core', { paths: [root, ...nodePaths] }));
  browser = await chromium.launch({
    executablePath: CHROMIUM,
    headless: true,
    args: [
      '--no-sandbox',
      '--use-angle=swiftshader',
      '--enable-unsafe-swiftshader',
      '--enable-unsafe-webgpu',
      '--enable-features=Vulkan',
    ],
  });
  console.log(`chromium ${browser.version()} (${CHROMIUM})`);

  /** A fresh page; its console errors and uncaught exceptions fail the run. */
  async function openPage(label) {
    const page = await browser.newPage();
    page.on('console', (m) => m.type() === 'error' && fail(`${label}: console error: ${m.text()}`));
    page.on('pageerror', (e) => fail(`${label}: page error: ${e.message}`));
    await page.goto(origin);
    await page.waitForFunction(() => window.attnkitSuite !== undefined);
    return page;
  }

  // initBackend's own choice, with every package's blocks registered.
  {
    const page = await openPage('default backend');
    const missing = await page.evaluate(() =>
      window.attnkitSuite.registered(['linear', 'rotary', 'mha', 'moe', 'decoder-lm']),
    );
    if (missing.length) fail(`types not registered in the page: ${missing.join(', ')}`);
    const choice = await page.evaluate(() => window.attnkitSuite.init(null));
    console.log(`initBackend() in the browser: ${choice.line}`);
    if (!['webgpu', 'webgl'].includes(choice.name)) {
      fail(`initBackend() picked '${choice.name}', expected a GPU backend (webgpu or webgl)`);
    }
    await page.close();
  }

  const maxAbs = (a, b) =>
    a.length !== b.length ? Infinity : Math.max(...a.map((v, i) => Math.abs(v - b[i])));
  for (const name of BACKENDS) {
    const page = await openPage(name);
    let choice;
    try {
      choice = await page.evaluate((n) => window.attnkitSuite.init(n), name);
    } catch (error) {
      const reason =
        String(error.message)
          .split('\n')
          .find((l) => l.includes('initBackend')) ?? error.message;
      (OPTIONAL.has(name) ? console.log : fail)(`${name}: cannot start (${reason.trim()})`);
      await page.close();
      continue;
    }
    const started = Date.now();
    const got = await page.evaluate(
      (url) => window.attnkitSuite.run({ indexedDb: true, fetchUrl: url }),
      `${origin}/node-model.safetensors`,
    );
    const tol = TOLERANCE[name] ?? 1e-3;
    const gaps = {
      losses: maxAbs(got.losses, reference.losses),
      logits: maxAbs(got.logits, reference.logits),
      fetched: maxAbs(got.fetchedLogits, reference.logits),
    };
    const ok = (what, cond) => cond || fail(`${name}: ${what}`);
    ok(`backend '${got.backend}' is not '${name}'`, got.backend === name);
    ok(`losses differ from Node cpu by ${gaps.losses} (tolerance ${tol})`, gaps.losses <= tol);
    ok(`logits differ from Node cpu by ${gaps.logits} (tolerance ${tol})`, gaps.logits <= tol);
    ok(`Node's file over fetch: logits differ by ${gaps.fetched}`, gaps.fetched <= tol);
    ok('the Uint8Array round trip changed the logits', maxAbs(got.logits, got.trainedLogits) === 0);
    ok(
      'the IndexedDB round trip changed the logits',
      maxAbs(got.indexedDbLogits, got.logits) === 0,
    );
    ok(
      `IndexedDB without overwrite: ${got.indexedDbRefusal}`,
      /options\.overwrite expected true/.test(got.indexedDbRefusal),
    );
    ok(
      `file of ${got.bytes} bytes, Node's ${reference.bytes.length}`,
      got.bytes === reference.bytes.length,
    );
    for (const key of ['tokens', 'sampled']) {
      ok(
        `generated (${key}) ${got[key].join(' ')}, Node cpu ${reference[key].join(' ')}`,
        got[key].join() === reference[key].join(),
      );
    }
    console.log(
      `${name.padEnd(6)} ${((Date.now() - started) / 1000).toFixed(1)}s: max |Δ| vs Node cpu: losses ${gaps.losses.toExponential(1)}, logits ${gaps.logits.toExponential(1)}, fetched ${gaps.fetched.toExponential(1)}; greedy ${got.tokens.join(' ')}, sampled ${got.sampled.join(' ')}; ${choice.line}`,
    );
    await page.close();
  }
} finally {
  await browser?.close();
  server?.close();
  rmSync(work, { recursive: true, force: true });
}
if (failed) {
  console.error('browser suite: failed');
  process.exit(1);
}
console.log('browser suite: ok');
