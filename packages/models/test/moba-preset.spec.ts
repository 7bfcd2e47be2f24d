import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { createTask, getPreset } from '@attnkit/models';
import { generateCommand, trainCommand } from '@attnkit/models/cli';
import { capture } from './capture-io';
import { describeWithBlocks } from './blocks-ready';

describeWithBlocks('moba-lm-tiny preset', () => {
  it('is sparse at the default MQAR length: topK blocks of blockSize cover fewer keys than the sequence', () => {
    const preset = getPreset('moba-lm-tiny') as unknown as {
      block: { mixer: { type: string; blockSize: number; topK: number } };
    };
    const { type, blockSize, topK } = preset.block.mixer;
    expect(type).toBe('moba');
    const seqLen = createTask('mqar').seqLen;
    expect(Math.ceil(seqLen / blockSize)).toBeGreaterThan(topK);
  });

  it('attnkit train trains it on MQAR and attnkit generate decodes the saved run', async () => {
    const out = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-moba-'));
    // The preset shrunk to spec size, its MoBA block layout kept (the full one trains the same way).
    const preset = getPreset('moba-lm-tiny') as unknown as { block: { mixer: object } };
    const config = path.join(out, 'moba-small.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        ...preset,
        dModel: 16,
        numLayers: 1,
        positional: { type: 'rotary', headDim: 8 },
        block: { ...preset.block, mixer: { ...preset.block.mixer, numHeads: 2 } },
      }),
    );
    try {
      const io = capture();
      const result = await trainCommand(
        { config, task: 'mqar', out, steps: 3, batchSize: 4, backend: 'cpu' },
        io,
      );
      expect(result).toMatchObject({ steps: 3, interrupted: false });
      expect(Number.isFinite(result.evalLoss)).toBe(true);
      const metrics = fs
        .readFileSync(path.join(result.runDir, 'metrics.jsonl'), 'utf8')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as { loss: number });
      expect(metrics).toHaveLength(3);
      for (const m of metrics) expect(Number.isFinite(m.loss)).toBe(true);
      const saved = JSON.parse(
        fs.readFileSync(path.join(result.runDir, 'config.json'), 'utf8'),
      ) as { block: { mixer: { type: string } } };
      expect(saved.block.mixer.type).toBe('moba');
      const text = await generateCommand(
        { run: result.runDir, prompt: '1 9 2 10', maxTokens: 6, seed: 1, backend: 'cpu' },
        capture(),
        () => true,
      );
      expect(text.trim().split(/\s+/)).toHaveLength(6);
    } finally {
      fs.rmSync(out, { recursive: true, force: true });
    }
  }, 60_000);
});
