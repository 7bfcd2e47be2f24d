// @attnkit/memory public surface. Importing it registers the memory modules with core's
// registry (issue 15): each module is exported here once it is finished and tested.
export {};
export * from './retrieval';
export * from './presets/knn';
