export * from './moba';
export * from './routing-transformer';
