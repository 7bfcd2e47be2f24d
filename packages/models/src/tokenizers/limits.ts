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
