"""Text handling shared by the NLU components and the actions."""
