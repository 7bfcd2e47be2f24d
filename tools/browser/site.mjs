// `npm run test:site`: the built docs site (docs/.vitepress/dist, from `npm run docs:build`)
// served locally and visited page by page in Debian's Chromium (headless, playwright-core).
// Fails on any console error, uncaught page error, failed request or HTTP error, and on any
// internal link or #anchor in the rendered pages that leads nowhere. On each live demo
// ([data-demo]) it presses "Run live", waits until the demo is done (it runs in a Web Worker on
// webgl, else wasm, else cpu; WebGL on a software renderer, as here, is passed over for wasm)
// and fails unless the live result matches the precomputed Node one (data-demo-match="true"),
// printing the backend that ran and the largest difference. Saves a screenshot of every page and of every demo under
// site-screenshots/ (gitignored); --update-demo-screenshots also writes the demos' screenshots
// to docs/assets/demos/ (committed, shown in docs/README.md).
//
//   node tools/browser/site.mjs [--pages 4] [--backend wasm] [--no-demos] [--update-demo-screenshots]
//     [--dist docs/.vitepress/dist] [--only <part of a page's path>]
//
// --pages: pages visited at once (one browser); --backend: the demos' backend order (the
// page's ?backend= parameter, e.g. cpu, or webgl to run them on SwiftShader: minutes here),
// default the page's own (webgl, wasm, cpu).
/* global document */ // (inside page.evaluate callbacks)
import { createRequire } from 'node:module';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, readdirSync, rmSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const root = resolve(here, '../..');
const require = createRequire(import.meta.url);
const shots = join(root, 'site-screenshots');
const demoShots = join(root, 'docs/assets/demos');
const CHROMIUM = process.env.CHROMIUM_PATH ?? '/usr/bin/chromium';
const args = process.argv.slice(2);
const option = (name, fallback) => {
  const i = args.indexOf(`--${name}`);
  return i >= 0 ? args[i + 1] : fallback;
};
const dist = resolve(option('dist', join(root, 'docs/.vitepress/dist')));
const parallel = Number(option('pages', 4));
const backend = option('backend');
const runDemos = !args.includes('--no-demos');
const updateDemoShots = args.includes('--update-demo-screenshots');
const only = option('only');
/** Longest a demo may run live (a loaded 2-core machine, webgl on SwiftShader). */
const DEMO_TIMEOUT_MS = 240_000;

if (!existsSync(join(dist, 'index.html'))) {
  console.error(`site test: no ${join(dist, 'index.html')}; run \`npm run docs:build\` first`);
  process.exit(1);
}
if (!existsSync(CHROMIUM)) {
  console.error(`site test: ${CHROMIUM} not found (apt-get install chromium)`);
  process.exit(1);
}

const problems = [];
const fail = (line) => {
  problems.push(line);
  console.error(`FAIL ${line}`);
};

// 1. The site's files, and the URL of each page (cleanUrls: /a/b for a/b.html, /a/ for a/index.html).
function filesOf(dir) {
  return readdirSync(dir).flatMap((name) => {
    const path = join(dir, name);
    return statSync(path).isDirectory() ? filesOf(path) : [path];
  });
}
const files = filesOf(dist).map((f) => `/${relative(dist, f).split(sep).join('/')}`);
const urlOf = (file) => file.replace(/(^|\/)index\.html$/, '$1').replace(/\.html$/, '');
const pages = files
  .filter((f) => f.endsWith('.html') && f !== '/404.html')
  .map(urlOf)
  .filter((u) => !only || u.includes(only));
const fileSet = new Set(files);

/** The file a URL path serves, as a static host with clean URLs does. */
function fileFor(pathname) {
  const p = decodeURIComponent(pathname);
  for (const candidate of [p, `${p}.html`, `${p.replace(/\/?$/, '/')}index.html`]) {
    if (fileSet.has(candidate)) return candidate;
  }
  return undefined;
}

