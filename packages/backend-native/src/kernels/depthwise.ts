// DepthwiseConv2dNative on the addon for what the short causal convolution of the recurrent
// mixers needs (NHWC, stride 1, no dilation, valid padding, channel multiplier 1: its forward
// and its input gradient); anything else, and a binary built before the entry existed, runs the
// cpu kernel.
import * as tf from '@tensorflow/tfjs-core';
import type { KernelArgs, KernelContext, NativeKernel } from './util';
import { allocF32, f32 } from './util';

type DepthwiseAttrs = {
  strides: number | [number, number];
  pad: 'valid' | 'same' | number | tf.backend_util.ExplicitPadding;
  dataFormat?: 'NHWC' | 'NCHW';
  dilations?: number | [number, number];
};

const ones = (v: number | number[] | undefined) =>
  v === undefined || (Array.isArray(v) ? v.every((x) => x === 1) : v === 1);

export function makeDepthwiseConv({ addon, cpu }: KernelContext): NativeKernel {
  const fallback = cpu(tf.DepthwiseConv2dNative);
  return (args: KernelArgs) => {
    const { x, filter } = args.inputs as { x: tf.TensorInfo; filter: tf.TensorInfo };
    const { strides, pad, dataFormat, dilations } = args.attrs as DepthwiseAttrs;
    const [batch, height, width, channels] = x.shape as number[];
    const [fh, fw, fc, multiplier] = filter.shape as number[];
    if (
      typeof addon.depthwiseConv !== 'function' ||
      x.dtype !== 'float32' ||
      filter.dtype !== 'float32' ||
      x.shape.length !== 4 ||
      filter.shape.length !== 4 ||
      fc !== channels ||
      multiplier !== 1 ||
      !ones(strides) ||
      !ones(dilations) ||
      (pad !== 'valid' && pad !== 0) ||
      (dataFormat !== undefined && dataFormat !== 'NHWC') ||
      fh! > height! ||
      fw! > width!
    ) {
      return fallback(args);
    }
    const outShape = [batch!, height! - fh! + 1, width! - fw! + 1, channels!];
    const out = allocF32(outShape.reduce((a, b) => a * b, 1));
    addon.depthwiseConv(
      f32(args.backend, x),
      f32(args.backend, filter),
      out,
      batch!,
      height!,
      width!,
      channels!,
      fh!,
      fw!,
    );
    return args.backend.makeTensorInfo(outShape, 'float32', out);
  };
}
