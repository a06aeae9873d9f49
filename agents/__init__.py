"""The operators: the ReAct loop that drives a policy in a sandbox (and the single-turn ablation),
their prompts and tools."""

from agents.config import AgentConfig, PromptTemplates, load_agent_config
from agents.context import ContextWindow
from agents.job_facts import FACTS_FIELD, JobFacts, read_job_facts
from agents.prompt import ParentCode, render_debug_message, render_system_prompt, render_user_message
from agents.react import EpisodeOutcome, run_episode
from agents.single_turn import run_single_turn
from agents.task_card import TaskCard
from agents.tools import TOOLS, ToolLimits, ToolResult, call_tool, tool_schemas
from agents.trim import trim_middle

__all__ = [
    "FACTS_FIELD",
    "TOOLS",
    "AgentConfig",
    "ContextWindow",
    "EpisodeOutcome",
    "JobFacts",
    "ParentCode",
    "PromptTemplates",
    "TaskCard",
    "ToolLimits",
    "ToolResult",
    "call_tool",
    "load_agent_config",
    "read_job_facts",
    "render_debug_message",
    "render_system_prompt",
    "render_user_message",
    "run_episode",
    "run_single_turn",
    "tool_schemas",
    "trim_middle",
]
