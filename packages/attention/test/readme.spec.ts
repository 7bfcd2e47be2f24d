import * as path from 'node:path';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const readme = path.join(__dirname, '../README.md');

describe('packages/attention/README.md', () => {
  it('runs the example as written: decoding equals the forward, chunked SDPA', async () => {
    const lines: string[] = await runDocExample(readme, 0, require);
    expect(Number(lines[0])).toBeLessThan(1e-4);
    expect(lines[1]).toBe('1,8,256,64');
  });
});

describe('packages/attention/README.md, block-sparse attention', () => {
  it('runs the example as written: selection, output and log-sum-exp shapes', async () => {
    const lines: string[] = await runDocExample(readme, 1, require);
    expect(lines[0]).toBe('1,2,4,2 1,2,256,16 1,2,256');
  });
});

describe('packages/attention/README.md, linear attention', () => {
  it('runs the example as written: shapes of the output and the state', async () => {
    const lines: string[] = await runDocExample(readme, 2, require);
    expect(lines[0]).toBe('1,4,32,16 1,4,16,16');
  });
});

describe('packages/attention/README.md, scans', () => {
  it('runs the example as written: continuing from the state equals one call', async () => {
    const lines: string[] = await runDocExample(readme, 3, require);
    expect(lines[0]).toBe('2,10,4,8 true');
  });
});
