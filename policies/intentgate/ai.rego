# AI workloads: MCP tool calls and agent-to-agent calls.
package intentgate.domains

import rego.v1

required.ai := {"tool_allowed", "delegation_depth_ok"}

passed.ai contains "tool_allowed" if {
	input.intent.action.name == "a2a.call"
}

passed.ai contains "tool_allowed" if {
	input.intent.action.name == "mcp.tool.call"
	data.intentgate.catalog.mcp_tools[input.intent.resource.id]
}

# A tool is allowed by having an entry in the action catalog (which also says whether it can be undone).
failures.ai contains reason("TOOL_NOT_ALLOWED", "ai", sprintf("tool %s is not in the action catalog", [input.intent.resource.id])) if {
	input.intent.action.name == "mcp.tool.call"
	not data.intentgate.catalog.mcp_tools[input.intent.resource.id]
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
