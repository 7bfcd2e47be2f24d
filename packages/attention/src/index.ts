// @attnkit/attention public surface.
export * from './ops';
