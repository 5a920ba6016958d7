export { runDemo, seedDemoContext, renderTable, DEMO_AGENT, type DemoRow } from './demo.ts';
