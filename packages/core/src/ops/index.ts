// Public surface of core/src/ops.
export * from './masks';
export * from './softmax';
export * from './softcap';
export * from './sparsemax';
export * from './entmax';
export * from './normalizers';
export * from './custom-grad';
export { resolveAxis } from './axis';
