import * as path from 'node:path';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const readme = path.join(__dirname, '../README.md');

describe('packages/models/README.md', () => {
  it('runs the example as written: a few training steps, an evaluation, one generated token', async () => {
    const [accuracy, token] = (await runDocExample(readme, 0, require)) as string[];
    expect(Number(accuracy)).toBeGreaterThanOrEqual(0);
    expect(Number(accuracy)).toBeLessThanOrEqual(1);
    expect(Number.isInteger(Number(token))).toBe(true);
  });
});

describe('packages/models/README.md, One call', () => {
  it('runs fromPreset, summary and fromPretrained as written', async () => {
    const [counts, roundTrip, header] = (await runDocExample(readme, 3, require)) as string[];
    const [total, active, shape] = counts!.split(' ');
    expect(Number(total)).toBeGreaterThan(0);
    expect(active).toBe(total);
    // [batch, inputLength, vocabSize]: the tokenizer of 'hello world' has 8 symbols.
    expect(shape).toBe('1x8x8');
    expect(roundTrip).toBe('hello true');
    expect(header).toMatch(/^layer\s+type\s+output shape/);
  });
});
