import * as path from 'node:path';
import * as tf from '@tensorflow/tfjs-core';

const { runDocExample } = require('../../../tools/jest/doc-examples.cjs');
const root = path.join(__dirname, '../../..');

describe('docs/core.md', () => {
  it('runs the example as written: a saved module reloads with identical outputs', async () => {
    const backend = tf.getBackend();
    const lines: string[] = await runDocExample(path.join(root, 'docs/core.md'), 0, require);
    await tf.setBackend(backend); // the example picks its own backend; give the suite back its own
    expect(lines).toEqual(['0']);
  });

  it('runs the package README example', async () => {
    const lines: string[] = await runDocExample(
      path.join(root, 'packages/core/README.md'),
      0,
      require,
    );
    expect(lines).toEqual(['1,3,100']);
  });
});

describe('packages/core/README.md, Typed configs', () => {
  it('builds the typed examples as written', async () => {
    const readme = path.join(root, 'packages/core/README.md');
    const lines: string[] = await runDocExample(readme, 2, require);
    // rms-norm 16 gains, linear 16×4 + 4, layer-norm 16 gains + 16 biases.
    expect(lines).toEqual(['16 68 32']);
  });
});
