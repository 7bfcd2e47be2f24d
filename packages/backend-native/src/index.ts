// @attnkit/backend-native public surface.
export {};
