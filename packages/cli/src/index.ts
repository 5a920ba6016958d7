export { main } from './main.ts';
export { verify, exportBundle, replay, backtest } from './commands.ts';
export { CliError } from './errors.ts';
