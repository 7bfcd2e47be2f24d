export * from './memory-model';
export * from './miras';
export * from './neural-memory-op';
export * from './state';
export * from './neural-memory';
