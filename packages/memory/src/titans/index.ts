export * from './memory-model';
export * from './miras';
export * from './neural-memory-op';
export * from './state';
export * from './neural-memory';
export * from './windowed';
export * from './mag';
export * from './mal';
