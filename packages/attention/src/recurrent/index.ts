export { RecurrentState } from './state';
export { RECURRENT_CAPABILITIES } from './common';
export * from './mamba';
export * from './mamba2';
export * from './aaren';
export * from './softmax-rnn';
export * from './bi-mamba';
export * from './mega';
export * from './adaptive-filter-attention';
