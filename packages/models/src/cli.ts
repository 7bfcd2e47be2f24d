#!/usr/bin/env node
// The `attnkit` command line (see ./cli/program.ts).
import { main } from './cli/program';

void main();
