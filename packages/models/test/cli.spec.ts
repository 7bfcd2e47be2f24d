import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { CharTokenizer, IdTokenizer, getPreset } from '@attnkit/models';
import { presetsCommand, trainCommand } from '@attnkit/models/cli';
import { capture } from './capture-io';

const tmp = () => fs.mkdtempSync(path.join(os.tmpdir(), 'attnkit-cli-'));

describe('attnkit CLI errors (in-process)', () => {
  it('lists the known presets when the preset is unknown', async () => {
    const out = tmp();
    await expect(trainCommand({ preset: 'nope', out, backend: 'cpu' }, capture())).rejects.toThrow(
      /'gpt-tiny', 'hymba-lm-tiny', 'knn-lm-tiny', 'landmark-lm-tiny', 'llama-tiny', 'mamba-lm-tiny'/,
    );
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('names the JSON path of a bad config field', async () => {
    const out = tmp();
    const file = path.join(out, 'bad.json');
    fs.writeFileSync(
      file,
      JSON.stringify({
        type: 'decoder-lm',
        vocabSize: 10,
        dModel: 8,
        numLayers: -1,
        maxLength: 8,
        positional: { type: 'nope' },
        block: { mixer: { type: 'mha' }, feedForward: { type: 'mlp' } },
      }),
    );
    await expect(trainCommand({ config: file, out, backend: 'cpu' }, capture())).rejects.toThrow(
      /\$\.numLayers/,
    );
    fs.writeFileSync(
      file,
      JSON.stringify({
        type: 'decoder-lm',
        vocabSize: 10,
        dModel: 8,
        numLayers: 1,
        maxLength: 8,
        positional: { type: 'rotary' },
        colour: 1,
        block: { mixer: { type: 'mha' }, feedForward: { type: 'mlp' } },
      }),
    );
    await expect(trainCommand({ config: file, out, backend: 'cpu' }, capture())).rejects.toThrow(
      /unknown option 'colour'/,
    );
  });

  it('refuses a missing or empty data file, and --task with --data', async () => {
    const out = tmp();
    await expect(
      trainCommand({ data: path.join(out, 'none.txt'), out }, capture()),
    ).rejects.toThrow(/does not exist/);
    fs.writeFileSync(path.join(out, 'empty.txt'), '');
    await expect(
      trainCommand({ data: path.join(out, 'empty.txt'), out }, capture()),
    ).rejects.toThrow(/is empty/);
    await expect(trainCommand({ data: 'x', task: 'mqar', out }, capture())).rejects.toThrow(
      /not both/,
    );
  });

  it('refuses an existing run directory unless --overwrite or --resume, and keeps it', async () => {
    const out = tmp();
    const run = path.join(out, 'mine');
    fs.mkdirSync(run);
    fs.writeFileSync(path.join(run, 'keep.txt'), 'precious');
    await expect(trainCommand({ name: 'mine', out }, capture())).rejects.toThrow(
      /--resume .* --overwrite/,
    );
    expect(fs.readFileSync(path.join(run, 'keep.txt'), 'utf8')).toBe('precious');
    await expect(trainCommand({ name: 'other', out, resume: true }, capture())).rejects.toThrow(
      /does not exist/,
    );
    await expect(trainCommand({ name: 'bad/name', out }, capture())).rejects.toThrow(/--name/);
  });

  it("names characters outside a saved run's tokenizer, changing nothing", async () => {
    const out = tmp();
    const run = path.join(out, 'chars');
    fs.mkdirSync(run);
    fs.writeFileSync(
      path.join(run, 'tokenizer.json'),
      JSON.stringify(CharTokenizer.train('abc ').toJSON()),
    );
    fs.writeFileSync(
      path.join(run, 'run.json'),
      JSON.stringify({ seqLen: 4, batchSize: 2, lr: 1e-3, steps: 2, seed: 0 }),
    );
    // The tokenizer's vocabulary is the model's, as in a run train wrote (a mismatch is refused).
    const config = { ...getPreset('gpt-tiny'), vocabSize: 4 };
    fs.writeFileSync(path.join(run, 'config.json'), JSON.stringify(config));
    const data = path.join(out, 'data.txt');
    fs.writeFileSync(data, 'abc abd');
    const before = fs.readdirSync(run).sort();
    await expect(
      trainCommand({ data, name: 'chars', out, resume: true }, capture()),
    ).rejects.toThrow(/"d" \(U\+0064\) at offset 6/);
    expect(fs.readdirSync(run).sort()).toEqual(before);
    expect(new IdTokenizer(3).encode('2')).toEqual([2]);
  });

  it('refuses models it cannot train, conflicting flags and unknown backends', async () => {
    const out = tmp();
    const layer = path.join(out, 'layer.json');
    fs.writeFileSync(layer, JSON.stringify({ type: 'linear', inFeatures: 2, outFeatures: 2 }));
    await expect(trainCommand({ config: layer, out }, capture())).rejects.toThrow(
      /--config .*layer.json is a 'linear' model; attnkit train trains models of type 'decoder-lm', 'encoder', 'encoder-decoder', 'vit'/,
    );
    fs.rmSync(layer);
    await expect(
      trainCommand({ preset: 'gpt-tiny', config: 'x.json', out }, capture()),
    ).rejects.toThrow(/--preset or --config, not both/);
    await expect(
      trainCommand({ name: 'x', resume: true, overwrite: true, out }, capture()),
    ).rejects.toThrow(/--resume or --overwrite, not both/);
    await expect(trainCommand({ backend: 'gpu9000', out }, capture())).rejects.toThrow(
      /--backend expected one of .*wasm, cpu, got 'gpu9000'/,
    );
    expect(fs.readdirSync(out)).toEqual([]);
  });

  it('lists presets', () => {
    const io = capture();
    expect(presetsCommand({}, io)).toEqual([
      'based-lm-tiny',
      'bert-tiny',
      'gla-lm-tiny',
      'gpt-tiny',
      'hymba-lm-tiny',
      'knn-lm-tiny',
      'landmark-lm-tiny',
      'llama-tiny',
      'mamba-lm-tiny',
      'masformer-lm-tiny',
      'moba-lm-tiny',
      'moe-lm-tiny',
      'moh-lm-tiny',
      'moh-vit-tiny',
      'neighborhood-vit-tiny',
      'rmt-lm-tiny',
      'seq2seq-tiny',
      'titans-mac-tiny',
      'titans-mag-tiny',
      'titans-mal-tiny',
      'vit-tiny',
    ]);
    expect(io.lines.find((l) => l.startsWith('llama-tiny '))).toMatch(/^llama-tiny\s+decoder-lm/);
  });
});
