// Decoding steps of a whole pre- or post-norm decoder-only transformer (batch 1), run in a
// single call so a generated token costs one native call instead of ~170 small tfjs kernels.
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
  float* keys;    // [kvHeads, maxLength, headDim]
  float* values;  // [kvHeads, maxLength, headDim]
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
 * Feeds `rows` tokens at positions first, first + 1, ... through every layer (several at once:
 * the projections run as matrix products), writing their keys and values into the caches
 * (positions before `first` must hold the earlier tokens'); writes the logits [vocab] of the
 * last one when `logits` is not null.
 */
void decoder_run(const DecoderModel& model, const int32_t* tokens, int rows, int first,
                 float* logits);

}  // namespace attnkit
