// @attnkit/models public surface.
export * from './tokenizers';
export * from './tasks';
