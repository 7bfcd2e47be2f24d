// decoderStep(ints, floats, weights, caches, tokens, counts, firsts, logits | null): unpacks the
// model laid out by src/decoder.ts (packDecoder; layers of varying length: a mixture of
// experts has weights per expert), checks that every array is as long as the shapes say, and
// runs a batch of sequences: sequence b (of counts.length) gets counts[b] of the
// tokens (Int32Arrays) from position firsts[b] on. A wrong layout throws; it never reads out of
// bounds.
#include "decoder_napi.h"

#include <string>

#include "decoder.h"
#include "napi_util.h"

namespace attnkit {
namespace {

constexpr int kHeaderInts = 8;
constexpr int kGlobalWeights = 6;

/** The Float32Arrays of a JavaScript array (null or undefined entries are absent). */
struct ArrayList {
  std::vector<float*> data;
  std::vector<size_t> length;
};

ArrayList float_arrays(const Args& args, size_t i) {
  bool is = false;
  napi_is_array(args.env, args.argv[i], &is);
  if (!is) args.fail(i, "must be an array of Float32Arrays");
  uint32_t n = 0;
  napi_get_array_length(args.env, args.argv[i], &n);
  ArrayList out;
  for (uint32_t e = 0; e < n; e++) {
    napi_value item;
    napi_get_element(args.env, args.argv[i], e, &item);
    napi_valuetype t;
    napi_typeof(args.env, item, &t);
    if (t == napi_null || t == napi_undefined) {
      out.data.push_back(nullptr);
      out.length.push_back(0);
      continue;
    }
    bool typed = false;
    napi_is_typedarray(args.env, item, &typed);
    napi_typedarray_type type = napi_int8_array;
    size_t length = 0;
    void* data = nullptr;
    if (typed) napi_get_typedarray_info(args.env, item, &type, &length, &data, nullptr, nullptr);
    if (!typed || type != napi_float32_array)
      args.fail(i, "element " + std::to_string(e) + " must be a Float32Array or null");
    out.data.push_back(static_cast<float*>(data));
    out.length.push_back(length);
  }
  return out;
}

/** Reads the arrays named by slot, checking lengths; `required` ones must be present. */
struct Slots {
  const Args& args;
  size_t argIndex;
  const ArrayList& list;

  const float* get(size_t slot, double expected, bool required, const char* what) const {
    if (slot >= list.data.size())
      args.fail(argIndex, "has no element " + std::to_string(slot) + " (" + what + ")", true);
    if (!list.data[slot]) {
      if (required) args.fail(argIndex, std::string(what) + " is required", true);
      return nullptr;
    }
    if (static_cast<double>(list.length[slot]) != expected) {
      args.fail(argIndex,
                std::string(what) + " must hold " + std::to_string(static_cast<int64_t>(expected)) +
                    " values, got " + std::to_string(list.length[slot]),
                true);
    }
    return list.data[slot];
  }
};

int checked(const Args& args, size_t i, int32_t value, int32_t lo, int32_t hi, const char* what) {
  if (value < lo || value > hi) {
    args.fail(i, std::string(what) + " must be in [" + std::to_string(lo) + ", " +
                     std::to_string(hi) + "], got " + std::to_string(value),
              true);
  }
  return value;
}

DecoderNorm norm(const Args& args, int kind, float eps, const Slots& w, size_t slot, int d,
                 const char* what) {
  checked(args, 0, kind, 0, 1, what);
  if (!(eps > 0)) args.fail(1, std::string(what) + " eps must be > 0", true);
  return DecoderNorm{kind, eps, w.get(slot, d, false, what), w.get(slot + 1, d, false, what)};
}

DecoderDense dense(const Slots& w, size_t slot, int in, int out, bool required, const char* what) {
  const float* weight = w.get(slot, static_cast<double>(in) * out, required, what);
  return DecoderDense{weight, weight ? w.get(slot + 1, out, false, what) : nullptr, in, out};
}

/** The packed ints after the header, read in order, each checked against its range. */
struct IntReader {
  const Args& args;
  const int32_t* data;
  size_t size;
  size_t at;

