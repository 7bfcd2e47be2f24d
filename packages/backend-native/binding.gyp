{
  "targets": [
    {
      "target_name": "attnkit_native",
      "sources": [
        "csrc/addon.cc",
        "csrc/attention.cc",
        "csrc/block_sparse.cc",
        "csrc/block_sparse_napi.cc",
        "csrc/cross_entropy.cc",
        "csrc/decoder.cc",
        "csrc/decoder_moe.cc",
        "csrc/decoder_ops.cc",
        "csrc/decoder_napi.cc",
        "csrc/elementwise.cc",
        "csrc/exp_row.cc",
        "csrc/gemm.cc",
        "csrc/gemm_pack.cc",
        "csrc/gemm_kernel_avx2.cc",
        "csrc/gemm_kernel_avx512.cc",
        "csrc/gemm_kernel_generic.cc",
        "csrc/gemm_kernel_neon.cc",
        "csrc/glu.cc",
        "csrc/linear_attention.cc",
        "csrc/linear_napi.cc",
        "csrc/linear_scan.cc",
        "csrc/norm.cc",
        "csrc/rotary.cc",
        "csrc/selective_scan.cc",
        "csrc/gated_recurrence.cc",
        "csrc/depthwise.cc",
        "csrc/topk.cc",
        "csrc/scatter.cc",
        "csrc/threadpool.cc",
        "csrc/train_napi.cc"
      ],
      "defines": ["NAPI_VERSION=8", "NAPI_DISABLE_CPP_EXCEPTIONS"],
      "cflags!": ["-fno-exceptions"],
      "cflags_cc!": ["-fno-exceptions", "-std=gnu++17"],
      "cflags_cc": [
        "-std=c++17", "-O3", "-fexceptions", "-fno-math-errno", "-ffp-contract=off", "-Wno-psabi"
      ],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CPLUSPLUSFLAGS": ["-O3", "-fno-math-errno", "-ffp-contract=off"]
      },
      "msvs_settings": {
        "VCCLCompilerTool": { "ExceptionHandling": 1, "AdditionalOptions": ["/O2"] }
      }
    }
  ]
}
