import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { listPresets } from '@attnkit/models';
import {
  evalCommand,
  generateCommand,
  infoCommand,
  presetsCommand,
  trainCommand,
} from '@attnkit/models/cli';
import { makeProgram } from '../src/cli/program';
import { describeWithBlocks } from './blocks-ready';
import { capture } from './capture-io';

describe('attnkit --help', () => {
  it('documents every command and its options', async () => {
    const program = makeProgram();
    const names = program.commands.map((c) => c.name());
    expect(names).toEqual(['train', 'generate', 'eval', 'info', 'presets']);
    for (const name of names) {
      let text = '';
      const cli = makeProgram()
        .exitOverride()
        .configureOutput({ writeOut: (s) => (text += s) });
      for (const c of cli.commands)
        c.exitOverride().configureOutput({ writeOut: (s) => (text += s) });
      await expect(cli.parseAsync(['node', 'attnkit', name, '--help'])).rejects.toMatchObject({
        code: 'commander.helpDisplayed',
      });
      expect(text).toContain(`Usage: attnkit ${name}`);
      expect(text).toContain('--json');
      const command = program.commands.find((c) => c.name() === name)!;
      for (const option of command.options) expect(text).toContain(option.long!);
    }
  });
});

describeWithBlocks('attnkit info, presets, generate and eval', () => {
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-commands-'));
  const data = path.join(out, 'text.txt');
  let run = '';
  beforeAll(async () => {
    fs.writeFileSync(data, 'the quick brown fox jumps over the lazy dog\n'.repeat(10));
    const config = path.join(out, 'lm.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        type: 'decoder-lm',
        vocabSize: 1,
        dModel: 8,
        numLayers: 1,
        maxLength: 1,
        positional: { type: 'learned' },
        block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 8 } },
      }),
    );
    const result = await trainCommand(
      { config, data, out, steps: 2, batchSize: 2, seqLen: 12, backend: 'cpu', json: true },
      capture(),
    );
    run = result.runDir;
  });

  it('info: parameters per module add up, with a FLOPs estimate, for every preset', async () => {
    for (const preset of listPresets()) {
      const io = capture();
      const info = await infoCommand({ preset, json: true }, io);
      const sum = Object.values(info.perModule).reduce((a, b) => a + b, 0);
      expect([preset, sum]).toEqual([preset, info.parameters]);
      expect(info.flopsPerToken).toBeGreaterThan(info.parameters / 10);
      expect(JSON.parse(io.lines[0]!)).toEqual(info);
    }
    const text = capture();
    const llama = await infoCommand({ preset: 'llama-tiny' }, text);
    expect(text.lines[0]).toMatch(/^decoder-lm: [\d,]+ parameters, ~[\d,]+ FLOPs per token/);
    expect(text.lines.slice(1).map((l) => l.trim().split(/\s+/)[0])).toEqual(
      Object.keys(llama.perModule),
    );
    // 2 * (weights a token meets, tied head included) + 2 * layers * context * dModel
    const c = { vocab: 65, d: 64, layers: 2, context: 64 };
    const tables = llama.perModule.embed! + (llama.perModule.positional ?? 0);
    expect(llama.flopsPerToken).toBe(
      2 * (llama.parameters - tables + c.vocab * c.d) + 2 * c.layers * c.context * c.d,
    );
    const fromRun = await infoCommand({ run, json: true }, capture());
    expect(fromRun.type).toBe('decoder-lm');
  });

  it('presets: one line per preset, JSON with --json', () => {
    const io = capture();
    const names = presetsCommand({ json: true }, io);
    expect(io.lines.map((l) => (JSON.parse(l) as { name: string }).name)).toEqual(names);
  });

  it('generate streams tokens from a saved run (text and JSON lines), and names bad prompts', async () => {
    let streamed = '';
    const text = await generateCommand(
      { run, prompt: 'the ', maxTokens: 5, temperature: 0.8, seed: 1, backend: 'cpu' },
      capture(),
      (s) => (streamed += s),
    );
    expect(text).toHaveLength(5);
    expect(streamed).toBe(`${text}\n`);
    const io = capture();
    const again = await generateCommand(
      { run, prompt: 'the ', maxTokens: 5, temperature: 0.8, seed: 1, json: true, backend: 'cpu' },
      io,
    );
    expect(again).toBe(text);
    const events = io.lines.map((l) => JSON.parse(l) as { event: string; text: string });
    expect(events.map((e) => e.event)).toEqual([
      'token',
      'token',
      'token',
      'token',
      'token',
      'done',
    ]);
    expect(
      events
        .slice(0, 5)
        .map((e) => e.text)
        .join(''),
    ).toBe(text);
    await expect(
      generateCommand({ run, prompt: 'Zebra', backend: 'cpu' }, capture()),
    ).rejects.toThrow(/"Z" \(U\+005A\) at offset 0/);
    await expect(generateCommand({ run: out, backend: 'cpu' }, capture())).rejects.toThrow(
      /not a run directory/,
    );
  });

  it('eval reports the loss on the run data or another file', async () => {
    const io = capture();
    const result = await evalCommand({ run, batches: 2, json: true, backend: 'cpu' }, io);
    expect(result.loss).toBeGreaterThan(0);
    expect(JSON.parse(io.lines[0]!)).toEqual(result);
    const other = path.join(out, 'other.txt');
    fs.writeFileSync(other, 'a lazy dog jumps over the quick brown fox\n'.repeat(5));
    expect(
      (await evalCommand({ run, data: other, batches: 1, backend: 'cpu' }, capture())).loss,
    ).toBeGreaterThan(0);
    fs.writeFileSync(other, 'QQQQ');
    await expect(evalCommand({ run, data: other, backend: 'cpu' }, capture())).rejects.toThrow(
      /"Q"/,
    );
  });
});
