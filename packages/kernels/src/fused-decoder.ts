// Contract 7 for a whole model: a backend may run the decoding of a plain decoder-only
// transformer natively. A model describes itself with these plain arrays (its weights read in
// place); the backend validates them and keeps the KV cache in its own memory. The backend
// offers `createFusedDecoder` on its tfjs backend object (FusedDecoderBackend), found by
// @attnkit/core's fusedDecoderBackend(); @attnkit/backend-native implements it.
/** RMSNorm (x / rms(x) · weight) or LayerNorm ((x − mean) / std · weight + bias). */
export interface FusedDecoderNorm {
  kind: 'rms-norm' | 'layer-norm';
  eps: number;
  /** `[dModel]`; absent: no affine weight. */
  weight?: Float32Array;
  bias?: Float32Array;
}

/** y = x W + b, W stored `[in, out]` (core's Linear). */
export interface FusedDecoderDense {
  weight: Float32Array;
  bias?: Float32Array;
}

/** Grouped-query self-attention; query head h reads key/value head ⌊h / (numHeads / numKvHeads)⌋. */
export interface FusedDecoderAttention {
  numHeads: number;
  numKvHeads: number;
  headDim: number;
  /** Logit multiplier (usually 1/√headDim). */
  scale: number;
  /** Keys with query − key < window are visible (plus `sinkTokens` first ones); absent: all. */
  window?: number;
  sinkTokens?: number;
  q: FusedDecoderDense;
  k: FusedDecoderDense;
  v: FusedDecoderDense;
  o: FusedDecoderDense;
}

/** down(act(up(x))), or with `gate`: down(act(gate(x)) ⊙ up(x)). */
export interface FusedDecoderFeedForward {
  /** One of core's activation names: gelu, gelu-tanh, silu, relu, relu2, squared-relu, sigmoid, tanh, identity. */
  activation: string;
  hiddenDim: number;
  up: FusedDecoderDense;
  gate?: FusedDecoderDense;
  down: FusedDecoderDense;
}

/**
 * A mixture-of-experts feed-forward with a token-choice top-k router (routing's `moe` with
 * `topk-router`, at inference): Σ_shared FFN_s(x) + Σ_{i∈TopK} g_i FFN_i(x). Each token routes
 * on its own (no capacity limit).
 */
export interface FusedDecoderMoE {
  kind: 'moe';
  /** Router logits x W_r + b, W_r `[dModel, numExperts]`. */
  router: FusedDecoderDense;
  /** Scores: softmax over the experts, or an independent sigmoid per expert. */
  scoring: 'softmax' | 'sigmoid';
  topK: number;
  /** Gates = the k picked scores divided by their sum (+ 1e-20); else the scores as they are. */
  normalize: boolean;
  /** `[numExperts]`, added to the scores for picking the k only (DeepSeek-V3's balancing bias). */
  selectionBias?: Float32Array;
  /** The routed experts (numExperts of them). */
  experts: FusedDecoderFeedForward[];
  /** Always-active experts, added to every token's output. */
  shared: FusedDecoderFeedForward[];
}

export interface FusedDecoderLayer {
  /** pre: x + f(norm(x)); post: norm(x + f(x)). */
  placement: 'pre' | 'post';
  norm1: FusedDecoderNorm;
  norm2: FusedDecoderNorm;
  attention: FusedDecoderAttention;
  feedForward: FusedDecoderFeedForward | FusedDecoderMoE;
}

export interface FusedDecoderSpec {
  dModel: number;
  vocabSize: number;
  maxLength: number;
  /** `[vocabSize, dModel]`. */
  embedding: Float32Array;
  /** `[maxLength, dModel]`, added to the token embedding (learned or sinusoidal positions). */
  positionTable?: Float32Array;
  /** Rotary embedding of queries and keys (RoFormer eq. 34), as @attnkit/positional lays it out. */
  rotary?: { layout: 'half' | 'interleaved'; rotaryDim: number; inverseFrequencies: Float32Array };
  layers: FusedDecoderLayer[];
  finalNorm: FusedDecoderNorm;
  /** `[dModel, vocabSize]`; absent: the embedding transposed (tied). */
  head?: Float32Array;
}

/**
 * A decoding session of `batch` sequences side by side, each with its own KV cache: tokens go
 * in at positions 0, 1, 2, ... of their sequence.
 */
export interface FusedDecoder {
  /** Sequences decoded side by side (1 unless created with `options.batch`). */
  readonly batch: number;
  /** Tokens sequence 0 consumed so far (the position of its next one). */
  readonly position: number;
  /** Tokens each sequence consumed so far. */
  readonly positions: readonly number[];
  /**
   * Batch 1: feeds tokens at the next positions (a prompt at once, then one generated token at
   * a time) and writes the next-token logits after the last of them into `logits` unless it is
   * null.
   */
  feed(tokens: readonly number[], logits: Float32Array | null): void;
  /**
   * Feeds sequence b the tokens `tokens[b]` (prompts of any lengths; none: it waits) in one
   * call, and writes into row b of `logits` `[batch, vocabSize]` (unless null) the next-token
   * logits after its last token; rows of sequences fed nothing are left as they are.
   */
  feedBatch(tokens: readonly (readonly number[])[], logits: Float32Array | null): void;
  /** Frees the cache; later steps throw. */
  dispose(): void;
}

export interface FusedDecoderOptions {
  /** Sequences decoded side by side; default 1. */
  batch?: number;
}

/** What a tfjs backend object offers when it runs fused decoding (`tf.backend()`). */
export interface FusedDecoderBackend {
  createFusedDecoder(spec: FusedDecoderSpec, options?: FusedDecoderOptions): FusedDecoder;
}
