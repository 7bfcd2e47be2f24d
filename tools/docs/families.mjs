// The families the block pages group registered types into, by the directory that registers
// them (a new file in a known directory lands on its family's page with no edit here; a type
// from a directory no rule names lands on "Other blocks").

export const FAMILIES = [
  {
    id: 'softmax',
    title: 'Softmax attention',
    intro:
      'Full softmax attention and its variants: multi-head, grouped- and multi-query, sliding window, sinks, cross-attention and the re-weighted forms.',
    match: (file) => file.startsWith('packages/attention/src/softmax/'),
  },
  {
    id: 'linear',
    title: 'Linear attention',
    intro:
      'Kernelised and gated linear attention: a feature map replaces the softmax, so a constant-size state decodes each token.',
    match: (file) => file.startsWith('packages/attention/src/linear/'),
  },
  {
    id: 'recurrent',
    title: 'Recurrent and state-space mixers',
    intro:
      'Selective state-space models (Mamba), recurrent attention and hybrids: a scan over time with a fixed-size state. See also [the dynamical-systems view](../dynamical-systems.md).',
    match: (file) => file.startsWith('packages/attention/src/recurrent/'),
  },
  {
    id: 'sparse',
    title: 'Sparse, routed and local attention',
    intro:
      'Each query attends to a selected subset of keys: top-k keys or blocks, learned routing, local windows and neighbourhoods.',
    match: (file) => file.startsWith('packages/attention/src/sparse/'),
  },
  {
    id: 'routing',
    title: 'Routing: mixtures of experts and heads',
    intro:
      'Routers, mixture-of-experts feed-forwards and mixture-of-heads attention from `@attnkit/routing`.',
    match: (file) => file.startsWith('packages/routing/src/'),
  },
  {
    id: 'memory',
    title: 'Memory',
    intro:
      'Recurrent memory tokens, landmark attention and retrieval memories from `@attnkit/memory`. See also [retrieval memory](../memory-retrieval.md).',
    match: (file) => file.startsWith('packages/memory/src/'),
  },
  {
    id: 'positional',
    title: 'Positional encodings',
    intro: 'Absolute, rotary and relative positions from `@attnkit/positional`.',
    match: (file) => file.startsWith('packages/positional/src/'),
  },
  {
    id: 'layers',
    title: 'Layers, norms and feed-forwards',
    intro:
      'The building blocks in `@attnkit/core`: linear, embedding, dropout, norms and feed-forwards.',
    match: (file) => file.startsWith('packages/core/src/'),
  },
  {
    id: 'models',
    title: 'Blocks and models',
    intro:
      'The transformer block and the assemblies of `@attnkit/models`: decoder LM, encoder, encoder-decoder, ViT.',
    match: (file) => file.startsWith('packages/models/src/'),
  },
  {
    id: 'other',
    title: 'Other blocks',
    intro: 'Types registered outside the directories above.',
    match: () => true,
  },
];

/** The family of a type registered in `file` (repository-relative). */
export function familyOf(file) {
  return FAMILIES.find((f) => f.match(file ?? ''));
}

/** The side-effect imports a snippet needs so `build` knows the type registered in `file`. */
export function importsFor(file) {
  const pkg = /^packages\/([a-z-]+)\//.exec(file ?? '')?.[1];
  // models imports positional and attention; every other package registers its own types.
  return pkg && pkg !== 'core' ? [`@attnkit/${pkg}`] : [];
}

/** A runnable snippet that builds the example config and reports its size. */
export function exampleSnippet(example, imports) {
  return [
    "import { build } from '@attnkit/core';",
    ...imports.map((p) => `import '${p}';`),
    '',
    `const block = build(${JSON.stringify(example, null, 2)});`,
    "console.log(block.constructor.name, block.numParams(), 'parameters');",
    'block.dispose();',
  ].join('\n');
}
