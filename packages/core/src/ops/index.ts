// Public surface of core/src/ops.
export * from './masks';
export * from './softmax';
export * from './softmax-sink';
export * from './softcap';
export * from './sparsemax';
export * from './entmax';
export * from './normalizers';
export * from './custom-grad';
export * from './gather-rows';
export * from './rotary-kernel';
export * from './heads-kernel';
export { resolveAxis, alongLastAxis } from './axis';
