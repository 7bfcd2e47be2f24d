// @attnkit/attention public surface.
export {};
