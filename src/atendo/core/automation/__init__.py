"""Automation: greetings, the self-service menu, auto-close and the quality survey."""
