#!/usr/bin/env node
import { join } from 'node:path';
import { main } from '../src/main.ts';

const code = await main(process.argv.slice(2), (l) => console.log(l), (l) => console.error(l), join(import.meta.dirname, '..', '..', '..'));
process.exit(code);
