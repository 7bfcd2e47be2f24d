export * from './options';
export { scaledDotProductAttention } from './sdpa';
export { repeatKvHeads } from './validate';
