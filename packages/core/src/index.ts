// @attnkit/core public surface. Other packages import only from here.
// tfjs-core's bundles leave out the gradient definitions (only its ES modules register
// them), so importing core is what makes tf.grad work, as @tensorflow/tfjs does. The
// build inlines this import (tsup noExternal) because Node cannot load those ES modules,
// with every import they make of tfjs-core redirected to its public entry
// (tools/gradients/tfjs-gradients.cjs), so no second engine exists in either import order.
import '@tensorflow/tfjs-core/dist/register_all_gradients';
export * from './errors';
export * from './checks';
export * from './limits';
export * from './safe-json';
export * from './random';
export * from './module';
export * from './contracts';
export * from './state';
export * from './capabilities';
export * from './fused-decoder';
export * from './aux-losses';
export * from './registry';
export * from './config-types';
export * from './slot-schema';
export * from './named-registry';
export * from './presets';
export * from './init';
export * from './layers';
export * from './ops';
export * from './io';
export * from './configs';
