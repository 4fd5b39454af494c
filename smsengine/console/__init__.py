"""The web console served by the daemon at /console (README "Console")."""
