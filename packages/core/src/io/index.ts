// Public surface of core/src/io.
export {};
