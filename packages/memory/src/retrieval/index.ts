export * from './store';
export * from './memory-index';
export * from './ivf';
