export { Gateway, type GatewayOptions } from './server.ts';
export { intentOf, EvaluationRequest } from './authzen.ts';
export { McpGateway, type McpGatewayOptions, type McpIdentity } from './mcp.ts';
