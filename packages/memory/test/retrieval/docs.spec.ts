import * as path from 'node:path';

const { runDocExample } = require('../../../../tools/jest/doc-examples.cjs');

describe('docs/memory-retrieval.md', () => {
  it('runs its example as written', async () => {
    const lines: string[] = await runDocExample(
      path.join(__dirname, '../../../../docs/memory-retrieval.md'),
      0,
      require,
    );
    expect(lines).toEqual(['2 3']);
  });
});
