// Softmax cross-entropy over the vocabulary, per row: loss = logsumexp(x) - x[label], and its
// gradient (dl + dlse)·softmax(x) - dl·onehot(label), without an [N, V] intermediate.
#pragma once
#include <cstdint>

namespace attnkit {

/**
 * logits [rows, vocab], labels [rows]; loss and lse [rows]. A row whose label is `ignore` or
 * outside [0, vocab) gets loss 0.
 */
void cross_entropy_forward(int64_t rows, int64_t vocab, const float* logits,
                           const int32_t* labels, int64_t ignore, float* loss, float* lse);

/** dlogits [rows, vocab] from dloss and dlse [rows]; the softmax is recomputed. */
void cross_entropy_backward(int64_t rows, int64_t vocab, const float* logits,
                            const int32_t* labels, int64_t ignore, const float* dloss,
                            const float* dlse, float* dlogits);

}  // namespace attnkit
