export { landmarkGroupedAttention } from './grouped-softmax';
export {
  landmarkRetrievalAttention,
  type LandmarkRetrievalOptions,
  type LandmarkRetrievalResult,
} from './retrieval';
export type { LandmarkOptions } from './layout';
