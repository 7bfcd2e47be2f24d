import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { Rng, build } from '@attnkit/core';
import type { Io } from '@attnkit/models/cli';
import { DecoderLM, getPreset } from '@attnkit/models';
import { generateCommand, trainCommand } from '@attnkit/models/cli';
import { describeWithBlocks } from './blocks-ready';

const capture = (): Io & { lines: string[] } => {
  const lines: string[] = [];
  const errStream = { write: () => true } as unknown as NodeJS.WriteStream;
  return { lines, out: (l) => lines.push(l), errStream, isTTY: false };
};

type Preset = Record<string, unknown> & { block: Record<string, unknown> };

describeWithBlocks('masformer-lm-tiny (Zhang et al. 2023, MASFormer)', () => {
  it('has full attention only in the overridden layers, sliding windows in the rest', () => {
    const preset = getPreset('masformer-lm-tiny') as unknown as Preset;
    const model = build<DecoderLM>(preset, { rng: new Rng(0) });
    const mixers = model.blocks.map((b) => (b.mixer as unknown as { config: object }).config);
    expect(mixers.map((c) => (c as { type: string }).type)).toEqual([
      'sliding-window',
      'mha',
      'sliding-window',
      'sliding-window',
    ]);
    expect((mixers[1] as { window?: number }).window).toBeUndefined();
    model.dispose();
  });

  it('attnkit train trains it and attnkit generate decodes past the window', async () => {
    const preset = getPreset('masformer-lm-tiny') as unknown as Preset;
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-masformer-'));
    const data = path.join(out, 'text.txt');
    fs.writeFileSync(data, 'abcabd abcabd abcabd\n'.repeat(8));
    // Shrunk to spec size: 2 layers (layer 1 full), window 4, dModel 16.
    const small = {
      ...preset,
      dModel: 16,
      numLayers: 2,
      positional: { type: 'rotary', headDim: 8 },
      block: { ...preset.block, mixer: { type: 'sliding-window', numHeads: 2, window: 4 } },
      layerOverrides: { '1': { mixer: { type: 'mha', numHeads: 2 } } },
    };
    const config = path.join(out, 'masformer.json');
    fs.writeFileSync(config, JSON.stringify(small));
    try {
      const { runDir } = await trainCommand(
        { config, data, out, steps: 2, batchSize: 2, seqLen: 12, backend: 'cpu' },
        capture(),
      );
      const text = await generateCommand(
        { run: runDir, prompt: 'abc', maxTokens: 10, seed: 1, backend: 'cpu' },
        capture(),
      );
      expect(text).toHaveLength(10);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
