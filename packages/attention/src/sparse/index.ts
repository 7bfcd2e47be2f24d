export * from './moba';
