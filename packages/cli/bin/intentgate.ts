#!/usr/bin/env node
import { main } from '../src/main.ts';

const code = await main(process.argv.slice(2), (l) => console.log(l), (l) => console.error(l));
process.exit(code);