// 2. A static server for dist/.
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.wasm': 'application/wasm',
  '.safetensors': 'application/octet-stream',
  '.txt': 'text/plain',
};
const server = createServer((req, res) => {
  const file = fileFor(new URL(req.url, 'http://x').pathname);
  const body = readFileSync(join(dist, file ?? '404.html'));
  res.writeHead(file ? 200 : 404, {
    'content-type': TYPES[extname(file ?? '.html')] ?? 'application/octet-stream',
    // Hashed assets are immutable (as a static host serves them): each tab parses them once.
    'cache-control': file?.startsWith('/assets/') ? 'max-age=31536000, immutable' : 'no-cache',
  });
  res.end(body);
});
await new Promise((ok) => server.listen(0, '127.0.0.1', ok));
const origin = `http://127.0.0.1:${server.address().port}`;

rmSync(shots, { recursive: true, force: true });
mkdirSync(join(shots, 'demos'), { recursive: true });
if (updateDemoShots) mkdirSync(demoShots, { recursive: true });

// No GPU here. Pages render faster without one (a third less time than compositing through
// SwiftShader), and the demos pass over software WebGL for wasm anyway; asking for webgl or
// webgpu (--backend) gets them on the CPU through SwiftShader, as tools/browser/run.mjs does.
const SWIFTSHADER = [
  '--use-angle=swiftshader',
  '--enable-unsafe-swiftshader',
  '--enable-unsafe-webgpu',
  '--enable-features=Vulkan',
];
const gpuAsked = /webgl|webgpu/.test(backend ?? '');
const { chromium } = require(require.resolve('playwright-core', { paths: [root] }));
const browser = await chromium.launch({
  executablePath: CHROMIUM,
  headless: true,
  args: ['--no-sandbox', ...(gpuAsked ? SWIFTSHADER : ['--disable-gpu'])],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 900 } });
const started = Date.now();

/** Every page's element ids (for anchors) and the internal links it renders. */
const idsByPage = new Map();
const links = [];
const demoReports = [];

/** Presses "Run live" on each demo of the page and waits for its verdict. */
async function runPageDemos(page, url) {
  const names = await page.$$eval('[data-demo]', (els) => els.map((e) => e.dataset.demo));
  for (const name of names) {
    const demo = page.locator(`[data-demo="${name}"]`);
    const t0 = Date.now();
    await demo.locator('[data-demo-run]').click();
    try {
      await page.waitForFunction(
        (n) =>
          ['done', 'error'].includes(
            document.querySelector(`[data-demo="${n}"]`)?.dataset.demoState,
          ),
        name,
        { timeout: DEMO_TIMEOUT_MS, polling: 250 },
      );
    } catch {
      fail(`${url}: demo '${name}' did not finish within ${DEMO_TIMEOUT_MS / 1000} s`);
      continue;
    }
    const { state, match, status } = await demo.evaluate((el) => ({
      state: el.dataset.demoState,
      match: el.dataset.demoMatch,
      status: el.querySelector('.demo-status')?.textContent?.replace(/\s+/g, ' ').trim(),
    }));
    const seconds = ((Date.now() - t0) / 1000).toFixed(1);
    demoReports.push(`demo ${name} (${url}): ${status} [${seconds} s with page overhead]`);
    if (state === 'error') fail(`${url}: demo '${name}' failed: ${status}`);
    else if (match !== 'true') fail(`${url}: demo '${name}' does not match Node: ${status}`);
  }
  return names;
}

/** A screenshot of each demo, without the fixed top bar that would cover its first lines. */
async function screenshotDemos(page, names) {
  if (names.length === 0) return;
  await page.addStyleTag({ content: '.VPNav, .VPLocalNav { display: none !important; }' });
  for (const name of names) {
    const demo = page.locator(`[data-demo="${name}"]`);
    await demo.screenshot({ path: join(shots, 'demos', `${name}.png`) });
    if (updateDemoShots) await demo.screenshot({ path: join(demoShots, `${name}.png`) });
  }
}

const timings = [];

