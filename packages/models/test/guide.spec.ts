import * as fs from 'node:fs';
import * as path from 'node:path';
import { Rng, build } from '@attnkit/core';
import { describeWithBlocks } from './blocks-ready';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const root = path.join(__dirname, '../../..');
const guide = path.join(root, 'docs/guide-assemble.md');

describeWithBlocks('docs/guide-assemble.md', () => {
  it('runs the hybrid example as written, in under 30 lines', async () => {
    const lines: string[] = await runDocExample(guide, 0, require);
    expect(lines).toEqual(['1,3,256 sliding-window,sliding-window,sliding-window,gqa', '8']);
    const code = fs.readFileSync(guide, 'utf8').match(/```ts\n([\s\S]*?)```/)![1]!;
    expect(code.trim().split('\n').length).toBeLessThan(30);
  });

  it('quotes the error a misspelt option really gives', () => {
    const text = fs.readFileSync(guide, 'utf8');
    const quoted = text.match(/fails with\s+`([^`]+)`/)![1]!;
    const config = {
      type: 'decoder-lm',
      vocabSize: 256,
      dModel: 64,
      numLayers: 4,
      maxLength: 128,
      positional: { type: 'rotary', headDim: 16 },
      block: {
        mixer: { type: 'sliding-window', numHeads: 4, window: 32 },
        feedForward: { type: 'swiglu', hiddenDim: 128 },
      },
      layerOverrides: { 3: { mixer: { type: 'gqa', numHeads: 4, numKvHeads: 2, qkNrom: 'rms' } } },
    };
    expect(() => build(config, { rng: new Rng(0) })).toThrow(quoted);
  });
});

describeWithBlocks('packages/models/README.md', () => {
  it('runs the package example as written', async () => {
    const lines: string[] = await runDocExample(
      path.join(root, 'packages/models/README.md'),
      0,
      require,
    );
    expect(lines).toHaveLength(2);
    expect(Number(lines[0])).toBeGreaterThanOrEqual(0);
  });
});
