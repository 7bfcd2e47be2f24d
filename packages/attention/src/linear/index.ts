export { LinearMixer, type LinearInputs } from './base';
export { linearFields, type LinearConfig } from './config';
export { LinearState } from './state';
export * from './linear-attention';
export * from './retnet';
export * from './lightning';
export * from './gla';
