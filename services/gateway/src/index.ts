export { Gateway, type GatewayOptions } from './server.ts';
export { intentOf, EvaluationRequest } from './authzen.ts';
export { McpGateway, type McpGatewayOptions, type McpIdentity, type McpCaller } from './mcp.ts';
export { parseMcpCallers, loadMcpCallers } from './mcp-tokens.ts';
