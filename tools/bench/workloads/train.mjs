// One llama-tiny training step from @attnkit/models' Trainer: forward, next-token cross-entropy,
// backward, global-norm clipping and an AdamW update, on random token windows.
// tokens/s = batch · seqLen / step time.
import { loadModels, PRESET, randomIds } from './models-common.mjs';

export default {
  name: 'train',
  title: `${PRESET} training step (AdamW), tokens/s`,
  load: () => loadModels(['Trainer', 'TextSource']),
  cases({ quick }, api) {
    const shapes = quick
      ? [{ batch: 8, seqLen: 32 }]
      : [
          { batch: 8, seqLen: 32 },
          { batch: 16, seqLen: 64 },
        ];
    return shapes.map(({ batch, seqLen }) => ({
      id: `train-${batch}x${seqLen}`,
      label: `batch ${batch} × ${seqLen}`,
      series: 'train',
      x: batch * seqLen,
      tokens: batch * seqLen,
      params: { batch, seqLen },
      torch: { kind: 'train', batch, seqLen, config: api.config, lr: 3e-3 },
    }));
  },
  async prepare(_ctx, api, c) {
    const { core, models, config } = api;
    const { batch, seqLen } = c.params;
    const rng = new core.Rng(0);
    const model = core.build(config, { rng });
    const source = new models.TextSource(randomIds(4096, config.vocabSize, 11), seqLen, batch, 1);
    const trainer = new models.Trainer(model, source, { steps: 1000, lr: 3e-3, rngs: [rng] });
    return {
      step: async () => {
        trainer.trainStep();
      },
      dispose: () => {
        trainer.optimizer.dispose?.();
        model.dispose();
      },
    };
  },
};
