// @attnkit/routing public surface. Importing it registers the routers, 'moe' and 'moh'.
export * from './routers/router';
export * from './routers/token-choice';
export * from './routers/topk';
export * from './routers/noisy-topk';
export * from './routers/expert-choice';
export * from './routers/similarity';
export * from './routers/dense';
export * from './ops/losses';
export * from './ops/dispatch';
export * from './module-list';
export * from './moe';
export * from './presets';
export * from './moh-gating';
export * from './heads/weighted-heads';
export * from './heads/moh';
export * from './heads/moa';
export * from './heads/mosa';
