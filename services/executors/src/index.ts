export { Executors, type ExecutorsOptions } from './service.ts';
export { startDemoApp, type DemoApp } from './demo-app.ts';
export { startDemoMcp, type DemoMcp } from './mcp-server.ts';
