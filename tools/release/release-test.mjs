// Release test: what `npx changeset version` + publish gives a user. In a temporary copy of the
// repository (never the real tree: versioning rewrites package.json files and CHANGELOGs) it runs
// `changeset version`, builds, and publishes every package to a local registry (verdaccio, started
// here on a loopback port, storage in the temp dir; @attnkit/* only from it, everything else
// proxied to the npm registry that `npm config get registry` names). Then a fresh project installs
// each package by name and version from that registry and runs the examples of every package
// README and of docs/guide-assemble.md, each ```ts block as its own program, as written. A block
// preceded by `<!-- release-test: skip (reason) -->` is a fragment, not an example.
//
//   node tools/release/release-test.mjs               build in the copy (as a release does)
//   node tools/release/release-test.mjs --reuse-dist  take the tree's dist/ (after npm run build)
//   KEEP_RELEASE_TEST=1 ...                            keep the temp dir
/* global fetch */
import { execFileSync, spawn } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import ts from 'typescript';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');
const reuseDist = process.argv.includes('--reuse-dist');
const PAGES = ['docs/guide-assemble.md'];
const SKIP = /<!--\s*release-test:\s*skip\b[^>]*-->\s*$/;
const EXAMPLE_TIMEOUT_MS = 180_000;

const work = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-release-test-'));
const copy = path.join(work, 'repo');
const project = path.join(work, 'project');
let registry = null;

function log(line) {
  console.log(`release-test: ${line}`);
}
function run(cmd, args, cwd, options = {}) {
  return execFileSync(cmd, args, {
    cwd,
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
    maxBuffer: 64 << 20,
    ...options,
  });
}
const bin = (name) => path.join(root, 'node_modules', '.bin', name);
const readJson = (file) => JSON.parse(fs.readFileSync(file, 'utf8'));

/** The tree's files (tracked and untracked, not ignored) in `copy`, with node_modules linked. */
function copyTree() {
  const files = run('git', ['ls-files', '-z', '-co', '--exclude-standard'], root)
    .split('\0')
    .filter(Boolean);
  for (const file of files) {
    const from = path.join(root, file);
    const stat = fs.lstatSync(from, { throwIfNoEntry: false });
    if (!stat || stat.isDirectory() || file.split('/').includes('node_modules')) continue;
    fs.mkdirSync(path.dirname(path.join(copy, file)), { recursive: true });
    fs.cpSync(from, path.join(copy, file), { verbatimSymlinks: true });
  }
  // Third-party modules are the tree's; @attnkit/* are the copy's own packages.
  const modules = path.join(copy, 'node_modules');
  fs.mkdirSync(path.join(modules, '@attnkit'), { recursive: true });
  for (const entry of fs.readdirSync(path.join(root, 'node_modules'))) {
    if (entry === '@attnkit') continue;
    fs.symlinkSync(path.join(root, 'node_modules', entry), path.join(modules, entry));
  }
  for (const dir of fs.readdirSync(path.join(copy, 'packages'))) {
    const pkg = path.join(copy, 'packages', dir);
    if (!fs.existsSync(path.join(pkg, 'package.json'))) continue;
    const name = readJson(path.join(pkg, 'package.json')).name;
    if (name.startsWith('@attnkit/')) {
      fs.symlinkSync(pkg, path.join(modules, '@attnkit', name.slice('@attnkit/'.length)));
    }
    const own = path.join(root, 'packages', dir, 'node_modules');
    if (fs.existsSync(own)) fs.symlinkSync(own, path.join(pkg, 'node_modules'));
    if (reuseDist) {
      for (const built of ['dist', 'prebuilds']) {
        const from = path.join(root, 'packages', dir, built);
        if (fs.existsSync(from)) fs.cpSync(from, path.join(pkg, built), { recursive: true });
      }
    }
  }
}

function publicPackages() {
  return fs
    .readdirSync(path.join(copy, 'packages'))
    .map((dir) => path.join(copy, 'packages', dir))
    .filter((dir) => fs.existsSync(path.join(dir, 'package.json')))
    .map((dir) => ({ dir, manifest: readJson(path.join(dir, 'package.json')) }))
    .filter(({ manifest }) => !manifest.private);
}

function freePort() {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address();
      server.close(() => resolve(port));
    });
  });
}

