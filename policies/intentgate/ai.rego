# AI workloads: MCP tool calls and agent-to-agent calls.
package intentgate.domains

import rego.v1

required.ai := {"ai_action_known", "tool_allowed", "delegation_depth_ok"}

passed.ai contains "ai_action_known" if {
	input.intent.action.name in {"mcp.tool.call", "a2a.call"}
}

failures.ai contains reason("UNKNOWN_ACTION", "ai", sprintf("unknown ai action %s", [input.intent.action.name])) if {
	not input.intent.action.name in {"mcp.tool.call", "a2a.call"}
}

passed.ai contains "tool_allowed" if {
	input.intent.action.name == "a2a.call"
}

passed.ai contains "tool_allowed" if {
	input.intent.action.name == "mcp.tool.call"
	input.intent.resource.id in data.intentgate.config.ai.allowed_tools
}

failures.ai contains reason("TOOL_NOT_ALLOWED", "ai", sprintf("tool %s is not on the allowlist", [input.intent.resource.id])) if {
	input.intent.action.name == "mcp.tool.call"
	not input.intent.resource.id in data.intentgate.config.ai.allowed_tools
}

# Agents calling agents: the chain may not grow without bound.
passed.ai contains "delegation_depth_ok" if {
	count(input.intent.delegation) <= data.intentgate.config.ai.max_delegation_depth
}

failures.ai contains reason("DELEGATION_TOO_DEEP", "ai", sprintf("delegation chain of %d hops exceeds %d", [count(input.intent.delegation), data.intentgate.config.ai.max_delegation_depth])) if {
	count(input.intent.delegation) > data.intentgate.config.ai.max_delegation_depth
}

reviewable.ai := set()

# Nothing in this domain escalates by itself.
escalations.ai := set()
