export * from './store';
export * from './memory-index';
export * from './ivf';
export * from './retrieved-attention';
export * from './state';
export * from './config';
export * from './knn-memory';
