import { BpeTokenizer } from './bpe';
import { CharTokenizer } from './char';
import { IdTokenizer } from './ids';
import { HfTokenizer } from './hf';

export * from './tokenizer';
export * from './limits';
export * from './stream';
export * from './files';
export { tokenizerFromJSON } from './from-json';
export { HF_TOKENIZER_MODELS, isHfTokenizerJSON } from './hf';
export type { HfDecodeOptions, HfEncodeOptions, HfSpecialToken } from './hf';
export type { ChatMessage, ChatTemplateOptions } from './hf-chat';
export { BpeTokenizer, CharTokenizer, HfTokenizer, IdTokenizer };