/** A tab that visits pages one after another; its listeners report against the current page. */
async function openTab() {
  const page = await context.newPage();
  const tab = { page, label: '' };
  page.on('console', (m) => {
    if (m.type() === 'error') {
      fail(`${tab.label}: console error: ${m.text()} (${m.location()?.url || 'no location'})`);
    }
  });
  page.on('pageerror', (e) => fail(`${tab.label}: page error: ${e.message}`));
  page.on('requestfailed', (r) => {
    // A navigation cancels what the previous page still had in flight: not the site's failure.
    if (!tab.leaving) fail(`${tab.label}: request failed: ${r.url()} (${r.failure()?.errorText})`);
  });
  page.on('response', (r) => {
    if (r.status() >= 400) fail(`${tab.label}: HTTP ${r.status()} for ${r.url()}`);
  });
  return tab;
}

async function visit(tab, url) {
  const t0 = Date.now();
  const { page } = tab;
  tab.label = url || '/';
  try {
    tab.leaving = true;
    const target = `${origin}${url}${backend ? `?backend=${backend}` : ''}`;
    const response = await page.goto(target, { waitUntil: 'commit' });
    tab.leaving = false;
    if (!response?.ok()) throw new Error(`HTTP ${response?.status()}`);
    await page.waitForLoadState('load');
    // Hydrated: Vue has mounted VitePress's app on the server-rendered HTML (a hydration
    // mismatch is reported as a console error by then).
    await page.waitForFunction(() => document.getElementById('app')?.__vue_app__, null, {
      timeout: 30_000,
    });
    const found = await page.evaluate(() => ({
      ids: [...document.querySelectorAll('[id]')].map((e) => e.id),
      hrefs: [...document.querySelectorAll('a[href]')].map((a) => a.href),
    }));
    idsByPage.set(url, new Set(found.ids));
    for (const href of found.hrefs) links.push({ from: tab.label, href });
    const demos = runDemos ? await runPageDemos(page, tab.label) : [];
    await page.screenshot({
      path: join(shots, `${(url.replace(/\/$/, '/index') || 'index').replace(/^\//, '')}.png`),
    });
    await screenshotDemos(page, demos);
  } catch (error) {
    fail(`${tab.label}: ${error.message.split('\n')[0]}`);
  } finally {
    timings.push({ url: tab.label, ms: Date.now() - t0 });
  }
}

try {
  // Demo pages first: they take longest, and the other pages share the cores meanwhile.
  const demoPages = new Set(
    pages.filter((u) => readFileSync(join(dist, fileFor(u)), 'utf8').includes('data-demo=')),
  );
  const queue = [
    ...pages.filter((u) => demoPages.has(u)),
    ...pages.filter((u) => !demoPages.has(u)),
  ];
  await Promise.all(
    Array.from({ length: parallel }, async () => {
      const tab = await openTab();
      while (queue.length) await visit(tab, queue.shift());
      tab.leaving = true;
      await tab.page.close();
    }),
  );

  // 3. Every internal link names a page or file of the site, and its #anchor an id there.
  let checked = 0;
  for (const { from, href } of links) {
    const url = new URL(href);
    if (url.origin !== origin) continue;
    checked++;
    const file = fileFor(url.pathname);
    if (!file) {
      fail(`${from}: dead link ${url.pathname}${url.hash}`);
      continue;
    }
    const anchor = decodeURIComponent(url.hash.slice(1));
    if (!anchor || !file.endsWith('.html')) continue;
    const ids = idsByPage.get(urlOf(file));
    if (ids && !ids.has(anchor)) fail(`${from}: no #${anchor} on ${urlOf(file) || '/'}`);
  }
  for (const line of demoReports) console.log(line);
  timings.sort((a, b) => b.ms - a.ms);
  const mean = timings.reduce((n, t) => n + t.ms, 0) / Math.max(1, timings.length);
  console.log(
    `site test: ${(mean / 1000).toFixed(2)} s a page on average (${parallel} at once); slowest ${timings
      .slice(0, 3)
      .map((t) => `${t.url} ${(t.ms / 1000).toFixed(1)} s`)
      .join(', ')}`,
  );
  console.log(
    `site test: ${pages.length} pages, ${checked} internal links, ${demoReports.length} demos, in ${((Date.now() - started) / 1000).toFixed(0)} s; screenshots in site-screenshots/`,
  );
} finally {
  await browser.close();
  server.close();
}
if (problems.length) {
  console.error(`site test: ${problems.length} problem(s)`);
  process.exit(1);
}
console.log('site test: ok');
