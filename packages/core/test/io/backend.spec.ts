import * as tf from '@tensorflow/tfjs-core';
import { MathBackendCPU } from '@tensorflow/tfjs-backend-cpu';
import {
  BACKEND_ORDER,
  BROWSER_BACKEND_ORDER,
  ConfigError,
  Linear,
  initBackend,
  isNodeRuntime,
} from '@attnkit/core';

const NOT_FOUND = (m: string) =>
  Object.assign(new Error(`Cannot find module '${m}'`), { code: 'MODULE_NOT_FOUND' });

/** A cpu backend whose synchronous reads return zeros (WebGPU on SwiftShader does this). */
class ZeroReads extends MathBackendCPU {
  override readSync(dataId: object): tf.backend_util.BackendValues {
    const values = super.readSync(dataId);
    return values instanceof Float32Array ? new Float32Array(values.length) : values;
  }
}

/** Registers a cpu-backed backend under `name`, as tfjs-node would register 'tensorflow'. */
function registerFake(name: string, make: () => MathBackendCPU = () => new MathBackendCPU()): void {
  if (tf.findBackendFactory(name)) return;
  tf.registerBackend(name, make);
  for (const kernel of tf.getKernelsForBackend('cpu'))
    tf.registerKernel({ ...kernel, backendName: name });
}

function removeFake(name: string): void {
  if (!tf.findBackendFactory(name)) return;
  for (const kernel of tf.getKernelsForBackend(name)) tf.unregisterKernel(kernel.kernelName, name);
  tf.removeBackend(name);
}

/** A test double for `import()`: modules in `provides` load (running their effect), others are missing. */
function importer(provides: Record<string, () => unknown>, calls: string[] = []) {
  return async (moduleName: string): Promise<unknown> => {
    calls.push(moduleName);
    const load = provides[moduleName];
    if (!load) throw NOT_FOUND(moduleName);
    return load();
  };
}

const realImport = (m: string) => import(m);
let initial: string;
beforeAll(() => {
  initial = tf.getBackend();
});
afterEach(async () => {
  await tf.setBackend(initial);
  removeFake('tensorflow');
  removeFake('native');
  removeFake('webgl');
});

// These specs register and remove fake 'tensorflow' and 'native' backends; when the suite runs
// on the real native backend (ATTNKIT_TEST_BACKEND=native) that would remove it, so they run
// on the cpu and wasm runs only.
const describeWithFakes = process.env.ATTNKIT_TEST_BACKEND === 'native' ? describe.skip : describe;

