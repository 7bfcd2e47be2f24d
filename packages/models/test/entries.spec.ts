// The package's entries: the main one holds no CLI and no file-system code (the browser bundle
// check proves it has no Node built-ins), ./node adds files on disk, ./cli the command line.
import * as fs from 'node:fs';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { ConfigError } from '@attnkit/core';
import * as main from '@attnkit/models';
import type { DecoderLM } from '@attnkit/models';
import * as node from '@attnkit/models/node';
import * as cli from '@attnkit/models/cli';
import './blocks-ready';

const NODE_ONLY = ['saveCheckpoint', 'loadCheckpoint', 'readCheckpointInfo', 'exportHuggingFace'];
const CLI_ONLY = [
  'main',
  'trainCommand',
  'generateCommand',
  'evalCommand',
  'CliError',
  'processIo',
];

describe('entries of @attnkit/models', () => {
  it('main leaves out the CLI and Node file I/O; ./node re-exports main with them', () => {
    for (const name of [...NODE_ONLY, ...CLI_ONLY]) expect(name in main).toBe(false);
    for (const name of NODE_ONLY)
      expect(typeof (node as Record<string, unknown>)[name]).toBe('function');
    for (const name of CLI_ONLY) expect((cli as Record<string, unknown>)[name]).toBeDefined();
    // the same objects, not copies: one registry, one class identity
    for (const [name, value] of Object.entries(main)) {
      if (name === 'importHuggingFace') continue; // ./node's also takes a directory
      expect((node as Record<string, unknown>)[name]).toBe(value);
    }
    expect(node.importHuggingFace).not.toBe(main.importHuggingFace);
  });

  it('main imports an HF checkpoint by URL with fetch, and refuses a directory path by name', async () => {
    const dir = path.join(__dirname, 'fixtures/hf/gpt2');
    const realFetch = globalThis.fetch;
    const fetched: string[] = [];
    globalThis.fetch = (async (href: string) => {
      fetched.push(href);
      return new Response(fs.readFileSync(path.join(dir, path.basename(new URL(href).pathname))));
    }) as typeof fetch;
    try {
      const { model, modelType } = await main.importHuggingFace(
        'https://hub.test/gpt2/resolve/main',
      );
      const fromDir = await node.importHuggingFace(dir);
      expect(fetched).toEqual([
        'https://hub.test/gpt2/resolve/main/config.json',
        'https://hub.test/gpt2/resolve/main/model.safetensors',
      ]);
      expect(modelType).toBe('gpt2');
      const ids = tf.tensor2d([[1, 2, 3]], [1, 3], 'int32');
      // Both are decoder LMs (gpt2); the union type needs narrowing before forward.
      const [a, b] = [model, fromDir.model] as DecoderLM[];
      const gap = tf.tidy(
        () => tf.max(tf.abs(tf.sub(a!.forward(ids), b!.forward(ids)))).dataSync()[0],
      );
      expect(gap).toBe(0);
      tf.dispose(ids);
      model.dispose();
      fromDir.model.dispose();
    } finally {
      globalThis.fetch = realFetch;
    }
    await expect(main.importHuggingFace(dir)).rejects.toThrow(ConfigError);
    await expect(main.importHuggingFace(dir)).rejects.toThrow(
      `importHuggingFace: source expected a URL, files or a checkpoint in memory (a directory needs '@attnkit/models/node'), got '${dir}'`,
    );
  });
});
