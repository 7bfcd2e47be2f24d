export * from './topk-attention';
export * from './top-theta';
export * from './loki';
export { symmetricEigen } from './symmetric-eigen';
export * from './lowbit-block';
export * from './flex-prefill';
