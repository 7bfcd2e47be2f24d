// Rewrites a markdown link written for the repository (GitHub) into one that works on the site:
// a package README becomes its package page, a page under docs/ stays relative, and any other
// file of the repository points at the source on GitHub.
import { posix } from 'node:path';

/** Where links to files outside docs/ point (set ATTNKIT_REPO_URL to override). */
export const REPO_URL = process.env.ATTNKIT_REPO_URL ?? 'https://github.com/attnkit/attnkit';

/**
 * `href` as written in `fromFile` (repository-relative, e.g. 'packages/core/README.md'), for a
 * page rendered at `page` (docs-relative, e.g. 'packages/core.md'). Unchanged when it is an
 * absolute URL, an anchor, or already a page of the site.
 */
export function rewriteLink(href, fromFile, page = fromFile.replace(/^docs\//, '')) {
  if (/^[a-z][a-z0-9+.-]*:/i.test(href) || href.startsWith('#') || href.startsWith('/'))
    return href;
  const hash = href.indexOf('#');
  const path = hash >= 0 ? href.slice(0, hash) : href;
  const anchor = hash >= 0 ? href.slice(hash) : '';
  const target = posix.normalize(posix.join(posix.dirname(fromFile), path)).replace(/\/$/, '');
  const pkg = /^packages\/([a-z-]+)(\/README\.md)?$/.exec(target);
  if (pkg) return `${posix.relative(posix.dirname(page), `packages/${pkg[1]}.md`)}${anchor}`;
  if (target.startsWith('docs/')) {
    const rel = posix.relative(posix.dirname(page), target.slice('docs/'.length));
    return `${rel.startsWith('.') ? rel : `./${rel}`}${anchor}`;
  }
  if (target.startsWith('..')) return href;
  return `${REPO_URL}/blob/main/${target}${anchor}`;
}
