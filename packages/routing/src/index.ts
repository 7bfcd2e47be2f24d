// @attnkit/routing public surface.
export {};
