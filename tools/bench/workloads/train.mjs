// One training step from @attnkit/models' Trainer: forward, next-token cross-entropy,
// backward, global-norm clipping and an AdamW update, on random token windows; llama-tiny at
// two batch shapes and (full runs only) llama-small, issue 17's model of about 3M parameters.
// tokens/s = batch · seqLen / step time; MFU = model FLOP (models-common's trainFlops) / time,
// over the run's matmul peak (run.mjs). Both sides report their parameter count and the
// harness fails the case when they differ.
import {
  countParams,
  loadModels,
  PRESET,
  randomIds,
  SMALL,
  smallConfig,
  trainFlops,
} from './models-common.mjs';

const configOf = (api, model) => (model === SMALL ? smallConfig(api.config) : api.config);

export default {
  name: 'train',
  title: `${PRESET} and ${SMALL} training step (AdamW), tokens/s`,
  load: () => loadModels(['Trainer', 'TextSource']),
  cases({ quick }, api) {
    const shapes = [
      { model: PRESET, batch: 8, seqLen: 32 },
      ...(quick
        ? []
        : [
            { model: PRESET, batch: 16, seqLen: 64 },
            { model: SMALL, batch: 8, seqLen: 256 },
          ]),
    ];
    const counts = {};
    return shapes.map(({ model, batch, seqLen }) => {
      const config = configOf(api, model);
      counts[model] ??= countParams(api.core, config);
      return {
        // llama-tiny keeps its ids and labels of earlier runs.
        id: model === PRESET ? `train-${batch}x${seqLen}` : `train-${model}-${batch}x${seqLen}`,
        label: `${model === PRESET ? '' : `${model} `}batch ${batch} × ${seqLen}`,
        series: 'train',
        x: batch * seqLen,
        tokens: batch * seqLen,
        paramCount: counts[model],
        modelFlops: trainFlops(config, counts[model], batch, seqLen),
        params: { model, batch, seqLen },
        torch: { kind: 'train', batch, seqLen, config, lr: 3e-3 },
      };
    });
  },
  async prepare(_ctx, api, c) {
    const { core, models } = api;
    const { model: name, batch, seqLen } = c.params;
    const config = configOf(api, name);
    const rng = new core.Rng(0);
    const model = core.build(config, { rng });
    const built = model.numParams();
    if (built !== c.paramCount) {
      model.dispose();
      throw new Error(`${name}: built ${built} parameters, counted ${c.paramCount}`);
    }
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
