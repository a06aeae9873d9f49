"""The ReAct operator: prompts, tools and the loop that drives a policy in a sandbox."""

from agents.config import AgentConfig
from agents.prompt import ParentCode, render_system_prompt, render_user_message
from agents.react import AgentSettings, EpisodeOutcome, run_episode
from agents.task_card import TaskCard, parse_task_card
from agents.tools import TOOLS, ToolLimits, ToolResult, call_tool, tool_schemas
from agents.trim import trim_middle

__all__ = [
    "TOOLS",
    "AgentConfig",
    "AgentSettings",
    "EpisodeOutcome",
    "ParentCode",
    "TaskCard",
    "ToolLimits",
    "ToolResult",
    "call_tool",
    "parse_task_card",
    "render_system_prompt",
    "render_user_message",
    "run_episode",
    "tool_schemas",
    "trim_middle",
]
