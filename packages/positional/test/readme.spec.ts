import * as path from 'node:path';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const readme = path.join(__dirname, '../README.md');

describe('packages/positional/README.md', () => {
  it('runs the example as written: rotated queries, ALiBi bias, YaRN scale, slopes', async () => {
    const [line] = (await runDocExample(readme, 0, require)) as string[];
    const [qShape, biasShape, logitScale, slopes] = line!.split(' ');
    expect([qShape, biasShape]).toEqual(['1,8,16,64', '1,8,16,16']);
    expect(Number(logitScale)).toBeCloseTo((0.1 * Math.log(4) + 1) ** 2, 6); // YaRN's mscale², q and k
    expect(slopes).toBe([1, 2, 3, 4, 5, 6, 7, 8].map((i) => 2 ** -i).join(','));
  });
});
