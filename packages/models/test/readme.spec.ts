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
