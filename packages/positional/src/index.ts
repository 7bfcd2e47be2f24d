// @attnkit/positional public surface.
export {};
