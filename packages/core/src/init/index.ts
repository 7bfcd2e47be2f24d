// Public surface of core/src/init.
export {};
