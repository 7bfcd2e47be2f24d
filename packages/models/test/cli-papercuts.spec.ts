// The CLI never surprises (issue 20): every numeric argument checked, --config without the
// fields the data decides, a closed pipe, one-line errors (stack traces with --debug only),
// --version, eval's units.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { PassThrough } from 'node:stream';
import type { Command } from 'commander';
import { evalCommand, main, makeProgram, trainCommand } from '@attnkit/models/cli';
import { quietOnClosedPipe } from '../src/cli/program';
import { version } from '../package.json';
import { describeWithBlocks } from './blocks-ready';
import { capture } from './capture-io';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-papercuts-'));

/** Parses argv with commander's exits turned into rejections; its output kept. */
async function parse(argv: string[]): Promise<{ error?: { code: string }; text: string }> {
  let text = '';
  const cli = makeProgram();
  const quiet = (c: Command) =>
    c
      .exitOverride()
      .configureOutput({ writeOut: (s) => (text += s), writeErr: (s) => (text += s) });
  quiet(cli);
  cli.commands.forEach(quiet);
  try {
    await cli.parseAsync(['node', 'attnkit', ...argv]);
    return { text };
  } catch (e) {
    return { error: e as { code: string }, text };
  }
}

/** Runs `main` with stderr captured. */
async function runMain(argv: string[]): Promise<{ stderr: string; code: number | undefined }> {
  let stderr = '';
  const spy = jest.spyOn(process.stderr, 'write').mockImplementation(((s: string) => {
    stderr += s;
    return true;
  }) as never);
  const before = process.exitCode;
  try {
    await main(['node', 'attnkit', ...argv]);
    return { stderr, code: process.exitCode as number | undefined };
  } finally {
    spy.mockRestore();
    process.exitCode = before;
  }
}

/** Options taking a value that is not a number. */
const TEXT_OPTIONS = ['--stop', '--linear-init', '--embedding-init', '--schedule'];

