export { LinearMixer, type LinearInputs } from './base';
export { linearFields, type LinearConfig } from './config';
export { LinearState } from './state';
export * from './linear-attention';
export * from './performer';
export * from './efficient-attention';
export * from './linformer';
export * from './based';
export * from './lln';