  int next(int32_t lo, int32_t hi, const std::string& what) {
    if (at >= size)
      args.fail(0, "holds " + std::to_string(size) + " values, ends before " + what, true);
    return checked(args, 0, data[at++], lo, hi, what.c_str());
  }
};

/** One feed-forward's ints (gated, activation, hidden) and its 6 weight slots from `slot`. */
DecoderFeedForward parse_feed_forward(IntReader& ints, const Slots& w, size_t& slot, int d,
                                const std::string& path) {
  DecoderFeedForward f;
  f.gated = ints.next(0, 1, path + " gated") != 0;
  f.activation = ints.next(0, kActCount - 1, path + " activation");
  const int hidden = ints.next(1, 1 << 24, path + " hiddenDim");
  f.up = dense(w, slot, d, hidden, true, (path + " up").c_str());
  f.gate = dense(w, slot + 2, d, hidden, f.gated, (path + " gate").c_str());
  f.down = dense(w, slot + 4, hidden, d, true, (path + " down").c_str());
  slot += 6;
  return f;
}

/**
 * A layer's feed-forward: ints [0, gated, activation, hidden] and 6 weight slots, or a
 * mixture of experts: ints [experts, shared, topK, sigmoid, normalize, has selection bias,
 * then gated, activation, hidden per routed then shared expert], slots router weight and bias,
 * selection bias, then 6 per expert.
 */
void layer_feed_forward(IntReader& ints, const Slots& w, size_t& slot, int d,
                        const std::string& path, DecoderLayer& l) {
  const int experts = ints.next(0, 1 << 12, path + " numExperts");
  if (experts == 0) {
    l.ffn = parse_feed_forward(ints, w, slot, d, path);
    return;
  }
  DecoderMoE& moe = l.moe;
  moe.numExperts = experts;
  const int shared = ints.next(0, 1 << 12, path + " numSharedExperts");
  moe.topK = ints.next(1, experts, path + " topK");
  moe.sigmoid = ints.next(0, 1, path + " scoring") != 0;
  moe.normalize = ints.next(0, 1, path + " normalize") != 0;
  const bool bias = ints.next(0, 1, path + " selection bias") != 0;
  moe.router = dense(w, slot, d, experts, true, (path + " router").c_str());
  moe.selectionBias = w.get(slot + 2, experts, bias, (path + " selection bias").c_str());
  slot += 3;
  for (int e = 0; e < experts + shared; e++) {
    const std::string name = e < experts ? path + " expert " + std::to_string(e)
                                         : path + " shared expert " + std::to_string(e - experts);
    (e < experts ? moe.experts : moe.shared).push_back(parse_feed_forward(ints, w, slot, d, name));
  }
}

}  // namespace

napi_value DecoderStep(napi_env env, napi_callback_info info) {
  return guarded(env, [&]() -> napi_value {
    Args args(env, info, "decoderStep", 8);
    size_t nInts, nFloats;
    const int32_t* ints = args.i32(0, &nInts);
    const float* floats = args.f32(1, &nFloats);
    const ArrayList weights = float_arrays(args, 2);
    const ArrayList caches = float_arrays(args, 3);
    if (nInts < kHeaderInts) args.fail(0, "needs the 8 header values", true);
    DecoderModel m;
    m.dModel = checked(args, 0, ints[0], 1, 1 << 20, "dModel");
    m.vocab = checked(args, 0, ints[1], 1, 1 << 24, "vocabSize");
    m.maxLength = checked(args, 0, ints[2], 1, 1 << 24, "maxLength");
    const int numLayers = checked(args, 0, ints[3], 0, 1 << 12, "numLayers");
    m.ropeLayout = checked(args, 0, ints[4], 0, 2, "rotary layout");
    m.rotaryDim = m.ropeLayout ? checked(args, 0, ints[5], 2, 1 << 16, "rotaryDim") : 0;
    if (m.rotaryDim % 2) args.fail(0, "rotaryDim must be even", true);
    const int finalKind = ints[6];
    const bool ownHead = ints[7] != 0;
    args.need(1, nFloats, 1 + 3.0 * numLayers);
    if (caches.data.size() != 2 * static_cast<size_t>(numLayers))
      args.fail(3, "must hold 2 caches per layer", true);
    size_t sequences, nFirsts;
    const int32_t* counts = args.i32(5, &sequences);
    const int32_t* firsts = args.i32(6, &nFirsts);
    if (sequences < 1 || sequences > (1 << 16))
      args.fail(5, "must hold 1 to 65536 counts (one per sequence), got " +
                       std::to_string(sequences), true);
    if (nFirsts != sequences)
      args.fail(6, "must hold " + std::to_string(sequences) +
                       " positions (one per sequence), got " + std::to_string(nFirsts), true);

    const int d = m.dModel;
    const Slots w{args, 2, weights};
    m.embedding = w.get(0, static_cast<double>(m.vocab) * d, true, "embedding");
    m.positions = w.get(1, static_cast<double>(m.maxLength) * d, false, "position table");
    m.inverseFrequencies = w.get(2, m.rotaryDim / 2, m.ropeLayout != 0, "inverse frequencies");
    m.finalNorm = norm(args, finalKind, floats[0], w, 3, d, "final norm");
    m.head = ownHead ? w.get(5, static_cast<double>(d) * m.vocab, true, "head") : nullptr;

    IntReader li{args, ints, nInts, kHeaderInts};
    size_t slot = kGlobalWeights;
    for (int i = 0; i < numLayers; i++) {
      const std::string path = "layer " + std::to_string(i);
      auto next = [&](int32_t lo, int32_t hi, const char* what) {
        return li.next(lo, hi, path + " " + what);
      };
      DecoderLayer l;
      l.post = next(0, 1, "placement") != 0;
      const int kind1 = next(0, 1, "norm1"), kind2 = next(0, 1, "norm2");
      l.heads = next(1, 1 << 16, "heads");
      l.kvHeads = next(1, l.heads, "kvHeads");
      if (l.heads % l.kvHeads) args.fail(0, "kvHeads must divide heads", true);
      l.headDim = next(1, 1 << 16, "headDim");
      if (static_cast<int64_t>(l.heads) * l.headDim > (1 << 24))
        args.fail(0, path + " heads x headDim must be at most 2^24", true);
      if (m.rotaryDim > l.headDim) args.fail(0, "rotaryDim exceeds a layer's headDim", true);
      l.window = next(0, 1 << 30, "window");
      l.sinkTokens = next(0, 1 << 30, "sinkTokens");
      const float* lf = floats + 1 + 3 * i;
      l.norm1 = norm(args, kind1, lf[0], w, slot, d, "norm1");
      l.norm2 = norm(args, kind2, lf[1], w, slot + 2, d, "norm2");
      l.scale = lf[2];
      if (!(l.scale > 0)) args.fail(1, "attention scale must be > 0", true);
      const int qWidth = l.heads * l.headDim, kvWidth = l.kvHeads * l.headDim;
      l.q = dense(w, slot + 4, d, qWidth, true, "q");
      l.k = dense(w, slot + 6, d, kvWidth, true, "k");
      l.v = dense(w, slot + 8, d, kvWidth, true, "v");
      l.o = dense(w, slot + 10, qWidth, d, true, "o");
      slot += 12;
      layer_feed_forward(li, w, slot, d, path + " feedForward", l);
      const double cacheSize =
          static_cast<double>(sequences) * l.kvHeads * m.maxLength * l.headDim;
      const Slots c{args, 3, caches};
      l.keys = const_cast<float*>(c.get(2 * i, cacheSize, true, "key cache"));
      l.values = const_cast<float*>(c.get(2 * i + 1, cacheSize, true, "value cache"));
      m.layers.push_back(std::move(l));
    }
    if (li.at != nInts)
      args.fail(0, "holds " + std::to_string(nInts) + " values, the layers use " +
                       std::to_string(li.at), true);
    if (slot != weights.data.size())
      args.fail(2, "holds " + std::to_string(weights.data.size()) + " entries, the layers use " +
                       std::to_string(slot), true);
    size_t rows;
    const int32_t* tokens = args.i32(4, &rows);
    double total = 0;
    for (size_t b = 0; b < sequences; b++) {
      const std::string which = " of sequence " + std::to_string(b);
      checked(args, 5, counts[b], 0, m.maxLength, ("the count" + which).c_str());
      checked(args, 6, firsts[b], 0, m.maxLength, ("the position" + which).c_str());
      if (static_cast<int64_t>(firsts[b]) + counts[b] > m.maxLength)
        args.fail(6, "position " + std::to_string(firsts[b]) + " plus " +
                         std::to_string(counts[b]) + " tokens" + which + " passes maxLength=" +
                         std::to_string(m.maxLength), true);
      total += counts[b];
    }
    if (total == 0) args.fail(4, "must hold at least one token", true);
    if (static_cast<double>(rows) != total)
      args.fail(4, "must hold " + std::to_string(static_cast<int64_t>(total)) +
                       " tokens (the sum of the counts), got " + std::to_string(rows), true);
    for (size_t r = 0; r < rows; r++) {
      if (tokens[r] < 0 || tokens[r] >= m.vocab)
        args.fail(4, "holds token " + std::to_string(tokens[r]) + " outside [0, " +
                         std::to_string(m.vocab) + ")", true);
    }
    float* logits = nullptr;
    if (!args.is_null(7)) {
      size_t n;
      logits = args.f32(7, &n);
      args.need(7, n, static_cast<double>(sequences) * m.vocab);
    }
    const DecoderBatch batch{static_cast<int>(sequences), tokens, counts, firsts};
    decoder_run(m, batch, logits);
    return undefined(env);
  });
}

}  // namespace attnkit
