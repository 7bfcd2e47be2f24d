// Public surface of core/src/layers.
export {};
