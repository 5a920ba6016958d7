export { runDemo, runMcpDemo, seedDemoContext, renderTable, DEMO_AGENT, DEMO_REGISTRATION, type DemoRow } from './demo.ts';
export { runForgeryDemo, type ForgeryOptions } from './forgeries.ts';
