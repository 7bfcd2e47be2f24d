// @attnkit/models/node: the main entry plus what needs Node's file system (checkpoints on
// disk, Hugging Face checkpoint directories). Directory saves of a module are core's
// `saveModule(dir)` / `loadModule(dir)`, available from both entries.
export * from './index';
export * from './training/checkpoint';
export { exportHuggingFace, hfDirectoryFiles, importHuggingFace } from './node/hf';
export { directoryTokenizerSource, loadTokenizer, saveTokenizer } from './node/tokenizer';
