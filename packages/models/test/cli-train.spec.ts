import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';
import { loadModule } from '@attnkit/core';
import type { DecoderLM } from '@attnkit/models';
import type { Io, TrainOptions } from '@attnkit/models/cli';
import { readCheckpointInfo } from '@attnkit/models/node';
import { trainCommand } from '@attnkit/models/cli';
import { makeProgram } from '../src/cli/program';
import { describeWithBlocks } from './blocks-ready';

function capture(isTTY = false): Io & { lines: string[]; tty: string[] } {
  const lines: string[] = [];
  const tty: string[] = [];
  const errStream = { write: (s: string) => tty.push(s) } as unknown as NodeJS.WriteStream;
  return { lines, tty, out: (l) => lines.push(l), errStream, isTTY };
}

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-train-'));

/** A one-layer model small enough to train a few steps in a spec. */
function tinyConfig(dir: string, dModel = 8): string {
  const file = path.join(dir, `tiny-${dModel}.json`);
  fs.writeFileSync(
    file,
    JSON.stringify({
      type: 'decoder-lm',
      vocabSize: 40,
      dModel,
      numLayers: 1,
      maxLength: 20,
      positional: { type: 'rotary', headDim: 4 },
      block: {
        mixer: { type: 'gqa', numHeads: dModel / 4, numKvHeads: 1 },
        feedForward: { type: 'swiglu', hiddenDim: 16 },
        dropout: 0.1,
      },
    }),
  );
  return file;
}

const base = (out: string): TrainOptions => ({
  config: tinyConfig(out),
  out,
  steps: 6,
  batchSize: 4,
  backend: 'cpu',
});

const metrics = (run: string) =>
  fs
    .readFileSync(path.join(run, 'metrics.jsonl'), 'utf8')
    .trim()
    .split('\n')
    .map((l) => JSON.parse(l) as { step: number; loss: number });

