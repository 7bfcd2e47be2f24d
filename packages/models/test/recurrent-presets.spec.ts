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

// Each preset shrunk to spec size (dModel 16), with a mixer small enough to train in seconds;
// hymba keeps its two layers, window, meta tokens and cross-layer KV sharing.
const cases = [
  ['mamba-lm-tiny', 'mamba', { type: 'mamba', dState: 4, form: 'sequential' }, {}],
  [
    'hymba-lm-tiny',
    'hymba',
    {
      type: 'hymba',
      numHeads: 2,
      numKvHeads: 1,
      dState: 4,
      window: 4,
      metaTokens: 2,
      form: 'sequential',
    },
    { positional: { type: 'rotary', headDim: 16 } },
  ],
] as const;

describeWithBlocks('recurrent presets', () => {
  it.each(cases)(
    '%s: a decoder-lm of %s mixers that attnkit train trains and attnkit generate decodes',
    async (name, type, mixer, extra) => {
      const preset = getPreset(name) as unknown as {
        block: { mixer: { type: string } };
        numLayers: number;
      };
      expect(preset.block.mixer.type).toBe(type);
      const out = fs.mkdtempSync(path.join(os.tmpdir(), `attnkit-${type}-`));
      const data = path.join(out, 'text.txt');
      fs.writeFileSync(data, 'abcabd abcabd abcabd\n'.repeat(8));
      const small = { ...preset, dModel: 16, ...extra, block: { ...preset.block, mixer } };
      const config = path.join(out, `${type}.json`);
      fs.writeFileSync(config, JSON.stringify(small));
      try {
        const { runDir } = await trainCommand(
          { config, data, out, steps: 2, batchSize: 2, seqLen: 12, backend: 'cpu' },
          capture(),
        );
        const saved = JSON.parse(fs.readFileSync(path.join(runDir, 'config.json'), 'utf8')) as {
          block: { mixer: { type: string } };
          kvSharing?: object;
        };
        expect(saved.block.mixer.type).toBe(type);
        expect(saved.kvSharing).toEqual(type === 'hymba' ? { groupSize: 2 } : undefined);
        const text = await generateCommand(
          { run: runDir, prompt: 'abc', maxTokens: 10, seed: 1, backend: 'cpu' },
          capture(),
        );
        expect(text).toHaveLength(10); // hymba: past its 4-token window, the cache is evicting
      } finally {
        fs.rmSync(out, { recursive: true, force: true });
      }
    },
  );
});
