"""Real-time scoring engine: CRM events over a message broker, rescored with "changed because"."""
