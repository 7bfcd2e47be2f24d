export * from './s2-attention';
export * from './mixture-of-sparse-attention';
