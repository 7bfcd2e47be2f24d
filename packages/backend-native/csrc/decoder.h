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

/** down(act(up(x))), or gated: down(act(gate(x)) * up(x)). */
struct DecoderFeedForward {
  bool gated = false;
  int activation = 0;
  DecoderDense up{}, gate{}, down{};
};

/**
 * Routing's `moe` at inference with its `topk-router`: y = Σ_shared FFN_s(x) +
 * Σ_{i∈TopK} g_i FFN_i(x) (Shazeer et al. 2017, eq. 1; DeepSeekMoE, Dai et al. 2024, eq. 9),
 * scores softmax(x W_r) or σ(x W_r) (DeepSeek-V3, Liu et al. 2024, eqs. 13-16), the top k taken
 * over the scores plus `selectionBias`, gates the scores there (divided by their sum + 1e-20
 * when `normalize`). No capacity: each token routes on its own.
 */
struct DecoderMoE {
  int numExperts = 0;  // 0: the layer's feed-forward is DecoderLayer::ffn
  int topK = 0;
  bool sigmoid = false;
  bool normalize = false;
  DecoderDense router{};
  const float* selectionBias = nullptr;  // [numExperts] or null
  std::vector<DecoderFeedForward> experts, shared;
};

struct DecoderLayer {
  bool post;  // post-norm: x = norm(x + f(x)); pre-norm: x = x + f(norm(x))
  DecoderNorm norm1, norm2;
  int heads, kvHeads, headDim;
  float scale;
  int window;      // > 0: keys with position - key < window only ...
  int sinkTokens;  // ... plus the first sinkTokens keys (StreamingLLM)
  DecoderDense q, k, v, o;
  DecoderFeedForward ffn;
  DecoderMoE moe;
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

/** The mixture-of-experts feed-forward of x [rows, dModel] into out [rows, dModel]. */
void moe_forward(const DecoderMoE& moe, const float* x, int rows, int dModel, float* out);

}  // namespace attnkit
