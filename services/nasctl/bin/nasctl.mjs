#!/usr/bin/env node
// Entry shim: the CLI is TypeScript run through tsx's loader, so a clone needs
// no build step.
import { register } from 'tsx/esm/api';

register();
const { main } = await import('../src/main.ts');
process.exitCode = await main(process.argv.slice(2));
