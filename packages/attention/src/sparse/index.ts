export * from './s2-attention';
export * from './mixture-of-sparse-attention';
export * from './core-context-aware';
export * from './hepos';
export * from './moa-profile';
