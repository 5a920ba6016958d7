export { runDemo, runMcpDemo, DEMO_LABELS, renderTable, DEMO_AGENT, DEMO_PAYROLL_AGENT, DEMO_TRUST_DOMAIN, DEMO_REGISTRATIONS, demoCredentials, type DemoRow } from './demo.ts';
export { runForgeryDemo, type ForgeryOptions } from './forgeries.ts';
