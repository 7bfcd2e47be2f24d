import * as path from 'node:path';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const readme = path.join(__dirname, '../README.md');

describe('packages/kernels/README.md', () => {
  it('runs the example as written: a backend kernel registered under the contract name', async () => {
    const lines: string[] = await runDocExample(readme, 0, require);
    // Step 1 of Adam moves each weight by lr against the sign of its gradient.
    expect(lines).toEqual(['0.900 -0.900']);
  });
});
