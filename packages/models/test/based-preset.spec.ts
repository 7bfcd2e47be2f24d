import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Io } from '@attnkit/models';
import { generateCommand, getPreset, trainCommand } from '@attnkit/models';
import { describeWithBlocks } from './blocks-ready';

const capture = (): Io & { lines: string[] } => {
  const lines: string[] = [];
  const errStream = { write: () => true } as unknown as NodeJS.WriteStream;
  return { lines, out: (l) => lines.push(l), errStream, isTTY: false };
};

describeWithBlocks('based-lm-tiny preset', () => {
  it('is a decoder-lm of based mixers that attnkit train trains and attnkit generate decodes', async () => {
    const preset = getPreset('based-lm-tiny') as unknown as { block: { mixer: { type: string } } };
    expect(preset.block.mixer.type).toBe('based');
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-based-'));
    const data = path.join(out, 'text.txt');
    fs.writeFileSync(data, 'abcabd abcabd abcabd\n'.repeat(8));
    // The preset shrunk to spec size (the full one trains the same way, only slower on cpu).
    const small = {
      ...preset,
      dModel: 16,
      numLayers: 1,
      positional: { type: 'rotary', headDim: 8 },
    };
    const mixer = { type: 'based', numHeads: 2, featureDim: 4, window: 4 };
    const config = path.join(out, 'based.json');
    fs.writeFileSync(config, JSON.stringify({ ...small, block: { ...preset.block, mixer } }));
    try {
      const { runDir } = await trainCommand(
        { config, data, out, steps: 2, batchSize: 2, seqLen: 12, backend: 'cpu' },
        capture(),
      );
      const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as {
        block: { mixer: { type: string } };
      };
      expect(saved.block.mixer.type).toBe('based');
      const text = await generateCommand(
        { run: runDir, prompt: 'abc', maxTokens: 10, seed: 1, backend: 'cpu' },
        capture(),
      );
      expect(text).toHaveLength(10); // past the 4-token window: the cache is evicting
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  });
});
