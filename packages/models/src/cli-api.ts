// @attnkit/models/cli: the `attnkit` command line as functions (Node only), for programs and
// tests that run a command without spawning the binary. The binary itself is ./cli.ts.
export { main, makeProgram } from './cli/program';
export { trainCommand, TRAIN_DEFAULTS } from './cli/train';
export type { TrainOptions, TrainResult } from './cli/train';
export {
  generateCommand,
  evalCommand,
  infoCommand,
  presetsCommand,
  describeModel,
} from './cli/commands';
export { CliError } from './cli/errors';
export { processIo } from './cli/io';
export type { Io } from './cli/io';
