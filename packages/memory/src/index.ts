// @attnkit/memory public surface. Importing it registers the memory modules with core's
// registry (issue 15): each module is exported here once it is finished and tested.
export * from './recurrent-memory';
export * from './presets/rmt';
export * from './landmark';
export * from './presets/landmark';
export * from './retrieval';
export * from './presets/knn';
export * from './titans';
export * from './presets/titans';
export * from './configs';
