export { landmarkGroupedAttention } from './grouped-softmax';
export {
  landmarkRetrievalAttention,
  type LandmarkRetrievalOptions,
  type LandmarkRetrievalResult,
} from './retrieval';
export type { LandmarkOptions } from './layout';
export { LandmarkAttention, landmarkAttentionSchema, type LandmarkAttentionConfig } from './mixer';
