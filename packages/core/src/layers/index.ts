// Public surface of core/src/layers.
export * from './activations';
export * from './linear';
export * from './embedding';
export * from './dropout';
export * from './layer-norm';
export * from './rms-norm';
export * from './residual-norm';
export * from './scale-norm';
export * from './qk-norm';
export * from './mlp';
export * from './glu';