/** verdaccio in a child process (its CLI wants Node 22; its API runs on 20). */
async function startRegistry() {
  const dir = path.join(work, 'registry');
  fs.mkdirSync(dir);
  const uplink =
    run('npm', ['config', 'get', 'registry'], root).trim() || 'https://registry.npmjs.org/';
  fs.writeFileSync(
    path.join(dir, 'config.yaml'),
    [
      `storage: ${JSON.stringify(path.join(dir, 'storage'))}`,
      'auth:',
      '  htpasswd:',
      `    file: ${JSON.stringify(path.join(dir, 'htpasswd'))}`,
      '    max_users: 1',
      'uplinks:',
      '  npm:',
      `    url: ${JSON.stringify(uplink)}`,
      '    timeout: 60s',
      'packages:',
      "  '@attnkit/*':", // no proxy: these come from this registry or not at all
      '    access: $all',
      '    publish: $authenticated',
      "  '**':",
      '    access: $all',
      '    publish: $authenticated',
      '    proxy: npm',
      'log: { type: stdout, format: pretty, level: warn }',
      '',
    ].join('\n'),
  );
  const port = await freePort();
  const url = `http://127.0.0.1:${port}/`;
  const child = spawn(
    process.execPath,
    [
      '--input-type=module',
      '-e',
      `import { runServer } from 'verdaccio';
const app = await runServer(${JSON.stringify(path.join(dir, 'config.yaml'))});
app.listen(${port}, '127.0.0.1', () => console.log('verdaccio listening'));`,
    ],
    { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] },
  );
  const output = [];
  child.stdout.on('data', (d) => output.push(String(d)));
  child.stderr.on('data', (d) => output.push(String(d)));
  registry = { child, url, output };
  const deadline = Date.now() + 90_000;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`verdaccio exited:\n${output.join('')}`);
    try {
      if ((await fetch(`${url}-/ping`)).ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error(`verdaccio did not start:\n${output.join('')}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  // One user, for the publish token.
  const response = await fetch(`${url}-/user/org.couchdb.user:release-test`, {
    method: 'PUT',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'release-test', password: 'release-test-password' }),
  });
  const { token } = await response.json();
  if (!token) throw new Error(`verdaccio refused the user (${response.status})`);
  const npmrc = path.join(work, 'npmrc');
  fs.writeFileSync(npmrc, `registry=${url}\n//127.0.0.1:${port}/:_authToken=${token}\n`);
  log(`registry ${url} (uplink ${uplink})`);
  return { url, npmrc };
}

/** Stops verdaccio: SIGTERM, then SIGKILL if it has not exited within 5 s. */
async function stopRegistry() {
  const child = registry?.child;
  if (!child || child.exitCode !== null || child.signalCode !== null) return;
  const exited = new Promise((resolve) => child.once('exit', resolve));
  child.kill('SIGTERM');
  const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}
/** On exit or a signal there is no time to wait: kill at once. */
function killRegistry() {
  const child = registry?.child;
  if (child && child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
}

/** The ```ts blocks of a page that are examples (not marked as fragments). */
function examples(file) {
  const text = fs.readFileSync(file, 'utf8');
  const found = [];
  for (const m of text.matchAll(/```ts\n([\s\S]*?)```/g)) {
    const before = text.slice(0, m.index).trimEnd();
    const lastLine = before.slice(before.lastIndexOf('\n') + 1);
    found.push({ index: found.length, code: m[1], skip: SKIP.test(lastLine) });
  }
  return found;
}

async function main() {
  log(`working in ${work}`);
  copyTree();

  const before = new Map(publicPackages().map(({ manifest }) => [manifest.name, manifest.version]));
  log('npx changeset version');
  console.log(run(bin('changeset'), ['version'], copy).trim());
  const packages = publicPackages();
  for (const { manifest } of packages) log(`  ${manifest.name}@${manifest.version}`);

  // A build made before `changeset version` is the release build only if it does not carry the
  // version: any dist file naming its package's old version makes this a real build.
  const stale = reuseDist
    ? packages.filter(({ dir, manifest }) => {
        if (!fs.existsSync(path.join(dir, 'dist'))) {
          throw new Error(`--reuse-dist: ${manifest.name} has no dist/ (run npm run build)`);
        }
        const old = JSON.stringify(before.get(manifest.name));
        return fs
          .readdirSync(path.join(dir, 'dist'), { recursive: true })
          .filter((f) => /\.(c?js|d\.c?ts)$/.test(f))
          .some((f) => fs.readFileSync(path.join(dir, 'dist', f), 'utf8').includes(old));
      })
    : packages;
  if (reuseDist && stale.length) {
    log(
      `--reuse-dist: ${stale.map((p) => p.manifest.name).join(', ')} embed their version: building`,
    );
  }
  if (stale.length) {
    log('build');
    run(bin('nx'), ['run-many', '-t', 'build', '--output-style=stream', '--skip-nx-cache'], copy, {
      stdio: ['ignore', 'inherit', 'inherit'],
      env: { ...process.env, NX_DAEMON: 'false', NX_NO_CLOUD: 'true', NX_TUI: 'false' },
    });
  }

  const { url, npmrc } = await startRegistry();
  for (const { dir, manifest } of packages) {
    run('npm', ['publish', '--ignore-scripts', '--userconfig', npmrc, '--registry', url], dir);
    log(`published ${manifest.name}@${manifest.version}`);
  }

  fs.mkdirSync(project);
  fs.writeFileSync(
    path.join(project, 'package.json'),
    JSON.stringify({ name: 'release-test-project', private: true, type: 'module' }, null, 2),
  );
  fs.writeFileSync(path.join(project, '.npmrc'), `registry=${url}\n`);
  const tfjs = readJson(path.join(root, 'node_modules/@tensorflow/tfjs-core/package.json')).version;
  const specs = [
    ...packages.map(({ manifest }) => `${manifest.name}@${manifest.version}`),
    `@tensorflow/tfjs-core@${tfjs}`,
    `@tensorflow/tfjs-backend-cpu@${tfjs}`,
  ];
  log(`npm install ${specs.join(' ')}`);
  run('npm', ['install', '--no-audit', '--no-fund', '--userconfig', npmrc, ...specs], project, {
    stdio: ['ignore', 'inherit', 'inherit'],
  });
  for (const { manifest } of packages) {
    const installed = readJson(path.join(project, 'node_modules', manifest.name, 'package.json'));
    if (installed.version !== manifest.version) {
      throw new Error(
        `${manifest.name}: installed ${installed.version}, published ${manifest.version}`,
      );
    }
  }

  const pages = [
    ...packages.map(({ dir }) => path.relative(copy, path.join(dir, 'README.md'))),
    ...PAGES,
  ];
  const failures = [];
  let ran = 0;
  for (const page of pages) {
    const file = path.join(copy, page);
    if (!fs.existsSync(file)) continue;
    for (const { index, code, skip } of examples(file)) {
      const label = `${page} example ${index + 1}`;
      if (skip) {
        log(`skip ${label} (marked as a fragment)`);
        continue;
      }
      const { outputText } = ts.transpileModule(code, {
        compilerOptions: { module: ts.ModuleKind.ESNext, target: ts.ScriptTarget.ES2022 },
      });
      const program = path.join(project, `${page.replace(/[/.]/g, '_')}_${index + 1}.mjs`);
      fs.writeFileSync(program, outputText);
      const started = Date.now();
      try {
        run(process.execPath, [program], project, { timeout: EXAMPLE_TIMEOUT_MS });
        log(`ok   ${label} (${((Date.now() - started) / 1000).toFixed(1)}s)`);
        ran++;
      } catch (error) {
        const out = `${error.stdout ?? ''}${error.stderr ?? ''}`.trim().split('\n').slice(-15);
        console.error(`release-test: FAIL ${label}\n  ${out.join('\n  ')}`);
        failures.push(label);
      }
    }
  }
  if (failures.length)
    throw new Error(`${failures.length} example(s) failed: ${failures.join('; ')}`);
  log(`${packages.length} package(s) published and installed, ${ran} example(s) ran`);
}

let code = 0;
for (const signal of ['SIGINT', 'SIGTERM']) {
  process.on(signal, () => {
    killRegistry();
    process.exit(130);
  });
}
process.on('exit', killRegistry);
try {
  await main();
} catch (error) {
  console.error(
    `release-test: ${error.stderr ? `${error.message}\n${error.stderr}` : error.message}`,
  );
  code = 1;
} finally {
  await stopRegistry();
  if (!process.env.KEEP_RELEASE_TEST) fs.rmSync(work, { recursive: true, force: true });
}
process.exit(code);