describeWithBlocks('attnkit train (in-process)', () => {
  it('saves a run: config, weights, tokenizer, metrics, loss curve and checkpoint', async () => {
    const out = tmp();
    const io = capture();
    const result = await trainCommand({ ...base(out), name: 'tiny' }, io);
    const run = path.join(out, 'tiny');
    expect(result).toMatchObject({ runDir: run, steps: 6, interrupted: false, backend: 'cpu' });
    expect(result.accuracy).toBeGreaterThanOrEqual(0);
    expect(fs.readdirSync(run).sort()).toEqual([
      'checkpoint',
      'config.json',
      'loss.svg',
      'metrics.jsonl',
      'model.safetensors',
      'run.json',
      'tokenizer.json',
    ]);
    expect(metrics(run).map((m) => m.step)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(fs.readFileSync(path.join(run, 'loss.svg'), 'utf8')).toMatch(/^<svg[\s\S]*<path d="M/);
    const info = JSON.parse(fs.readFileSync(path.join(run, 'run.json'), 'utf8'));
    expect(info).toMatchObject({ task: 'mqar', steps: 6, result: { steps: 6 } });
    expect(readCheckpointInfo(path.join(run, 'checkpoint')).step).toBe(6);
    // config.json + model.safetensors are core's saveModule pair
    const model = await loadModule<DecoderLM>(run);
    expect(model.config.vocabSize).toBe(
      JSON.parse(fs.readFileSync(path.join(run, 'tokenizer.json'), 'utf8')).vocabSize,
    );
    model.dispose();
    // Not a terminal: plain progress lines with loss, throughput and ETA.
    expect(io.lines.some((l) => /^step 6\/6 loss \d+\.\d+ .* tok\/s ETA 0:00$/.test(l))).toBe(true);
    // The summary: what was trained, the accuracy and on what, the time, where, what next.
    expect(io.lines.slice(-4)).toEqual([
      expect.stringMatching(
        /^trained tiny-8 \(decoder-lm, [\d,]+ parameters\) on task mqar for 6 steps on cpu$/,
      ),
      expect.stringMatching(
        /^accuracy \d\.\d{3} on the answer positions of 256 fresh examples \(eval loss \d+\.\d{4} nats\/token\): not learned yet \(below 0\.9\): continue with --name tiny --resume --steps 12$/,
      ),
      expect.stringMatching(/^saved .* in \d+\.\d s \(training \d+\.\d s\)$/),
      expect.stringMatching(
        /^next: attnkit generate --run \S+tiny --prompt "[\d ]+" --max-tokens 1; attnkit eval --run \S+tiny$/,
      ),
    ]);
  });

  it('draws a progress bar on a terminal and prints JSON lines with --json', async () => {
    const out = tmp();
    const tty = capture(true);
    await trainCommand({ ...base(out), steps: 3 }, tty);
    expect(tty.tty.join('')).toMatch(/\[#+\] 3\/3 loss \d+\.\d{3} [\d.]+k? tok\/s ETA/);
    const json = capture(true);
    await trainCommand({ ...base(out), steps: 3, json: true }, json);
    const events = json.lines.map((l) => JSON.parse(l) as { event: string });
    expect(events.map((e) => e.event)).toEqual(['step', 'step', 'step', 'done']);
    expect(events[0]).toMatchObject({ step: 1, tokensPerSecond: expect.any(Number) });
    expect(json.tty).toEqual([]); // no bar in JSON mode
  });

  it('numbers default run names instead of refusing, and refuses a taken --name', async () => {
    const out = tmp();
    const a = await trainCommand({ ...base(out), steps: 1 }, capture());
    const b = await trainCommand({ ...base(out), steps: 1 }, capture());
    expect(path.basename(a.runDir)).toBe('tiny-8-mqar');
    expect(path.basename(b.runDir)).toBe('tiny-8-mqar-2');
    await expect(
      trainCommand({ ...base(out), steps: 1, name: 'tiny-8-mqar' }, capture()),
    ).rejects.toThrow(/exists; pass --resume .* or --overwrite/);
    const c = await trainCommand({ ...base(out), steps: 2, overwrite: true }, capture());
    expect(c.runDir).toBe(a.runDir);
    expect(metrics(c.runDir)).toHaveLength(2);
  });

  it('stopped (Ctrl-C) and resumed, it repeats the uninterrupted loss curve exactly', async () => {
    const out = tmp();
    const straight = await trainCommand({ ...base(out), name: 'straight' }, capture());
    const stopSignal = { stop: false };
    const io = capture();
    io.out = (line) => {
      io.lines.push(line);
      if (JSON.parse(line).step === 3) stopSignal.stop = true;
    };
    const first = await trainCommand({ ...base(out), name: 'split', json: true, stopSignal }, io);
    expect(first).toMatchObject({ steps: 3, interrupted: true });
    const split = path.join(out, 'split');
    expect(readCheckpointInfo(path.join(split, 'checkpoint')).step).toBe(3);
    // Resuming needs nothing but the run name: model, data order and settings come from the run.
    const second = await trainCommand(
      { out, name: 'split', resume: true, backend: 'cpu' },
      capture(),
    );
    expect(second.steps).toBe(6);
    expect(metrics(split)).toEqual(metrics(straight.runDir));
  });

  it('a second Ctrl-C quits at once and leaves the last checkpoint whole', async () => {
    const out = tmp();
    const cli = makeProgram().exitOverride();
    const exit = jest.spyOn(process, 'exit').mockImplementation(((code: number) => {
      throw new Error(`exit ${code}`);
    }) as never);
    const write = jest.spyOn(process.stdout, 'write').mockImplementation(((chunk: string) => {
      // Ctrl-C twice while step 3 reports: the checkpoint of step 2 must survive as it was.
      if ((JSON.parse(String(chunk)) as { step?: number }).step === 3) {
        process.emit('SIGINT');
        process.emit('SIGINT');
      }
      return true;
    }) as never);
    const stderr = jest.spyOn(process.stderr, 'write').mockImplementation(() => true);
    try {
      const argv = ['--config', tinyConfig(out), '--out', out, '--name', 'ctrl-c', '--steps', '50'];
      const extra = ['--batch-size', '2', '--backend', 'cpu', '--checkpoint-every', '2', '--json'];
      await expect(cli.parseAsync(['node', 'attnkit', 'train', ...argv, ...extra])).rejects.toThrow(
        'exit 130',
      );
    } finally {
      exit.mockRestore();
      write.mockRestore();
      stderr.mockRestore();
      process.removeAllListeners('SIGINT');
    }
    const info = readCheckpointInfo(path.join(out, 'ctrl-c', 'checkpoint'));
    expect(info.step).toBe(2);
    expect(fs.readdirSync(path.join(out, 'ctrl-c', 'checkpoint')).sort()).toEqual([
      'model.safetensors',
      'optimizer.safetensors',
      'state.json',
    ]);
    // and the run goes on from there
    const resumed = await trainCommand(
      { out, name: 'ctrl-c', resume: true, steps: 4, backend: 'cpu' },
      capture(),
    );
    expect(resumed.steps).toBe(4);
    expect(metrics(path.join(out, 'ctrl-c')).map((m) => m.step)).toEqual([1, 2, 3, 4]);
  });

  it('resumes past damaged metrics.jsonl lines (dropped, not fatal)', async () => {
    const out = tmp();
    await trainCommand({ ...base(out), name: 'm', steps: 2 }, capture());
    const file = path.join(out, 'm', 'metrics.jsonl');
    fs.appendFileSync(file, '{"step": 3, "lo\nnot json\n{"step": "x", "loss": 1}\n[[[[1]]]]\n');
    const resumed = await trainCommand(
      { out, name: 'm', resume: true, steps: 3, backend: 'cpu' },
      capture(),
    );
    expect(resumed.steps).toBe(3);
    expect(metrics(path.join(out, 'm')).map((m) => m.step)).toEqual([1, 2, 3]);
  });

  it('refuses a checkpoint written by another model, changing nothing', async () => {
    const out = tmp();
    await trainCommand({ ...base(out), name: 'a', steps: 2 }, capture());
    await trainCommand(
      { ...base(out), config: tinyConfig(out, 12), name: 'b', steps: 2 },
      capture(),
    );
    const a = path.join(out, 'a');
    fs.rmSync(path.join(a, 'checkpoint'), { recursive: true });
    fs.cpSync(path.join(out, 'b', 'checkpoint'), path.join(a, 'checkpoint'), { recursive: true });
    const before = fs.readFileSync(path.join(a, 'metrics.jsonl'), 'utf8');
    await expect(
      trainCommand({ out, name: 'a', resume: true, steps: 4, backend: 'cpu' }, capture()),
    ).rejects.toThrow(/different model; \$\.dModel expected 8, got 12/);
    expect(fs.readFileSync(path.join(a, 'metrics.jsonl'), 'utf8')).toBe(before);
  });

  it('trains a character model on a text file', async () => {
    const out = tmp();
    const data = path.join(out, 'verse.txt');
    fs.writeFileSync(data, 'to be or not to be, that is the question.\n'.repeat(20));
    const io = capture();
    const config = tinyConfig(out);
    const tensors = tf.memory().numTensors;
    const result = await trainCommand(
      { config, data, out, steps: 3, batchSize: 2, seqLen: 16, backend: 'cpu' },
      io,
    );
    expect(tf.memory().numTensors).toBe(tensors);
    expect(result.accuracy).toBeUndefined();
    expect(result.evalLoss).toBeGreaterThan(0);
    const tokenizer = JSON.parse(
      fs.readFileSync(path.join(result.runDir, 'tokenizer.json'), 'utf8'),
    );
    expect(tokenizer).toMatchObject({ type: 'char' });
    expect(
      io.lines.some((l) => /^eval loss \d+\.\d+ nats\/token on held-out text \(perplexity/.test(l)),
    ).toBe(true);
    expect(io.lines.at(-1)).toMatch(
      /^next: attnkit generate --run \S+ --prompt "[^"]+"; attnkit eval/,
    );
  });
});