describe('attnkit arguments', () => {
  it('refuses a bad value of every numeric option of every command, naming the rule', async () => {
    const program = makeProgram();
    let checked = 0;
    for (const command of program.commands) {
      for (const option of command.options) {
        // A numeric option has a parser; a text option takes its value as is.
        if (!option.required || !option.parseArg || TEXT_OPTIONS.includes(option.long!)) continue;
        for (const bad of ['abc', '-1', '', 'Infinity', '1e400']) {
          const { error, text } = await parse([command.name(), option.long!, bad, '--run', 'x']);
          expect([command.name(), option.long, bad, error?.code]).toEqual([
            command.name(),
            option.long,
            bad,
            'commander.invalidArgument',
          ]);
          expect(text).toMatch(/expected (an integer|a number)/);
          expect(text).not.toMatch(/Usage:/); // a one-line hint, not the whole help
        }
        checked++;
      }
    }
    expect(checked).toBeGreaterThanOrEqual(16); // train 8, generate 6, eval 2
  });

  it('refuses --batch-size 0 and other zero counts, on the command line and in process', async () => {
    for (const flag of ['--batch-size', '--steps', '--seq-len']) {
      const { error, text } = await parse(['train', flag, '0']);
      expect(error?.code).toBe('commander.invalidArgument');
      expect(text).toContain(`'0' is invalid. expected an integer >= 1`);
    }
    for (const [flag, value] of [
      ['--top-p', '1.5'],
      ['--top-k', '0'],
      ['--max-tokens', '0'],
    ]) {
      const { error } = await parse(['generate', '--run', 'x', flag!, value!]);
      expect([flag, error?.code]).toEqual([flag, 'commander.invalidArgument']);
    }
    expect((await parse(['train', '--schedule', 'linear'])).text).toContain(
      'expected one of cosine, wsd',
    );
    const out = tmp();
    await expect(trainCommand({ batchSize: 0, out }, capture())).rejects.toThrow(
      'train: --batch-size expected an integer >= 1, got 0',
    );
    await expect(trainCommand({ lr: -1, out }, capture())).rejects.toThrow(
      'train: --lr expected a number > 0, got -1',
    );
    await expect(trainCommand({ steps: 1.5, out }, capture())).rejects.toThrow(/--steps/);
    await expect(trainCommand({ schedule: 'x' as never, out }, capture())).rejects.toThrow(
      /--schedule expected one of cosine, wsd, got 'x'/,
    );
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('prints the version with --version', async () => {
    const { error, text } = await parse(['--version']);
    expect(error?.code).toBe('commander.version');
    expect(text.trim()).toBe(version);
  });

  it('ends quietly when the reader closes the pipe (| head -1), and rethrows other errors', () => {
    const stream = new PassThrough();
    const exit = jest.fn();
    quietOnClosedPipe(stream, exit);
    stream.emit('error', Object.assign(new Error('write EPIPE'), { code: 'EPIPE' }));
    expect(exit).toHaveBeenCalledWith(0);
    expect(() => stream.emit('error', Object.assign(new Error('disk'), { code: 'EIO' }))).toThrow(
      'disk',
    );
  });
});

describeWithBlocks('attnkit errors and eval output', () => {
  const out = tmp();
  let run = '';
  beforeAll(async () => {
    // The help says vocabSize and maxLength come from the data: a config without them trains.
    const config = path.join(out, 'lm.json');
    fs.writeFileSync(
      config,
      JSON.stringify({
        type: 'decoder-lm',
        dModel: 8,
        numLayers: 1,
        positional: { type: 'learned' },
        block: { mixer: { type: 'mha', numHeads: 2 }, feedForward: { type: 'mlp', hiddenDim: 8 } },
      }),
    );
    const result = await trainCommand(
      { config, out, steps: 2, batchSize: 2, backend: 'cpu', json: true, name: 'lm' },
      capture(),
    );
    run = result.runDir;
  });

  it('train --config takes vocabSize and maxLength from the data', () => {
    const config = JSON.parse(fs.readFileSync(path.join(run, 'config.json'), 'utf8'));
    const tokenizer = JSON.parse(fs.readFileSync(path.join(run, 'tokenizer.json'), 'utf8'));
    expect(config.vocabSize).toBe(tokenizer.vocabSize);
    expect(config.maxLength).toBeGreaterThan(1);
  });

  it('eval prints the loss with its unit, perplexity and accuracy', async () => {
    const io = capture();
    const r = await evalCommand({ run, batches: 1, backend: 'cpu' }, io);
    expect(r.unit).toBe('nats/token');
    expect(r.perplexity).toBeCloseTo(Math.exp(r.loss), 6);
    expect(io.lines).toEqual([
      `loss ${r.loss.toFixed(4)} nats/token  perplexity ${r.perplexity!.toFixed(2)}  accuracy ${r.accuracy!.toFixed(3)}`,
    ]);
  });

  it('a truncated model.safetensors prints one line; the stack trace only with --debug', async () => {
    const broken = path.join(out, 'broken');
    fs.cpSync(run, broken, { recursive: true });
    const file = path.join(broken, 'model.safetensors');
    fs.writeFileSync(file, fs.readFileSync(file).subarray(0, 100));
    const plain = await runMain(['eval', '--run', broken, '--backend', 'cpu']);
    // Besides the backend notice ('attnkit: using backend ...'), one line.
    const lines = (s: string) =>
      s
        .trim()
        .split('\n')
        .filter((l) => !l.startsWith('attnkit: '));
    expect(plain.code).toBe(1);
    expect(lines(plain.stderr)).toHaveLength(1);
    expect(lines(plain.stderr)[0]).toMatch(/^error: .*model\.safetensors.*header length/);
    const debug = await runMain(['eval', '--run', broken, '--backend', 'cpu', '--debug']);
    expect(lines(debug.stderr)[0]).toBe(lines(plain.stderr)[0]);
    expect(debug.stderr).toMatch(/\n\s+at /);
  });
});
