import * as tf from '@tensorflow/tfjs-core';
import {
  Embedding,
  GLU,
  LayerNorm,
  Linear,
  MLP,
  RMSNorm,
  type FusedDecoderDense,
  type FusedDecoderFeedForward,
  type FusedDecoderLayer,
  type FusedDecoderNorm,
  type FusedDecoderSpec,
  type Module,
} from '@attnkit/core';
import { MultiHeadAttention } from '@attnkit/attention';
import { LearnedPositional, RotaryPositional, SinusoidalPositional } from '@attnkit/positional';
import type { DecoderLM } from '../assemblies/decoder-lm';
import type { TransformerBlock } from '../blocks/transformer-block';
import { positionRange } from '../assemblies/positions';

/** Thrown inside the walk below when a part is of a kind the fused decoder does not run. */
class Unsupported extends Error {}

function refuse(what: string): never {
  throw new Unsupported(what);
}

/** A weight's values in place (the native backend stores them as Float32Arrays). */
function values(t: tf.Tensor): Float32Array {
  const v = t.dataSync();
  return v instanceof Float32Array ? v : Float32Array.from(v);
}

function dense(layer: Module | undefined, where: string): FusedDecoderDense {
  if (!(layer instanceof Linear)) refuse(`${where} is not a linear layer`);
  return { weight: values(layer.weight), bias: layer.bias ? values(layer.bias) : undefined };
}

function norm(layer: Module | undefined, where: string): FusedDecoderNorm {
  if (layer instanceof RMSNorm) {
    const weight = layer.weight ? values(layer.weight) : undefined;
    return { kind: 'rms-norm', eps: layer.eps, weight };
  }
  if (layer instanceof LayerNorm) {
    return {
      kind: 'layer-norm',
      eps: layer.eps,
      weight: layer.weight ? values(layer.weight) : undefined,
      bias: layer.bias ? values(layer.bias) : undefined,
    };
  }
  refuse(`${where} '${layer?.blockName}' is not rms-norm or layer-norm`);
}

function feedForward(ff: Module, where: string): FusedDecoderFeedForward {
  const hiddenDim = (ff.config as { hiddenDim: number }).hiddenDim;
  if (ff instanceof MLP) {
    return {
      activation: ff.activation,
      hiddenDim,
      up: dense(ff.up, `${where}.up`),
      down: dense(ff.down, `${where}.down`),
    };
  }
  if (ff instanceof GLU) {
    return {
      activation: ff.activation,
      hiddenDim,
      up: dense(ff.up, `${where}.up`),
      gate: dense(ff.gate, `${where}.gate`),
      down: dense(ff.down, `${where}.down`),
    };
  }
  refuse(`${where} '${ff.blockName}' is not an mlp or a gated (glu) feed-forward`);
}

/** One block; `rotaryHeadDim`: the head width the rotary encoding was built for, if any. */
function layer(
  block: TransformerBlock,
  i: number,
  logitScale: number,
  rotaryHeadDim: number | undefined,
): FusedDecoderLayer {
  const where = `layers[${i}]`;
  const c = block.config;
  if (c.parallel) refuse(`${where} is a parallel block`);
  if (c.crossAttention) refuse(`${where} has cross-attention`);
  if (c.placement === 'sandwich') refuse(`${where} is sandwich-norm`);
  const mixer = block.mixer;
  if (!(mixer instanceof MultiHeadAttention) || mixer.config.type === 'cross-attention')
    refuse(`${where}.mixer '${mixer.blockName}' is not mha, gqa, mqa, sliding-window or streaming`);
  const m = mixer.config;
  if (m.qkNorm || m.logitSoftcap !== undefined || m.sinkLogit)
    refuse(`${where}.mixer uses qkNorm, logitSoftcap or sinkLogit`);
  if ((m.normalizer ?? 'softmax') !== 'softmax')
    refuse(`${where}.mixer normalizes with '${m.normalizer}', not softmax`);
  // The unfused path throws on this mismatch; leave it that error.
  if (rotaryHeadDim !== undefined && mixer.headDim !== rotaryHeadDim)
    refuse(`${where}.mixer's headDim differs from the rotary headDim=${rotaryHeadDim}`);
  const children = block.namedChildren();
  return {
    placement: c.placement,
    norm1: norm(children.get('norm1'), `${where}.norm1`),
    norm2: norm(children.get('norm2'), `${where}.norm2`),
    attention: {
      numHeads: m.numHeads,
      numKvHeads: mixer.numKvHeads,
      headDim: mixer.headDim,
      scale: logitScale / Math.sqrt(mixer.headDim),
      window: m.window,
      sinkTokens: m.numSinkTokens,
      q: dense(mixer.q, `${where}.mixer.q`),
      k: dense(mixer.k, `${where}.mixer.k`),
      v: dense(mixer.v, `${where}.mixer.v`),
      o: dense(mixer.o, `${where}.mixer.o`),
    },
    feedForward: feedForward(block.feedForward, `${where}.feedForward`),
  };
}

/** The positional part of the spec: a rotation, a table added to the embeddings, or nothing. */
function positional(model: DecoderLM): Pick<FusedDecoderSpec, 'rotary' | 'positionTable'> {
  const p = model.positional;
  if (p instanceof RotaryPositional) {
    const c = p.config;
    return {
      rotary: {
        layout: c.layout,
        rotaryDim: c.rotaryDim ?? c.headDim,
        inverseFrequencies: Float32Array.from(p.inverseFrequencies),
      },
    };
  }
  if (p instanceof LearnedPositional || p instanceof SinusoidalPositional) {
    const { maxLength, dModel } = model.config;
    // Both add a vector per position: embedding zeros gives the table.
    const table = tf.tidy(() =>
      p.embed!(tf.zeros([1, maxLength, dModel]), positionRange(0, maxLength)),
    );
    const data = values(table).slice();
    table.dispose();
    return { positionTable: data };
  }
  if (p.kind === 'none') return {};
  refuse(`positional '${p.blockName}' (kind '${p.kind}')`);
}

/**
 * Describes `model` for a backend's fused decoder (core's FusedDecoderSpec, weights read in
 * place), or says which part it cannot run: a mixer other than softmax self-attention (or with
 * qkNorm, softcap or a sink logit), a norm other than rms/layer, a feed-forward other than
 * mlp/glu, sandwich or parallel blocks, or a positional encoding that biases logits.
 */
export function fusedDecoderSpec(model: DecoderLM): FusedDecoderSpec | { unsupported: string } {
  try {
    const pos = positional(model);
    const p = model.positional;
    const rotaryHeadDim = p instanceof RotaryPositional ? p.config.headDim : undefined;
    const logitScale = model.positional.logitScale ?? 1;
    if (!(model.embedding instanceof Embedding))
      refuse("the token embedding is not core's Embedding");
    const { dModel, vocabSize, maxLength } = model.config;
    return {
      dModel,
      vocabSize,
      maxLength,
      embedding: values(model.embedding.weight),
      ...pos,
      layers: model.blocks.map((b, i) => layer(b, i, logitScale, rotaryHeadDim)),
      finalNorm: norm(model.finalNorm, 'finalNorm'),
      head: model.head ? headWeight(model.head) : undefined,
    };
  } catch (e) {
    if (e instanceof Unsupported) return { unsupported: e.message };
    throw e;
  }
}

function headWeight(head: Module): Float32Array {
  const d = dense(head, 'head');
  if (d.bias) refuse('the output head has a bias');
  return d.weight;
}
