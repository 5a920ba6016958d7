export { runDemo, runMcpDemo, seedDemoContext, renderTable, DEMO_AGENT, type DemoRow } from './demo.ts';