describeWithFakes('initBackend', () => {
  it('prefers tfjs-node-gpu, registered as tensorflow, and computes on it', async () => {
    const lines: string[] = [];
    const calls: string[] = [];
    const choice = await initBackend(undefined, {
      importer: importer({ '@tensorflow/tfjs-node-gpu': () => registerFake('tensorflow') }, calls),
      log: (line) => lines.push(line),
    });
    expect(choice).toEqual({
      name: 'tensorflow-gpu',
      backend: 'tensorflow',
      tried: [{ name: 'tensorflow-gpu', ok: true }],
    });
    expect(calls).toEqual(['@tensorflow/tfjs-node-gpu']);
    expect(tf.getBackend()).toBe('tensorflow');
    const y = tf.matMul(tf.tensor2d([1, 2, 3, 4], [2, 2]), tf.tensor2d([1, 0, 0, 1], [2, 2]));
    expect(Array.from(await y.data())).toEqual([1, 2, 3, 4]);
    tf.dispose(y);
    expect(lines).toEqual(["attnkit: using backend 'tensorflow-gpu' (tfjs 'tensorflow')"]);
  });

  it('falls through a missing or broken package to the next, saying why in one line', async () => {
    const lines: string[] = [];
    const choice = await initBackend(undefined, {
      importer: importer({
        '@tensorflow/tfjs-node': () => registerFake('tensorflow'),
      }),
      log: (line) => lines.push(line),
    });
    expect(choice.name).toBe('tensorflow');
    expect(choice.tried).toEqual([
      { name: 'tensorflow-gpu', ok: false, reason: '@tensorflow/tfjs-node-gpu is not installed' },
      { name: 'tensorflow', ok: true },
    ]);
    expect(lines).toEqual([
      "attnkit: using backend 'tensorflow' (tfjs 'tensorflow'); skipped tensorflow-gpu: @tensorflow/tfjs-node-gpu is not installed",
    ]);

    await tf.setBackend(initial);
    removeFake('tensorflow');
    const broken = await initBackend(['tensorflow-gpu', 'native', 'cpu'], {
      importer: importer({
        '@tensorflow/tfjs-node-gpu': () => {
          throw new Error('libtensorflow.so.2: cannot open shared object file\nmore');
        },
        '@attnkit/backend-native': () => ({}),
        '@tensorflow/tfjs-backend-cpu': () => ({}),
      }),
      log: () => {},
    });
    expect(broken).toEqual({
      name: 'cpu',
      backend: 'cpu',
      tried: [
        {
          name: 'tensorflow-gpu',
          ok: false,
          reason:
            '@tensorflow/tfjs-node-gpu failed to load (libtensorflow.so.2: cannot open shared object file)',
        },
        {
          name: 'native',
          ok: false,
          reason: "@attnkit/backend-native loaded but registered no 'native' backend",
        },
        { name: 'cpu', ok: true },
      ],
    });
  });

  it('skips a backend whose initialisation fails', async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const choice = await initBackend(['native', 'cpu'], {
      importer: importer({
        '@attnkit/backend-native': () =>
          tf.registerBackend('native', () => {
            throw new Error('no addon');
          }),
        '@tensorflow/tfjs-backend-cpu': () => ({}),
      }),
      log: () => {},
    });
    warn.mockRestore();
    expect(choice.tried[0]).toEqual({
      name: 'native',
      ok: false,
      reason: "backend 'native' failed to initialise",
    });
    expect(choice.name).toBe('cpu');
  });

  it('picks wasm over cpu by default when no native package is installed', async () => {
    const info = jest.spyOn(console, 'info').mockImplementation(() => {});
    const real = (m: string) => () => realImport(m);
    const choice = await initBackend(undefined, {
      importer: importer({
        '@tensorflow/tfjs-backend-wasm': real('@tensorflow/tfjs-backend-wasm'),
        '@tensorflow/tfjs-backend-cpu': real('@tensorflow/tfjs-backend-cpu'),
      }),
    });
    expect(BACKEND_ORDER.indexOf('wasm')).toBeLessThan(BACKEND_ORDER.indexOf('cpu'));
    expect(choice.name).toBe('wasm');
    expect(tf.getBackend()).toBe('wasm');
    expect(choice.tried.map((t) => t.ok)).toEqual([false, false, false, true]);
    expect(info).toHaveBeenCalledTimes(1);
    expect(info.mock.calls[0]![0]).toMatch(
      /^attnkit: using backend 'wasm' \(tfjs 'wasm'\); skipped tensorflow-gpu: .*; tensorflow: .*; native: /,
    );
    info.mockRestore();
  });

  it('loads real packages with the default importer', async () => {
    const choice = await initBackend(['wasm', 'cpu'], { log: () => {} });
    expect(choice.name).toBe('wasm');
    const cpu = await initBackend('cpu', { log: () => {} });
    expect([cpu.name, tf.getBackend()]).toEqual(['cpu', 'cpu']);
  });

  it('uses a backend the app registered itself when its import fails (browser bundles)', async () => {
    const choice = await initBackend(['tensorflow-gpu', 'cpu'], {
      importer: importer({}),
      log: () => {},
    });
    expect(choice.name).toBe('cpu');
    expect(choice.tried[0]!.ok).toBe(false);
  });

  it('refuses unknown names and an empty list, and says why when nothing loads', async () => {
    await expect(initBackend('webgl' as never)).rejects.toThrow(ConfigError);
    await expect(initBackend(['cpu', 'tensorflow-cpu' as never])).rejects.toThrow(
      "initBackend: preference expected names from 'tensorflow-gpu', 'tensorflow', 'native', 'wasm', 'cpu', 'webgpu', 'webgl', got 'tensorflow-cpu'",
    );
    await expect(initBackend([])).rejects.toThrow('preference expected one or more of');
    await expect(
      initBackend(['tensorflow-gpu', 'tensorflow'], { importer: importer({}), log: () => {} }),
    ).rejects.toThrow(
      'initBackend: preference expected at least one backend that loads, got tensorflow-gpu: @tensorflow/tfjs-node-gpu is not installed; tensorflow: @tensorflow/tfjs-node is not installed',
    );
    expect(tf.getBackend()).toBe(initial);
  });

  it('in a browser tries webgpu, webgl, wasm, cpu and says which it took', async () => {
    expect(isNodeRuntime()).toBe(true);
    expect([...BROWSER_BACKEND_ORDER]).toEqual(['webgpu', 'webgl', 'wasm', 'cpu']);
    const lines: string[] = [];
    const calls: string[] = [];
    // A browser bundle registers webgl with a static import; bare dynamic imports fail there.
    registerFake('webgl');
    const choice = await initBackend(undefined, {
      runtime: 'browser',
      importer: importer({}, calls),
      log: (line) => lines.push(line),
    });
    expect(calls).toEqual(['@tensorflow/tfjs-backend-webgpu', '@tensorflow/tfjs-backend-webgl']);
    expect([choice.name, choice.backend, tf.getBackend()]).toEqual(['webgl', 'webgl', 'webgl']);
    expect(lines).toEqual([
      "attnkit: using backend 'webgl' (tfjs 'webgl'); skipped webgpu: @tensorflow/tfjs-backend-webgpu is not installed",
    ]);
  });

  it('skips a backend that starts but reads back wrong values', async () => {
    registerFake('native', () => new ZeroReads());
    const choice = await initBackend(['native', 'cpu'], {
      importer: importer({ '@attnkit/backend-native': () => undefined }),
      log: () => {},
    });
    expect(choice.name).toBe('cpu');
    expect(choice.tried[0]).toEqual({
      name: 'native',
      ok: false,
      reason: "backend 'native' reads back wrong values (2*(1+2+3) read as 0)",
    });
  });

  it("silences tfjs' 'running TensorFlow.js in Node.js' banner on the cpu backend", async () => {
    const warn = jest.spyOn(console, 'warn').mockImplementation(() => {});
    const wasProd = tf.env().getBool('PROD');
    const wasTest = tf.env().getBool('IS_TEST');
    tf.env().set('PROD', false);
    tf.env().set('IS_TEST', false);
    try {
      tf.removeBackend('cpu');
      const { MathBackendCPU: Cpu } = await import('@tensorflow/tfjs-backend-cpu');
      tf.registerBackend('cpu', () => new Cpu(), 1);
      await initBackend('cpu', { log: () => {} });
      tf.dispose(tf.ones([2]));
      expect(warn.mock.calls.flat().join(' ')).not.toMatch(/TensorFlow\.js in Node\.js/);
      // a user who sets cpu and builds a module is not greeted either
      tf.removeBackend('cpu');
      tf.registerBackend('cpu', () => new Cpu(), 1);
      await tf.setBackend('cpu');
      new Linear({ type: 'linear', inFeatures: 2, outFeatures: 2 }).dispose();
      expect(warn.mock.calls.flat().join(' ')).not.toMatch(/TensorFlow\.js in Node\.js/);
      // the fresh backend alone would print it: the check above can fail
      const bare = new Cpu();
      bare.write(new Float32Array(1), [1], 'float32');
      expect(warn.mock.calls.flat().join(' ')).toMatch(/TensorFlow\.js in Node\.js/);
      bare.dispose();
    } finally {
      tf.env().set('PROD', wasProd);
      tf.env().set('IS_TEST', wasTest);
      warn.mockRestore();
    }
  });
});
