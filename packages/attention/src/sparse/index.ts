export * from './s2-attention';
