import { registerPreset } from '@attnkit/core';
import '@attnkit/routing'; // registers its own presets (moe-lm-tiny, moh-lm-tiny, moh-vit-tiny)
import '@attnkit/memory'; // registers the memory models' presets (rmt-lm-tiny, ...)
import basedLmTiny from './based-lm-tiny.json';
import glaLmTiny from './gla-lm-tiny.json';
import mambaLmTiny from './mamba-lm-tiny.json';
import hymbaLmTiny from './hymba-lm-tiny.json';
import bertTiny from './bert-tiny.json';
import gptTiny from './gpt-tiny.json';
import llamaTiny from './llama-tiny.json';
import masformerLmTiny from './masformer-lm-tiny.json';
import mobaLmTiny from './moba-lm-tiny.json';
import vitTiny from './vit-tiny.json';
import seq2seqTiny from './seq2seq-tiny.json';
import neighborhoodVitTiny from './neighborhood-vit-tiny.json';

// The registry lives in core (a NamedRegistry of configs); each package registers its own.
export {
  getPreset,
  listPresets,
  presets,
  registerPreset,
  validatePreset,
  type PresetConfig,
  type RegisterPresetOptions,
} from '@attnkit/core';

registerPreset('gpt-tiny', gptTiny, {
  info: {
    paper: 'Radford et al. 2019, GPT-2',
    summary: 'GPT-2 style decoder: learned positions, layer-norm, GELU MLP, 2 layers of dModel 64.',
  },
});
registerPreset('llama-tiny', llamaTiny, {
  info: {
    paper: 'Touvron et al. 2023, LLaMA',
    summary: 'LLaMA style decoder: rotary, RMSNorm, SwiGLU, GQA, 2 layers of dModel 64.',
  },
});
registerPreset('bert-tiny', bertTiny, {
  info: {
    paper: 'Devlin et al. 2019, BERT',
    summary: 'BERT style bidirectional encoder with learned positions and a CLS classifier.',
  },
});
registerPreset('seq2seq-tiny', seq2seqTiny, {
  info: {
    paper: 'Vaswani et al. 2017; Raffel et al. 2020, T5',
    summary:
      'Encoder-decoder: 2 + 2 pre-norm layers of dModel 64, learned positions, tied embedding; `attnkit train` trains it on reverse.',
  },
});
registerPreset('vit-tiny', vitTiny, {
  info: {
    paper: 'Dosovitskiy et al. 2021, ViT',
    summary: 'Vision Transformer on 32×32 images in 8×8 patches, 10 classes.',
  },
});
registerPreset('based-lm-tiny', basedLmTiny, {
  info: {
    paper:
      'Arora et al. 2024, Simple linear attention language models balance the recall-throughput tradeoff (Based)',
    summary:
      'Based decoder: Taylor linear attention plus a 16-token softmax window per layer, RoPE on the window, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  },
});
registerPreset('gla-lm-tiny', glaLmTiny, {
  info: {
    paper:
      'Yang et al. 2024, Gated Linear Attention Transformers with Hardware-Efficient Training (GLA)',
    summary:
      'GLA decoder: gated linear attention with a per-key-dimension forget gate, no positional encoding, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  },
});
registerPreset('masformer-lm-tiny', masformerLmTiny, {
  info: {
    paper:
      'Zhang et al. 2023, Efficient Long-Range Transformers: You Need to Attend More, but Not Necessarily at Every Layer (MASFormer)',
    summary:
      'MASFormer decoder: full attention in one of 4 layers (layerOverrides "1"), 16-token sliding windows in the rest, RoPE, RMSNorm, SwiGLU, dModel 64.',
  },
});
registerPreset('mamba-lm-tiny', mambaLmTiny, {
  info: {
    paper: 'Gu & Dao 2023, Mamba: Linear-Time Sequence Modeling with Selective State Spaces',
    summary:
      'Mamba decoder: selective SSM mixer (state 16, expand 2), no positional encoding, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  },
});
registerPreset('hymba-lm-tiny', hymbaLmTiny, {
  info: {
    paper: 'Dong et al. 2024, Hymba: A Hybrid-head Architecture for Small Language Models',
    summary:
      'Hymba decoder: attention (16-token window, GQA 4/2, RoPE) and Mamba heads in parallel, 8 meta tokens, the two layers sharing one KV cache, RMSNorm, SwiGLU, dModel 64.',
  },
});
registerPreset('neighborhood-vit-tiny', neighborhoodVitTiny, {
  info: {
    paper: 'Hassani et al. 2023, Neighborhood Attention Transformer',
    summary:
      'ViT on 32×32 images in 8×8 patches whose mixers attend to 3×3 patch neighbourhoods (grid 4×4, mean pooling: no class token).',
  },
});
registerPreset('moba-lm-tiny', mobaLmTiny, {
  info: {
    paper: 'Lu et al. 2025, MoBA: Mixture of Block Attention for Long-Context LLMs',
    summary:
      'MoBA decoder: each query attends to its own 4-token key block and the best earlier one by q · mean key (topK 2: 2 of the 4 blocks of the default MQAR sequence), RoPE, RMSNorm, SwiGLU, 2 layers of dModel 64.',
  },
});
