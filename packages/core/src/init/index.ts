// Public surface of core/src/init.
export * from './initializers';
