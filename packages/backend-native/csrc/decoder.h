// Decoding steps of a whole pre- or post-norm decoder-only transformer, for a batch of
// sequences side by side, run in a single call so a generated token (per sequence) costs one
// native call instead of ~170 small tfjs kernels.
// The shapes below are checked by the N-API entry (decoder_napi.cc) before any step runs.
#pragma once
#include <cstdint>
#include <vector>

namespace attnkit {

enum DecoderNormKind { kNormRms = 0, kNormLayer = 1 };

// Activations, in the order of DECODER_ACTIVATIONS in src/decoder.ts.
enum DecoderActivation {
  kActGelu = 0,
  kActGeluTanh,
  kActSilu,
  kActRelu,
  kActRelu2,
  kActSigmoid,
  kActTanh,
  kActIdentity,
  kActCount
};

struct DecoderNorm {
  int kind;
  float eps;
  const float* weight;  // [dModel] or null (no affine)
  const float* bias;    // [dModel] or null
};

/** y = x W + b with W stored [in, out], as core's Linear. */
struct DecoderDense {
  const float* weight;
  const float* bias;  // or null
  int in;
  int out;
};

struct DecoderLayer {
  bool post;  // post-norm: x = norm(x + f(x)); pre-norm: x = x + f(norm(x))
  DecoderNorm norm1, norm2;
  int heads, kvHeads, headDim;
  float scale;
  int window;      // > 0: keys with position - key < window only ...
  int sinkTokens;  // ... plus the first sinkTokens keys (StreamingLLM)
  DecoderDense q, k, v, o;
  bool gated;  // down(act(gate(x)) * up(x)); else down(act(up(x)))
  int activation;
  DecoderDense up, gate, down;
  float* keys;    // [batch, kvHeads, maxLength, headDim]
  float* values;  // [batch, kvHeads, maxLength, headDim]
};

struct DecoderModel {
  int dModel, vocab, maxLength;
  const float* embedding;  // [vocab, dModel]
  const float* positions;  // [maxLength, dModel] added to the token embedding, or null
  int ropeLayout;          // 0 none, 1 half (GPT-NeoX), 2 interleaved (GPT-J)
  int rotaryDim;
  const float* inverseFrequencies;  // [rotaryDim / 2]
  std::vector<DecoderLayer> layers;
  DecoderNorm finalNorm;
  const float* head;  // [dModel, vocab], or null: the embedding transposed (tied)
};

/**
 * What one call feeds: sequence b gets counts[b] >= 0 tokens at positions firsts[b],
 * firsts[b] + 1, ... (its tokens follow those of sequence b - 1 in `tokens`).
 */
struct DecoderBatch {
  int sequences;
  const int32_t* tokens;
  const int32_t* counts;
  const int32_t* firsts;
};

/**
 * Feeds the batch's tokens through every layer (all rows at once: the projections run as
 * matrix products), writing their keys and values into each sequence's caches (positions before
 * firsts[b] must hold its earlier tokens'). When `logits` [sequences, vocab] is not null, row b
 * gets the next-token logits after sequence b's last token; rows of sequences fed nothing are
 * left as they are.
 */
void decoder_run(const DecoderModel& model, const DecoderBatch& batch, float* logits);

}  // namespace attnkit
