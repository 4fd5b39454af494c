"""Example Behaviour plugins: copy one to model a carrier rule the built-in profile lacks."""
