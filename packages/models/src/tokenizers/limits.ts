// Bounds on what a tokenizer.json may ask for (issue 16): checked before anything is allocated.

/** Most merges a BPE tokenizer may hold (a vocabulary of 256 + 2^20). */
export const MAX_BPE_MERGES = 2 ** 20;
/** Longest piece one merge may produce, in bytes (real vocabularies stay under a few hundred). */
export const MAX_BPE_PIECE_BYTES = 1024;
/** Most bytes all BPE pieces together may take. */
export const MAX_BPE_TOTAL_BYTES = 2 ** 26;
/** Most entries of a character vocabulary (every Unicode code point fits). */
export const MAX_CHAR_VOCAB = 2 ** 21;
/** Largest vocabulary an id tokenizer may declare (the int32 range tfjs indexes with). */
export const MAX_ID_VOCAB = 2 ** 31 - 1;

/** Longest Hugging Face `tokenizer.json` read, in characters (real ones: 2-35 MB). */
export const MAX_HF_TOKENIZER_CHARS = 2 ** 27;
/** Longest `tokenizer_config.json` read, in characters (real ones: a few KB to 100 KB). */
export const MAX_HF_CONFIG_CHARS = 2 ** 22;
/** Most entries (and the largest id + 1) of an HF vocabulary or its added tokens. */
export const MAX_HF_VOCAB = 2 ** 21;
/** Longest token, merge or regex pattern of an HF tokenizer, in characters. */
export const MAX_HF_TOKEN_CHARS = 2 ** 12;
/** Longest chat template, in characters (real ones: under 20 KB). */
export const MAX_CHAT_TEMPLATE_CHARS = 2 ** 18;
