// @attnkit/models public surface.
export {};
