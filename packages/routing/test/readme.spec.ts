import * as path from 'node:path';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const readme = path.join(__dirname, '../README.md');

describe('packages/routing/README.md', () => {
  it('runs the MoE example as written', async () => {
    const lines: string[] = await runDocExample(readme, 0, require);
    expect(lines).toHaveLength(1);
  });

  it('runs the MoH example as written', async () => {
    const lines: string[] = await runDocExample(readme, 1, require);
    expect(lines).toHaveLength(1);
  });
});
