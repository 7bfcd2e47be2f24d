export * from './moba';
export * from './routing-transformer';
export * from './nsa';
