// @attnkit/kernels public surface: the contract between the library and the backends that
// fuse its ops (architecture contract 7). Kernel names are constants; the rest is types.
export * from './attention';
export * from './adamw';
export * from './fused-decoder';
export * from './linear-attention';
export * from './gated-recurrence';
export * from './linear-scan';
export * from './selective-scan';
export * from './block-sparse-attention';
export * from './norm';
export * from './cross-entropy';
export * from './rotary';
export * from './gated-activation';
export * from './dense';
export * from './add-norm';
export * from './sum-of-squares';
export * from './heads';
export * from './names';
