// Smoke test for the packed @attnkit/models, run once through import and once through require.
module.exports = async function smoke(models, tf, { load }) {
  const core = await load('@attnkit/core');
  const { expectNoLeaks } = await load('@attnkit/core/testing');
  const fail = (what) => {
    throw new Error(`models smoke: ${what}`);
  };
  // importing the package registers its blocks and assemblies
  for (const type of [
    'transformer-block',
    'decoder-lm',
    'encoder',
    'encoder-decoder',
    'vit',
    'patch-embedding',
    'latent-attention-pooling',
  ]) {
    if (!core.isRegistered(type)) fail(`'${type}' not registered`);
  }
  const tok = models.BpeTokenizer.train('hello hello world 👋', 260);
  const text = 'hello 👋 there';
  if (tok.decode(tok.encode(text)) !== text) fail('BPE round trip');
  // Hugging Face tokenizer.json through @huggingface/tokenizers (a dependency that must resolve)
  const wp = {
    model: {
      type: 'WordPiece',
      unk_token: '[UNK]',
      continuing_subword_prefix: '##',
      vocab: { '[UNK]': 0, hi: 1, '##s': 2 },
    },
  };
  if (models.HfTokenizer.fromJSON(wp).encode('his').join() !== '1,2') fail('HF WordPiece encode');
  for (const name of ['gpt-tiny', 'llama-tiny', 'bert-tiny', 'vit-tiny', 'moe-lm-tiny']) {
    if (!models.listPresets().includes(name)) fail(`${name} preset missing`);
  }
  const rng = new core.Rng(0);
  await expectNoLeaks(async () => {
    // every preset builds; the decoder trains a step, checkpoints and generates with its cache
    const bert = core.build(models.getPreset('bert-tiny'), { rng });
    const ids = tf.tensor2d([[1, 5, 9, 2]], [1, 4], 'int32');
    const bertShape = tf.tidy(() => bert.forward(ids).shape.join());
    if (bertShape !== '1,2') fail(`bert-tiny logits shape ${bertShape}`);
    const vit = core.build(models.getPreset('vit-tiny'), { rng });
    const image = tf.zeros([1, 32, 32, 3]);
    const vitShape = tf.tidy(() => vit.forward(image).shape.join());
    if (vitShape !== '1,10') fail(`vit-tiny logits shape ${vitShape}`);
    const task = models.createTask('mqar');
    const config = { ...models.getPreset('llama-tiny'), vocabSize: task.vocabSize, maxLength: 16 };
    const lm = core.build(config, { rng });
    const trainer = new models.Trainer(lm, new models.TaskSource(task, 2, 1), {
      steps: 2,
      rngs: [rng],
    });
    const { loss } = trainer.trainStep();
    if (!Number.isFinite(loss)) fail(`training loss ${loss}`);
    const cached = await models.generate(lm, [1, 9], { maxTokens: 5, temperature: 0 });
    const full = await models.generate(lm, [1, 9], {
      maxTokens: 5,
      temperature: 0,
      useCache: false,
    });
    if (cached.join() !== full.join()) fail('cached generation differs');
    trainer.dispose();
    tf.dispose([ids, image]);
    for (const m of [bert, vit, lm]) m.dispose();
  });
  // The CLI and Node file I/O live in subpaths; the main entry holds neither, and the subpaths
  // share its module instances (one registry: loading them registers nothing twice).
  if ('trainCommand' in models || 'saveCheckpoint' in models) fail('main entry holds CLI/fs code');
  const node = await load('@attnkit/models/node');
  const cli = await load('@attnkit/models/cli');
  if (typeof cli.trainCommand !== 'function') fail('@attnkit/models/cli trainCommand missing');
  if (typeof node.saveCheckpoint !== 'function')
    fail('@attnkit/models/node saveCheckpoint missing');
  if (node.Trainer !== models.Trainer) fail('@attnkit/models/node holds a second copy of Trainer');
};
