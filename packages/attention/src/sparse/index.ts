export * from './neighborhood-attention';
