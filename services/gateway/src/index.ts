export { Gateway, type GatewayOptions } from './server.ts';
export { intentOf, EvaluationRequest } from './authzen.ts';
