import { defineConfig } from 'vitepress';
// @ts-expect-error plain ES module shared with tools/docs/gen-blocks.mjs
import { rewriteLink } from '../../tools/docs/links.mjs';
// @ts-expect-error plain ES module shared with tools/docs/gen-blocks.mjs
import { FAMILIES } from '../../tools/docs/families.mjs';

const PACKAGES = [
  'kernels',
  'core',
  'positional',
  'attention',
  'routing',
  'memory',
  'models',
  'backend-native',
];

export default defineConfig({
  title: 'attnkit',
  description: 'Composable transformer building blocks for TensorFlow.js',
  cleanUrls: true,
  // A dead internal link fails the build (VitePress's default; stated so nobody turns it off).
  ignoreDeadLinks: false,
  srcExclude: ['README.md'],
  // An icon of its own: without one, every page's request for /favicon.ico is a 404.
  head: [['link', { rel: 'icon', type: 'image/svg+xml', href: '/favicon.svg' }]],
  vite: {
    build: {
      // The chunks over Vite's 500 kB default are the local search index (about 1.5 MB, loaded
      // only when the search box opens) and the demos' worker (about 1 MB: tfjs and every
      // package, loaded on "Run live"); pages and theme stay far below. Raised for those, so a
      // warning still means something new grew too large.
      chunkSizeWarningLimit: 3000,
      rollupOptions: {
        onwarn(warning, warn) {
          // zod's sources put explanatory comments where Rollup reads pure annotations; Rollup
          // drops those comments (the code is unchanged) and says so for each. Others show.
          const id = warning.id ?? '';
          if (warning.code === 'INVALID_ANNOTATION' && /node_modules[\\/]zod[\\/]/.test(id)) return;
          warn(warning);
        },
      },
    },
    // The demos' worker (theme/demos/worker.ts) loads its backends on demand: code-split, so ES.
    worker: { format: 'es' },
  },
  markdown: {
    config(md) {
      // Pages link to package READMEs and repository files as on GitHub; make those links work here.
      md.core.ruler.push('attnkit-links', (state) => {
        const page = (state.env as { relativePath?: string }).relativePath ?? '';
        const visit = (tokens: typeof state.tokens) => {
          for (const token of tokens) {
            const attr =
              token.type === 'link_open' ? 'href' : token.type === 'image' ? 'src' : undefined;
            const value = attr && token.attrGet(attr);
            if (attr && value) token.attrSet(attr, rewriteLink(value, `docs/${page}`, page));
            if (token.children) visit(token.children);
          }
        };
        visit(state.tokens);
      });
    },
  },
  themeConfig: {
    search: {
      provider: 'local',
      options: {
        // The API pages are indexed by their top headings (module, class, function, type and
        // member names) without bodies or parameter headings: the full text made a 6 MB index.
        _render(src, env, md) {
          const { relativePath } = env as { relativePath: string };
          const text = relativePath.startsWith('api/')
            ? src
                .split('\n')
                .filter((line) => /^#{1,3} /.test(line))
                .join('\n')
            : src;
          return md.render(text, env);
        },
      },
    },
    nav: [
      { text: 'Guide', link: '/getting-started' },
      { text: 'Blocks', link: '/blocks/' },
      { text: 'Packages', link: '/packages/core' },
      { text: 'API', link: '/api/' },
      { text: 'Demos', link: '/demos/explorer' },
      { text: 'Benchmarks', link: '/benchmarks' },
    ],
    sidebar: [
      {
        text: 'Guide',
        items: [
          { text: 'Getting started', link: '/getting-started' },
          { text: 'Core in five minutes', link: '/core' },
          { text: 'Assemble your own model', link: '/guide-assemble' },
          { text: 'Train on your own text', link: '/guide-train' },
          { text: 'Write your own mixer', link: '/guide-mixer' },
          { text: 'Saving and recovery', link: '/saving' },
          { text: 'Loading untrusted files', link: '/untrusted-files' },
        ],
      },
      {
        text: 'Live demos',
        items: [
          { text: 'Attention explorer', link: '/demos/explorer' },
          { text: 'Train in the browser', link: '/demos/train' },
          { text: 'Generate', link: '/demos/generate' },
        ],
      },
      {
        text: 'Blocks',
        items: [
          { text: 'All blocks', link: '/blocks/' },
          ...FAMILIES.filter((f: { id: string }) => f.id !== 'other').map(
            (f: { id: string; title: string }) => ({
              text: f.title,
              link: `/blocks/${f.id}`,
            }),
          ),
        ],
      },
      {
        text: 'Packages',
        collapsed: true,
        items: PACKAGES.map((p) => ({ text: `@attnkit/${p}`, link: `/packages/${p}` })),
      },
      {
        text: 'API reference',
        collapsed: true,
        items: [
          { text: 'Index', link: '/api/' },
          ...PACKAGES.map((p) => ({ text: `@attnkit/${p}`, link: `/api/${p}/` })),
          { text: '@attnkit/core/testing', link: '/api/core/testing/' },
          { text: '@attnkit/models/node', link: '/api/models/node/' },
          { text: '@attnkit/models/cli', link: '/api/models/cli/' },
        ],
      },
      {
        text: 'Design and results',
        items: [
          { text: 'Architecture', link: '/architecture' },
          { text: 'The dynamical-systems view', link: '/dynamical-systems' },
          { text: 'Retrieval memory', link: '/memory-retrieval' },
          { text: 'Benchmarks', link: '/benchmarks' },
          { text: 'Recall and long context', link: '/recall' },
        ],
      },
    ],
  },
});
