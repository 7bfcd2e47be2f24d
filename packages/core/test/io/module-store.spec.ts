// saveModule / loadModule through stores: one-file bytes, artifacts, a custom store, a URL
// (fetch double), and the refusals. IndexedDB runs for real in the browser suite
// (tools/browser); here it has to refuse, as Node has none.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import {
  CONFIG_METADATA_KEY,
  ConfigError,
  Linear,
  type ModuleArtifacts,
  type ModuleStore,
  Rng,
  SafetensorsError,
  encodeModule,
  encodeSafetensors,
  loadModule,
  readSafetensorsHeader,
  saveModule,
  urlStore,
} from '@attnkit/core';
import { expectNoLeaks, maxAbsDiff } from '@attnkit/core/testing';

const make = (seed: number) =>
  new Linear({ type: 'linear', inFeatures: 3, outFeatures: 2 }, { rng: new Rng(seed) });
const x = () => tf.tensor2d([[0.5, -1, 2]]);

/** max |a(x) - b(x)| for two linear layers. */
function gap(a: Linear, b: Linear): number {
  return tf.tidy(() => maxAbsDiff(a.forward(x()), b.forward(x())));
}

/** A store that keeps what it was given. */
function memory(): ModuleStore & { saved?: ModuleArtifacts } {
  const store: ModuleStore & { saved?: ModuleArtifacts } = {
    description: 'memory',
    async save(artifacts, { overwrite }) {
      if (store.saved && !overwrite) throw new Error('exists');
      store.saved = artifacts;
    },
    async load() {
      if (!store.saved) throw new Error('empty');
      return store.saved;
    },
  };
  return store;
}

describe('module stores', () => {
  it('encodeModule writes one safetensors file that loadModule rebuilds (Uint8Array, ArrayBuffer, Blob)', async () => {
    const m = make(1);
    const bytes = await encodeModule(m);
    const header = readSafetensorsHeader(bytes);
    expect(JSON.parse(header.metadata[CONFIG_METADATA_KEY]!)).toEqual(m.config);
    expect(header.metadata.type).toBe('linear');
    await expectNoLeaks(async () => {
      const back = (await loadModule(bytes)) as Linear;
      const copy = bytes.slice().buffer as ArrayBuffer;
      const fromBuffer = (await loadModule(copy)) as Linear;
      const fromBlob = (await loadModule(new Blob([copy]))) as Linear;
      expect(gap(m, fromBlob)).toBe(0);
      fromBlob.dispose();
      expect(gap(m, back)).toBe(0);
      expect(gap(m, fromBuffer)).toBe(0);
      const other = make(2);
      expect(gap(m, other)).toBeGreaterThan(0);
      other.dispose();
      back.dispose();
      fromBuffer.dispose();
    });
    m.dispose();
  });

  it('saves to and loads from a store, honouring overwrite; artifacts load directly', async () => {
    const store = memory();
    const a = make(3);
    await saveModule(store, a);
    expect(store.saved!.config).toMatch(/"type": "linear"/);
    await expect(saveModule(store, make(4))).rejects.toThrow('exists');
    const back = (await loadModule(store)) as Linear;
    const direct = (await loadModule(store.saved!)) as Linear;
    expect([gap(a, back), gap(a, direct)]).toEqual([0, 0]);
    for (const m of [a, back, direct]) m.dispose();
  });

  it('a directory save loads from its bytes and over fetch, as one file or as a directory URL', async () => {
    const root = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-store-'));
    const realFetch = globalThis.fetch;
    try {
      const m = make(5);
      await saveModule(root, m);
      fs.writeFileSync(path.join(root, 'one.safetensors'), await encodeModule(m));
      const fetched: string[] = [];
      globalThis.fetch = (async (href: string) => {
        fetched.push(href);
        const file = path.join(root, new URL(href).pathname.replace('/site/', ''));
        if (!fs.existsSync(file)) return new Response('missing', { status: 404 });
        return new Response(fs.readFileSync(file));
      }) as typeof fetch;
      const fromDir = (await loadModule('https://example.test/site/')) as Linear;
      const fromFile = (await loadModule('https://example.test/site/one.safetensors')) as Linear;
      const viaStore = (await loadModule(urlStore('https://example.test/site'))) as Linear;
      expect(fetched).toEqual([
        'https://example.test/site/config.json',
        'https://example.test/site/model.safetensors',
        'https://example.test/site/one.safetensors',
        'https://example.test/site/config.json',
        'https://example.test/site/model.safetensors',
      ]);
      expect([gap(m, fromDir), gap(m, fromFile), gap(m, viaStore)]).toEqual([0, 0, 0]);
      await expect(loadModule('https://example.test/site/none/')).rejects.toThrow(
        "loadModule: url expected a URL that fetches (HTTP 2xx), got 'https://example.test/site/none/config.json' (HTTP 404)",
      );
      // The pair check holds over fetch too: an edited config.json is refused.
      const config = JSON.parse(fs.readFileSync(path.join(root, 'config.json'), 'utf8'));
      fs.writeFileSync(path.join(root, 'config.json'), JSON.stringify({ ...config, bias: true }));
      await expect(loadModule('https://example.test/site/')).rejects.toThrow(SafetensorsError);
      for (const t of [m, fromDir, fromFile, viaStore]) t.dispose();
    } finally {
      globalThis.fetch = realFetch;
      fs.rmSync(root, { recursive: true, force: true });
    }
  });

  it('refuses what it cannot read or write, in one typed line', async () => {
    const m = make(6);
    const plain = await encodeSafetensors(m.stateDict());
    await expect(loadModule(plain)).rejects.toThrow(
      `loadModule: bytes expected a safetensors file with its config in __metadata__.${CONFIG_METADATA_KEY} (encodeModule), got a file without one`,
    );
    await expect(loadModule(new Uint8Array([1, 2, 3]))).rejects.toThrow(SafetensorsError);
    await expect(saveModule('https://example.test/x', m)).rejects.toThrow(
      "saveModule: target expected a store that saves, got 'https://example.test/x' (read only)",
    );
    await expect(saveModule('indexeddb://x', m)).rejects.toThrow(ConfigError);
    await expect(saveModule('indexeddb://x', m)).rejects.toThrow('a runtime with IndexedDB');
    await expect(saveModule('indexeddb://', m)).rejects.toThrow(
      "saveModule: target expected 'indexeddb://<name>', got 'indexeddb://'",
    );
    await expect(loadModule({ description: 'sink', save: async () => {} })).rejects.toThrow(
      "loadModule: source expected a directory, URL, indexeddb:// name, bytes, a Blob or a store that loads, got 'sink' (write only)",
    );
    m.dispose();
  });
});
