// Every kernel name of the contract in one list, so a backend's tests can check that it
// registers exactly these names, and a new kernel cannot take a reserved one by accident.
import { ADAMW } from './adamw';
import { FUSED_ATTENTION, FUSED_ATTENTION_GRAD } from './attention';
import { BLOCK_SPARSE_ATTENTION, BLOCK_SPARSE_ATTENTION_GRAD } from './block-sparse-attention';
import { CHUNKED_LINEAR_ATTENTION, CHUNKED_LINEAR_ATTENTION_GRAD } from './linear-attention';
import { LINEAR_SCAN, LINEAR_SCAN_GRAD } from './linear-scan';
import { GATED_RECURRENCE, GATED_RECURRENCE_GRAD } from './gated-recurrence';
import { SELECTIVE_SCAN, SELECTIVE_SCAN_GRAD } from './selective-scan';
import { LAYER_NORM, LAYER_NORM_GRAD, RMS_NORM, RMS_NORM_GRAD } from './norm';
import { SOFTMAX_CROSS_ENTROPY, SOFTMAX_CROSS_ENTROPY_GRAD } from './cross-entropy';
import { ROTARY, ROTARY_GRAD } from './rotary';
import { GATED_ACTIVATION, GATED_ACTIVATION_GRAD } from './gated-activation';
import { DENSE, DENSE_GRAD } from './dense';
import { SUM_OF_SQUARES } from './sum-of-squares';
import { MERGE_HEADS, SPLIT_HEADS } from './heads';
import { ADD_LAYER_NORM, ADD_LAYER_NORM_GRAD, ADD_RMS_NORM, ADD_RMS_NORM_GRAD } from './add-norm';

/** The kernels a backend may register today (@attnkit/backend-native registers all of them). */
export const KERNEL_NAMES = [
  FUSED_ATTENTION,
  FUSED_ATTENTION_GRAD,
  ADAMW,
  CHUNKED_LINEAR_ATTENTION,
  CHUNKED_LINEAR_ATTENTION_GRAD,
  LINEAR_SCAN,
  LINEAR_SCAN_GRAD,
  SELECTIVE_SCAN,
  SELECTIVE_SCAN_GRAD,
  BLOCK_SPARSE_ATTENTION,
  BLOCK_SPARSE_ATTENTION_GRAD,
  RMS_NORM,
  RMS_NORM_GRAD,
  LAYER_NORM,
  LAYER_NORM_GRAD,
  SOFTMAX_CROSS_ENTROPY,
  SOFTMAX_CROSS_ENTROPY_GRAD,
  ROTARY,
  ROTARY_GRAD,
  GATED_ACTIVATION,
  GATED_ACTIVATION_GRAD,
  GATED_RECURRENCE,
  GATED_RECURRENCE_GRAD,
  DENSE,
  DENSE_GRAD,
  ADD_RMS_NORM,
  ADD_RMS_NORM_GRAD,
  ADD_LAYER_NORM,
  ADD_LAYER_NORM_GRAD,
  SUM_OF_SQUARES,
  SPLIT_HEADS,
  MERGE_HEADS,
] as const;

/** Names taken for kernels to come; no backend implements them yet, no library code calls them. */
export const RESERVED_KERNEL_NAMES = [] as const;

export type KernelName = (typeof KERNEL_NAMES)[number];
export type ReservedKernelName = (typeof RESERVED_KERNEL_NAMES)[number];
