# AI workloads: MCP tool calls and agent-to-agent calls.
package intentgate.domains

import rego.v1

required["ai"] := {"ai_action_known", "tool_allowed", "delegation_depth_ok"}

passed contains "ai_action_known" if {
	input.intent.action.domain == "ai"
	input.intent.action.name in {"mcp.tool.call", "a2a.call"}
}

failures contains reason("UNKNOWN_ACTION", "ai", sprintf("unknown ai action %s", [input.intent.action.name])) if {
	input.intent.action.domain == "ai"
	not input.intent.action.name in {"mcp.tool.call", "a2a.call"}
}

passed contains "tool_allowed" if {
	input.intent.action.domain == "ai"
	input.intent.action.name == "a2a.call"
}

passed contains "tool_allowed" if {
	input.intent.action.domain == "ai"
	input.intent.action.name == "mcp.tool.call"
	input.intent.resource.id in data.intentgate.config.ai.allowed_tools
}

failures contains reason("TOOL_NOT_ALLOWED", "ai", sprintf("tool %s is not on the allowlist", [input.intent.resource.id])) if {
	input.intent.action.domain == "ai"
	input.intent.action.name == "mcp.tool.call"
	not input.intent.resource.id in data.intentgate.config.ai.allowed_tools
}

# Agents calling agents: the chain may not grow without bound.
passed contains "delegation_depth_ok" if {
	input.intent.action.domain == "ai"
	count(input.intent.delegation) <= data.intentgate.config.ai.max_delegation_depth
}

failures contains reason("DELEGATION_TOO_DEEP", "ai", sprintf("delegation chain of %d hops exceeds %d", [count(input.intent.delegation), data.intentgate.config.ai.max_delegation_depth])) if {
	input.intent.action.domain == "ai"
	count(input.intent.delegation) > data.intentgate.config.ai.max_delegation_depth
}

reviewable["ai"] := set()
