export * from './neighborhood-attention';
export * from './biformer';
