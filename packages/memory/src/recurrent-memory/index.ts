// Memory tokens and recurrent memory (issue 15): importing this registers their types.
export * from './memory-tokens';
export * from './recurrent-memory';
export { RecurrentMemoryState } from './state';
