export * from './from-preset';
export * from './from-pretrained';
export * from './summary';
