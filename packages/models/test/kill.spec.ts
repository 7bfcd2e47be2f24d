// Kill test (issue 16): a child process writing saveModule pairs or checkpoints over and over is
// SIGKILLed at random moments, many times. After each kill, what loads is a complete state, the
// one last reported written or the one being written (never older, never a mix), and the next
// write leaves no temporaries. Bounded in time: ATTNKIT_KILL_SECONDS per kind (default 20;
// about 15-20 kills each on two cores), more kills with a larger value.
import { spawn } from 'node:child_process';
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { build as esbuild } from 'esbuild';
import { type MLP, loadModule, saveModule } from '@attnkit/core';
import { loadCheckpoint, readCheckpointInfo, saveCheckpoint } from '@attnkit/models/node';
import { killPadding, killTrainer, killVariant } from './kill/variants';
import { describeWithBlocks } from './blocks-ready';

const SECONDS = Number(process.env.ATTNKIT_KILL_SECONDS ?? 20);
const repo = path.resolve(__dirname, '../../..');

let root: string;
let bundle: string;
beforeAll(async () => {
  root = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-kill-'));
  bundle = path.join(root, 'child.cjs');
  await esbuild({
    entryPoints: [path.join(__dirname, 'kill', 'child.ts')],
    bundle: true,
    platform: 'node',
    format: 'cjs',
    outfile: bundle,
    logLevel: 'error',
    // Keep every registration (the packages declare sideEffects: false for their users).
    ignoreAnnotations: true,
    // One tfjs for the child: the packages, and the gradients bundled as jest's setup does.
    external: ['@tensorflow/tfjs-core', '@tensorflow/tfjs-backend-cpu', 'zod'],
    plugins: [
      {
        name: 'attnkit-from-source',
        setup(b) {
          b.onResolve({ filter: /register_all_gradients/ }, () => ({
            path: path.join(repo, 'node_modules/.cache/attnkit/tfjs-gradients-public.cjs'),
          }));
          // @attnkit/<pkg> -> src/index.ts, @attnkit/models/node -> src/node.ts
          b.onResolve({ filter: /^@attnkit\/[a-z-]+(\/node)?$/ }, (a) => {
            const [pkg, sub] = a.path.slice('@attnkit/'.length).split('/');
            return { path: path.join(repo, 'packages', pkg!, 'src', `${sub ?? 'index'}.ts`) };
          });
        },
      },
    ],
  });
}, 120_000);
afterAll(() => fs.rmSync(root, { recursive: true, force: true }));

/**
 * Runs the child until its first completed write, kills it (SIGKILL) `delay` ms later, and
 * returns the last write it reported complete.
 */
function killOnce(mode: 'save' | 'checkpoint', dir: string, delay: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [bundle, mode, dir], {
      stdio: ['ignore', 'pipe', 'pipe'],
      // The bundle lives in a temp dir: resolve its external packages from the repo.
      env: { ...process.env, NODE_PATH: path.join(repo, 'node_modules') },
    });
    let last = 0;
    let out = '';
    let err = '';
    let killed = false;
    child.stdout.on('data', (chunk: Buffer) => {
      out += chunk.toString();
      const lines = out.split('\n');
      out = lines.pop()!;
      for (const line of lines) last = Math.max(last, Number(/^saved (\d+)$/.exec(line)?.[1]));
      if (last > 0 && !killed) {
        killed = true;
        setTimeout(() => child.kill('SIGKILL'), delay);
      }
    });
    child.stderr.on('data', (chunk: Buffer) => (err += chunk.toString()));
    child.on('error', reject);
    child.on('close', (code, signal) => {
      if (signal === 'SIGKILL' && killed) resolve(last);
      else reject(new Error(`child ${mode} ended on its own (${code ?? signal}): ${err}`));
    });
  });
}

const temps = (dir: string) => fs.readdirSync(dir).filter((f) => f.startsWith('.'));
function sameModule(a: MLP, b: MLP): boolean {
  if (JSON.stringify(a.config) !== JSON.stringify(b.config)) return false;
  const [pa, pb] = [a.namedParameters(), b.namedParameters()];
  return [...pa].every(([name, v]) => {
    const [x, y] = [v.dataSync(), pb.get(name)?.dataSync()];
    return y !== undefined && x.length === y.length && x.every((value, i) => value === y[i]);
  });
}

// The child runs on cpu whatever the spec's backend: run it once, in the cpu pass of CI.
const onCpuRun = (process.env.ATTNKIT_TEST_BACKEND ?? 'cpu') === 'cpu';

(onCpuRun ? describeWithBlocks : describe.skip)('kill test', () => {
  it(
    'saveModule: after a kill anywhere, the pair that loads is the last written or the next, whole',
    async () => {
      const dir = path.join(root, 'model');
      await saveModule(dir, killVariant(0));
      const started = Date.now();
      let kills = 0;
      while (kills < 3 || Date.now() - started < SECONDS * 1000) {
        const last = await killOnce('save', dir, Math.random() * 400);
        kills++;
        const loaded = (await loadModule(dir)) as MLP;
        const matches = [last, last + 1].filter((n) => sameModule(killVariant(n), loaded));
        loaded.dispose();
        expect({ kills, last, matches: matches.length }).toEqual({ kills, last, matches: 1 });
        await saveModule(dir, killVariant(last + 2), { overwrite: true });
        expect(temps(dir)).toEqual([]);
        expect(fs.readdirSync(dir).sort()).toEqual(['config.json', 'model.safetensors']);
      }
      if (process.env.ATTNKIT_KILL_VERBOSE) console.log(`saveModule: ${kills} kills`);
    },
    SECONDS * 1000 + 120_000,
  );

  it(
    'checkpoints: after a kill anywhere, recovery resumes from the last step written or the next',
    async () => {
      const parent = path.join(root, 'run');
      const dir = path.join(parent, 'checkpoint');
      const { model, trainer } = killTrainer();
      const started = Date.now();
      let kills = 0;
      while (kills < 3 || Date.now() - started < SECONDS * 1000) {
        const last = await killOnce('checkpoint', dir, Math.random() * 400);
        kills++;
        const step = readCheckpointInfo(dir).step;
        expect({ kills, last, ok: step === last || step === last + 1 }).toEqual({
          kills,
          last,
          ok: true,
        });
        expect(fs.readdirSync(parent)).toEqual(['checkpoint']);
        expect(loadCheckpoint(dir, trainer).step).toBe(step);
        await saveCheckpoint(dir, trainer, killPadding);
        expect(fs.readdirSync(parent)).toEqual(['checkpoint']);
        expect(fs.readdirSync(dir).sort()).toEqual([
          'model.safetensors',
          'optimizer.safetensors',
          'state.json',
        ]);
      }
      if (process.env.ATTNKIT_KILL_VERBOSE) console.log(`checkpoints: ${kills} kills`);
      trainer.dispose();
      model.dispose();
    },
    SECONDS * 1000 + 120_000,
  );
});
