// Public surface of core/src/ops.
export {};
