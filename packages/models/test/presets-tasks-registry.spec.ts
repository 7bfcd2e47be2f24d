import { Rng, build, presets } from '@attnkit/core';
import {
  createImageTask,
  createTask,
  listPresets,
  listTasks,
  registerTask,
  taskKind,
  createBatchTask,
  tasks,
  CopyTask,
} from '@attnkit/models';

describe('presets and tasks are named registries with metadata', () => {
  it("lists models' and routing's presets, each registered by its own package", () => {
    expect(listPresets()).toEqual([
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
    for (const name of listPresets()) {
      const info = presets.info(name)!;
      expect([name, typeof info.summary]).toEqual([name, 'string']);
      expect(info.example).toEqual(presets.get(name));
    }
  });

  it('builds every preset', () => {
    for (const name of listPresets()) {
      const model = build(presets.get(name), { rng: new Rng(0) });
      expect(model.numParams()).toBeGreaterThan(0);
      model.dispose();
    }
  });

  it('describes every task and builds it from its example options', () => {
    expect(listTasks()).toEqual([
      'mqar',
      'copy',
      'selective-copy',
      'sorting',
      'passkey',
      'induction',
      'shapes',
      'masked-copy',
      'majority',
      'reverse',
    ]);
    for (const name of listTasks()) {
      const info = tasks.info(name)!;
      expect([name, typeof info.summary]).toEqual([name, 'string']);
      const options = info.example as Record<string, number>;
      if (taskKind(name) === 'image') {
        expect(createImageTask(name, options).numClasses).toBeGreaterThan(1);
      } else if (taskKind(name) !== 'tokens') {
        expect(createBatchTask(name, options).vocabSize).toBeGreaterThan(0);
      } else {
        expect(createTask(name, options).vocabSize).toBeGreaterThan(0);
      }
    }
  });

  it('takes a task a user registers, without editing ours', () => {
    registerTask('spec-copy-4', (o) => new CopyTask((o ?? { length: 4, numSymbols: 4 }) as never), {
      summary: 'Copy four symbols.',
    });
    expect(listTasks()).toContain('spec-copy-4');
    expect(createTask('spec-copy-4')).toBeInstanceOf(CopyTask);
    expect(() => registerTask('copy', () => createTask('copy'))).toThrow(/already registered/);
  });
});
