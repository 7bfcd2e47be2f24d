// Command-line options of `npm run bench`. Hand-parsed so the harness has no dependency.
import os from 'node:os';

export const ALL_BACKENDS = ['cpu', 'wasm', 'native'];

const HELP = `usage: npm run bench [-- <workload...>] [options]

workloads: matmul sdpa mixers train generate (default: all of these), attention
options:
  --quick              small sizes and few repeats (CI; under 2 minutes on 2 cores)
  --backends a,b       backends to run (default cpu,wasm,native; native is skipped when absent)
  --json               print the results as JSON instead of the table
  --threads n          all-cores count: PyTorch reference run, native when it reports none
  --repeats n          timed runs per case (default 7, quick 3)
  --warmup n           untimed runs before timing, at least (default 2, quick 1)
  --warmup-ms n        and for at least this long (default 1000, quick 200)
  --no-torch           do not run the PyTorch scripts
  --no-save            do not write bench-results/
  --charts / --no-charts  write docs/assets/bench/*.svg (default: on; off with --quick,
                       --no-save or --cases, whose results would replace the full run's)
  --no-limit           run cases that the time limit would skip on slow backends
  --cases regex        only the cases whose id matches (e.g. 'long-mixer-(gla|deltanet)-')
  -h, --help           this text`;

export class UsageError extends Error {}

/** Parses argv (without node and the script). */
export function parseArgs(argv, knownWorkloads) {
  const opts = {
    workloads: [],
    quick: false,
    backends: [...ALL_BACKENDS],
    json: false,
    threads: os.availableParallelism?.() ?? os.cpus().length,
    repeats: undefined,
    warmup: undefined,
    warmupMs: undefined,
    torch: true,
    save: true,
    charts: undefined,
    limit: true,
    cases: undefined,
    help: false,
    rest: [],
  };
  const intArg = (name, value) => {
    const n = Number(value);
    if (!Number.isInteger(n) || n < 1) {
      throw new UsageError(`${name}: expected a positive integer, got '${value}'`);
    }
    return n;
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? a.split(/=(.*)/s) : [a];
    const value = () => {
      if (inline !== undefined) return inline;
      if (i + 1 >= argv.length) throw new UsageError(`${flag}: missing value`);
      return argv[++i];
    };
    switch (flag) {
      case '--quick':
        opts.quick = true;
        break;
      case '--json':
        opts.json = true;
        break;
      case '--backends': {
        const list = value()
          .split(',')
          .map((b) => b.trim())
          .filter(Boolean);
        const bad = list.filter((b) => !ALL_BACKENDS.includes(b));
        if (bad.length || list.length === 0) {
          throw new UsageError(
            `--backends: expected a comma list of ${ALL_BACKENDS.join(', ')}, got '${list.join(',')}'`,
          );
        }
        opts.backends = list;
        break;
      }
      case '--threads':
        opts.threads = intArg(flag, value());
        break;
      case '--repeats':
        opts.repeats = intArg(flag, value());
        break;
      case '--warmup':
        opts.warmup = Number(value());
        if (!Number.isInteger(opts.warmup) || opts.warmup < 0) {
          throw new UsageError(`--warmup: expected an integer >= 0, got '${opts.warmup}'`);
        }
        break;
      case '--warmup-ms':
        opts.warmupMs = Number(value());
        if (!Number.isFinite(opts.warmupMs) || opts.warmupMs < 0) {
          throw new UsageError(`--warmup-ms: expected a number >= 0, got '${opts.warmupMs}'`);
        }
        break;
      case '--no-torch':
        opts.torch = false;
        break;
      case '--no-save':
        opts.save = false;
        break;
      case '--charts':
        opts.charts = true;
        break;
      case '--no-charts':
        opts.charts = false;
        break;
      case '--no-limit':
        opts.limit = false;
        break;
      case '--cases': {
        const source = value();
        try {
          opts.cases = new RegExp(source);
        } catch (err) {
          throw new UsageError(`--cases: not a regular expression: ${err.message}`);
        }
        break;
      }
      case '-h':
      case '--help':
        opts.help = true;
        break;
      default:
        if (a.startsWith('-')) {
          // The attention workload has its own options; pass unknown ones through to it.
          opts.rest.push(a);
        } else if (knownWorkloads.includes(a)) {
          if (!opts.workloads.includes(a)) opts.workloads.push(a);
        } else {
          throw new UsageError(`unknown workload '${a}' (known: ${knownWorkloads.join(', ')})`);
        }
    }
  }
  opts.repeats ??= opts.quick ? 3 : 7;
  opts.warmup ??= opts.quick ? 1 : 2;
  opts.warmupMs ??= opts.quick ? 200 : 1000;
  opts.charts ??= !opts.quick && opts.save && !opts.cases;
  return opts;
}

export { HELP };
