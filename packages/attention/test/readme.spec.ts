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
