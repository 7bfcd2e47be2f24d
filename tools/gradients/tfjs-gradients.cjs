// esbuild plugin: bundle tfjs-core's gradient registrations (`dist/register_all_gradients`,
// shipped as ES modules only, so Node cannot load them) without a second copy of tfjs-core.
// The gradient configs are inlined, but every import they make of tfjs-core itself (ops, kernel
// names, util, the engine) is redirected to the public `@tensorflow/tfjs-core` entry, which stays
// external. So the bundle holds no engine, Tensor class or op of its own: the gradients run on
// the user's tfjs-core whatever the import order (a copy of the engine module would create the
// global engine itself, without tfjs-core's op handler, when loaded first). The few op wrappers
// the gradients use that tfjs-core does not export (conv/pool backprops) are inlined the same
// way; anything else that is not public fails the build.
const fs = require('node:fs');
const path = require('node:path');

const entry = require.resolve('@tensorflow/tfjs-core/dist/register_all_gradients.js');
const dist = fs.realpathSync(path.dirname(entry));
const tf = require('@tensorflow/tfjs-core');

// Internal module (relative to dist/, no extension) -> the public namespace that holds its names.
const NAMESPACES = {
  util: 'util',
  'ops/axis_util': 'backend_util',
  'ops/broadcast_util': 'backend_util',
  'ops/conv_util': 'backend_util',
  'ops/selu_util': 'backend_util',
  'ops/slice_util': 'slice_util',
};
// Names whose public form is an expression rather than a property.
const EXPRESSIONS = { engine: { ENGINE: 'tf.engine()' } };
// The op wrappers' argument check: inside a gradient every argument is already a tensor.
const CONVERT_TO_TENSOR = `import { tf } from 'tfjs-public';
export function convertToTensor(x, argName, functionName) {
  if (x instanceof tf.Tensor) return x;
  throw new TypeError(\`Argument '\${argName}' passed to '\${functionName}' must be a Tensor\`);
}
`;

/** The names `importer` takes from `specifier` (namespace imports: the members it reads). */
function importedNames(importer, specifier) {
  const source = fs.readFileSync(importer, 'utf8');
  const names = new Set();
  const quoted = specifier.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
  const named = new RegExp(`import\\s*\\{([^}]*)\\}\\s*from\\s*'${quoted}'`, 'g');
  for (const m of source.matchAll(named)) {
    for (const part of m[1].split(',')) {
      const name = part.trim().split(/\s+as\s+/)[0];
      if (name) names.add(name);
    }
  }
  const star = new RegExp(`import\\s*\\*\\s*as\\s+(\\w+)\\s+from\\s*'${quoted}'`, 'g');
  for (const m of source.matchAll(star)) {
    for (const use of source.matchAll(new RegExp(`\\b${m[1]}\\.(\\w+)`, 'g'))) names.add(use[1]);
  }
  return [...names];
}

/** `export const name = <public expression>` lines, or null when a name is not public. */
function publicModule(module, names) {
  const lines = [`import { tf } from 'tfjs-public';`];
  for (const name of names) {
    const expression = EXPRESSIONS[module]?.[name];
    if (expression) {
      lines.push(`export const ${name} = ${expression};`);
      continue;
    }
    const ns = NAMESPACES[module];
    const holder = ns ? tf[ns] : tf;
    if (holder?.[name] === undefined) return null;
    lines.push(`export const ${name} = tf${ns ? `.${ns}` : ''}.${name};`);
  }
  return lines.join('\n') + '\n';
}

/** @returns {import('esbuild').Plugin} */
function tfjsGradientsPlugin() {
  return {
    name: 'tfjs-gradients-public-api',
    setup(build) {
      build.onResolve({ filter: /^@tensorflow\/tfjs-core\/dist\/register_all_gradients/ }, () => ({
        path: fs.realpathSync(entry),
      }));
      // One import of the public entry, which every redirected module reads.
      build.onResolve({ filter: /^tfjs-public$/, namespace: 'tfjs-public' }, () => ({
        path: 'tf',
        namespace: 'tfjs-public',
        pluginData: `import * as tf from '@tensorflow/tfjs-core';\nexport { tf };\n`,
      }));
      build.onResolve({ filter: /^@tensorflow\/tfjs-core$/, namespace: 'tfjs-public' }, () => ({
        path: '@tensorflow/tfjs-core',
        external: true,
      }));
      build.onResolve({ filter: /^\.\.?\// }, (args) => {
        if (args.namespace !== 'file' || !args.importer.startsWith(dist + path.sep)) return;
        const target = path.resolve(path.dirname(args.importer), args.path);
        const module = path.relative(dist, target).split(path.sep).join('/');
        if (module.startsWith('gradients/')) return { path: `${target}.js` };
        if (module === 'tensor_util_env') {
          return { path: module, namespace: 'tfjs-public', pluginData: CONVERT_TO_TENSOR };
        }
        const contents = publicModule(module, importedNames(args.importer, args.path));
        if (contents) {
          return {
            path: `${module}?${path.relative(dist, args.importer)}`,
            namespace: 'tfjs-public',
            pluginData: contents,
          };
        }
        // An op wrapper tfjs-core does not export: inline it, its own imports redirected too.
        if (module.startsWith('ops/')) return { path: `${target}.js` };
        return {
          errors: [{ text: `tfjs-gradients: '${module}' is not public tfjs-core API` }],
        };
      });
      build.onLoad({ filter: /.*/, namespace: 'tfjs-public' }, (args) => ({
        contents: args.pluginData,
        loader: 'js',
      }));
    },
  };
}

module.exports = { tfjsGradientsPlugin };
