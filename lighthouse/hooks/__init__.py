"""Agent integrations: hooks that put Lighthouse in front of an agent's tool calls."""
