import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import type { Io } from '@attnkit/models/cli';
import { getPreset } from '@attnkit/models';
import { generateCommand, trainCommand } from '@attnkit/models/cli';
import { describeWithBlocks } from './blocks-ready';

const capture = (): Io & { lines: string[] } => {
  const lines: string[] = [];
  const errStream = { write: () => true } as unknown as NodeJS.WriteStream;
  return { lines, out: (l) => lines.push(l), errStream, isTTY: false };
};

// Each preset shrunk to spec size, with a mixer config small enough to train in seconds.
const cases = [
  ['based-lm-tiny', 'based', { type: 'based', numHeads: 2, featureDim: 4, window: 4 }],
  ['gla-lm-tiny', 'gla', { type: 'gla', numHeads: 2, gateRank: 4 }],
] as const;

describeWithBlocks('linear-family presets', () => {
  it.each(cases)(
    '%s: a decoder-lm of %s mixers that attnkit train trains and attnkit generate decodes',
    async (name, type, mixer) => {
      const preset = getPreset(name) as unknown as {
        block: { mixer: { type: string } };
        positional: object;
      };
      expect(preset.block.mixer.type).toBe(type);
      const out = fs.mkdtempSync(path.join(os.tmpdir(), `attnkit-${type}-`));
      const data = path.join(out, 'text.txt');
      fs.writeFileSync(data, 'abcabd abcabd abcabd\n'.repeat(8));
      // The preset shrunk to spec size (the full one trains the same way, only slower on cpu).
      const small = {
        ...preset,
        dModel: 16,
        numLayers: 1,
        positional: type === 'based' ? { type: 'rotary', headDim: 8 } : preset.positional,
      };
      const config = path.join(out, `${type}.json`);
      fs.writeFileSync(config, JSON.stringify({ ...small, block: { ...preset.block, mixer } }));
      try {
        const { runDir } = await trainCommand(
          { config, data, out, steps: 2, batchSize: 2, seqLen: 12, backend: 'cpu' },
          capture(),
        );
        const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as {
          block: { mixer: { type: string } };
        };
        expect(saved.block.mixer.type).toBe(type);
        const text = await generateCommand(
          { run: runDir, prompt: 'abc', maxTokens: 10, seed: 1, backend: 'cpu' },
          capture(),
        );
        expect(text).toHaveLength(10); // based: past its 4-token window, the cache is evicting
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    },
  );
});
